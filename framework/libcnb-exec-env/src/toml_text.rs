//! A small TOML writer for the files this framework rewrites (`<layer>.toml`, `launch.toml`) and
//! for quoting values in error messages.
//!
//! `toml`'s serializer and `toml::Value` were weighed and not taken: they cost about 50 KiB of
//! every buildpack binary for documents this writer covers in a page (BENCHMARKS.md, part 1).
//! Values come from `toml`'s own parse tree ([`DeValue`]), so reading keeps one deserializer.

use std::fmt::Write as _;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Appends `text` as a TOML basic string (`"..."`, escaped).
pub(crate) fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a key, bare when TOML allows it, else quoted.
pub(crate) fn push_key(out: &mut String, key: &str) {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        out.push_str(key);
    } else {
        push_string(out, key);
    }
}

/// Appends a `toml::Value` (from an author's `Store`): tables inline, floats always with a
/// fraction or exponent, so that the text reads back as the same value.
pub(crate) fn push_toml_value(out: &mut String, value: &toml::Value) {
    match value {
        toml::Value::String(text) => push_string(out, text),
        toml::Value::Integer(number) => {
            let _ = write!(out, "{number}");
        }
        toml::Value::Float(number) if number.is_nan() => out.push_str("nan"),
        toml::Value::Float(number) if number.is_infinite() => {
            out.push_str(if *number > 0.0 { "inf" } else { "-inf" });
        }
        // `Debug` keeps a fraction (`1.0`, not `1`) and uses exponents TOML reads (`1e20`).
        toml::Value::Float(number) => {
            let _ = write!(out, "{number:?}");
        }
        toml::Value::Boolean(flag) => out.push_str(if *flag { "true" } else { "false" }),
        toml::Value::Datetime(datetime) => {
            let _ = write!(out, "{datetime}");
        }
        toml::Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                push_toml_value(out, item);
            }
            out.push(']');
        }
        toml::Value::Table(table) => {
            out.push('{');
            for (index, (key, item)) in table.iter().enumerate() {
                out.push_str(if index > 0 { ", " } else { " " });
                push_key(out, key);
                out.push_str(" = ");
                push_toml_value(out, item);
            }
            out.push_str(if table.is_empty() { "}" } else { " }" });
        }
    }
}

/// `store.toml` for `metadata`: one `[metadata]` table, nested tables inline.
pub(crate) fn store_document(metadata: &toml::Table) -> String {
    let mut out = String::from("[metadata]\n");
    for (key, value) in metadata {
        push_key(&mut out, key);
        out.push_str(" = ");
        push_toml_value(&mut out, value);
        out.push('\n');
    }
    out
}

/// Appends `key = ["a", "b"]` and a newline.
pub(crate) fn push_string_array<'a>(
    out: &mut String,
    key: &str,
    items: impl IntoIterator<Item = &'a str>,
) {
    push_key(out, key);
    out.push_str(" = [");
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        push_string(out, item);
    }
    out.push_str("]\n");
}

/// Appends a value in inline form (tables as `{ ... }`).
pub(crate) fn push_value(out: &mut String, value: &DeValue<'_>) {
    match value {
        DeValue::String(text) => push_string(out, text),
        DeValue::Integer(integer) => {
            out.push_str(match integer.radix() {
                16 => "0x",
                8 => "0o",
                2 => "0b",
                _ => "",
            });
            out.push_str(integer.as_str());
        }
        DeValue::Float(float) => out.push_str(float.as_str()),
        DeValue::Boolean(value) => out.push_str(if *value { "true" } else { "false" }),
        DeValue::Datetime(datetime) => {
            let _ = write!(out, "{datetime}");
        }
        DeValue::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                push_value(out, item.get_ref());
            }
            out.push(']');
        }
        DeValue::Table(table) => {
            out.push('{');
            for (index, (key, value)) in table.iter().enumerate() {
                out.push_str(if index > 0 { ", " } else { " " });
                push_key(out, key.get_ref());
                out.push_str(" = ");
                push_value(out, value.get_ref());
            }
            out.push_str(if table.is_empty() { "}" } else { " }" });
        }
    }
}

/// Takes `key` out of `table`. The table is rebuilt with the parser's own insert rather than
/// calling `remove`, whose B-tree rebalancing code would be linked into every buildpack only
/// for this.
pub(crate) fn take_key<'i>(table: &mut DeTable<'i>, key: &str) -> Option<Spanned<DeValue<'i>>> {
    if !table.contains_key(key) {
        return None;
    }
    let mut taken = None;
    for (name, value) in std::mem::take(table) {
        if name.get_ref() == key {
            taken = Some(value);
        } else {
            table.insert(name, value);
        }
    }
    taken
}

/// A value as TOML text, for error messages.
pub(crate) fn value_text(value: &DeValue<'_>) -> String {
    let mut out = String::new();
    push_value(&mut out, value);
    out
}

/// A whole document: the top level's plain values first, then one `[section]` per table
/// (whose nested tables are written inline).
pub(crate) fn document(table: &DeTable<'_>) -> String {
    let mut out = String::new();
    let is_table = |value: &DeValue<'_>| matches!(value, DeValue::Table(_));
    for (key, value) in table.iter().filter(|(_, value)| !is_table(value.get_ref())) {
        push_key(&mut out, key.get_ref());
        out.push_str(" = ");
        push_value(&mut out, value.get_ref());
        out.push('\n');
    }
    for (key, value) in table {
        let DeValue::Table(section) = value.get_ref() else {
            continue;
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push('[');
        push_key(&mut out, key.get_ref());
        out.push_str("]\n");
        for (key, value) in section {
            push_key(&mut out, key.get_ref());
            out.push_str(" = ");
            push_value(&mut out, value.get_ref());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn every_toml_value_reads_back_as_itself() {
        let text = "[metadata]\ns = \"a\\\"b\\n\"\ni = -7\nf = 1.0\ng = 1e300\nh = -0.5\nb = false\nd = 1979-05-27T07:32:00Z\na = [1, [2, \"x\"], { k = 1 }]\nt = { \"odd key\" = { inner = [] } }\nempty = {}\n";
        let table: toml::Table = toml::from_str(text).unwrap();
        let metadata = table["metadata"].as_table().unwrap();
        let written = store_document(metadata);
        let again: toml::Table = toml::from_str(&written).unwrap();
        assert_eq!(&again["metadata"], &table["metadata"], "{written}");
    }

    use super::*;

    #[test]
    fn a_document_reads_back_as_the_same_values() {
        let text = "top = 1\nhex = 0xff\n[metadata]\nname = \"a \\\"q\\\"\\n\\u0001\"\nlist = [1.5, true, 1979-05-27T07:32:00Z]\nnested = { x = [{ y = \"z\" }], \"odd key\" = -3 }\n[types]\ncache = true\n";
        let parsed = DeTable::parse(text).unwrap();
        let written = document(parsed.get_ref());
        let original: toml::Table = toml::from_str(text).unwrap();
        let again: toml::Table = toml::from_str(&written).unwrap();
        assert_eq!(original, again, "{written}");
        assert!(written.contains("[types]\ncache = true\n"), "{written}");
    }

    #[test]
    fn values_quote_as_toml() {
        let parsed = DeTable::parse("a = [\"x\", 'y']\nb = { c = 1 }\nd = {}").unwrap();
        let get = |key: &str| value_text(parsed.get_ref().get(key).unwrap().get_ref());
        assert_eq!(get("a"), "[\"x\", \"y\"]");
        assert_eq!(get("b"), "{ c = 1 }");
        assert_eq!(get("d"), "{}");
    }
}

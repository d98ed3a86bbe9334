//! Fuzzing of the `<layer>.toml` types reader (`docs/fuzzing.md`), differential against the
//! lifecycle's own decoder (`buildpack.DecodeLayerMetadataFile`, v0.21.11, through the oracle
//! in `platform::oracle`). `PROPTEST_CASES` sets the number of cases (default 256).

use super::*;
use proptest::prelude::*;
use std::path::Path;

/// A TOML value of any of the shapes a `<layer>.toml` key may hold.
fn value() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        any::<bool>().prop_map(toml::Value::Boolean),
        (-2i64..3).prop_map(toml::Value::Integer),
        prop::sample::select(vec!["", "true", "yes", "x"])
            .prop_map(|s| toml::Value::String(s.to_owned())),
        Just(toml::Value::Array(vec![toml::Value::Boolean(true)])),
        Just(toml::Value::Table(toml::Table::new())),
    ]
}

/// One spelling of `key` (the lifecycle's TOML decoder matches struct fields regardless of
/// case); at most one spelling per table, as two would make the lifecycle's result depend on
/// Go's map order.
fn spelling(key: &'static str) -> impl Strategy<Value = String> {
    prop::sample::select(vec![key.to_owned(), key.to_uppercase(), {
        let mut chars = key.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    }])
}

/// A `[types]` table: each flag absent or present (any spelling, any value), plus other keys.
fn types_table() -> impl Strategy<Value = toml::Table> {
    (
        prop::option::of((spelling("launch"), value())),
        prop::option::of((spelling("build"), value())),
        prop::option::of((spelling("cache"), value())),
        prop::option::of(value()),
    )
        .prop_map(|(launch, build, cache, other)| {
            let mut table = toml::Table::new();
            for (key, value) in [launch, build, cache].into_iter().flatten() {
                table.insert(key, value);
            }
            if let Some(other) = other {
                table.insert("other".to_owned(), other);
            }
            table
        })
}

/// A whole `<layer>.toml`: `[metadata]`, `types` of any shape and spelling, flags at the top
/// level (the old format the lifecycle refuses), unknown keys.
fn layer_toml() -> impl Strategy<Value = toml::Table> {
    (
        prop::option::of(prop_oneof![
            types_table().prop_map(toml::Value::Table),
            value()
        ]),
        prop::sample::select(vec!["types", "Types", "TYPES", "type\u{17f}"]),
        prop::option::of((
            prop::sample::select(vec!["launch", "build", "cache", "Launch", "CACHE"]),
            value(),
        )),
        prop::option::of(value()),
        prop::option::of(value()),
    )
        .prop_map(|(types, types_key, top_flag, metadata, unknown)| {
            let mut table = toml::Table::new();
            if let Some(types) = types {
                table.insert(types_key.to_owned(), types);
            }
            if let Some((key, value)) = top_flag {
                table.insert(key.to_owned(), value);
            }
            if let Some(metadata) = metadata {
                table.insert("metadata".to_owned(), metadata);
            }
            if let Some(unknown) = unknown {
                table.insert("unknown".to_owned(), unknown);
            }
            table
        })
}

/// The lifecycle's reading of the file at `path`: its types, or its error.
fn lifecycle_reads(path: &Path) -> Option<Result<CachedLayer, String>> {
    let response = crate::platform::oracle::ask(&serde_json::json!({ "layer_toml": path }))?;
    if let Some(error) = response.get("error").and_then(serde_json::Value::as_str) {
        return Some(Err(error.to_owned()));
    }
    let flag = |key: &str| response["types"][key].as_bool().unwrap_or_default();
    Some(Ok(CachedLayer {
        launch: flag("launch"),
        build: flag("build"),
        cache: flag("cache"),
    }))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    /// Every `<layer>.toml` shape: the same types as the lifecycle, or an error where it fails.
    #[test]
    fn layer_types_equal_the_lifecycle(table in layer_toml()) {
        let text = toml::to_string(&table).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("l.toml");
        std::fs::write(&path, &text).unwrap();
        let ours = layer_types(&table);
        if let Some(theirs) = lifecycle_reads(&path) {
            match (&ours, &theirs) {
                (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours, theirs, "{}", text),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "{text}\nours {ours:?}\nlifecycle {theirs:?}"),
            }
        }
    }

    /// Any text: an error or the types, never a panic.
    #[test]
    fn any_layer_toml_text_never_panics(text in any::<String>()) {
        if let Ok(table) = text.parse::<toml::Table>() {
            let _ = layer_types(&table);
        }
    }
}

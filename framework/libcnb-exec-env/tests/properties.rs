//! Property tests (proptest) of the framework's readers: the `ExecEnv` parser, `buildpack.toml`,
//! `launch.toml` and layer-metadata handling. Each property also holds on inputs built to be
//! valid, so an implementation that refused everything would fail them.
//!
//! Run longer: `PROPTEST_CASES=100000 cargo test -p libcnb-exec-env --test properties --release`.

#![allow(
    clippy::unwrap_used,
    clippy::format_collect,
    clippy::format_push_string
)]

use libcnb_exec_env::internal::descriptor::{BuildpackToml, DeclarationForm};
use libcnb_exec_env::{ExecEnv, ExecEnvSelector, Launch};
use proptest::prelude::*;

fn valid_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.-]{1,64}"
}

proptest! {
    #[test]
    fn parser_never_panics_and_accepts_exactly_the_documented_charset(value in prop_oneof![
        any::<String>(),
        "[ -~]{0,66}",
    ]) {
        // Printable as documented: ASCII graphic, or non-ASCII that is neither whitespace nor
        // control and that `str::escape_debug` leaves as it is (a combining mark not first).
        let printable = value.char_indices().all(|(position, c)| {
            if c.is_ascii() {
                return c.is_ascii_graphic();
            }
            let sample = if position == 0 { c.to_string() } else { format!("a{c}") };
            !c.is_whitespace() && !c.is_control() && sample.escape_debug().to_string() == sample
        });
        let valid = !value.is_empty()
            && value.len() <= 64
            && value != "*"
            && !value.contains('/')
            && printable;
        match value.parse::<ExecEnv>() {
            Ok(env) => {
                prop_assert!(valid, "accepted {value:?}");
                prop_assert_eq!(env.to_string(), value.clone());
                prop_assert_eq!(env.to_string().parse::<ExecEnv>().unwrap(), env);
            }
            Err(error) => {
                prop_assert!(!valid, "refused {value:?}: {error}");
                if !value.is_empty() && value.len() <= 64 {
                    prop_assert!(error.to_string().contains(&format!("{value:?}")), "{error}");
                }
            }
        }
    }

    #[test]
    fn every_printable_ascii_name_without_slash_parses(name in "[!-.0-~]{1,64}") {
        prop_assume!(name != "*");
        let env: ExecEnv = name.parse().unwrap();
        prop_assert_eq!(env.as_str(), name.as_str());
        prop_assert_eq!(
            env.is_pack_compatible(),
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        );
    }

    #[test]
    fn printable_unicode_names_parse(name in "[[\\p{Latin}\\p{Greek}\\p{Cyrillic}\\p{Katakana}&&\\P{M}]0-9_:+.-][\\p{Latin}\\p{Greek}\\p{Cyrillic}\\p{Katakana}0-9_:+.-]{0,15}") {
        prop_assume!(name.len() <= 64);
        let env: ExecEnv = name.parse().unwrap();
        prop_assert_eq!(env.as_str(), name.as_str());
    }

    #[test]
    fn valid_names_round_trip(name in valid_name()) {
        let env: ExecEnv = name.parse().unwrap();
        prop_assert_eq!(env.as_str(), name.as_str());
        let doc = format!("e = [{name:?}]");
        let table: toml::Table = toml::from_str(&doc).unwrap();
        let selector: ExecEnvSelector = table["e"].clone().try_into().unwrap();
        prop_assert!(selector.matches(&env));
    }

    #[test]
    fn buildpack_toml_reader_never_panics(text in any::<String>()) {
        let _ = BuildpackToml::parse(&text, "buildpack.toml");
    }

    #[test]
    fn both_declaration_forms_agree(names in proptest::collection::vec(valid_name(), 1..5)) {
        let head = "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1.0.0\"\n";
        let list = format!("{head}exec-env = {names:?}\n");
        let tables: String = names.iter().map(|name| format!("[[buildpack.exec-env]]\nname = {name:?}\n")).collect();
        let tables = format!("{head}{tables}");
        let from_list = BuildpackToml::parse(&list, "bp.toml").unwrap();
        let from_tables = BuildpackToml::parse(&tables, "bp.toml").unwrap();
        prop_assert_eq!(from_list.declaration_form, Some(DeclarationForm::StringList));
        prop_assert_eq!(from_tables.declaration_form, Some(DeclarationForm::SpecTables));
        prop_assert_eq!(&from_list.exec_env, &from_tables.exec_env);
        for name in &names {
            prop_assert!(from_list.exec_env.matches(&name.parse().unwrap()));
        }
        prop_assert!(from_list.component::<libcnb::generic::GenericMetadata>().is_ok());
    }

    #[test]
    fn launch_toml_reader_never_panics(text in any::<String>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("launch.toml");
        std::fs::write(&path, &text).unwrap();
        if let Err(error) = Launch::read(&path) {
            prop_assert!(error.to_string().contains("launch.toml"), "{error}");
        }
    }

    #[test]
    fn launch_toml_structured_fuzz(
        types in proptest::collection::vec("[a-z]{1,3}", 0..4),
        envs in proptest::collection::vec(prop_oneof![Just("*".to_owned()), valid_name(), Just("a/b".to_owned())], 0..3),
        defaults in proptest::collection::vec(any::<bool>(), 4),
    ) {
        let mut text = String::new();
        for (index, kind) in types.iter().enumerate() {
            text.push_str(&format!("[[processes]]\ntype = {kind:?}\ncommand = [\"x\"]\ndefault = {}\nexec-env = {envs:?}\n", defaults[index]));
        }
        let parsed: Result<Launch, _> = toml::from_str(&text);
        let has_slash = !types.is_empty() && envs.iter().any(|env| env.contains('/'));
        prop_assert_eq!(parsed.is_err(), has_slash);
        if let Ok(launch) = parsed {
            let duplicate = (1..types.len()).any(|i| types[..i].contains(&types[i]));
            let defaults = defaults.iter().take(types.len()).filter(|d| **d).count();
            prop_assert_eq!(launch.validate().is_ok(), !duplicate && defaults <= 1);
        }
    }
}

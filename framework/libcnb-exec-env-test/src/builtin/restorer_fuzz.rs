//! Fuzzing of the built-in cache index (`docs/fuzzing.md`), structured: `metadata.toml` files
//! naming buildpacks and layers with hostile names (`..`, `../x`, `x/y`, `.`, empty), any
//! types, digests right, wrong or missing, over cached trees present or not, with a precious
//! directory next to the cache. Properties: never a panic; nothing outside the cache and the
//! layers directory changes; exactly the layers with a valid name, `cache = true`, their files
//! and `<layer>.toml` present and the right digest are restored. `PROPTEST_CASES` sets the count.

use super::*;
use crate::engine::Progress;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct IndexEntry {
    buildpack: &'static str,
    name: &'static str,
    cache: bool,
    launch: bool,
    digest: Digest,
    files: bool,
}

#[derive(Clone, Copy, Debug)]
enum Digest {
    Right,
    Wrong,
    Missing,
}

fn entry() -> impl Strategy<Value = IndexEntry> {
    (
        prop::sample::select(vec!["a/b", "a/b", "..", "a/../..", ".", "c/d"]),
        prop::sample::select(vec![
            "l",
            "m",
            "ok-1",
            "..",
            "../precious",
            "../../precious",
            ".",
            "x/y",
            "",
            "n.toml",
        ]),
        any::<bool>(),
        any::<bool>(),
        prop::sample::select(vec![
            Digest::Right,
            Digest::Right,
            Digest::Wrong,
            Digest::Missing,
        ]),
        prop::bool::weighted(0.8),
    )
        .prop_map(
            |(buildpack, name, cache, launch, digest, files)| IndexEntry {
                buildpack,
                name,
                cache,
                launch,
                digest,
                files,
            },
        )
}

fn valid(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/')
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
                out.push((path, Vec::new()));
            } else {
                let content = std::fs::read(&path).unwrap_or_default();
                out.push((path, content));
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn hostile_cache_indexes_restore_exactly_the_intact_layers(
        entries in prop::collection::vec(entry(), 0..6),
    ) {
        // One entry per (buildpack, layer), as in a TOML table.
        let entries: Vec<IndexEntry> = entries
            .iter()
            .map(|e| ((e.buildpack, e.name), e.clone()))
            .collect::<BTreeMap<_, _>>()
            .into_values()
            .collect();
        let tmp = tempfile::tempdir().unwrap();
        let precious = tmp.path().join("precious");
        std::fs::create_dir_all(precious.join("dir")).unwrap();
        std::fs::write(precious.join("file"), b"keep me").unwrap();
        let cache_dir = tmp.path().join("cache");
        let root = cache_dir.join("builtin");
        let mut buildpacks = toml::Table::new();
        let mut digests = toml::Table::new();
        let mut expected = std::collections::BTreeSet::new();
        for entry in &entries {
            let mut types = toml::Table::new();
            types.insert("launch".into(), entry.launch.into());
            types.insert("build".into(), false.into());
            types.insert("cache".into(), entry.cache.into());
            let layers = buildpacks
                .entry(entry.buildpack)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(layers) = layers {
                layers.insert(entry.name.into(), toml::Value::Table(types));
            }
            let mut digest = None;
            let safe = valid(entry.name) && entry.buildpack == "a/b";
            if safe && entry.files {
                let source = root.join("layers/a_b").join(entry.name);
                std::fs::create_dir_all(&source).unwrap();
                std::fs::write(source.join("f"), entry.name).unwrap();
                std::fs::write(root.join("layers/a_b").join(format!("{}.toml", entry.name)), "[metadata]\nk = 1\n").unwrap();
                digest = Some(crate::platform::tree_stat::Snapshot::take(&source).unwrap().digest());
            }
            let recorded = match (entry.digest, digest) {
                (Digest::Right, Some(digest)) => Some(digest),
                (Digest::Right | Digest::Wrong, _) => Some("sha256:0".to_owned()),
                (Digest::Missing, _) => None,
            };
            if let Some(recorded) = recorded {
                let per = digests
                    .entry(entry.buildpack)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(per) = per {
                    per.insert(entry.name.into(), recorded.into());
                }
            }
        }
        for entry in &entries {
            if entry.buildpack == "a/b" && valid(entry.name) && entry.cache && entry.files
                && matches!(entry.digest, Digest::Right)
            {
                expected.insert(entry.name.to_owned());
            }
        }
        let mut index = toml::Table::new();
        index.insert("format".into(), toml::Value::Integer(i64::from(CACHE_FORMAT)));
        index.insert("buildpacks".into(), toml::Value::Table(buildpacks));
        index.insert("digests".into(), toml::Value::Table(digests));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("metadata.toml"), toml::to_string(&index).unwrap()).unwrap();
        let before = snapshot(&precious);
        let mut log = Log::new(Progress::Quiet);
        let mut cache = Cache::open(&cache_dir, &mut log);
        let group = vec![GroupEntry {
            buildpack: crate::engine::PackagedBuildpack {
                dir: tmp.path().to_path_buf(),
                id: "a/b".into(),
                version: "1".into(),
                descriptor: libcnb_exec_env::internal::descriptor::BuildpackToml::parse(
                    "api = \"0.12\"\n[buildpack]\nid = \"a/b\"\nversion = \"1\"\n",
                    "bp.toml",
                )
                .unwrap(),
            },
            optional: false,
            exec_env: libcnb_exec_env::ExecEnvSelector::All,
        }];
        let layers = tmp.path().join("layers");
        let restored = cache.restore(&group, &layers, None, &mut log).unwrap();
        prop_assert_eq!(snapshot(&precious), before, "changed outside the cache");
        let got: std::collections::BTreeSet<String> =
            restored.iter().map(|layer| layer.name.clone()).collect();
        prop_assert_eq!(got, expected, "{}", log.take());
        for name in restored.iter().map(|layer| &layer.name) {
            prop_assert_eq!(std::fs::read_to_string(layers.join("a_b").join(name).join("f")).unwrap(), name.clone());
        }
    }
}

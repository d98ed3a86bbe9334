//! Hostile apps (issue 9, part 4), built with the example buildpacks through the local platform
//! under every available engine:
//!
//! - symlinks pointing out of the app (absolute, relative, to files and directories, and in
//!   place of directories the buildpacks write, such as `node_modules`) stay symlinks: neither
//!   the platform (copying the app, caching, exporting) nor the buildpacks (hashing lockfiles,
//!   installing) follow them, copy what they point to, or write through them;
//! - file names with spaces, tabs, newlines and bytes that are not UTF-8 come through intact;
//! - a huge file (2 GiB, sparse) costs neither disk nor memory, and little time.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used)]

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LocalRunner, available_engines,
};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn example(app: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../example-apps")
        .join(app)
}

/// Copies an example app into `to` (with `cp -a`).
fn copy_app(app: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(example(app).join("."))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Packs the gems a Ruby app's lockfile names into its `vendor/cache` (rubygems.org is not
/// reachable), as `ruby.rs` does.
fn vendor_ruby_gems(app: &Path) {
    let output = Command::new("ruby")
        .arg(example("ruby/vendor-system-gems.rb"))
        .arg("--relock")
        .arg(app)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn config(buildpack: &str, app: &Path, engine: Engine) -> BuildConfig {
    let mut config = BuildConfig::new(app);
    config
        .buildpacks([BuildpackReference::WorkspaceBuildpack(
            buildpack.parse().unwrap(),
        )])
        .exec_env(ExecEnv::Test)
        .engine(engine);
    config
}

/// Every entry under `dir`, symlinks not followed: relative path -> file content, link target
/// (`-> target`) or `<dir>`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, relative: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = relative.join(entry.file_name());
            let kind = entry.file_type().unwrap();
            if kind.is_symlink() {
                let target = std::fs::read_link(entry.path()).unwrap();
                let mut value = b"-> ".to_vec();
                value.extend_from_slice(target.as_os_str().as_bytes());
                out.insert(name, value);
            } else if kind.is_dir() {
                out.insert(name.clone(), b"<dir>".to_vec());
                walk(&entry.path(), &name, out);
            } else {
                out.insert(name, std::fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, Path::new(""), &mut out);
    out
}

/// Regular files (symlinks not followed) under `dir` whose name is one of `names`.
fn regular_files_named(dir: &Path, names: &[&str], found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            regular_files_named(&entry.path(), names, found);
        } else if kind.is_file() && names.iter().any(|n| entry.file_name() == **n) {
            found.push(entry.path());
        }
    }
}

const SECRET_NAMES: [&str; 3] = ["secret-file.txt", "secret-inner.txt", "victim-keep.txt"];

/// Out of the app: a secret file, a directory with a secret, and a victim directory a hostile
/// link offers as a place to write.
fn outside_tree(root: &Path) -> PathBuf {
    let outside = root.join("outside");
    std::fs::create_dir_all(outside.join("dir")).unwrap();
    std::fs::create_dir_all(outside.join("victim")).unwrap();
    std::fs::write(outside.join("secret-file.txt"), "HOSTILE-APP-SECRET\n").unwrap();
    std::fs::write(outside.join("dir/secret-inner.txt"), "HOSTILE-APP-SECRET\n").unwrap();
    std::fs::write(outside.join("victim/victim-keep.txt"), "must survive\n").unwrap();
    outside
}

/// Adds links out of the app: absolute and relative, to a file and a directory, plus
/// `extra` (app-relative path -> outside-relative target) for places a buildpack writes.
fn add_hostile_links(
    app: &Path,
    outside: &Path,
    extra: &[(&str, &str)],
) -> Vec<(PathBuf, PathBuf)> {
    let mut links = vec![
        (PathBuf::from("leak-file"), outside.join("secret-file.txt")),
        (PathBuf::from("leak-dir"), outside.join("dir")),
        (
            PathBuf::from("leak-relative"),
            PathBuf::from("../outside/secret-file.txt"),
        ),
        (
            PathBuf::from("leak-dir-relative"),
            PathBuf::from("../outside/dir"),
        ),
    ];
    for (path, target) in extra {
        links.push((PathBuf::from(path), outside.join(target)));
    }
    for (path, target) in &links {
        let link = app.join(path);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let _ = std::fs::remove_dir_all(&link);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, &link).unwrap();
    }
    links
}

fn symlinks_are_never_followed(buildpack: &str, app: &str, extra: &[(&str, &str)]) {
    for engine in available_engines() {
        let root = tempfile::tempdir().unwrap();
        let outside = outside_tree(root.path());
        let app_dir = root.path().join("app");
        copy_app(app, &app_dir);
        if app.starts_with("ruby/") {
            vendor_ruby_gems(&app_dir);
        }
        let links = add_hostile_links(&app_dir, &outside, extra);
        let before = snapshot(&outside);
        let cache = root.path().join("cache");
        LocalRunner::default().build(
            config(buildpack, &app_dir, engine).cache_dir(&cache),
            |ctx| {
                let workspace = ctx.image_dir().join("workspace");
                for (path, target) in &links {
                    if extra.iter().any(|(p, _)| Path::new(p) == path) {
                        // The buildpack may replace these (node_modules becomes its own link).
                        continue;
                    }
                    let copied = workspace.join(path);
                    let meta = std::fs::symlink_metadata(&copied).unwrap_or_else(|error| {
                        panic!(
                            "{engine}: {} is gone from the image: {error}",
                            copied.display()
                        )
                    });
                    assert!(
                        meta.file_type().is_symlink(),
                        "{engine}: {} was copied as what it points to",
                        path.display()
                    );
                    assert_eq!(&std::fs::read_link(&copied).unwrap(), target, "{engine}");
                }
                let mut leaked = Vec::new();
                regular_files_named(ctx.image_dir(), &SECRET_NAMES, &mut leaked);
                regular_files_named(&cache, &SECRET_NAMES, &mut leaked);
                assert!(
                    leaked.is_empty(),
                    "{engine}: files from outside the app were copied: {leaked:?}"
                );
                assert!(
                    !ctx.pack_stdout.contains("HOSTILE-APP-SECRET"),
                    "{engine}: a secret from outside the app reached the build output:\n{}",
                    ctx.pack_stdout
                );
                assert_eq!(
                    snapshot(&outside),
                    before,
                    "{engine}: the build changed files outside the app through a link"
                );
                let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
                assert!(run.success(), "{engine}: {}", run.output());
            },
        );
    }
}

#[test]
fn nodejs_symlinks_out_of_the_app_are_never_followed() {
    symlinks_are_never_followed(
        "examples/nodejs",
        "nodejs/greeting-service",
        &[("node_modules", "victim")],
    );
}

#[test]
fn ruby_symlinks_out_of_the_app_are_never_followed() {
    symlinks_are_never_followed(
        "examples/ruby",
        "ruby/rack-minitest",
        &[(".bundle", "victim")],
    );
}

#[test]
fn go_symlinks_out_of_the_app_are_never_followed() {
    symlinks_are_never_followed("examples/go", "go/hello", &[("bin", "victim")]);
}

/// A lockfile that is a link out of the app is refused or read as a link, never an open door:
/// nothing of the outside file's content appears in the output or the image.
#[test]
fn nodejs_lockfile_linked_out_of_the_app_leaks_nothing() {
    for engine in available_engines() {
        let root = tempfile::tempdir().unwrap();
        let outside = outside_tree(root.path());
        let app_dir = root.path().join("app");
        copy_app("nodejs/greeting-service", &app_dir);
        std::fs::remove_file(app_dir.join("package-lock.json")).unwrap();
        std::os::unix::fs::symlink(
            outside.join("secret-file.txt"),
            app_dir.join("package-lock.json"),
        )
        .unwrap();
        let runner = LocalRunner::default();
        let result = runner.try_build(config("examples/nodejs", &app_dir, engine));
        let output = match &result {
            Ok(ctx) => ctx.pack_stdout.clone(),
            Err(error) => error.to_string(),
        };
        assert!(
            !output.contains("HOSTILE-APP-SECRET"),
            "{engine}: the linked file's content reached the output:\n{output}"
        );
    }
}

/// Names with spaces, tabs, newlines and non-UTF-8 bytes, and such a directory, come through
/// the build byte for byte.
#[test]
fn odd_file_names_survive_the_build() {
    let odd_names: [&[u8]; 5] = [
        b"with space.txt",
        b"tab\there.txt",
        b"new\nline.txt",
        b"not-utf8-\xff\xfe.txt",
        b"dir with space/inner \xc3\x28 \n.txt",
    ];
    for engine in available_engines() {
        let root = tempfile::tempdir().unwrap();
        let app_dir = root.path().join("app");
        copy_app("nodejs/greeting-service", &app_dir);
        for (i, name) in odd_names.iter().enumerate() {
            let path = app_dir.join(OsStr::from_bytes(name));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, format!("content {i}\n")).unwrap();
        }
        LocalRunner::default().build(config("examples/nodejs", &app_dir, engine), |ctx| {
            let workspace = ctx.image_dir().join("workspace");
            for (i, name) in odd_names.iter().enumerate() {
                let path = workspace.join(OsStr::from_bytes(name));
                assert_eq!(
                    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!(
                        "{engine}: {path:?} is missing from the image: {error}"
                    )),
                    format!("content {i}\n"),
                    "{engine}: {path:?}"
                );
            }
            let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
            assert!(run.success(), "{engine}: {}", run.output());
        });
    }
}

/// Peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Disk blocks allocated under `dir` (symlinks not followed), in bytes.
fn allocated(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|entry| {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            let own = meta.blocks() * 512;
            if meta.is_dir() {
                own + allocated(&entry.path())
            } else {
                own
            }
        })
        .sum()
}

/// A 2 GiB sparse file in the app: the build copies it as a sparse file (no disk), streams it
/// (no memory), and stays quick.
#[test]
fn a_huge_sparse_file_costs_no_disk_memory_or_much_time() {
    const HUGE: u64 = 2 << 30;
    for engine in available_engines() {
        let root = tempfile::tempdir().unwrap();
        let app_dir = root.path().join("app");
        copy_app("nodejs/greeting-service", &app_dir);
        let huge = std::fs::File::create(app_dir.join("huge.bin")).unwrap();
        huge.set_len(HUGE).unwrap();
        drop(huge);
        let cache = root.path().join("cache");
        let started = Instant::now();
        LocalRunner::default().build(
            config("examples/nodejs", &app_dir, engine).cache_dir(&cache),
            |ctx| {
                let elapsed = started.elapsed();
                let copy = ctx.image_dir().join("workspace/huge.bin");
                let meta = std::fs::metadata(&copy).unwrap();
                assert_eq!(meta.len(), HUGE, "{engine}: the huge file changed size");
                assert!(
                    meta.blocks() * 512 < 1 << 20,
                    "{engine}: the image's copy of a sparse 2 GiB file takes {} bytes of disk",
                    meta.blocks() * 512
                );
                let used = allocated(&cache);
                assert!(
                    used < 1 << 30,
                    "{engine}: the cache directory takes {used} bytes for a small app"
                );
                assert!(
                    elapsed < Duration::from_secs(240),
                    "{engine}: the build took {elapsed:?}"
                );
                let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
                assert!(run.success(), "{engine}: {}", run.output());
            },
        );
        // The built-in engine copies in this process: it never held the file in memory.
        assert!(
            peak_rss_kib() < 1 << 20,
            "{engine}: this process peaked at {} KiB",
            peak_rss_kib()
        );
    }
}

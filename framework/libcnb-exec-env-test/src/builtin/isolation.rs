//! Launch isolation: a launched process sees the image's layers through an overlay of its own,
//! as a container sees its image, so nothing it writes reaches the image stand-in.
//!
//! A real platform starts every container from the image, and what the process writes goes to
//! the container's own writable layer. The built-in engine's image is a directory; without
//! isolation a process that writes into `/layers` would change the image for every later launch
//! and, since the cache shares files with the image (below), the cache too.
//!
//! How: in the child, between `fork` and `exec`, a private mount namespace (plus a user
//! namespace mapping the caller's own uid and gid, when not root), then an overlay mounted on
//! `<image>/layers` itself with the image's layers as its lower directory and a scratch
//! directory beside the image as its upper one. The mount exists only in that namespace and
//! ends with its last process; the scratch directory is removed after the launch. The process
//! keeps its uid, gid, paths and environment; only its writes under `<image>/layers` land
//! elsewhere.
//!
//! What it buys: with every launch isolated, the image's launch layers never change after the
//! export, so the export hard-links a `launch = true, cache = true` layer into the cache
//! instead of copying its bytes ([`available`] decides). A process that writes into its layers
//! still sees its own writes during that launch, and none after it, as with `docker run`.
//!
//! Where namespaces or overlay mounts are not allowed (an unprivileged user without user
//! namespaces, a container without `CAP_SYS_ADMIN`, an image path with characters overlay
//! options cannot carry) the export copies as before and processes run in place; an image that
//! shares files with a cache is first given its own copies of them ([`break_shared_links`]).
//! `CNB_LOCAL_LAUNCH_ISOLATION=off` turns isolation off on purpose.

#![allow(unsafe_code)] // unshare(2), mount(2) and the uid map, between fork and exec only

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The variable that turns launch isolation off (`off`, `0` or `false`).
pub const LAUNCH_ISOLATION_ENV: &str = "CNB_LOCAL_LAUNCH_ISOLATION";

/// The scratch directory of one isolated launch (the overlay's upper and work directories),
/// removed when dropped.
#[derive(Debug)]
pub(crate) struct Isolation {
    scratch: tempfile::TempDir,
}

impl Isolation {
    /// The scratch directory, for a launch that outlives this value: the caller removes it
    /// (after [`Isolation::removable`]).
    pub(crate) fn keep(self) -> PathBuf {
        let path = self.scratch.path().to_path_buf();
        std::mem::forget(self);
        path
    }

    /// Makes the overlay's work directory removable (the kernel leaves `work/work` with no
    /// permissions; an unprivileged owner could not remove it otherwise).
    pub(crate) fn removable(scratch: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            scratch.join("work/work"),
            std::fs::Permissions::from_mode(0o700),
        );
    }
}

impl Drop for Isolation {
    fn drop(&mut self) {
        Self::removable(self.scratch.path());
    }
}

/// Whether launches are isolated on this machine (probed once per process: a throwaway overlay
/// mounted in a child's own namespaces), unless [`LAUNCH_ISOLATION_ENV`] turns it off.
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| !turned_off() && probe().is_ok())
}

/// Whether [`LAUNCH_ISOLATION_ENV`] turns isolation off (`off`, `0` or `false`).
fn turned_off() -> bool {
    std::env::var(LAUNCH_ISOLATION_ENV)
        .is_ok_and(|value| matches!(value.trim(), "off" | "0" | "false"))
}

fn probe() -> std::io::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("cnb-isolation-probe.")
        .tempdir()?;
    let lower = dir.path().join("layers");
    std::fs::create_dir_all(&lower)?;
    let mut command = Command::new("true");
    let _isolation = mount_overlay(&mut command, &lower)?;
    let status = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("probe exited with {status}")))
    }
}

/// Makes `command` run with `layers_dir` overlaid (see the module documentation), when
/// isolation is [`available`]. `None`: not available, the process runs in place.
///
/// # Errors
/// The scratch directory cannot be made.
pub(crate) fn isolate(
    command: &mut Command,
    layers_dir: &Path,
) -> std::io::Result<Option<Isolation>> {
    if !available() || !layers_dir.is_dir() {
        return Ok(None);
    }
    match mount_overlay(command, layers_dir) {
        Ok(isolation) => Ok(Some(isolation)),
        Err(error) if error.kind() == std::io::ErrorKind::InvalidInput => Ok(None),
        Err(error) => Err(error),
    }
}

/// Sets up the scratch directory and the `pre_exec` hook. `InvalidInput` when a path cannot be
/// written in overlay options (`,`, `:`, `\` or a NUL byte in it).
fn mount_overlay(command: &mut Command, layers_dir: &Path) -> std::io::Result<Isolation> {
    let layers_dir = std::path::absolute(layers_dir)?;
    let parent = layers_dir.parent().unwrap_or(&layers_dir);
    let scratch = tempfile::Builder::new()
        .prefix(".launch.")
        .tempdir_in(parent.parent().unwrap_or(parent))?;
    let upper = scratch.path().join("upper");
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&upper)?;
    std::fs::create_dir_all(&work)?;
    let unusable = |path: &Path| {
        path.as_os_str()
            .as_bytes()
            .iter()
            .any(|byte| matches!(byte, b',' | b':' | b'\\' | 0))
    };
    if [&layers_dir, &upper, &work]
        .iter()
        .any(|path| unusable(path))
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a path overlay options cannot carry",
        ));
    }
    let mut options = b"lowerdir=".to_vec();
    options.extend_from_slice(layers_dir.as_os_str().as_bytes());
    options.extend_from_slice(b",upperdir=");
    options.extend_from_slice(upper.as_os_str().as_bytes());
    options.extend_from_slice(b",workdir=");
    options.extend_from_slice(work.as_os_str().as_bytes());
    let options = CString::new(options)?;
    let target = CString::new(layers_dir.as_os_str().as_bytes())?;
    // The child changes directory before this hook runs: into the overlay again afterwards,
    // for a working directory inside the layers.
    let cwd = command
        .get_current_dir()
        .map(std::path::absolute)
        .transpose()?
        .map(|dir| CString::new(dir.as_os_str().as_bytes()))
        .transpose()?;
    // SAFETY: plain syscalls; everything allocated is allocated before the fork.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let uid_map = format!("{uid} {uid} 1\n").into_bytes();
    let gid_map = format!("{gid} {gid} 1\n").into_bytes();
    let hook = move || -> std::io::Result<()> {
        let last = std::io::Error::last_os_error;
        let flags = if uid == 0 {
            libc::CLONE_NEWNS
        } else {
            libc::CLONE_NEWNS | libc::CLONE_NEWUSER
        };
        // SAFETY: the child of a fork, single-threaded; only async-signal-safe calls follow,
        // on buffers made before the fork.
        unsafe {
            if libc::unshare(flags) != 0 {
                return Err(last());
            }
            if uid != 0 {
                write_proc(c"/proc/self/setgroups", b"deny")?;
                write_proc(c"/proc/self/uid_map", &uid_map)?;
                write_proc(c"/proc/self/gid_map", &gid_map)?;
            }
            let private = libc::MS_REC | libc::MS_PRIVATE;
            if libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                private,
                std::ptr::null(),
            ) != 0
            {
                return Err(last());
            }
            if libc::mount(
                c"overlay".as_ptr(),
                target.as_ptr(),
                c"overlay".as_ptr(),
                0,
                options.as_ptr().cast(),
            ) != 0
            {
                return Err(last());
            }
            if let Some(cwd) = &cwd
                && libc::chdir(cwd.as_ptr()) != 0
            {
                return Err(last());
            }
        }
        Ok(())
    };
    // SAFETY: the hook allocates nothing and calls only async-signal-safe functions.
    unsafe {
        command.pre_exec(hook);
    }
    Ok(Isolation { scratch })
}

/// Writes `bytes` to a `/proc` file (between fork and exec: raw calls only).
unsafe fn write_proc(path: &std::ffi::CStr, bytes: &[u8]) -> std::io::Result<()> {
    // SAFETY: a valid C string and buffer; the descriptor is closed on every path.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if usize::try_from(written).ok() == Some(bytes.len()) {
            Ok(())
        } else {
            Err(error)
        }
    }
}

/// Gives every file under `dir` that has links elsewhere (a cache's hard link made by an
/// isolated export) a copy of its own, so that a process run in place there cannot write into
/// the cache. Files linked only within `dir` keep their links.
///
/// # Errors
/// A file cannot be read, copied or renamed.
pub(crate) fn break_shared_links(dir: &Path) -> std::io::Result<usize> {
    use std::collections::HashMap;
    use std::os::unix::fs::MetadataExt;
    fn walk(dir: &Path, files: &mut Vec<(PathBuf, u64, u64)>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = std::fs::symlink_metadata(entry.path())?;
            if meta.is_dir() {
                walk(&entry.path(), files)?;
            } else if meta.is_file() && meta.nlink() > 1 {
                files.push((entry.path(), meta.ino(), meta.nlink()));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    if dir.is_dir() {
        walk(dir, &mut files)?;
    }
    let mut inside: HashMap<u64, u64> = HashMap::new();
    for (_, ino, _) in &files {
        *inside.entry(*ino).or_default() += 1;
    }
    let mut broken = 0;
    for (path, ino, nlink) in &files {
        if inside.get(ino).copied().unwrap_or(0) >= *nlink {
            continue;
        }
        let copy = path.with_file_name(format!(
            ".{}.unshared",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        crate::platform::tree_stat::copy_file_keeping_time(path, &copy)?;
        std::fs::rename(&copy, path)?;
        broken += 1;
    }
    Ok(broken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn writes_of_an_isolated_process_stay_out_of_the_layers() {
        if !available() {
            assert!(
                turned_off() || std::env::var_os("CI").is_none(),
                "launch isolation is not available under CI"
            );
            eprintln!("SKIPPED: launch isolation is not available here");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let layers = tmp.path().join("image/layers");
        std::fs::create_dir_all(layers.join("bp/layer")).unwrap();
        std::fs::write(layers.join("bp/layer/file"), "image").unwrap();
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "echo launched > '{0}/bp/layer/file' && touch '{0}/bp/layer/new' && touch relative && cat '{0}/bp/layer/file' && id -u",
            layers.display()
        ));
        // A working directory inside the layers is the overlay's too.
        command.current_dir(layers.join("bp"));
        let isolation = isolate(&mut command, &layers).unwrap().unwrap();
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        // The process saw its own write and kept its uid.
        assert!(stdout.starts_with("launched\n"), "{stdout}");
        // SAFETY: a plain syscall.
        let uid = unsafe { libc::getuid() };
        assert_eq!(stdout.lines().nth(1), Some(uid.to_string().as_str()));
        // The image did not.
        assert_eq!(
            std::fs::read_to_string(layers.join("bp/layer/file")).unwrap(),
            "image"
        );
        assert!(!layers.join("bp/layer/new").exists());
        assert!(!layers.join("bp/relative").exists());
        let scratch = isolation.scratch.path().to_path_buf();
        drop(isolation);
        assert!(!scratch.exists());
    }

    #[test]
    fn shared_links_are_broken_and_links_within_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layers");
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::write(dir.join("a/shared"), "cache's").unwrap();
        std::fs::write(dir.join("a/inner"), "inner").unwrap();
        std::fs::hard_link(dir.join("a/inner"), dir.join("a/inner-2")).unwrap();
        let cache = tmp.path().join("cache-file");
        std::fs::hard_link(dir.join("a/shared"), &cache).unwrap();
        assert_eq!(break_shared_links(&dir).unwrap(), 1);
        std::fs::write(dir.join("a/shared"), "written").unwrap();
        assert_eq!(std::fs::read_to_string(&cache).unwrap(), "cache's");
        assert_eq!(std::fs::metadata(&cache).unwrap().nlink(), 1);
        assert_eq!(std::fs::metadata(dir.join("a/inner")).unwrap().nlink(), 2);
    }
}

//! The parts of `go.mod` a buildpack needs: the `go` line and the `toolchain` line.
//!
//! Only those two directives are read; everything else (`module`, `require`, blocks, comments) is
//! skipped, and left to the `go` command to validate.

use libcnb_exec_env::app_file::read_confined;
use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A Go release or language version: `1.22` (language), `1.22rc1`, `1.22.0`, `1.25.4`.
///
/// Ordered like the `go` command orders them: `1.22` < `1.22rc1` < `1.22.0` < `1.22.1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GoVersion {
    major: u64,
    minor: u64,
    /// `None` for a language version (`1.22`) or a pre-release (`1.22rc1`).
    patch: Option<u64>,
    /// `beta`/`rc` with its number, for pre-releases.
    pre: Option<(PreKind, u64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum PreKind {
    Beta,
    Rc,
}

/// Why a string is not a Go version.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a Go version (expected something like 1.25 or 1.25.4)")]
pub(crate) struct InvalidGoVersion(pub(crate) String);

impl FromStr for GoVersion {
    type Err = InvalidGoVersion;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidGoVersion(value.to_owned());
        let number = |text: &str| -> Result<u64, InvalidGoVersion> {
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            text.parse().map_err(|_| invalid())
        };
        let (major, rest) = value.split_once('.').ok_or_else(invalid)?;
        let major = number(major)?;
        // The minor part may carry a pre-release suffix: 1.22rc1, 1.22beta2.
        let (minor_text, patch_text) = match rest.split_once('.') {
            Some((minor, patch)) => (minor, Some(patch)),
            None => (rest, None),
        };
        let (minor, pre) = if let Some(index) = minor_text.find(|c: char| !c.is_ascii_digit()) {
            let (minor, suffix) = minor_text.split_at(index);
            let pre = if let Some(n) = suffix.strip_prefix("rc") {
                (PreKind::Rc, number(n)?)
            } else if let Some(n) = suffix.strip_prefix("beta") {
                (PreKind::Beta, number(n)?)
            } else {
                return Err(invalid());
            };
            if patch_text.is_some() {
                return Err(invalid());
            }
            (number(minor)?, Some(pre))
        } else {
            (number(minor_text)?, None)
        };
        let patch = patch_text.map(number).transpose()?;
        Ok(GoVersion {
            major,
            minor,
            patch,
            pre,
        })
    }
}

impl GoVersion {
    /// Parses the output of `go env GOVERSION` or a toolchain name: `go1.26.8`,
    /// `go1.26.8 X:nocoverageredesign`, `go1.22rc1`.
    pub(crate) fn from_toolchain_name(name: &str) -> Result<Self, InvalidGoVersion> {
        let first = name.split_whitespace().next().unwrap_or_default();
        let version = first
            .strip_prefix("go")
            .ok_or_else(|| InvalidGoVersion(name.to_owned()))?;
        // Custom builds append `-suffix` (go1.21.1-foo); compare on the release part.
        let version = version
            .split_once('-')
            .map_or(version, |(release, _)| release);
        version
            .parse()
            .map_err(|_| InvalidGoVersion(name.to_owned()))
    }

    /// The release to download for this version: a language version of Go 1.21 or later
    /// (`1.22`) means its first release (`1.22.0`), as the `go` command does.
    #[must_use]
    pub(crate) fn release(&self) -> GoVersion {
        if self.patch.is_none() && self.pre.is_none() && (self.major, self.minor) >= (1, 21) {
            GoVersion {
                patch: Some(0),
                ..self.clone()
            }
        } else {
            self.clone()
        }
    }
}

impl Ord for GoVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        // Language version < beta < rc < release; then by number.
        let rank = |v: &GoVersion| match (v.patch, v.pre) {
            (Some(patch), _) => (3, patch),
            (None, Some((PreKind::Rc, n))) => (2, n),
            (None, Some((PreKind::Beta, n))) => (1, n),
            (None, None) => (0, 0),
        };
        (self.major, self.minor, rank(self)).cmp(&(other.major, other.minor, rank(other)))
    }
}

impl PartialOrd for GoVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        match (self.pre, self.patch) {
            (Some((PreKind::Rc, n)), _) => write!(f, "rc{n}"),
            (Some((PreKind::Beta, n)), _) => write!(f, "beta{n}"),
            (None, Some(patch)) => write!(f, ".{patch}"),
            (None, None) => Ok(()),
        }
    }
}

/// What `go.mod` says about Go versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoMod {
    /// The file read.
    pub(crate) path: PathBuf,
    /// The module path (`module` line).
    pub(crate) module: Option<String>,
    /// The `go` line: the minimum Go version, with its line number.
    pub(crate) go: Option<(GoVersion, usize)>,
    /// The `toolchain` line (`None` also for `toolchain default`), with its line number.
    pub(crate) toolchain: Option<(GoVersion, usize)>,
}

/// Why `go.mod` cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GoModError {
    /// The file cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// A line is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line number (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl GoMod {
    /// Reads and parses `go.mod`.
    pub(crate) fn read(path: &Path) -> Result<Self, GoModError> {
        let read_error = |error| GoModError::Read {
            path: path.to_path_buf(),
            error,
        };
        let bytes = read_confined(path).map_err(read_error)?;
        let text = String::from_utf8(bytes).map_err(|error| {
            read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, error))
        })?;
        Self::parse(path, &text)
    }

    /// Parses the text of `go.mod` (`path` names the file in errors).
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Self, GoModError> {
        let malformed = |line: usize, message: String| GoModError::Malformed {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut result = GoMod {
            path: path.to_path_buf(),
            module: None,
            go: None,
            toolchain: None,
        };
        let mut in_block: Option<(String, usize)> = None;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let line = raw.split_once("//").map_or(raw, |(code, _)| code).trim();
            if line.is_empty() {
                continue;
            }
            if in_block.is_some() {
                if line == ")" {
                    in_block = None;
                }
                continue;
            }
            let mut words = line.split_whitespace();
            let verb = words.next().unwrap_or_default();
            let args: Vec<&str> = words.collect();
            if args.last() == Some(&"(") {
                in_block = Some((verb.to_owned(), number));
                continue;
            }
            match verb {
                "module" => {
                    result.module = args.first().map(|m| m.trim_matches('"').to_owned());
                }
                "go" => {
                    if result.go.is_some() {
                        return Err(malformed(number, "repeated go line".to_owned()));
                    }
                    let [version] = args.as_slice() else {
                        return Err(malformed(
                            number,
                            format!("the go line must name one version, as in `go 1.25`: `{line}`"),
                        ));
                    };
                    let version = version.parse::<GoVersion>().map_err(|error| {
                        malformed(number, format!("invalid go version: {error}"))
                    })?;
                    result.go = Some((version, number));
                }
                "toolchain" => {
                    if result.toolchain.is_some() {
                        return Err(malformed(number, "repeated toolchain line".to_owned()));
                    }
                    let [name] = args.as_slice() else {
                        return Err(malformed(
                            number,
                            format!(
                                "the toolchain line must name one toolchain, as in `toolchain go1.25.4`: `{line}`"
                            ),
                        ));
                    };
                    if *name != "default" {
                        let version = GoVersion::from_toolchain_name(name).map_err(|_| {
                            malformed(
                                number,
                                format!(
                                    "invalid toolchain `{name}` (expected a release such as go1.25.4)"
                                ),
                            )
                        })?;
                        result.toolchain = Some((version, number));
                    }
                }
                _ => {}
            }
        }
        if let Some((verb, line)) = in_block {
            return Err(malformed(line, format!("`{verb} (` block is never closed")));
        }
        if let (Some((go, _)), Some((toolchain, line))) = (&result.go, &result.toolchain)
            && toolchain < go
        {
            return Err(malformed(
                *line,
                format!("toolchain go{toolchain} is older than the go line ({go})"),
            ));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> GoVersion {
        text.parse().unwrap()
    }

    #[test]
    fn versions_order_like_the_go_command() {
        assert!(v("1.22") < v("1.22rc1"));
        assert!(v("1.22beta1") < v("1.22rc1"));
        assert!(v("1.22rc2") < v("1.22.0"));
        assert!(v("1.22.0") < v("1.22.1"));
        assert!(v("1.9.7") < v("1.22"));
        assert!(v("1.25.10") > v("1.25.9"));
        assert_eq!(v("1.25.4").to_string(), "1.25.4");
        assert_eq!(v("1.26rc1").to_string(), "1.26rc1");
    }

    #[test]
    fn language_versions_map_to_their_first_release() {
        assert_eq!(v("1.22").release(), v("1.22.0"));
        assert_eq!(v("1.20").release(), v("1.20"));
        assert_eq!(v("1.25.4").release(), v("1.25.4"));
    }

    #[test]
    fn rejects_non_versions() {
        for bad in [
            "",
            "1",
            "go1.22",
            "1.x",
            "1.22.",
            "1.22foo1",
            "1.22rc1.1",
            "1..2",
        ] {
            assert!(bad.parse::<GoVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn toolchain_names() {
        assert_eq!(
            GoVersion::from_toolchain_name("go1.26.8 X:nodwarf5").unwrap(),
            v("1.26.8")
        );
        assert_eq!(
            GoVersion::from_toolchain_name("go1.21.1-custom").unwrap(),
            v("1.21.1")
        );
        assert!(GoVersion::from_toolchain_name("1.21.1").is_err());
    }

    #[test]
    fn parses_go_and_toolchain_lines_and_skips_blocks() {
        let text = "// comment\nmodule example.com/app // trailing\n\ngo 1.25.0\n\ntoolchain go1.25.4\n\nrequire (\n\tgo 1.0.0 // inside a block, not a go line\n\texample.com/x v1.0.0\n)\n";
        let go_mod = GoMod::parse(Path::new("go.mod"), text).unwrap();
        assert_eq!(go_mod.module.as_deref(), Some("example.com/app"));
        assert_eq!(go_mod.go, Some((v("1.25.0"), 4)));
        assert_eq!(go_mod.toolchain, Some((v("1.25.4"), 6)));
    }

    #[test]
    fn toolchain_default_and_missing_lines() {
        let go_mod = GoMod::parse(Path::new("go.mod"), "module m\ntoolchain default\n").unwrap();
        assert_eq!(go_mod.go, None);
        assert_eq!(go_mod.toolchain, None);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let cases = [
            ("module m\ngo one.two\n", 2, "invalid go version"),
            ("module m\ngo 1.22 1.23\n", 2, "one version"),
            ("module m\ngo 1.22\ngo 1.23\n", 3, "repeated go line"),
            (
                "module m\ngo 1.22\ntoolchain 1.22.1\n",
                3,
                "invalid toolchain",
            ),
            (
                "module m\ngo 1.25.4\ntoolchain go1.24.0\n",
                3,
                "older than the go line",
            ),
            ("module m\nrequire (\nx v1\n", 2, "never closed"),
        ];
        for (text, line, message) in cases {
            let error = GoMod::parse(Path::new("/workspace/go.mod"), text).unwrap_err();
            let shown = error.to_string();
            assert!(
                shown.starts_with(&format!("/workspace/go.mod:{line}: "))
                    && shown.contains(message),
                "{text:?} -> {shown}"
            );
        }
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let error = GoMod::read(&dir.path().join("go.mod")).unwrap_err();
        assert!(error.to_string().contains("go.mod"), "{error}");
    }

    #[test]
    fn go_mod_linked_outside_the_app_is_refused() {
        let app = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), app.path().join("go.mod"))
            .unwrap();
        let error = GoMod::read(&app.path().join("go.mod")).unwrap_err();
        assert!(
            error.to_string().contains("outside the app directory"),
            "{error}"
        );
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}

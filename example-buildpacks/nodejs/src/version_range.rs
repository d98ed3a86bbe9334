//! npm-style version ranges (`engines.node`), on top of the `semver` crate.
//!
//! The `semver` crate implements Cargo's syntax: comparators joined by `,`, and a bare version
//! meaning `^version`. npm's syntax differs in three ways this module translates:
//! - `a || b`: alternatives (one [`VersionReq`] each; a version matches when any does);
//! - `>=18 <21`: comparators separated by spaces must all match (joined with `,` here);
//! - `18.17.0`: a bare version is exact in npm (`=18.17.0` here), `18` and `18.1` are `18.x`
//!   and `18.1.x` (which `=18` and `=18.1` also mean in the `semver` crate);
//! - `1.2.3 - 2.3`: hyphen ranges (`>=1.2.3, <=2.3`).
//!
//! `x`, `X` and `*` wildcards, `^` and `~` mean the same in both. Prereleases match only a
//! comparator naming a prerelease of the same version, in both.
//! (The `node-semver` crate would do all of this, but it is far less used and maintained than
//! `semver`; the translation is short and tested below.)

use semver::{Version, VersionReq};
use std::fmt;

/// An npm version range: alternatives, each a `semver` requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NpmRange {
    /// The range as written, for messages.
    pub(crate) text: String,
    alternatives: Vec<VersionReq>,
}

/// Why a range cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{range:?} is not a version range ({reason})")]
pub(crate) struct RangeError {
    /// The range as written.
    pub(crate) range: String,
    /// What is wrong.
    pub(crate) reason: String,
}

impl NpmRange {
    /// Parses an npm range, e.g. `^20.1`, `>=18 <21`, `18.x || >=22`.
    ///
    /// # Errors
    /// A part is not a comparator the `semver` crate understands after translation
    /// (`latest`, `lts/*` and other tags are not ranges).
    pub(crate) fn parse(text: &str) -> Result<Self, RangeError> {
        let error = |reason: String| RangeError {
            range: text.to_owned(),
            reason,
        };
        let alternatives = text
            .split("||")
            .map(|alternative| {
                let cargo = translate(alternative);
                VersionReq::parse(&cargo)
                    .map_err(|e| error(format!("{:?} read as {cargo:?}: {e}", alternative.trim())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            alternatives,
        })
    }

    /// Whether `version` is in the range.
    pub(crate) fn matches(&self, version: &Version) -> bool {
        self.alternatives.iter().any(|req| req.matches(version))
    }

    /// The highest of `versions` in the range.
    #[cfg(test)]
    pub(crate) fn highest<'a>(
        &self,
        versions: impl IntoIterator<Item = &'a Version>,
    ) -> Option<&'a Version> {
        versions.into_iter().filter(|v| self.matches(v)).max()
    }
}

impl fmt::Display for NpmRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One npm alternative (no `||`) as a `semver` crate requirement.
fn translate(alternative: &str) -> String {
    // Tokens, with an operator written apart from its version (`>= 18`) joined back to it.
    let mut tokens: Vec<String> = Vec::new();
    for word in alternative.split_whitespace() {
        match tokens.last_mut() {
            Some(last) if is_operator(last) && word != "-" => last.push_str(word),
            _ => tokens.push(word.to_owned()),
        }
    }
    if tokens.is_empty() {
        return "*".to_owned();
    }
    // `a - b`: a hyphen range.
    if let [low, dash, high] = tokens.as_slice() {
        if dash == "-" {
            return format!(">={}, <={}", bare(low), bare(high));
        }
    }
    tokens
        .iter()
        .map(|token| comparator(token))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_operator(token: &str) -> bool {
    matches!(token, ">" | ">=" | "<" | "<=" | "=" | "^" | "~" | "~>")
}

/// A version without npm's optional `v` / `=` prefix.
fn bare(version: &str) -> &str {
    let version = version.strip_prefix('=').unwrap_or(version);
    version.strip_prefix('v').unwrap_or(version)
}

/// One npm comparator as a `semver` crate comparator.
fn comparator(token: &str) -> String {
    for operator in [">=", "<=", "~>", ">", "<", "^", "~", "="] {
        if let Some(version) = token.strip_prefix(operator) {
            let operator = if operator == "~>" { "~" } else { operator };
            return format!("{operator}{}", bare(version));
        }
    }
    let version = bare(token);
    if version.starts_with(['*', 'x', 'X']) {
        // `*`, `x`: any version (the semver crate reads `*` only).
        "*".to_owned()
    } else {
        // npm: a bare version is exact, a partial one a wildcard: `=` says both to semver.
        format!("={version}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed list of releases, as in the registry (including a prerelease and odd tags).
    const RELEASES: &[&str] = &[
        "16.20.2",
        "18.0.0",
        "18.17.0",
        "18.17.1",
        "18.18.2",
        "18.20.8",
        "20.0.0",
        "20.1.0",
        "20.9.0",
        "20.19.5",
        "21.7.3",
        "22.0.0",
        "22.23.5",
        "23.1.0-rc.1",
        "24.10.0",
    ];

    fn releases() -> Vec<Version> {
        RELEASES
            .iter()
            .map(|v| Version::parse(v).unwrap())
            .collect()
    }

    fn resolve(range: &str) -> Option<String> {
        let releases = releases();
        NpmRange::parse(range)
            .unwrap()
            .highest(&releases)
            .map(ToString::to_string)
    }

    #[test]
    fn majors_and_wildcards() {
        assert_eq!(resolve("18.x").as_deref(), Some("18.20.8"));
        assert_eq!(resolve("18.X").as_deref(), Some("18.20.8"));
        assert_eq!(resolve("18.*").as_deref(), Some("18.20.8"));
        assert_eq!(resolve("18").as_deref(), Some("18.20.8"));
        assert_eq!(resolve("v18").as_deref(), Some("18.20.8"));
        assert_eq!(resolve("18.17").as_deref(), Some("18.17.1"));
        assert_eq!(resolve("18.17.x").as_deref(), Some("18.17.1"));
        assert_eq!(resolve("*").as_deref(), Some("24.10.0"));
        assert_eq!(resolve("x").as_deref(), Some("24.10.0"));
        assert_eq!(resolve("").as_deref(), Some("24.10.0"));
    }

    #[test]
    fn bare_versions_are_exact() {
        assert_eq!(resolve("18.17.0").as_deref(), Some("18.17.0"));
        assert_eq!(resolve("=18.17.0").as_deref(), Some("18.17.0"));
        assert_eq!(resolve("v20.1.0").as_deref(), Some("20.1.0"));
    }

    #[test]
    fn caret_and_tilde() {
        assert_eq!(resolve("^20.1").as_deref(), Some("20.19.5"));
        assert_eq!(resolve("^20.1.0").as_deref(), Some("20.19.5"));
        assert_eq!(resolve("~18.17.0").as_deref(), Some("18.17.1"));
        assert_eq!(resolve("~18").as_deref(), Some("18.20.8"));
        assert_eq!(resolve("~> 18.17").as_deref(), Some("18.17.1"));
    }

    #[test]
    fn spaces_are_and() {
        assert_eq!(resolve(">=18 <21").as_deref(), Some("20.19.5"));
        assert_eq!(resolve(">= 18 < 21").as_deref(), Some("20.19.5"));
        assert_eq!(resolve(">=18.17.1 <=18.18.2").as_deref(), Some("18.18.2"));
        assert_eq!(resolve(">16 <18.17").as_deref(), Some("18.0.0"));
        assert_eq!(resolve(">=22").as_deref(), Some("24.10.0"));
    }

    #[test]
    fn alternatives() {
        assert_eq!(resolve("18.x || 20.x").as_deref(), Some("20.19.5"));
        assert_eq!(resolve("^16 || ^18.17.0").as_deref(), Some("18.20.8"));
        assert_eq!(resolve("^20.17.0 || >=22.9.0").as_deref(), Some("24.10.0"));
        assert_eq!(resolve("<17 || 30.x").as_deref(), Some("16.20.2"));
        assert_eq!(resolve("16.20.2||18.0.0").as_deref(), Some("18.0.0"));
    }

    #[test]
    fn hyphen_ranges() {
        assert_eq!(resolve("18 - 20.1").as_deref(), Some("20.1.0"));
        assert_eq!(resolve("18.0.0 - 18.17.1").as_deref(), Some("18.17.1"));
    }

    #[test]
    fn prereleases_only_when_asked_for() {
        assert_eq!(resolve("23.x").as_deref(), None);
        assert_eq!(resolve(">=23.1.0-rc.0 <24").as_deref(), Some("23.1.0-rc.1"));
    }

    #[test]
    fn no_match_and_bad_ranges() {
        assert_eq!(resolve("19.x"), None);
        assert_eq!(resolve(">=30"), None);
        assert_eq!(resolve(">=21 <18"), None);
        for bad in ["latest", "lts/*", "node", ">=18 ||| 20", "^^18"] {
            let error = NpmRange::parse(bad).unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("{bad:?} is not a version range (")),
                "{error}"
            );
        }
    }

    #[test]
    fn matches_checks_every_alternative() {
        let range = NpmRange::parse("^18.17.0 || >=20.5.0").unwrap();
        assert!(range.matches(&Version::new(18, 20, 8)));
        assert!(range.matches(&Version::new(22, 0, 0)));
        assert!(!range.matches(&Version::new(20, 1, 0)));
        assert!(!range.matches(&Version::new(16, 0, 0)));
        assert_eq!(range.to_string(), "^18.17.0 || >=20.5.0");
    }
}

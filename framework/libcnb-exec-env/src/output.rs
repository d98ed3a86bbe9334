//! Build output through `bullet_stream`, the style of Heroku's buildpacks and of this
//! workspace's examples: a `## <buildpack> (<phase>)` header, `- ` bullets, `! ` paragraphs for
//! warnings and errors, and a closing `- Done (finished in …)` with the build's duration.
//!
//! Everything goes to one writer (stdout, as the lifecycle streams it), so a buildpack's own
//! lines, its commands' streamed output and the framework's lines keep their order.

use crate::resolve::ResolvedExecEnv;
use bullet_stream::global::print;
use std::error::Error;
use std::fmt::Write as _;
use std::time::Instant;

/// Sends all `bullet_stream` output of this process to stdout (its default is stderr).
pub(crate) fn to_stdout() {
    bullet_stream::global::set_writer(std::io::stdout());
}

/// Prints the header of a phase and which environment it runs in, and where that came from.
pub(crate) fn exec_env_header(buildpack: &str, phase: &str, resolved: &ResolvedExecEnv) {
    print::h2(format!("{buildpack} ({phase})"));
    print::bullet(format!(
        "Execution environment: {} (from {})",
        resolved.env, resolved.source
    ));
}

/// Prints one line of framework output.
pub(crate) fn line(message: impl std::fmt::Display) {
    print::bullet(message.to_string());
}

/// Prints the closing line of a build that succeeded, with its duration.
pub(crate) fn done(started: Instant) {
    print::all_done(&Some(started));
}

/// Prints a warning.
pub(crate) fn warning(message: impl std::fmt::Display) {
    print::warning(format!("Warning: {message}"));
}

/// Prints an error that is not a buildpack's (bad arguments, an unreadable `buildpack.toml`).
pub(crate) fn plain_error(message: impl std::fmt::Display) {
    print::error(format!("ERROR: {message}"));
}

/// Prints an error by its `Display` text, then each of its sources. A buildpack's own error is
/// printed as itself: libcnb's `Display` of that variant shows only its `Debug` form.
pub(crate) fn error<E: Error + 'static>(error: &libcnb::Error<E>) {
    print::error(error_report(error));
}

/// The text [`error`] prints (each line then gets `bullet_stream`'s `! ` prefix).
pub(crate) fn error_report<E: Error + 'static>(error: &libcnb::Error<E>) -> String {
    let (mut text, mut source): (String, Option<&(dyn Error + 'static)>) = match error {
        libcnb::Error::BuildpackError(own) => (format!("ERROR: {own}"), own.source()),
        other => (format!("ERROR: {other}"), other.source()),
    };
    while let Some(cause) = source {
        let _ = write!(text, "\n  caused by: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Own {
        #[error("no dev requirements in the {0} environment")]
        NoDevRequirements(&'static str),
        #[error("cannot read Gemfile.lock")]
        Read(#[source] std::io::Error),
    }

    #[test]
    fn a_buildpack_error_is_shown_by_its_display_chain() {
        let text = error_report(&libcnb::Error::BuildpackError(Own::NoDevRequirements(
            "test",
        )));
        assert_eq!(text, "ERROR: no dev requirements in the test environment");
        let text = error_report(&libcnb::Error::BuildpackError(Own::Read(
            std::io::Error::other("permission denied"),
        )));
        assert_eq!(
            text,
            "ERROR: cannot read Gemfile.lock\n  caused by: permission denied"
        );
    }

    #[test]
    fn an_error_prints_as_one_paragraph_of_bang_lines() {
        let out = bullet_stream::global::with_locked_writer(Vec::new(), || {
            error(&libcnb::Error::BuildpackError(Own::Read(
                std::io::Error::other("permission denied"),
            )));
            warning("pack would refuse it");
        });
        let out = bullet_stream::strip_ansi(String::from_utf8_lossy(&out));
        // Other tests may print while the writer is swapped: look for the lines, not the whole.
        assert!(
            out.contains("! ERROR: cannot read Gemfile.lock\n!   caused by: permission denied\n")
                && out.contains("! Warning: pack would refuse it\n"),
            "{out}"
        );
    }
}

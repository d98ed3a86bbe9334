//! Build output: which environment is built, where it came from, what happened to layers.

use crate::resolve::ResolvedExecEnv;
use std::error::Error;
use std::fmt::Write as _;

/// Prints the header line of a phase.
pub(crate) fn exec_env_header(phase: &str, resolved: &ResolvedExecEnv) {
    println!(
        "[{phase}] Execution environment: {} (from {})",
        resolved.env, resolved.source
    );
}

/// Prints one line of framework output.
pub(crate) fn line(message: impl std::fmt::Display) {
    println!("- {message}");
}

/// Prints a warning.
pub(crate) fn warning(message: impl std::fmt::Display) {
    eprintln!("! Warning: {message}");
}

/// Prints an error by its `Display` text, then each of its sources. A buildpack's own error is
/// printed as itself: libcnb's `Display` of that variant shows only its `Debug` form.
pub(crate) fn error<E: Error + 'static>(error: &libcnb::Error<E>) {
    eprintln!("{}", error_report(error));
}

/// The text [`error`] prints.
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
}

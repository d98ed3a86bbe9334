//! Build output through `bullet_stream`, the style of the framework and every example: a
//! `### ` header per section, `- ` steps, `! ` warnings, commands streamed under a `$ ` step.

use bullet_stream::global::print;
use std::fmt::Display;

/// Starts a section: `### Installing dependencies`.
pub(crate) fn section(title: impl Display) {
    print::header(title.to_string());
}

/// A step or fact inside a section.
pub(crate) fn step(message: impl Display) {
    print::bullet(message.to_string());
}

/// A warning: a `! Warning: …` paragraph.
pub(crate) fn warning(message: impl Display) {
    print::warning(format!("Warning: {message}"));
}

/// An error: a `! [Node.js] ERROR: …` paragraph.
pub(crate) fn error(message: impl Display) {
    print::error(message.to_string());
}

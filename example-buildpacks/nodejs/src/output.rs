//! Build output: a header per section and indented lines, printed as the build goes.

use std::fmt::Display;

/// Starts a section: `[Node.js] Installing dependencies`.
pub(crate) fn section(title: impl Display) {
    println!();
    println!("[Node.js] {title}");
}

/// A step or fact inside a section.
pub(crate) fn step(message: impl Display) {
    println!("  - {message}");
}

/// A command about to run (its own output follows, unindented).
pub(crate) fn command(command_line: impl Display) {
    println!("  $ {command_line}");
}

/// A warning, on stderr so it stands out.
pub(crate) fn warning(message: impl Display) {
    eprintln!("  ! Warning: {message}");
}

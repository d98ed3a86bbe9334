//! What every engine needs once, whichever it is: running a tool as a child process.
//!
//! Engines share nothing with each other; what they have in common lives here.

pub mod cache_lock;
pub mod layer_toml;
pub mod log;
#[cfg(test)]
pub(crate) mod oracle;
pub mod process;
pub mod test_results;
pub mod tree;

/// `/` in a buildpack id becomes `_` in directory names (lifecycle `launch.EscapeID`).
#[must_use]
pub fn escape_id(id: &str) -> String {
    id.replace('/', "_")
}

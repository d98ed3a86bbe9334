//! What every engine needs once, whichever it is: running a tool as a child process.
//!
//! Engines share nothing with each other; what they have in common lives here.

pub mod build_metadata;
pub mod build_watch;
pub mod cache_lock;
pub mod detector_log;
pub mod eligibility;
pub mod layer_toml;
pub mod log;
#[cfg(test)]
pub(crate) mod oracle;
pub mod process;
pub mod test_results;
pub mod tree;
pub(crate) mod tree_stat;

/// `/` in a buildpack id becomes `_` in directory names (lifecycle `launch.EscapeID`).
#[must_use]
pub fn escape_id(id: &str) -> String {
    id.replace('/', "_")
}

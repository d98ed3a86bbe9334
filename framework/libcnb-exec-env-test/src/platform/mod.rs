//! What every engine needs once, whichever it is: running a tool as a child process.
//!
//! Engines share nothing with each other; what they have in common lives here.

pub mod process;

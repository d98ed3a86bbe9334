//! One phase's output: collected for the report, and streamed to stderr when asked.

use crate::engine::Progress;
use std::io::Write;

/// Collects one phase's output, and streams it when asked.
pub(crate) struct Log {
    pub(crate) text: String,
    pub(crate) progress: Progress,
}

impl Log {
    pub(crate) fn new(progress: Progress) -> Self {
        Self {
            text: String::new(),
            progress,
        }
    }

    /// Appends a line.
    pub(crate) fn line(&mut self, line: &str) {
        self.push(line);
        if !line.ends_with('\n') {
            self.push("\n");
        }
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
        if self.progress == Progress::Stderr {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }

    /// Takes the text collected so far.
    pub(crate) fn take(&mut self) -> String {
        std::mem::take(&mut self.text)
    }
}

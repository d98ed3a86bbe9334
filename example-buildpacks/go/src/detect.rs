//! Detection: a Go module is an app with `go.mod` at its root.

use std::path::Path;

/// Whether the app in `app_dir` is a Go module.
pub(crate) fn is_go_module(app_dir: &Path) -> bool {
    app_dir.join("go.mod").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_mod_is_required() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_go_module(dir.path()));
        std::fs::write(dir.path().join("main.go"), "package main\n").unwrap();
        assert!(!is_go_module(dir.path()));
        std::fs::write(dir.path().join("go.mod"), "module m\n").unwrap();
        assert!(is_go_module(dir.path()));
    }
}

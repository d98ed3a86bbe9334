//! Detection: the app is a Node.js app when it has a `package.json`.

use std::path::Path;

/// Whether this buildpack applies to the app in `app_dir`.
pub(crate) fn is_node_app(app_dir: &Path) -> bool {
    app_dir.join("package.json").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_is_what_counts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.js"), "").unwrap();
        assert!(!is_node_app(dir.path()));
        std::fs::create_dir(dir.path().join("package.json")).unwrap();
        assert!(
            !is_node_app(dir.path()),
            "a directory is not a package.json"
        );
        std::fs::remove_dir(dir.path().join("package.json")).unwrap();
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        assert!(is_node_app(dir.path()));
    }
}

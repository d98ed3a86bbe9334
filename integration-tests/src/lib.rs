//! Shared helpers of the end-to-end tests in `tests/`.

use std::path::Path;
use std::process::Command;

/// A temporary copy of `example-apps/<app>` (e.g. `ruby/rack-minitest`), links kept as links.
/// A Ruby app also gets the gems its lockfile names packed into `vendor/cache` from Debian's
/// installed gems (rubygems.org is not reachable), re-locked if Debian's versions moved on
/// (`example-apps/ruby/vendor-system-gems.rb --relock`).
///
/// # Panics
/// When the copy or the vendoring fails: these are test fixtures.
#[must_use]
pub fn copy_example_app(app: &str) -> tempfile::TempDir {
    let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-apps");
    let dir = tempfile::tempdir().expect("a temporary app directory");
    let status = Command::new("cp")
        .arg("-a")
        .arg(apps.join(app).join("."))
        .arg(dir.path())
        .status()
        .expect("cp runs");
    assert!(status.success(), "cp -a of example-apps/{app} failed");
    if app.starts_with("ruby/") {
        let output = Command::new("ruby")
            .arg(apps.join("ruby/vendor-system-gems.rb"))
            .arg("--relock")
            .arg(dir.path())
            .output()
            .expect("ruby runs");
        assert!(
            output.status.success(),
            "vendor-system-gems.rb {app}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    dir
}

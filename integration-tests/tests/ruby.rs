//! The Ruby example buildpack (`examples/ruby`), built and launched through the local platform
//! under every available engine (built-in, and the real lifecycle when installed).
//!
//! rubygems.org is not reachable from this project's machines, so each test copies an example
//! app to a temporary directory and packs the gems its `Gemfile.lock` names into the copy's
//! `vendor/cache`, from the gems Debian installed (`ruby-rack`, `ruby-minitest`, `rake`,
//! `ruby-rspec`, `ruby-webrick`), with `example-apps/ruby/vendor-system-gems.rb`. The buildpack
//! then runs the real `bundle install --local` into its gems layer.

use libcnb_exec_env::ExecEnv;
use libcnb_exec_env_test::{
    BuildConfig, BuildpackReference, Engine, LaunchConfig, LayerState, LocalRunner, PackResult,
    ProcessReport, TestContext, available_engines, buildpack_id,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BUILDPACK_ID: &str = "examples/ruby";

fn example_apps() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../example-apps/ruby")
}

/// A copy of an example app with vendored gems, deleted on drop.
struct App {
    dir: PathBuf,
}

impl App {
    fn vendored(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ruby-example-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove a stale app copy");
        }
        copy_dir(&example_apps().join(name), &dir);
        // --relock: should a Debian update have replaced a locked version, the copy is
        // re-locked (by the real Bundler) against the installed gems.
        let output = Command::new("ruby")
            .arg(example_apps().join("vendor-system-gems.rb"))
            .arg("--relock")
            .arg(&dir)
            .output()
            .expect("ruby must be installed (apt-get install ruby bundler)");
        assert!(
            output.status.success(),
            "vendoring the system gems failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        App { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn config(&self, exec_env: ExecEnv, engine: Engine) -> BuildConfig {
        let mut config = BuildConfig::new(&self.dir);
        config
            .buildpacks([BuildpackReference::WorkspaceBuildpack(buildpack_id!(
                "examples/ruby"
            ))])
            .exec_env(exec_env)
            .engine(engine);
        config
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let fail = |what: &str, error: std::io::Error| -> ! {
        panic!("{what} ({} -> {}): {error}", from.display(), to.display())
    };
    std::fs::create_dir_all(to).unwrap_or_else(|error| fail("create the copy", error));
    for entry in std::fs::read_dir(from).unwrap_or_else(|error| fail("list the app", error)) {
        let entry = entry.unwrap_or_else(|error| fail("list the app", error));
        let target = to.join(entry.file_name());
        let is_dir = entry
            .file_type()
            .unwrap_or_else(|error| fail("read a file type", error))
            .is_dir();
        if is_dir {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|error| fail("copy a file", error));
        }
    }
}

/// The names of the gems installed in a layer of the exported image (from its `name-version`
/// directories; versions are left out, as they follow Debian's packages).
fn installed_gems(ctx: &TestContext<'_>, layer: &str) -> Vec<String> {
    let gems = ctx
        .image_dir()
        .join("layers")
        .join(BUILDPACK_ID.replace('/', "_"))
        .join(layer)
        .join("ruby/3.1.0/gems");
    let mut names: Vec<String> = std::fs::read_dir(&gems)
        .unwrap_or_else(|error| panic!("{}: {error}", gems.display()))
        .map(|entry| {
            let dir = entry
                .expect("list the gems directory")
                .file_name()
                .to_string_lossy()
                .into_owned();
            dir.rsplit_once('-')
                .map_or(dir.clone(), |(name, _version)| name.to_owned())
        })
        .collect();
    names.sort();
    names
}

/// The image's process types, sorted (the lifecycle orders processes by type).
fn process_types(ctx: &TestContext<'_>) -> Vec<String> {
    sorted(
        ctx.report
            .processes
            .iter()
            .map(|process| process.r#type.clone())
            .collect(),
    )
}

fn process<'a>(ctx: &'a TestContext<'_>, r#type: &str) -> &'a ProcessReport {
    ctx.report
        .processes
        .iter()
        .find(|process| process.r#type == r#type)
        .unwrap_or_else(|| panic!("no {type} process in {:?}", ctx.report.processes))
}

/// `GET path` on localhost:`port`, retried until the server answers (at most 8 s); the raw
/// response, or an empty string.
fn http_get(port: u16, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let mut response = String::new();
            let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut response).is_ok()
            {
                return response;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    String::new()
}

/// A TCP port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_or_else(
            |error| panic!("no free port: {error}"),
            |address| address.port(),
        )
}

/// How many tool probes (`ruby -e`, `bundle --version`, `bundle exec rake -P`) a build ran.
fn probes(pack_stdout: &str) -> usize {
    pack_stdout
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            // A bullet_stream step: `- Probing: ...`.
            line.strip_prefix("- ")
                .unwrap_or(line)
                .starts_with("Probing: `")
        })
        .count()
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list
}

#[test]
fn production_image_has_no_test_gems_and_runs_in_production() {
    for engine in available_engines() {
        let app = App::vendored("rack-minitest");
        LocalRunner::default().build(app.config(ExecEnv::Production, engine), |ctx| {
            assert_eq!(ctx.report.group, [BUILDPACK_ID], "{}", ctx.pack_stdout);
            assert_eq!(process_types(&ctx), ["web"], "{engine:?}");
            assert_eq!(ctx.processes_eligible(), ["web"]);
            let web = process(&ctx, "web");
            assert!(web.default);
            assert_eq!(web.command, ["sh", "-c"]);
            assert!(web.args[0].contains("bundle exec rackup --host 0.0.0.0"));

            let layer = ctx
                .layer(BUILDPACK_ID, "gems-production")
                .expect("gems-production layer");
            assert!(layer.launch && layer.build && layer.cache, "{layer:?}");
            assert_eq!(layer.exec_env, Some(vec!["production".to_owned()]));
            assert_eq!(layer.state, LayerState::Created);
            assert!(ctx.layer(BUILDPACK_ID, "gems-test").is_none());
            // Only the default group: no minitest, rake (test) or power_assert (development).
            assert_eq!(
                installed_gems(&ctx, "gems-production"),
                ["rack", "webrick"],
                "{engine:?}"
            );
            assert!(
                ctx.pack_stdout.contains("BUNDLE_WITHOUT=development:test")
                    && ctx.pack_stdout.contains("BUNDLE_DEPLOYMENT=true")
                    && ctx.pack_stdout.contains("bundle clean"),
                "{}",
                ctx.pack_stdout
            );
            assert_eq!(
                ctx.report
                    .labels
                    .get("com.examples.ruby.rack-env")
                    .map(String::as_str),
                Some("production")
            );

            // The web process's script is its default argument: replace it to look inside.
            let run = ctx.launch(LaunchConfig::new().process("web").args([
                "echo \"RACK_ENV=$RACK_ENV RAILS_ENV=$RAILS_ENV BUNDLE_WITHOUT=$BUNDLE_WITHOUT\"; \
                 bundle exec ruby -e 'require \"rack\"; puts \"rack #{Rack.release}\"' && \
                 bundle exec ruby -e 'require \"minitest\"'",
            ]));
            let output = run.output();
            assert!(
                output.contains(
                    "RACK_ENV=production RAILS_ENV=production BUNDLE_WITHOUT=development:test"
                ),
                "{engine:?}: {output}"
            );
            assert!(output.contains("rack 2.2"), "{output}");
            assert!(
                !run.success(),
                "minitest must not load in production: {output}"
            );
            assert!(
                output.contains("cannot load such file -- minitest"),
                "{output}"
            );

            // The default process serves the app on $PORT: ask it while it runs.
            let port = free_port();
            let client = std::thread::spawn(move || http_get(port, "/?name=CNB"));
            let run = ctx.launch(
                LaunchConfig::new()
                    .env("PORT", port.to_string())
                    .timeout(Duration::from_secs(10)),
            );
            let response = client.join().expect("the HTTP client thread");
            assert!(
                response.starts_with("HTTP/1.1 200")
                    && response.contains(r#"{"greeting":"Hello, CNB!","rack_env":"production"}"#),
                "{engine:?}: response {response:?}; server output: {}",
                run.output()
            );
        });
    }
}

#[test]
fn test_image_runs_minitest_through_rake() {
    for engine in available_engines() {
        let app = App::vendored("rack-minitest");
        LocalRunner::default().build(app.config(ExecEnv::Test, engine), |ctx| {
            assert_eq!(process_types(&ctx), ["test", "web"], "{engine:?}");
            assert_eq!(sorted(ctx.processes_eligible()), ["test", "web"]);
            let test = process(&ctx, "test");
            assert_eq!(test.command, ["bundle", "exec", "rake", "test"]);
            assert!(test.default && !process(&ctx, "web").default);
            assert_eq!(test.exec_env.to_list(), Some(vec!["test".to_owned()]));
            // The test group, without the development group.
            assert_eq!(
                installed_gems(&ctx, "gems-test"),
                ["minitest", "rack", "rake", "webrick"]
            );
            assert_eq!(
                ctx.layer(BUILDPACK_ID, "gems-test")
                    .map(|layer| layer.exec_env.clone()),
                Some(Some(vec!["test".to_owned()]))
            );

            // The launcher's environment defaults to production, where `test` is not eligible.
            assert!(
                ctx.try_launch(LaunchConfig::new().process("test")).is_err(),
                "{engine:?}: the test process started outside the test environment"
            );
            let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
            let output = run.output();
            assert!(run.success(), "{engine:?}: {output}");
            assert!(
                output.contains("3 runs, 6 assertions, 0 failures"),
                "{output}"
            );
        });
    }
}

#[test]
fn test_image_runs_rspec_when_spec_exists() {
    for engine in available_engines() {
        let app = App::vendored("rack-rspec");
        LocalRunner::default().build(app.config(ExecEnv::Test, engine), |ctx| {
            assert_eq!(process_types(&ctx), ["test", "web"], "{engine:?}");
            assert_eq!(process(&ctx, "test").command, ["bundle", "exec", "rspec"]);
            let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
            let output = run.output();
            assert!(run.success(), "{engine:?}: {output}");
            assert!(output.contains("3 examples, 0 failures"), "{output}");
        });
        // The production image of the same app has no RSpec at all.
        LocalRunner::default().build(app.config(ExecEnv::Production, engine), |ctx| {
            assert_eq!(process_types(&ctx), ["web"]);
            assert_eq!(installed_gems(&ctx, "gems-production"), ["rack", "webrick"]);
        });
    }
}

#[test]
fn failing_tests_fail_the_test_process() {
    for engine in available_engines() {
        let app = App::vendored("rack-failing-test");
        LocalRunner::default().build(app.config(ExecEnv::Test, engine), |ctx| {
            let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
            let output = run.output();
            assert!(
                !run.success(),
                "{engine:?}: the test process passed: {output}"
            );
            assert!(output.contains("deliberately failing test"), "{output}");
            assert!(
                output.contains("2 runs, 4 assertions, 1 failures"),
                "{output}"
            );
        });
    }
}

#[test]
fn development_image_has_every_group() {
    for engine in available_engines() {
        let app = App::vendored("rack-minitest");
        LocalRunner::default().build(app.config(ExecEnv::Development, engine), |ctx| {
            assert_eq!(process_types(&ctx), ["web"], "{engine:?}");
            assert!(process(&ctx, "web").default);
            assert_eq!(
                installed_gems(&ctx, "gems-development"),
                [
                    "minitest",
                    "power_assert",
                    "rack",
                    "rake",
                    "webrick"
                ]
            );
            let run = ctx.launch(
                LaunchConfig::new()
                    .process("web")
                    .exec_env(ExecEnv::Development)
                    .args(["echo \"RACK_ENV=$RACK_ENV BUNDLE_WITHOUT=[$BUNDLE_WITHOUT]\"; bundle exec ruby -e 'require \"power_assert\"; puts :loaded'"]),
            );
            let output = run.output();
            assert!(run.success(), "{engine:?}: {output}");
            assert!(
                output.contains("RACK_ENV=development BUNDLE_WITHOUT=[]") && output.contains("loaded"),
                "{output}"
            );
        });
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one chain of rebuilds sharing one cache
fn rebuilds_reuse_gems_and_keep_other_environments_cached() {
    for engine in available_engines() {
        let app = App::vendored("rack-minitest");
        LocalRunner::default().build(app.config(ExecEnv::Test, engine), |ctx| {
            assert_eq!(
                ctx.layer(BUILDPACK_ID, "gems-test")
                    .map(|layer| layer.state),
                Some(LayerState::Created)
            );
            // A cold build probes once: `ruby -e` also reports Bundler's version, and the
            // Rakefile's text settles the test task.
            assert_eq!(probes(&ctx.pack_stdout), 1, "{}", ctx.pack_stdout);
            assert!(
                ctx.pack_stdout
                    .contains(" -e` (engine, version, ABI, platform, Bundler version)")
                    && ctx.pack_stdout.contains(
                        "Test process: bundle exec rake test \
                         (Rakefile defines task test: Rake::TestTask)"
                    ),
                "{}",
                ctx.pack_stdout
            );
            ctx.rebuild(app.config(ExecEnv::Test, engine), |ctx| {
                // Unchanged tools and Rakefile: the facts come from the tool-facts layer.
                if engine == Engine::Builtin {
                    assert_eq!(probes(&ctx.pack_stdout), 0, "{}", ctx.pack_stdout);
                    assert!(
                        ctx.pack_stdout.contains("Tool facts from layer tool-facts"),
                        "{}",
                        ctx.pack_stdout
                    );
                    assert_eq!(
                        ctx.layer(BUILDPACK_ID, "tool-facts")
                            .map(|layer| layer.state),
                        Some(LayerState::Restored)
                    );
                }
                let layer = ctx.layer(BUILDPACK_ID, "gems-test").expect("gems-test");
                assert_eq!(
                    layer.state,
                    LayerState::Restored,
                    "{engine:?}: {}",
                    ctx.pack_stdout
                );
                assert!(
                    ctx.pack_stdout
                        .contains("Reusing the 5 locked gems in layer gems-test")
                        && !ctx.pack_stdout.contains("bundle install"),
                    "{}",
                    ctx.pack_stdout
                );
                let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
                assert!(run.success(), "{}", run.output());

                ctx.rebuild(app.config(ExecEnv::Production, engine), |ctx| {
                    if engine == Engine::Builtin {
                        assert_eq!(probes(&ctx.pack_stdout), 0, "{}", ctx.pack_stdout);
                    }
                    let production = ctx
                        .layer(BUILDPACK_ID, "gems-production")
                        .expect("gems-production");
                    assert_eq!(production.state, LayerState::Created);
                    let test = ctx
                        .layer(BUILDPACK_ID, "gems-test")
                        .expect("gems-test kept");
                    assert_eq!(
                        test.state,
                        LayerState::Retained,
                        "{engine:?}: {}",
                        ctx.pack_stdout
                    );
                    assert!(test.cache && !test.launch && !test.build, "{test:?}");
                    // Cached only: the production image has no test gems layer.
                    let image_layers = ctx.image_dir().join("layers/examples_ruby");
                    assert!(image_layers.join("gems-production").is_dir());
                    assert!(
                        !image_layers.join("gems-test").exists(),
                        "{engine:?}: gems-test was exported"
                    );
                    assert_eq!(process_types(&ctx), ["web"]);

                    // Back to test: the test gems come from the cache again.
                    ctx.rebuild(app.config(ExecEnv::Test, engine), |ctx| {
                        assert_eq!(
                            ctx.layer(BUILDPACK_ID, "gems-test")
                                .map(|layer| layer.state),
                            Some(LayerState::Restored),
                            "{}",
                            ctx.pack_stdout
                        );
                        assert_eq!(
                            ctx.layer(BUILDPACK_ID, "gems-production")
                                .map(|layer| layer.state),
                            Some(LayerState::Retained)
                        );
                        if engine == Engine::Builtin {
                            assert_eq!(probes(&ctx.pack_stdout), 0, "{}", ctx.pack_stdout);
                        }

                        // A `rakelib/*.rake` file: the text no longer settles the test task,
                        // so `rake -P` lists the tasks; the tools stay cached.
                        std::fs::create_dir_all(app.path("rakelib")).unwrap();
                        std::fs::write(app.path("rakelib/lint.rake"), "task :lint\n").unwrap();
                        ctx.rebuild(app.config(ExecEnv::Test, engine), |ctx| {
                            assert!(
                                ctx.pack_stdout.contains("Probing: `bundle exec rake -P`")
                                    && ctx.pack_stdout.contains("(`rake -P` lists task test)"),
                                "{}",
                                ctx.pack_stdout
                            );
                            if engine == Engine::Builtin {
                                assert_eq!(probes(&ctx.pack_stdout), 1, "{}", ctx.pack_stdout);
                            }
                            assert_eq!(
                                process(&ctx, "test").command,
                                ["bundle", "exec", "rake", "test"]
                            );
                        });
                    });
                });
            });
        });
    }
}

#[test]
fn a_changed_lockfile_updates_the_cached_gems() {
    for engine in available_engines() {
        let app = App::vendored("rack-minitest");
        LocalRunner::default().build(app.config(ExecEnv::Production, engine), |ctx| {
            // A trailing blank line changes the digest, not the gems: Bundler checks and keeps them.
            let lock = std::fs::read_to_string(app.path("Gemfile.lock")).unwrap();
            std::fs::write(app.path("Gemfile.lock"), format!("{lock}\n")).unwrap();
            ctx.rebuild(app.config(ExecEnv::Production, engine), |ctx| {
                // The restored gems are kept: Bundler runs again but installs nothing.
                assert!(
                    ctx.pack_stdout.contains("Gemfile.lock changed")
                        && ctx.pack_stdout.contains("bundle install --local")
                        && ctx.pack_stdout.contains("Using rack 2.2")
                        && !ctx.pack_stdout.contains("Installing rack"),
                    "{engine:?}: {}",
                    ctx.pack_stdout
                );
                assert_eq!(installed_gems(&ctx, "gems-production"), ["rack", "webrick"]);
            });
        });
    }
}

#[test]
fn malformed_or_missing_lockfile_is_a_clear_error() {
    for engine in available_engines() {
        let app = App::vendored("rack-minitest");
        // A bad merge: conflict markers around the locked rack (line 6 of the lockfile).
        let lock = std::fs::read_to_string(app.path("Gemfile.lock")).unwrap();
        let conflicted: String = lock
            .lines()
            .map(|line| {
                if line.starts_with("    rack (") {
                    format!("<<<<<<< HEAD\n{line}\n=======\n    rack (2.2.0)\n>>>>>>> main\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        assert_ne!(conflicted, lock);
        std::fs::write(app.path("Gemfile.lock"), conflicted).unwrap();
        LocalRunner::default().build(
            app.config(ExecEnv::Production, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("Gemfile.lock:6: merge conflict marker")
                        && ctx.pack_stdout.contains("The Gemfile.lock is malformed"),
                    "{engine:?}: {}",
                    ctx.pack_stdout
                );
            },
        );

        std::fs::remove_file(app.path("Gemfile.lock")).unwrap();
        LocalRunner::default().build(
            app.config(ExecEnv::Test, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("Gemfile.lock is missing. Run `bundle lock`"),
                    "{engine:?}: {}",
                    ctx.pack_stdout
                );
            },
        );
    }
}

#[test]
fn bundle_install_failure_shows_bundlers_output() {
    for engine in available_engines() {
        let app = App::vendored("rack-rspec");
        // A locked gem that is in neither vendor/cache nor reachable: Bundler must fail.
        let gemfile = std::fs::read_to_string(app.path("Gemfile")).unwrap();
        std::fs::write(app.path("Gemfile"), format!("{gemfile}\ngem \"sinatra\"\n")).unwrap();
        let lock = std::fs::read_to_string(app.path("Gemfile.lock")).unwrap();
        let with_sinatra = lock
            .replacen("  specs:\n", "  specs:\n    sinatra (3.0.0)\n", 1)
            .replacen("DEPENDENCIES\n", "DEPENDENCIES\n  sinatra\n", 1);
        assert_ne!(with_sinatra, lock);
        std::fs::write(app.path("Gemfile.lock"), with_sinatra).unwrap();
        LocalRunner::default().build(
            app.config(ExecEnv::Production, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("in the production environment. Bundler's output:")
                        && ctx
                            .pack_stdout
                            .contains("Could not find sinatra-3.0.0 in any of the sources"),
                    "{engine:?}: {}",
                    ctx.pack_stdout
                );
            },
        );
    }
}

#[test]
fn the_test_command_can_be_named_in_project_toml_and_must_exist() {
    for engine in available_engines() {
        let app = App::vendored("rack-minitest");
        std::fs::write(
            app.path("project.toml"),
            "[_]\nschema-version = \"0.2\"\n\n[com.examples.ruby]\ntest = \"bundle exec ruby -Itest test/app_test.rb --verbose\"\n",
        )
        .unwrap();
        LocalRunner::default().build(app.config(ExecEnv::Test, engine), |ctx| {
            let test = process(&ctx, "test");
            assert_eq!(test.command, ["sh", "-c"]);
            assert_eq!(
                test.args,
                ["bundle exec ruby -Itest test/app_test.rb --verbose"]
            );
            let run = ctx.launch(LaunchConfig::new().process("test").exec_env(ExecEnv::Test));
            let output = run.output();
            assert!(run.success(), "{engine:?}: {output}");
            assert!(
                output.contains("HelloAppTest#test_greets_by_name"),
                "{output}"
            );
        });

        // No Rakefile test task, no spec/, no setting: a test build has nothing to run.
        std::fs::remove_file(app.path("project.toml")).unwrap();
        std::fs::remove_file(app.path("Rakefile")).unwrap();
        LocalRunner::default().build(
            app.config(ExecEnv::Test, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.pack_stdout
                        .contains("no test command for the test environment"),
                    "{engine:?}: {}",
                    ctx.pack_stdout
                );
            },
        );
        // A production build of the same app needs none.
        LocalRunner::default().build(app.config(ExecEnv::Production, engine), |ctx| {
            assert_eq!(process_types(&ctx), ["web"]);
        });
    }
}

#[test]
fn apps_without_a_gemfile_are_not_detected() {
    for engine in available_engines() {
        let app = App::vendored("rack-rspec");
        std::fs::remove_file(app.path("Gemfile")).unwrap();
        LocalRunner::default().build(
            app.config(ExecEnv::Production, engine)
                .expected_pack_result(PackResult::Failure),
            |ctx| {
                assert!(
                    ctx.report.group.is_empty(),
                    "{engine:?}: {:?}",
                    ctx.report.group
                );
                assert!(
                    ctx.pack_stdout.contains("No Gemfile in the app directory"),
                    "{}",
                    ctx.pack_stdout
                );
            },
        );
    }
}

//! Processes of a built image: one-off shell commands ([`TestContext::run_shell_command`]) and
//! long-running processes ([`TestContext::start_container`]), in libcnb-test's shapes
//! ([`ContainerConfig`], [`ContainerContext`], [`LogOutput`]).
//!
//! On the built-in and lifecycle engines a "container" is the launched process group on the
//! host, in the image's launch environment; on the pack engine it is a real Docker container.
//!
//! # Ports
//!
//! A local process shares the host's network, so it cannot listen on the port a test names
//! without clashing with parallel tests. The rule, on every engine:
//!
//! - the *first* port given to [`ContainerConfig::expose_port`] is not passed as is: the engine
//!   picks a free port on the host and tells the process through `PORT` (the convention Heroku's
//!   and most buildpacks' web processes follow), unless the config sets `PORT` itself;
//! - [`ContainerContext::address_for_port`] of that port returns `127.0.0.1:<the free port>`;
//!   any other exposed port (and the first one when the config sets `PORT`) is `127.0.0.1:<port>`
//!   unchanged, wherever the process chose to listen;
//! - a process that ignores `PORT` and listens on the port written in the test is not reachable
//!   through `address_for_port`: give it `PORT` (or read it, as the example apps do).
//!
//! The pack engine runs the container with the host's network (`docker run --network host`),
//! so the same rule holds there.
//!
//! [`TestContext::run_shell_command`]: crate::TestContext::run_shell_command
//! [`TestContext::start_container`]: crate::TestContext::start_container

use crate::engine::{EngineError, LaunchRequest, Progress};
use crate::{Engine, engine_for};
use libcnb_exec_env::ExecEnv;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a command or a container printed, and how it ended: libcnb-test's `LogOutput`, with the
/// exit code.
///
/// ```
/// use libcnb_exec_env_test::LogOutput;
///
/// let output = LogOutput { stdout: "out\n".into(), stderr: "err\n".into(), exit_code: Some(0) };
/// assert!(output.to_string().contains("## stderr:"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOutput {
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// Its exit code: `None` while it runs, or when a signal ended it.
    pub exit_code: Option<i32>,
}

impl std::fmt::Display for LogOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = self
            .exit_code
            .map_or_else(|| "none".to_owned(), |code| code.to_string());
        write!(
            f,
            "## exit code: {code}\n## stderr:\n\n{}\n## stdout:\n\n{}\n",
            self.stderr, self.stdout
        )
    }
}

/// How to start a process of the image: libcnb-test's `ContainerConfig`. Without an entrypoint
/// the image's default process runs; [`ContainerConfig::command`] replaces its arguments.
///
/// ```
/// use libcnb_exec_env_test::ContainerConfig;
///
/// let mut config = ContainerConfig::new();
/// config.entrypoint("web").expose_port(8080).env("GREETING", "hi");
/// ```
#[derive(Clone, Debug, Default)]
pub struct ContainerConfig {
    pub(crate) entrypoint: Option<String>,
    pub(crate) command: Option<Vec<String>>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) exposed_ports: Vec<u16>,
    pub(crate) exec_env: Option<ExecEnv>,
}

impl ContainerConfig {
    /// The image's default process, no ports, no extra env.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// What runs, as `docker run --entrypoint`: a process type (`web`, or `/cnb/process/web`),
    /// or `launcher` (`/cnb/lifecycle/launcher`), which runs [`ContainerConfig::command`] as a
    /// command through the launcher (one argument: a bash script).
    pub fn entrypoint(&mut self, entrypoint: impl Into<String>) -> &mut Self {
        self.entrypoint = Some(entrypoint.into());
        self
    }

    /// The arguments (`docker run <image> <command>...`): they replace the process's default
    /// arguments, or are the launcher's command.
    pub fn command<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, command: I) -> &mut Self {
        self.command = Some(command.into_iter().map(Into::into).collect());
        self
    }

    /// Exposes `port`: see the module documentation for how a local process is given a free
    /// host port through `PORT`.
    pub fn expose_port(&mut self, port: u16) -> &mut Self {
        if !self.exposed_ports.contains(&port) {
            self.exposed_ports.push(port);
        }
        self
    }

    /// An env var for the process (`docker run -e`).
    pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Env vars for the process.
    pub fn envs<K: Into<String>, V: Into<String>, I: IntoIterator<Item = (K, V)>>(
        &mut self,
        envs: I,
    ) -> &mut Self {
        for (key, value) in envs {
            self.env(key, value);
        }
        self
    }

    /// The launch's `CNB_EXEC_ENV` (default: the build's environment, so that a test image's
    /// `test` process is eligible).
    pub fn exec_env(&mut self, exec_env: ExecEnv) -> &mut Self {
        self.exec_env = Some(exec_env);
        self
    }

    /// The launch request for an image, and the host port given to the first exposed port.
    pub(crate) fn request(
        &self,
        image_dir: PathBuf,
        exec_env: ExecEnv,
    ) -> Result<(LaunchRequest, BTreeMap<u16, u16>), ContainerError> {
        let mut env = self.env.clone();
        let mut ports: BTreeMap<u16, u16> = self.exposed_ports.iter().map(|p| (*p, *p)).collect();
        if let Some(first) = self.exposed_ports.first()
            && !env.contains_key("PORT")
        {
            let free = free_port().map_err(|error| ContainerError::NoFreePort { error })?;
            env.insert("PORT".to_owned(), free.to_string());
            ports.insert(*first, free);
        }
        let (process, user_command) = match self.entrypoint.as_deref() {
            None => (None, false),
            Some("launcher" | "/cnb/lifecycle/launcher") => (None, true),
            Some(entrypoint) => (
                Some(
                    entrypoint
                        .strip_prefix("/cnb/process/")
                        .unwrap_or(entrypoint)
                        .to_owned(),
                ),
                false,
            ),
        };
        if user_command && self.command.as_ref().is_none_or(Vec::is_empty) {
            return Err(ContainerError::NoCommand);
        }
        Ok((
            LaunchRequest {
                image_dir,
                process,
                exec_env: Some(self.exec_env.clone().unwrap_or(exec_env)),
                env,
                args: self.command.clone(),
                timeout: None,
                user_command,
            },
            ports,
        ))
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Why a process of the image could not be started or used.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The engine could not prepare or start it.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The process could not be spawned.
    #[error("cannot start `{program}` for the container: {error}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// No free port on the host.
    #[error("cannot find a free TCP port on 127.0.0.1 for `expose_port`: {error}")]
    NoFreePort {
        /// Why.
        #[source]
        error: std::io::Error,
    },
    /// `entrypoint("launcher")` without a command.
    #[error(
        "`entrypoint(\"launcher\")` needs a `command(...)`: the launcher runs the command it is given"
    )]
    NoCommand,
    /// The port was not exposed.
    #[error(
        "port {port} was not exposed: call `ContainerConfig::expose_port({port})` first (exposed: {exposed:?})"
    )]
    NotExposed {
        /// The port asked for.
        port: u16,
        /// The exposed ports.
        exposed: Vec<u16>,
    },
    /// The process ended before listening.
    #[error(
        "the container's process exited (code {code:?}) before listening on {address} (port {port} of the test):\n{logs}"
    )]
    Exited {
        /// The port of the test.
        port: u16,
        /// The host address it maps to.
        address: SocketAddr,
        /// The exit code.
        code: Option<i32>,
        /// Its output.
        logs: LogOutput,
    },
}

type Buffer = Arc<Mutex<Vec<u8>>>;

/// A running process of the image, given to [`TestContext::start_container`]'s closure:
/// libcnb-test's `ContainerContext`. Its process group is killed (and a Docker container
/// removed) when it is dropped: when the closure returns, or panics.
///
/// [`TestContext::start_container`]: crate::TestContext::start_container
#[derive(Debug)]
pub struct ContainerContext {
    /// A name for the container: the Docker container's name on the pack engine, else
    /// `local-<pid>`.
    pub container_name: String,
    child: Mutex<Child>,
    ports: BTreeMap<u16, u16>,
    stdout: Buffer,
    stderr: Buffer,
    drains: Mutex<Vec<JoinHandle<()>>>,
    cleanup: Option<Command>,
    engine: Engine,
    request: LaunchRequest,
    container: Option<String>,
    /// How the process ended, once known.
    status: Mutex<Option<ExitStatus>>,
}

impl ContainerContext {
    /// Starts the process `request` describes with `engine`.
    pub(crate) fn start(
        engine: Engine,
        request: LaunchRequest,
        ports: BTreeMap<u16, u16>,
    ) -> Result<Self, ContainerError> {
        let prepared = engine_for(engine).prepare_launch(&request)?;
        let mut command = prepared.command;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().map_err(|error| ContainerError::Spawn {
            program: command.get_program().to_string_lossy().into_owned(),
            error,
        })?;
        let stdout = Buffer::default();
        let stderr = Buffer::default();
        let mut drains = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            drains.push(drain(pipe, Arc::clone(&stdout)));
        }
        if let Some(pipe) = child.stderr.take() {
            drains.push(drain(pipe, Arc::clone(&stderr)));
        }
        Ok(Self {
            container_name: prepared
                .container
                .clone()
                .unwrap_or_else(|| format!("local-{}", child.id())),
            child: Mutex::new(child),
            ports,
            stdout,
            stderr,
            drains: Mutex::new(drains),
            cleanup: prepared.cleanup,
            engine,
            request,
            container: prepared.container,
            status: Mutex::new(None),
        })
    }

    /// What the process printed so far (`docker logs`), and its exit code if it has ended.
    #[must_use]
    pub fn logs_now(&self) -> LogOutput {
        let exit_code = self.poll_exit().and_then(|status| status.code());
        self.snapshot(exit_code)
    }

    /// Waits for the process to end, then returns all it printed (`docker logs --follow`).
    #[must_use]
    pub fn logs_wait(&self) -> LogOutput {
        let code = {
            let mut status = lock(&self.status);
            if status.is_none() {
                *status = lock(&self.child).wait().ok();
            }
            status.and_then(|status| status.code())
        };
        // The pipes close when the last process of the group holding them ends.
        let drains: Vec<_> = lock(&self.drains).drain(..).collect();
        for handle in drains {
            let _ = handle.join();
        }
        self.snapshot(code)
    }

    /// How the process ended, if it has.
    fn poll_exit(&self) -> Option<ExitStatus> {
        let mut status = lock(&self.status);
        if status.is_none()
            && let Ok(Some(ended)) = lock(&self.child).try_wait()
        {
            *status = Some(ended);
        }
        *status
    }

    fn snapshot(&self, exit_code: Option<i32>) -> LogOutput {
        let text = |buffer: &Buffer| String::from_utf8_lossy(&lock(buffer)).into_owned();
        LogOutput {
            stdout: text(&self.stdout),
            stderr: text(&self.stderr),
            exit_code,
        }
    }

    /// The host address where the test reaches `port`, once the process listens there (waits
    /// up to 30 s; see the module documentation for which port a local process is given).
    ///
    /// # Panics
    /// When `port` was not exposed, or the process exits before listening (with its logs).
    #[must_use]
    pub fn address_for_port(&self, port: u16) -> SocketAddr {
        self.try_address_for_port(port)
            .unwrap_or_else(|error| panic!("address_for_port({port}): {error}"))
    }

    /// [`ContainerContext::address_for_port`], with the error.
    ///
    /// # Errors
    /// [`ContainerError::NotExposed`], [`ContainerError::Exited`]. After 30 s without a
    /// listener the address is returned anyway: the test's own request then fails.
    pub fn try_address_for_port(&self, port: u16) -> Result<SocketAddr, ContainerError> {
        let host_port = *self
            .ports
            .get(&port)
            .ok_or_else(|| ContainerError::NotExposed {
                port,
                exposed: self.ports.keys().copied().collect(),
            })?;
        let address = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, host_port));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(address);
            }
            if let Some(status) = self.poll_exit() {
                return Err(ContainerError::Exited {
                    port,
                    address,
                    code: status.code(),
                    logs: self.logs_wait(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(address)
    }

    /// Runs `command` with bash in the container's launch environment, beside its process
    /// (`docker exec <container> launcher <command>`). Non-zero exit codes are returned, not
    /// panicked on.
    ///
    /// # Panics
    /// When the command cannot run at all.
    #[must_use]
    pub fn shell_exec(&self, command: impl AsRef<str>) -> LogOutput {
        self.try_shell_exec(command)
            .unwrap_or_else(|error| panic!("shell_exec failed: {error}"))
    }

    /// [`ContainerContext::shell_exec`], with the error.
    ///
    /// # Errors
    /// The command cannot be run.
    pub fn try_shell_exec(&self, command: impl AsRef<str>) -> Result<LogOutput, ContainerError> {
        if let Some(container) = &self.container {
            let tools = crate::pack::tools::find().map_err(|reason| {
                ContainerError::Engine(EngineError::Unavailable {
                    engine: "pack",
                    reason,
                })
            })?;
            let mut exec = tools.docker();
            exec.args([
                "exec",
                container,
                "/cnb/lifecycle/launcher",
                command.as_ref(),
            ]);
            let finished =
                crate::platform::process::run(exec, Progress::Quiet, None, "docker exec")?;
            return Ok(LogOutput {
                stdout: finished.stdout,
                stderr: finished.stderr,
                exit_code: finished.code,
            });
        }
        let mut request = self.request.clone();
        request.process = None;
        request.user_command = true;
        request.args = Some(vec![command.as_ref().to_owned()]);
        let result = engine_for(self.engine).launch(&request)?;
        Ok(LogOutput {
            stdout: result.stdout,
            stderr: result.stderr,
            exit_code: result.exit_code,
        })
    }
}

/// Locks `mutex`, poisoned or not (a panicking test closure must not hide the logs).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn drain(mut pipe: impl Read + Send + 'static, buffer: Buffer) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0_u8; 8192];
        while let Ok(read) = pipe.read(&mut chunk) {
            if read == 0 {
                break;
            }
            lock(&buffer).extend_from_slice(&chunk[..read]);
        }
    })
}

impl Drop for ContainerContext {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // `kill -KILL -<pgid>`: the child leads its group; the group outlives its leader while
        // members remain, and its id is not reused meanwhile.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
        if let Some(mut cleanup) = self.cleanup.take() {
            let _ = cleanup
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        for handle in lock(&self.drains).drain(..) {
            let _ = handle.join();
        }
    }
}

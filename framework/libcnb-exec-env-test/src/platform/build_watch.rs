//! Progress of a long build on the terminal while tests run: which build (test, app,
//! environment, engine), which phase it is in, how long it has taken.
//!
//! A test harness captures what tests print, so a suite of long builds shows nothing but
//! "has been running for over 60 seconds". A [`BuildWatch`] writes past the capture (to the
//! stderr stream itself, which the harness does not redirect) and stays silent for builds
//! shorter than [`SLOW_BUILD`]:
//!
//! ```text
//!     [go_hello_test] hello (test, lifecycle engine): ===> BUILDING at 5.0 s
//!     [go_hello_test] hello (test, lifecycle engine): still BUILDING at 35.0 s
//!     [go_hello_test] hello (test, lifecycle engine): ===> EXPORTING at 41.2 s
//!     [go_hello_test] hello (test, lifecycle engine): built in 44.9 s
//! ```
//!
//! Engines tell the watch of the build running on their thread which phase starts
//! ([`phase`], or [`Watched::line`] for output relayed from another thread, such as pack's
//! `===> DETECTING` headers). `CNB_TEST_QUIET=1` turns the lines off.

use std::cell::RefCell;
use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Builds slower than this print their phases while they run.
pub const SLOW_BUILD: Duration = Duration::from_secs(5);

/// How often a long phase says it is still running.
const STILL_RUNNING_EVERY: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    phase: Option<String>,
    /// The phase changed and was not printed yet.
    changed: bool,
    done: bool,
}

/// The shared state of one watched build.
#[derive(Clone)]
pub struct Watched {
    shared: Arc<(Mutex<State>, Condvar)>,
}

impl Watched {
    fn set_phase(&self, phase: &str) {
        let (lock, wake) = &*self.shared;
        let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
        state.phase = Some(phase.to_uppercase());
        state.changed = true;
        wake.notify_all();
    }

    /// Reads one line of build output: a `===> PHASE` header starts a phase.
    pub fn line(&self, line: &str) {
        if let Some(phase) = line.strip_prefix("===> ") {
            let phase = phase.split_whitespace().next().unwrap_or_default();
            if !phase.is_empty() {
                self.set_phase(phase);
            }
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Watched>> = const { RefCell::new(None) };
}

/// The watch of the build running on this thread, if any (to hand to threads that read its
/// output).
#[must_use]
pub fn current() -> Option<Watched> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Tells the watch of the build on this thread (if any) that `phase` starts.
pub fn phase(phase: impl std::fmt::Display) {
    if let Some(watched) = current() {
        watched.set_phase(&phase.to_string());
    }
}

/// Watches one build from [`BuildWatch::start`] to [`BuildWatch::finish`] (or drop).
pub struct BuildWatch {
    watched: Watched,
    label: String,
    started: Instant,
    quiet: bool,
    printer: Option<std::thread::JoinHandle<()>>,
}

impl BuildWatch {
    /// Starts watching the build about to run on this thread. `label` names it, e.g.
    /// `hello (test, lifecycle engine)`; the test's name is put before it.
    #[must_use]
    pub fn start(label: &str) -> Self {
        let quiet = std::env::var_os("CNB_TEST_QUIET").is_some_and(|value| value == "1");
        let label = format!(
            "[{}] {label}",
            std::thread::current().name().unwrap_or("build")
        );
        let watched = Watched {
            shared: Arc::new((Mutex::new(State::default()), Condvar::new())),
        };
        CURRENT.with(|current| *current.borrow_mut() = Some(watched.clone()));
        let started = Instant::now();
        let printer = (!quiet).then(|| {
            let watched = watched.clone();
            let label = label.clone();
            std::thread::spawn(move || print_while_running(&watched, &label, started))
        });
        Self {
            watched,
            label,
            started,
            quiet,
            printer,
        }
    }

    /// Ends the watch; a slow build prints how it ended and how long it took.
    pub fn finish(mut self, succeeded: bool) {
        self.stop();
        let took = self.started.elapsed();
        if !self.quiet && took >= SLOW_BUILD {
            say(&format!(
                "{}: {} in {:.1} s",
                self.label,
                if succeeded { "built" } else { "failed" },
                took.as_secs_f64()
            ));
        }
    }

    fn stop(&mut self) {
        CURRENT.with(|current| current.borrow_mut().take());
        let (lock, wake) = &*self.watched.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).done = true;
        wake.notify_all();
        if let Some(printer) = self.printer.take() {
            let _ = printer.join();
        }
    }
}

impl Drop for BuildWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The printer thread: silent for the first [`SLOW_BUILD`], then one line per phase change and
/// one per [`STILL_RUNNING_EVERY`] within a phase.
fn print_while_running(watched: &Watched, label: &str, started: Instant) {
    let (lock, wake) = &*watched.shared;
    let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let mut last_line = started;
    loop {
        if state.done {
            return;
        }
        let elapsed = started.elapsed();
        let wait = if elapsed < SLOW_BUILD {
            SLOW_BUILD.saturating_sub(elapsed)
        } else {
            let phase = state.phase.clone().unwrap_or_else(|| "STARTING".to_owned());
            if state.changed || last_line == started {
                state.changed = false;
                last_line = Instant::now();
                say(&format!(
                    "{label}: ===> {phase} at {:.1} s",
                    elapsed.as_secs_f64()
                ));
            } else if last_line.elapsed() >= STILL_RUNNING_EVERY {
                last_line = Instant::now();
                say(&format!(
                    "{label}: still {phase} at {:.1} s",
                    elapsed.as_secs_f64()
                ));
            }
            STILL_RUNNING_EVERY.saturating_sub(last_line.elapsed())
        };
        state = wake
            .wait_timeout(state, wait.max(Duration::from_millis(10)))
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// One line on the stderr stream itself: `eprintln!` would be captured by the test harness.
fn say(line: &str) {
    let _ = std::io::stderr()
        .lock()
        .write_all(format!("    {line}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_reach_the_watch_of_this_thread_only() {
        let watch = BuildWatch::start("app (test, builtin engine)");
        phase("detect");
        let watched = current().expect("a watch is current while a build runs");
        assert_eq!(
            watched.shared.0.lock().unwrap().phase.as_deref(),
            Some("DETECT")
        );
        std::thread::spawn(|| assert!(current().is_none(), "other threads have no watch"))
            .join()
            .unwrap();
        watched.line("[detector] ===> not a header");
        watched.line("===> EXPORTING (CNB lifecycle)");
        assert_eq!(
            watched.shared.0.lock().unwrap().phase.as_deref(),
            Some("EXPORTING")
        );
        watch.finish(true);
        assert!(current().is_none(), "finishing ends the watch");
    }
}

//! Keeping etcd running: start it, wait for it, restart it with back-off.
//!
//! One thread per etcd does nothing but this loop, like a small init
//! system: spawn etcd, block in `wait` until it exits, and unless a stop
//! was asked for, log the exit and start it again after a delay that grows
//! while etcd keeps failing ([`Backoff`], as the kubelet's CrashLoopBackOff
//! grows for a container). Blocking in a thread of its own is also what
//! makes the parent-death signal dependable: Linux sends
//! `PR_SET_PDEATHSIG` when the *thread* that forked the child ends, and
//! this thread lives exactly as long as the supervision does.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::log_file::{self, LogFile};

/// Restart delays: doubled from `initial` up to `max` while etcd keeps
/// crashing, back to `initial` once it has run for `stable`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// A run this long counts as healthy: the next crash starts over.
    pub stable: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            stable: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay before the next start, given the previous delay (`None`
    /// before any restart) and how long the last run lasted.
    pub fn next(&self, previous: Option<Duration>, ran: Duration) -> Duration {
        match previous {
            Some(delay) if ran < self.stable => (delay * 2).min(self.max),
            _ => self.initial,
        }
    }
}

/// What the supervisor thread and its owner share.
#[derive(Default)]
pub struct Shared {
    pub state: Mutex<State>,
    /// Signalled when `stopping` is set, so a back-off sleep ends early.
    pub wake: Condvar,
}

/// The supervised etcd as its owner sees it.
#[derive(Default)]
pub struct State {
    /// The running etcd's pid; `None` between runs. Read under the lock
    /// before signalling, so a stop never signals a pid the kernel has
    /// since given to another process.
    pub pid: Option<u32>,
    /// Set by the owner: do not start etcd again.
    pub stopping: bool,
    /// How many times etcd was started.
    pub starts: u32,
    /// How the last run ended ("exit status: 1", or why it could not
    /// start), for the owner's error messages.
    pub last_exit: Option<String>,
    /// Set when the thread has returned.
    pub done: bool,
}

/// What to run, and what to clear before each start.
pub struct Launch {
    pub command: Command,
    /// Files a killed etcd leaves behind and a new one cannot start over:
    /// its unix sockets (etcd fails to bind an existing socket path).
    pub stale_files: Vec<std::path::PathBuf>,
}

/// Runs `launch` until a stop is asked for, restarting it with `backoff`.
pub fn supervise(launch: Launch, log: Arc<Mutex<LogFile>>, shared: Arc<Shared>, backoff: Backoff) {
    let Launch {
        mut command,
        stale_files,
    } = launch;
    // SAFETY: prctl is async-signal-safe; the closure allocates nothing
    // and touches no lock between fork and exec.
    unsafe {
        let parent = nix::unistd::getpid();
        command.pre_exec(move || {
            // etcd gets SIGTERM (a clean stop) when this thread, and so
            // `orc server`, dies, even by SIGKILL.
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
            // A parent that died before the prctl sent nothing: refuse
            // to run orphaned.
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("orc exited while starting etcd"));
            }
            Ok(())
        });
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // ANCHOR: restart_loop
    let mut delay = None;
    loop {
        for file in &stale_files {
            let _ = std::fs::remove_file(file);
        }
        let started = Instant::now();
        let Some(ended) = run_once(&mut command, &log, &shared) else {
            break;
        };
        let ran = started.elapsed();
        let next = backoff.next(delay, ran);
        delay = Some(next);
        tracing::warn!(%ended, ran = ?ran, restart_in = ?next, "etcd stopped; restarting it");
        let state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let (state, _) = shared
            .wake
            .wait_timeout_while(state, next, |s| !s.stopping)
            .unwrap_or_else(|e| e.into_inner());
        if state.stopping {
            break;
        }
    }
    // ANCHOR_END: restart_loop
    shared.state.lock().unwrap_or_else(|e| e.into_inner()).done = true;
    shared.wake.notify_all();
}

/// One run of etcd: `None` when a stop was asked for (before the start or
/// during the run), else how it ended.
fn run_once(command: &mut Command, log: &Arc<Mutex<LogFile>>, shared: &Shared) -> Option<String> {
    let mut child = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.stopping {
            return None;
        }
        match command.spawn() {
            Ok(child) => {
                state.pid = Some(child.id());
                state.starts += 1;
                child
            }
            Err(error) => {
                let ended = format!(
                    "could not start etcd: {error} (install it with `sudo ./scripts/setup.sh`)"
                );
                state.last_exit = Some(ended.clone());
                return Some(ended);
            }
        }
    };
    if let Some(out) = child.stdout.take() {
        log_file::copy_in_background(out, log.clone());
    }
    if let Some(err) = child.stderr.take() {
        log_file::copy_in_background(err, log.clone());
    }
    let ended = match child.wait() {
        Ok(status) => status.to_string(),
        Err(error) => format!("waiting for etcd: {error}"),
    };
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    state.pid = None;
    state.last_exit = Some(ended.clone());
    if state.stopping {
        return None;
    }
    Some(ended)
}

/// Asks the supervisor to stop: no more restarts, SIGTERM to etcd; after
/// `grace`, SIGKILL. Returns once the thread has finished.
pub fn stop(shared: &Shared, grace: Duration) {
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    state.stopping = true;
    shared.wake.notify_all();
    signal(&state, Signal::SIGTERM);
    let (mut state, timeout) = shared
        .wake
        .wait_timeout_while(state, grace, |s| !s.done)
        .unwrap_or_else(|e| e.into_inner());
    if timeout.timed_out() {
        tracing::warn!(?grace, "etcd did not stop on SIGTERM; killing it");
        signal(&state, Signal::SIGKILL);
        while !state.done {
            state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Sends `signal` to the running etcd, if one runs.
fn signal(state: &State, signal: Signal) {
    if let Some(pid) = state.pid {
        let _ = kill(Pid::from_raw(pid as i32), signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crashes_in_a_row_double_the_delay_up_to_the_cap() {
        let b = Backoff::default();
        let quick = Duration::from_secs(1);
        let first = b.next(None, quick);
        assert_eq!(first, b.initial);
        let second = b.next(Some(first), quick);
        assert_eq!(second, b.initial * 2);
        assert_eq!(b.next(Some(b.max), quick), b.max);
    }

    #[test]
    fn a_long_healthy_run_starts_the_delays_over() {
        let b = Backoff::default();
        assert_eq!(b.next(Some(b.max), b.stable), b.initial);
    }
}

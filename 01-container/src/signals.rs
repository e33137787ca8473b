//! Signals: names, forwarding, and exit codes.
//!
//! A foreground `run` stands between a user (or a supervisor) and the
//! container: what is sent to it must reach the container, and how the
//! container ended must come back as an exit code a shell understands.

use crate::error::{Context, Error, Result};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::Pid;
use std::sync::atomic::{AtomicI32, Ordering};

/// The pid signals are forwarded to; 0 means "none". A static because a
/// signal handler receives no arguments but the signal number.
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

/// The signals a foreground runtime relays, like runc's signal handler.
const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

extern "C" fn relay(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Relay [`FORWARDED`] signals to `pid` from now on (a pid of 0 stops
/// relaying; the handlers stay installed and do nothing).
///
/// Remember that a pid namespace's init ignores signals it has no handler
/// for: `sleep` as pid 1 survives a relayed SIGTERM, exactly as under runc.
pub fn forward_to(pid: Pid) {
    FORWARD_TO.store(pid.as_raw(), Ordering::Relaxed);
    if pid.as_raw() > 0 {
        // SA_RESTART: our waitpid resumes after the handler instead of
        // failing with EINTR.
        let action = SigAction::new(
            SigHandler::Handler(relay),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for sig in FORWARDED {
            // SAFETY: `relay` only reads an atomic and calls kill(2), both
            // async-signal-safe.
            let _ = unsafe { sigaction(*sig, &action) };
        }
    }
}

/// Wait for a child and turn its end into a shell-style exit code.
pub(crate) fn wait_exit_code(pid: Pid) -> Result<i32> {
    use nix::sys::wait::{WaitStatus, waitpid};
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context(|| format!("waitpid {pid}")),
        }
    }
}

/// Parse a signal the way `kill` and runc accept it: `KILL`, `SIGKILL`, `9`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| Error::UnknownSignal(text.into()));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>()
        .map_err(|_| Error::UnknownSignal(text.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_kill() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("SIGNOPE").is_err());
    }
}

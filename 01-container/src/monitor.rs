//! The monitor: the parent a detached container keeps after `create` exits.
//!
//! Only a process's parent learns how it ended (`waitpid`). runc's `create`
//! exits right away, so the container is adopted by pid 1 and its exit code
//! is lost; containerd adds a "shim" process to stay behind as the parent.
//! orc's `create` does the same with a fork of itself:
//!
//! ```text
//! orc-container create ──fork──> monitor ──clone──> container init
//!        │  <── Started{pid} ──────┘                      │
//!        exit 0                     waitpid ◄──────────────┘ (exits some day)
//!                                   write <state dir>/exit, exit
//! ```
//!
//! `state` then reports `exitCode`. `run` needs no monitor: it waits itself.

use crate::error::{Error, Result};
use crate::signals::wait_exit_code;
use crate::sync::{recv, send};
use nix::unistd::{ForkResult, Pid};
use serde::{Deserialize, Serialize};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The file in the state directory holding the exit code.
pub const EXIT_FILE: &str = "exit";

/// Monitor to `create`: how cloning the container went.
#[derive(Debug, Serialize, Deserialize)]
enum Started {
    Ok { pid: i32, start_time: u64 },
    Failed(String),
}

/// Fork a monitor that runs `spawn` (which clones the container and
/// returns its pid and start time), report the result back to us, and then
/// stays behind to record the container's exit code in `dir`.
pub(crate) fn spawn_monitored(
    dir: &Path,
    spawn: impl FnOnce() -> Result<(i32, u64)>,
) -> Result<(i32, u64)> {
    let (ours, theirs) = UnixStream::pair().map_err(|source| Error::Io {
        context: "socketpair for the monitor".into(),
        source,
    })?;
    // SAFETY: the caller checked that this process is single-threaded, so
    // the child is a complete copy and may go on running Rust code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(Error::Io {
            context: "forking the monitor".into(),
            source: e.into(),
        }),
        Ok(ForkResult::Parent { child }) => {
            drop(theirs);
            let report = recv::<Started>(&ours);
            match report {
                Ok(Some(Started::Ok { pid, start_time })) => Ok((pid, start_time)),
                other => {
                    let _ = nix::sys::wait::waitpid(child, None);
                    Err(Error::Reported(match other {
                        Ok(Some(Started::Failed(message))) => message,
                        _ => "the monitor process died before the container started".into(),
                    }))
                }
            }
        }
        Ok(ForkResult::Child) => {
            drop(ours);
            monitor(dir, theirs, spawn)
        }
    }
}

/// The monitor's whole life. Never returns.
fn monitor(dir: &Path, mut sock: UnixStream, spawn: impl FnOnce() -> Result<(i32, u64)>) -> ! {
    let (pid, start_time) = match spawn() {
        Ok(started) => started,
        Err(e) => {
            let _ = send(&mut sock, &Started::Failed(e.to_string()));
            std::process::exit(1);
        }
    };
    let _ = send(&mut sock, &Started::Ok { pid, start_time });
    drop(sock);
    detach();
    let code = wait_exit_code(Pid::from_raw(pid)).unwrap_or(-1);
    // The state directory is gone if the container was deleted meanwhile.
    let _ = std::fs::write(dir.join(EXIT_FILE), format!("{code}\n"));
    std::process::exit(0)
}

/// Stop holding anything of whoever ran `create`: its stdio (a pipe it
/// reads to end-of-file would never end), any other descriptor, and its
/// terminal's Ctrl-C. The container keeps its own copies of the stdio.
fn detach() {
    // SAFETY: plain syscalls on descriptor numbers and signal dispositions;
    // this process is single-threaded and owns all its descriptors.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
        }
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::prctl(libc::PR_SET_NAME, c"orc-monitor".as_ptr(), 0, 0, 0);
    }
}

/// The recorded exit code, once the monitor has written it.
pub fn read_exit_code(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join(EXIT_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

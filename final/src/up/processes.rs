//! The cluster's processes: started in a process group of their own, each
//! with its log file, and stopped by pid.
//!
//! Each component is the `orc` binary itself with the subcommand that runs
//! it alone (`orc server`, `orc agent`), so `orc up` adds no second way of
//! running them. Their own process group keeps a Ctrl-C typed at `orc up`
//! from reaching them: `orc up` stops them in order (agents, which stop
//! their pods, then the server, which stops etcd last).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Starts `command` with stdin closed and its output in `log` (made
/// afresh); answers its pid.
pub fn spawn(command: Command, log: &Path) -> Result<u32> {
    let file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    spawn_into(command, file)
}

/// [`spawn`], its output added to the end of `log`: a component started
/// again (`orc node start`) keeps the log of its first life above.
pub fn respawn(command: Command, log: &Path) -> Result<u32> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    spawn_into(command, file)
}

fn spawn_into(mut command: Command, file: std::fs::File) -> Result<u32> {
    let child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    // Not waited for here: `orc down` (maybe another process) stops it
    // by pid; a foreground `orc up` reaps it when it exits.
    Ok(child.id())
}

/// Sends SIGKILL, as a crash would end the process, and waits for it to be
/// gone. Its children (the containers' shims) are not signalled.
pub fn kill_now(pid: u32, marker: &Path) -> Result<()> {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    if !wait_gone(pid, marker, Duration::from_secs(10)) {
        anyhow::bail!("pid {pid} still runs 10 s after SIGKILL");
    }
    Ok(())
}

/// Whether `pid` is a live (not zombie) process whose command line
/// mentions `marker` (the data directory): a pid of a process that ended
/// may have been given to another.
pub fn running(pid: u32, marker: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses.
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
    if state == Some(Some('Z')) {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if cmdline.is_empty() {
        // In the middle of execve(2): the new program's memory is in place
        // before its arguments are, and reads as empty meanwhile.
        return true;
    }
    let marker = marker.as_os_str().as_encoded_bytes();
    cmdline.windows(marker.len()).any(|w| w == marker)
}

/// Sends SIGTERM and waits up to `grace` for the process to end, then
/// sends SIGKILL. Answers whether it ended on SIGTERM.
pub fn stop(pid: u32, marker: &Path, grace: Duration) -> bool {
    if !running(pid, marker) {
        return true;
    }
    let target = Pid::from_raw(pid as i32);
    let _ = kill(target, Signal::SIGTERM);
    if wait_gone(pid, marker, grace) {
        return true;
    }
    let _ = kill(target, Signal::SIGKILL);
    wait_gone(pid, marker, Duration::from_secs(5));
    false
}

/// Polls `/proc` (the process is not our child: no `wait`) until `pid`
/// ends or `limit` passes.
fn wait_gone(pid: u32, marker: &Path, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while running(pid, marker) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

//! What the runtime remembers about a container between commands.
//!
//! runc-style runtimes are not daemons: `create`, `start`, `state` and
//! `delete` are separate processes. Everything they share lives in a
//! directory per container under `--root`:
//!
//! ```text
//! /run/orc-container/<id>/
//!     state.json   the Record below, written once by `create`
//!     exec.fifo    exists from `create` until `start`: the init blocks on it
//! ```
//!
//! The *status* is never stored: it is derived every time from the live
//! system (is the process there, is the fifo there), so it cannot go stale
//! when a container dies on its own.

use crate::error::{Context, Error, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The OCI lifecycle states orc reports (`paused` is not implemented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Set up and waiting for `start`.
    Created,
    /// The user's program is executing.
    Running,
    /// The process has exited (or was never there).
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

/// What `create` records in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub oci_version: String,
    pub id: String,
    /// The init's pid in the host's pid namespace.
    pub pid: i32,
    /// The init's start time (field 22 of `/proc/PID/stat`, clock ticks
    /// since boot). Pids are recycled: a pid alone could, days later, name
    /// someone else's process, and `kill` would signal it.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// When `create` ran. Written as RFC 3339 in UTC with as many
    /// fractional digits as it needs, up to nanoseconds
    /// (`2024-05-01T12:00:00.123456789Z`): what runc writes, Go's
    /// `time.RFC3339Nano`.
    pub created: Timestamp,
    pub cgroup_path: String,
    pub annotations: BTreeMap<String, String>,
}

/// The OCI state, as `state` prints it. The first six fields are the
/// runtime-spec's; the rest are orc's (runc adds its own too).
// ANCHOR: state
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    /// 0 once stopped, like runc.
    pub pid: i32,
    pub bundle: PathBuf,
    pub annotations: BTreeMap<String, String>,
    pub rootfs: PathBuf,
    /// When `create` ran: RFC 3339 text in the JSON, to the nanosecond, as
    /// runc writes it.
    pub created: Timestamp,
    /// Whether the kernel's OOM killer killed a process of this container.
    pub oom_killed: bool,
    /// How the process ended, as a shell reports it (128+N for signal N),
    /// once stopped; recorded by the [`crate::monitor`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub stats: crate::cgroups::CgroupStats,
}
// ANCHOR_END: state

/// The directory holding one container's state.
pub fn container_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Check an id before using it as a path component: no `/`, no `..`.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

impl Record {
    pub fn load(root: &Path, id: &str) -> Result<Record> {
        check_id(id)?;
        let path = container_dir(root, id).join("state.json");
        let text = match std::fs::read_to_string(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()));
            }
            other => other.context(|| format!("reading {}", path.display()))?,
        };
        serde_json::from_str(&text)
            .map_err(std::io::Error::other)
            .context(|| format!("parsing {}", path.display()))
    }

    /// Write `state.json` atomically (temp file + rename): a concurrent
    /// `state` must never read half a file.
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = container_dir(root, &self.id);
        let tmp = dir.join("state.json.tmp");
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other);
        json.and_then(|j| std::fs::write(&tmp, j))
            .and_then(|_| std::fs::rename(&tmp, dir.join("state.json")))
            .context(|| format!("writing state of {}", self.id))
    }

    /// Derive the live status.
    pub fn status(&self, root: &Path) -> Status {
        if !process_alive(self.pid, self.start_time) {
            Status::Stopped
        } else if container_dir(root, &self.id).join("exec.fifo").exists() {
            Status::Created
        } else {
            Status::Running
        }
    }
}

/// The state of `/proc/PID/stat`: `(state letter, start time)`.
///
/// The command name (field 2) is in parentheses and may contain spaces
/// and parentheses, so fields are counted from the *last* `)`.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); field 22 (starttime) is index 19.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is still the process we started and has not exited.
///
/// A zombie counts as exited: it has run its last instruction and only
/// waits for its parent (the monitor, or `run`) to collect the exit status.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some((state, start)) => start == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

/// Waits until `pid` (the process started at `start_time`) has exited, or
/// until `deadline`: answers whether it exited.
///
/// The exit is an event, not a moment polled for: a pidfd
/// (`pidfd_open(2)`, Linux 5.3) turns readable when its process exits,
/// child of ours or not. A kernel without pidfds (or a process already
/// gone, `ESRCH`) falls back to reading its `/proc` entry every 10 ms.
pub fn wait_exit(pid: i32, start_time: u64, deadline: std::time::Instant) -> bool {
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new
    // descriptor or -1; it touches no memory of ours.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return poll_until(deadline, || !process_alive(pid, start_time));
    }
    // SAFETY: `raw` is the descriptor pidfd_open just returned, owned by
    // nothing else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    // Checked after the pidfd is open: if the pid was reused before, the
    // start time differs and our process is gone; if not, the pidfd is
    // our process's and cannot be confused with a later one.
    if !process_alive(pid, start_time) {
        return true;
    }
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let timeout = nix::poll::PollTimeout::try_from(left).unwrap_or(nix::poll::PollTimeout::MAX);
        let mut fds = [nix::poll::PollFd::new(
            pidfd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) => return !process_alive(pid, start_time),
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return poll_until(deadline, || !process_alive(pid, start_time)),
        }
    }
}

/// Checks `done` every 10 ms until it holds (true) or `deadline` passes.
fn poll_until(deadline: std::time::Instant, done: impl Fn() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_process_is_waited_for_on_its_pidfd() {
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let (_, start) = proc_stat(pid).unwrap();
        let soon = std::time::Instant::now() + std::time::Duration::from_millis(50);
        assert!(!wait_exit(pid, start, soon), "sleep 600 exited at once");
        child.kill().unwrap();
        // A zombie counts as exited: the wait ends before the reaping.
        let safety_net = std::time::Instant::now() + std::time::Duration::from_secs(60);
        assert!(wait_exit(pid, start, safety_net));
        child.wait().unwrap();
        // Gone (reaped): answered at once.
        assert!(wait_exit(pid, start, std::time::Instant::now()));
    }

    #[test]
    fn ids_are_path_safe() {
        assert!(check_id("web-1.a_b").is_ok());
        for bad in ["", "..", "a/b", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    fn record(created: Timestamp) -> Record {
        Record {
            oci_version: "1.0.2".into(),
            id: "web".into(),
            pid: 42,
            start_time: 7,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created,
            cgroup_path: "/orc/web".into(),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn created_is_rfc3339_in_utc_to_the_nanosecond_like_runc() {
        let written = |t| serde_json::to_value(record(t)).unwrap()["created"].clone();
        let t = Timestamp::new(1_714_564_800, 123_456_789).unwrap();
        assert_eq!(written(t), "2024-05-01T12:00:00.123456789Z");
        // Trailing zeros are dropped, as Go's RFC3339Nano drops them.
        let t = Timestamp::new(951_782_400, 500_000_000).unwrap();
        assert_eq!(written(t), "2000-02-29T00:00:00.5Z");
        assert_eq!(written(Timestamp::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn a_state_file_with_whole_seconds_still_loads() {
        // Earlier orc versions wrote `created` to the second.
        let mut json = serde_json::to_value(record(Timestamp::UNIX_EPOCH)).unwrap();
        json["created"] = "2026-11-22T22:10:03Z".into();
        let loaded: Record = serde_json::from_value(json).unwrap();
        assert_eq!(
            loaded.created,
            Timestamp::from_second(1_795_385_403).unwrap()
        );
    }

    #[test]
    fn reads_our_own_stat() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(process_alive(std::process::id() as i32, start));
        assert!(!process_alive(std::process::id() as i32, start + 1));
    }
}

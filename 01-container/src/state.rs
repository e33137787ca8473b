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
    /// RFC 3339, UTC.
    pub created: String,
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
    pub created: String,
    /// Whether the kernel's OOM killer killed a process of this container.
    pub oom_killed: bool,
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
/// waits for its parent to collect the exit status. (On hosts whose pid 1
/// does not reap orphans, a detached container's init stays a zombie.)
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    match proc_stat(pid) {
        Some((state, start)) => start == start_time && state != 'Z' && state != 'X',
        None => false,
    }
}

/// Now, as RFC 3339 UTC with seconds precision (`2026-11-22T22:10:03Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// Format seconds since the epoch as RFC 3339 UTC (Howard Hinnant's
/// days-to-civil algorithm; no date crate needed for one timestamp).
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_path_safe() {
        assert!(check_id("web-1.a_b").is_ok());
        for bad in ["", "..", "a/b", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_385_403), "2026-11-22T22:10:03Z");
    }

    #[test]
    fn reads_our_own_stat() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S');
        assert!(process_alive(std::process::id() as i32, start));
        assert!(!process_alive(std::process::id() as i32, start + 1));
    }
}

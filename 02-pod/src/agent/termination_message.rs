//! Termination messages: a container says why it ended.
//!
//! Before each run the agent makes an empty, world-writable file in the
//! run's bundle directory and bind-mounts it at the container's
//! `terminationMessagePath` (`/dev/termination-log` unless set). When the
//! run has ended, the status reports what the file holds as
//! `state.terminated.message` (and later as `lastState`'s), which
//! `kubectl describe pod` prints as `Message:`. With
//! `terminationMessagePolicy: FallbackToLogsOnError`, a run that failed
//! and wrote nothing there reports the tail of its log instead.
//!
//! The limits are the kubelet's: the last 4096 bytes of the file, the
//! log's last 80 lines and at most 2048 bytes of them, and 12 KiB for all
//! of a pod's messages together, shared equally by its containers.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use orc_container::spec::Mount;

use crate::pod_spec::{Container, DEFAULT_TERMINATION_MESSAGE_PATH, TerminationMessagePolicy};

/// The most of the file the kubelet reads (`MaxContainerTerminationMessageLength`).
pub const MAX_FILE_BYTES: usize = 4096;
/// How much of the log stands in for an empty file
/// (`MaxContainerTerminationMessageLogLines` and `...LogLength`).
pub const MAX_LOG_LINES: u64 = 80;
pub const MAX_LOG_BYTES: usize = 2048;
/// All of one pod's messages together (`MaxPodTerminationMessageLogLength`).
pub const MAX_POD_BYTES: usize = 12 * 1024;

/// The file of a run, in its bundle directory (beside `exit.json`, so it
/// stays after the run's root is removed and `lastState` can read it).
pub fn file(bundle: &Path) -> PathBuf {
    bundle.join("termination-log")
}

// ANCHOR: prepare
/// Makes the run's empty message file, writable by any user the
/// container runs as, and answers the bind mount that puts it at the
/// container's `terminationMessagePath`.
pub fn prepare(bundle: &Path, container: &Container) -> std::io::Result<Mount> {
    let path = file(bundle);
    std::fs::write(&path, b"")?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
    let destination = container
        .termination_message_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.into());
    Ok(Mount {
        destination,
        kind: Some("bind".into()),
        source: Some(path.display().to_string()),
        options: vec!["rbind".into(), "rprivate".into()],
    })
}
// ANCHOR_END: prepare

// ANCHOR: read_message
/// The message of a run that ended with `exit_code`: the end of its file,
/// or (policy `FallbackToLogsOnError`, a failed run, an empty file) the
/// tail of `log`; at most `budget` bytes. `None` when there is nothing.
pub fn read(
    bundle: &Path,
    log: &Path,
    container: &Container,
    exit_code: i32,
    budget: usize,
) -> Option<String> {
    let mut message = read_last(&file(bundle), MAX_FILE_BYTES.min(budget));
    let fallback = container.termination_message_policy
        == Some(TerminationMessagePolicy::FallbackToLogsOnError);
    if message.is_empty() && fallback && exit_code != 0 {
        message = log_tail(log, MAX_LOG_BYTES.min(budget));
    }
    (!message.is_empty()).then(|| String::from_utf8_lossy(&message).into_owned())
}
// ANCHOR_END: read_message

/// Each container's share of the pod's 12 KiB, as many as the pod has.
pub fn budget(containers: usize) -> usize {
    MAX_POD_BYTES / containers.max(1)
}

/// The last `max` bytes of `path` (nothing if it cannot be read).
fn read_last(path: &Path, max: usize) -> Vec<u8> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return vec![];
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max as u64);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return vec![];
    }
    let mut bytes = Vec::with_capacity(max);
    let _ = f.take(max as u64).read_to_end(&mut bytes);
    bytes
}

/// The log's last [`MAX_LOG_LINES`] lines, cut after `max` bytes (the
/// kubelet asks for the tail, then limits the bytes it takes of it).
fn log_tail(log: &Path, max: usize) -> Vec<u8> {
    // Enough of the end of the file for 80 lines of any sane length.
    let bytes = read_last(log, 64 * 1024);
    let start = crate::logs::tail_start(&bytes, MAX_LOG_LINES);
    let mut tail = bytes[start..].to_vec();
    tail.truncate(max);
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(policy: Option<TerminationMessagePolicy>) -> Container {
        let mut c: Container = serde_yaml::from_str("{name: c, image: busybox}").unwrap();
        c.termination_message_policy = policy;
        c
    }

    #[test]
    fn the_file_wins_and_the_log_stands_in_only_for_a_failure() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("0.log");
        let lines: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, &lines).unwrap();
        let mount = prepare(dir.path(), &container(None)).unwrap();
        assert_eq!(mount.destination, "/dev/termination-log");
        let fallback = container(Some(TerminationMessagePolicy::FallbackToLogsOnError));
        // Empty file: only a failed run under FallbackToLogsOnError says something.
        assert_eq!(read(dir.path(), &log, &container(None), 1, 4096), None);
        assert_eq!(read(dir.path(), &log, &fallback, 0, 4096), None);
        let tail = read(dir.path(), &log, &fallback, 1, 4096).unwrap();
        assert!(
            tail.starts_with("line 21\n") && tail.ends_with("line 100\n"),
            "{tail}"
        );
        // The 2048-byte cap on the log's share.
        std::fs::write(&log, "x".repeat(5000)).unwrap();
        assert_eq!(
            read(dir.path(), &log, &fallback, 1, 4096).unwrap().len(),
            2048
        );
        // The file, its last 4096 bytes, or less when the pod's budget is smaller.
        let long = format!("{}END", "y".repeat(5000));
        std::fs::write(file(dir.path()), &long).unwrap();
        let m = read(dir.path(), &log, &fallback, 1, 4096).unwrap();
        assert_eq!(m.len(), 4096);
        assert!(m.ends_with("END"));
        assert_eq!(
            read(dir.path(), &log, &fallback, 1, budget(4))
                .unwrap()
                .len(),
            3072
        );
    }
}

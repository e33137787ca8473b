//! Container logs, kept on disk by the agent.
//!
//! Like the kubelet's `/var/log/pods/<namespace>_<name>_<uid>/<container>/<n>.log`,
//! each run of a container has its own file (the shim points the
//! container's stdout and stderr at it), so `kubectl logs --previous` has
//! something to read after a crash. Reading needs no agent: `orc-agent logs`
//! opens the files directly; the agent's HTTP server
//! ([`crate::agent::server`]) serves them to the API server.
//!
//! The files hold the container's bytes exactly as written: no timestamp
//! and no stream tag per line (the CRI log format has both). So the options
//! that need a time per line (`sinceSeconds`, `sinceTime`, `timestamps`)
//! are refused with a reason rather than silently ignored; see
//! [`LogOptions::from_query`].
//!
//! The choices about *what* to send are pure functions here ([`tail_start`],
//! [`LogLimit`], [`LogOptions::from_query`]), so they are unit-tested
//! without files or sockets.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every run's log file in `dir` (`<n>.log`), oldest run first.
pub fn runs(dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut runs: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let path = e.ok()?.path();
            if path.extension()? != "log" {
                return None;
            }
            let n = path.file_stem()?.to_str()?.parse().ok()?;
            Some((n, path))
        })
        .collect();
    runs.sort();
    runs
}

/// The newest run's log file in `dir` (`<n>.log` with the largest `n`).
pub fn latest_log(dir: &Path) -> Option<PathBuf> {
    runs(dir).pop().map(|(_, p)| p)
}

/// The log of the run before the newest: what `kubectl logs --previous`
/// shows (the kubelet's `lastState.terminated` container).
pub fn previous_log(dir: &Path) -> Option<(u32, PathBuf)> {
    let mut runs = runs(dir);
    runs.pop()?;
    runs.pop()
}

// ANCHOR: tail_start
/// Where the last `lines` lines of `bytes` begin, like `tail -n`.
///
/// A final line without its newline still counts as a line (a container
/// killed mid-line has one), and `0` lines start at the very end.
pub fn tail_start(bytes: &[u8], lines: u64) -> usize {
    if lines == 0 {
        return bytes.len();
    }
    // The newline that ends the last line does not start a new one.
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == lines {
                return i + 1;
            }
        }
    }
    0
}
// ANCHOR_END: tail_start

/// The offset in `file` where its last `lines` lines begin, reading
/// backwards a block at a time: a long log is not read whole to show its end.
pub fn tail_offset(file: &mut std::fs::File, lines: u64) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    let len = file.metadata()?.len();
    if lines == 0 {
        return Ok(len);
    }
    let mut suffix: Vec<u8> = Vec::new();
    let mut from = len;
    loop {
        // Enough newlines in what we have (one more than asked, so the
        // earliest wanted line is known to begin inside it), or the start.
        let newlines = suffix.iter().filter(|b| **b == b'\n').count() as u64;
        if from == 0 || newlines > lines {
            break;
        }
        let start = from.saturating_sub(BLOCK);
        let mut block = vec![0u8; (from - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&suffix);
        suffix = block;
        from = start;
    }
    Ok(from + tail_start(&suffix, lines) as u64)
}

/// `limitBytes`: how many bytes may still be sent. The kubelet counts every
/// byte written to the client, followed ones included, and stops the stream
/// at the limit, even mid-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimit {
    remaining: Option<u64>,
}

impl LogLimit {
    /// No limit with `None`.
    pub fn new(limit_bytes: Option<u64>) -> LogLimit {
        LogLimit {
            remaining: limit_bytes,
        }
    }

    /// How many of the next `len` bytes may be sent; counts them as sent.
    pub fn take(&mut self, len: usize) -> usize {
        match &mut self.remaining {
            None => len,
            Some(left) => {
                let n = (*left).min(len as u64);
                *left -= n;
                n as usize
            }
        }
    }

    /// Whether the limit is reached: the stream ends.
    pub fn exhausted(&self) -> bool {
        self.remaining == Some(0)
    }
}

/// What a client asked for: the kubelet's `PodLogOptions`, as far as orc's
/// log files can honour it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep sending what is appended (`kubectl logs -f`).
    pub follow: bool,
    /// The previous run's log instead of the current one's (`-p`).
    pub previous: bool,
    /// Only the last N lines (`--tail`).
    pub tail_lines: Option<u64>,
    /// At most N bytes (`--limit-bytes`).
    pub limit_bytes: Option<u64>,
}

/// Why a query cannot be answered; the message is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogOptionsError {
    /// A value that does not parse (`tailLines=ten`): HTTP 400.
    #[error("{0}")]
    Malformed(String),
    /// A value out of range (`tailLines=-1`): HTTP 422, as the kubelet's
    /// validation of `PodLogOptions`.
    #[error("{0}")]
    Invalid(String),
    /// A valid option orc's logs cannot honour: HTTP 400, never ignored.
    #[error("{0}")]
    Unsupported(String),
}

impl LogOptions {
    // ANCHOR: log_options
    /// Reads the kubelet's `/containerLogs` query parameters (the ones the
    /// API server forwards). Options needing a time per line are refused:
    /// the files keep none, and a silently ignored `--since=1h` would show
    /// a user old lines as if they were new.
    pub fn from_query(query: &HashMap<String, String>) -> Result<LogOptions, LogOptionsError> {
        let flag = |name: &str| -> Result<bool, LogOptionsError> {
            match query.get(name).map(String::as_str) {
                None | Some("" | "false" | "0") => Ok(false),
                Some("true" | "1") => Ok(true),
                Some(other) => Err(LogOptionsError::Malformed(format!(
                    "{name}: invalid value {other:?}: expected true or false"
                ))),
            }
        };
        let number = |name: &str| -> Result<Option<i64>, LogOptionsError> {
            query
                .get(name)
                .map(|v| {
                    v.parse::<i64>().map_err(|_| {
                        LogOptionsError::Malformed(format!(
                            "{name}: invalid value {v:?}: expected an integer"
                        ))
                    })
                })
                .transpose()
        };
        let tail_lines = match number("tailLines")? {
            Some(n) if n < 0 => {
                return Err(LogOptionsError::Invalid(format!(
                    "tailLines: Invalid value: {n}: must be greater than or equal to 0"
                )));
            }
            n => n.map(|n| n as u64),
        };
        let limit_bytes = match number("limitBytes")? {
            Some(n) if n < 1 => {
                return Err(LogOptionsError::Invalid(format!(
                    "limitBytes: Invalid value: {n}: must be greater than 0"
                )));
            }
            n => n.map(|n| n as u64),
        };
        let untimed = "orc's log files keep the container's output without a time per line";
        if number("sinceSeconds")?.is_some() || query.contains_key("sinceTime") {
            return Err(LogOptionsError::Unsupported(format!(
                "sinceSeconds and sinceTime are not supported: {untimed}; use tailLines instead"
            )));
        }
        if flag("timestamps")? {
            return Err(LogOptionsError::Unsupported(format!(
                "timestamps are not supported: {untimed}"
            )));
        }
        Ok(LogOptions {
            follow: flag("follow")?,
            previous: flag("previous")?,
            tail_lines,
            limit_bytes,
        })
    }
    // ANCHOR_END: log_options
}

/// Copies the log at `path`, from `start` (see [`tail_offset`]), to `out`;
/// with `follow`, keeps copying what is appended (like `tail -f`) until
/// `stop` returns true (the run ended) and everything is copied.
pub fn copy_log(
    path: &Path,
    start: u64,
    out: &mut impl Write,
    follow: bool,
    mut stop: impl FnMut() -> bool,
) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Asked before reading: whatever was written before `stop` turned
        // true is still copied.
        let stopping = follow && stop();
        let n = file.read(&mut buf)?;
        if n > 0 {
            out.write_all(&buf[..n])?;
            continue;
        }
        out.flush()?;
        if !follow || stopping {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
        // A truncated file starts over.
        let len = file.metadata()?.len();
        if file.stream_position()? > len {
            file.seek(SeekFrom::Start(0))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_run_wins_and_copies() {
        let dir = tempfile::tempdir().unwrap();
        for (n, text) in [(0, "first\n"), (2, "third\n"), (10, "eleventh\n")] {
            std::fs::write(dir.path().join(format!("{n}.log")), text).unwrap();
        }
        let latest = latest_log(dir.path()).unwrap();
        assert!(latest.ends_with("10.log"));
        let (n, previous) = previous_log(dir.path()).unwrap();
        assert_eq!(n, 2);
        assert!(previous.ends_with("2.log"));
        let mut out = vec![];
        copy_log(&latest, 0, &mut out, false, || true).unwrap();
        assert_eq!(out, b"eleventh\n");
    }

    #[test]
    fn one_run_has_no_previous() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0.log"), "x\n").unwrap();
        assert_eq!(previous_log(dir.path()), None);
        assert_eq!(runs(&dir.path().join("missing")), vec![]);
    }

    #[test]
    fn tails_count_lines_like_tail_n() {
        let text = b"a\nb\nc\n";
        let tail = |n| &text[tail_start(text, n)..];
        assert_eq!(tail(0), b"");
        assert_eq!(tail(1), b"c\n");
        assert_eq!(tail(2), b"b\nc\n");
        assert_eq!(tail(3), b"a\nb\nc\n");
        assert_eq!(tail(10), b"a\nb\nc\n");
        // An unfinished last line is a line.
        let partial = b"a\nb\nc";
        assert_eq!(&partial[tail_start(partial, 1)..], b"c");
        assert_eq!(&partial[tail_start(partial, 2)..], b"b\nc");
        // Empty lines count.
        let blank = b"a\n\n\n";
        assert_eq!(&blank[tail_start(blank, 2)..], b"\n\n");
        assert_eq!(tail_start(b"", 3), 0);
    }

    #[test]
    fn tail_offsets_cross_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        // Lines longer than a block, and many of them.
        let long = "x".repeat(100_000);
        let text = format!("first\n{long}\nlast one\n");
        std::fs::write(&path, &text).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        for n in 0..5 {
            let offset = tail_offset(&mut file, n).unwrap() as usize;
            assert_eq!(offset, tail_start(text.as_bytes(), n), "{n} lines");
        }
    }

    #[test]
    fn limits_count_every_byte_sent() {
        let mut limit = LogLimit::new(Some(5));
        assert_eq!(limit.take(3), 3);
        assert!(!limit.exhausted());
        assert_eq!(limit.take(3), 2);
        assert!(limit.exhausted());
        assert_eq!(limit.take(3), 0);
        let mut none = LogLimit::new(None);
        assert_eq!(none.take(1 << 20), 1 << 20);
        assert!(!none.exhausted());
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_parse_what_the_api_server_forwards() {
        let options = LogOptions::from_query(&query(&[
            ("follow", "true"),
            ("previous", "true"),
            ("tailLines", "10"),
            ("limitBytes", "100"),
        ]))
        .unwrap();
        assert_eq!(
            options,
            LogOptions {
                follow: true,
                previous: true,
                tail_lines: Some(10),
                limit_bytes: Some(100),
            }
        );
        assert_eq!(
            LogOptions::from_query(&query(&[])).unwrap(),
            LogOptions::default()
        );
        assert_eq!(
            LogOptions::from_query(&query(&[("timestamps", "false")])).unwrap(),
            LogOptions::default()
        );
    }

    #[test]
    fn options_are_refused_with_a_reason() {
        let err = |pairs: &[(&str, &str)]| LogOptions::from_query(&query(pairs)).unwrap_err();
        assert!(matches!(
            err(&[("tailLines", "ten")]),
            LogOptionsError::Malformed(m) if m.contains("tailLines")
        ));
        assert!(matches!(
            err(&[("follow", "yes")]),
            LogOptionsError::Malformed(_)
        ));
        assert!(matches!(
            err(&[("tailLines", "-1")]),
            LogOptionsError::Invalid(m) if m.contains("greater than or equal to 0")
        ));
        assert!(matches!(
            err(&[("limitBytes", "0")]),
            LogOptionsError::Invalid(_)
        ));
        assert!(matches!(
            err(&[("sinceSeconds", "60")]),
            LogOptionsError::Unsupported(m) if m.contains("sinceSeconds")
        ));
        assert!(matches!(
            err(&[("sinceTime", "2024-01-01T00:00:00Z")]),
            LogOptionsError::Unsupported(_)
        ));
        assert!(matches!(
            err(&[("timestamps", "true")]),
            LogOptionsError::Unsupported(m) if m.contains("timestamps")
        ));
    }
}

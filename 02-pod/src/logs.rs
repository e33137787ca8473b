//! Container logs, kept on disk by the agent.
//!
//! Like the kubelet's `/var/log/pods/<namespace>_<name>_<uid>/<container>/<n>.log`,
//! each run of a container has its own file (the shim points the
//! container's stdout and stderr at it), so `kubectl logs --previous` has
//! something to read after a crash. Reading needs no agent: `orc-agent logs`
//! opens the files directly.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The newest run's log file in `dir` (`<n>.log` with the largest `n`).
pub fn latest_log(dir: &Path) -> Option<PathBuf> {
    let mut runs: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let path = e.ok()?.path();
            let n = path.file_stem()?.to_str()?.parse().ok()?;
            Some((n, path))
        })
        .collect();
    runs.sort();
    runs.pop().map(|(_, p)| p)
}

/// Copies the log at `path` to `out`; with `follow`, keeps copying what is
/// appended (like `tail -f`) until `stop` returns true.
pub fn copy_log(
    path: &Path,
    out: &mut impl Write,
    follow: bool,
    mut stop: impl FnMut() -> bool,
) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n > 0 {
            out.write_all(&buf[..n])?;
            continue;
        }
        out.flush()?;
        if !follow || stop() {
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
        let mut out = vec![];
        copy_log(&latest, &mut out, false, || true).unwrap();
        assert_eq!(out, b"eleventh\n");
    }
}

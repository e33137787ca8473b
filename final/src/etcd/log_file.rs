//! etcd's log: appended across restarts, rotated at a size.
//!
//! etcd writes its log to standard error. Handing it the file directly
//! would leave nobody to rotate it, so its output comes through a pipe and
//! a [`LogFile`] writes it: opened for appending (a restart of `orc server`
//! keeps the history that explains why it was restarted), and when it
//! passes [`LogFile::limit`] bytes renamed to `etcd.log.1` (replacing the
//! previous one) and started afresh, as logrotate's `size` and `rotate 1`
//! would. At most twice the limit is ever kept.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The size at which `orc server` rotates etcd's log.
pub const DEFAULT_LIMIT: u64 = 16 * 1024 * 1024;

/// An append-only log file rotated at a size.
pub struct LogFile {
    path: PathBuf,
    /// Bytes after which the file is rotated.
    limit: u64,
    file: File,
    /// The file's size, kept rather than asked of the file system on
    /// every write.
    size: u64,
}

impl LogFile {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: &Path, limit: u64) -> std::io::Result<LogFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            limit,
            file,
            size,
        })
    }

    /// The rotated file's name: `etcd.log` → `etcd.log.1`.
    pub fn rotated(path: &Path) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(".1");
        PathBuf::from(name)
    }

    /// Appends `bytes`, first rotating if the file has reached its limit.
    /// A chunk is never split: a file holds whole reads of the pipe.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + bytes.len() as u64 > self.limit {
            std::fs::rename(&self.path, Self::rotated(&self.path))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = 0;
        }
        self.file.write_all(bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }
}

/// Copies what `pipe` delivers into `log` on a thread of its own, until
/// the writer (etcd) closes it. Several pipes may share one log.
pub fn copy_in_background(mut pipe: impl Read + Send + 'static, log: Arc<Mutex<LogFile>>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        loop {
            match pipe.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(error) = log.write(&buffer[..n]) {
                        tracing::warn!(%error, path = %log.path.display(), "writing etcd's log");
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_log_is_appended_to_and_rotated_at_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etcd.log");
        LogFile::open(&path, 10).unwrap().write(b"first\n").unwrap();
        // A restart appends instead of truncating.
        let mut log = LogFile::open(&path, 10).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first\n");
        // 6 + 6 bytes pass the limit of 10: the old file moves aside.
        log.write(b"again\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"again\n");
        assert_eq!(std::fs::read(LogFile::rotated(&path)).unwrap(), b"first\n");
    }
}

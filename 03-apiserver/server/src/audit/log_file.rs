//! The audit log on disk, rotated as kube-apiserver rotates it (it uses
//! the lumberjack library): when a write would take the file past
//! `--audit-log-maxsize` megabytes, the file is renamed with the time in
//! its name (`audit-2026-12-06T12-00-00.123.log`) and a new one begun;
//! then backups beyond `--audit-log-maxbackup` (newest kept) and older
//! than `--audit-log-maxage` days are removed. A size of 0 means
//! lumberjack's default, 100 MB; a count or age of 0 keeps everything.
//!
//! No crate was a fit: the maintained rotating writers name backups by
//! number or by period, not lumberjack's way, and tools that collect
//! kube-apiserver's backups look for that name. The decision of what to
//! remove ([`expired`]) is pure, and tested on its own.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Lumberjack's size when none is given: 100 MB.
pub const DEFAULT_MAX_SIZE: u64 = 100 * 1024 * 1024;

/// How the log is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a write would take the file past this many bytes.
    pub max_size: u64,
    /// Keep at most this many backups; 0: all.
    pub max_backups: usize,
    /// Remove backups older than this; `None`: never.
    pub max_age: Option<Duration>,
}

impl Default for Rotation {
    fn default() -> Rotation {
        Rotation {
            max_size: DEFAULT_MAX_SIZE,
            max_backups: 0,
            max_age: None,
        }
    }
}

/// An open audit log (mode 0600: events name users and objects, and at
/// `Request` level carry bodies).
pub struct LogFile {
    path: PathBuf,
    file: BufWriter<File>,
    size: u64,
    rotation: Rotation,
}

/// The name of a backup taken at `at`: the file's stem, the time (UTC,
/// milliseconds, `-` for `:`), its extension.
pub fn backup_name(path: &Path, at: jiff::Timestamp) -> PathBuf {
    let (stem, ext) = stem_and_ext(path);
    let time = at.strftime("%Y-%m-%dT%H-%M-%S%.3f");
    path.with_file_name(format!("{stem}-{time}{ext}"))
}

/// `audit` and `.log` of `/x/audit.log`.
fn stem_and_ext(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.rfind('.') {
        Some(dot) if dot > 0 => (name[..dot].to_string(), name[dot..].to_string()),
        _ => (name, String::new()),
    }
}

/// The time in a backup's name, if `name` is one of `path`'s backups.
fn backup_time(path: &Path, name: &str) -> Option<jiff::Timestamp> {
    let (stem, ext) = stem_and_ext(path);
    let time = name.strip_prefix(&format!("{stem}-"))?.strip_suffix(&ext)?;
    let civil = jiff::civil::DateTime::strptime("%Y-%m-%dT%H-%M-%S%.f", time).ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

// ANCHOR: expired
/// Which backups to remove: past the newest `max_backups`, or older than
/// `max_age` at `now`. `backups` are (name, time taken) in any order.
pub fn expired(
    backups: &[(PathBuf, jiff::Timestamp)],
    now: jiff::Timestamp,
    rotation: &Rotation,
) -> Vec<PathBuf> {
    let mut newest_first: Vec<&(PathBuf, jiff::Timestamp)> = backups.iter().collect();
    newest_first.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
    newest_first
        .iter()
        .enumerate()
        .filter(|(i, (_, at))| {
            let too_many = rotation.max_backups > 0 && *i >= rotation.max_backups;
            let too_old = rotation
                .max_age
                .is_some_and(|age| now.duration_since(*at).unsigned_abs() > age && now > *at);
            too_many || too_old
        })
        .map(|(_, (path, _))| path.clone())
        .collect()
}
// ANCHOR_END: expired

impl LogFile {
    /// Opens (or creates, 0600) the log at `path`, appending.
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<LogFile> {
        let file = open_private(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            size,
            rotation,
        })
    }

    /// Writes one line, rotating first if it would not fit.
    pub fn write_line(&mut self, line: &[u8], now: jiff::Timestamp) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.rotation.max_size {
            self.rotate(now)?;
        }
        self.file.write_all(line)?;
        self.file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }

    /// Renames the file to a backup's name, starts a new one, removes
    /// what [`expired`] names.
    fn rotate(&mut self, now: jiff::Timestamp) -> std::io::Result<()> {
        self.file.flush()?;
        // Two rotations in one millisecond (a tiny max size) must not
        // overwrite a backup: a rotation's time is after every backup's,
        // so names still sort by age.
        let newest = self.backups()?.into_iter().map(|(_, at)| at).max();
        let at = match newest {
            Some(newest) if newest >= now => newest + jiff::SignedDuration::from_millis(1),
            _ => now,
        };
        let backup = backup_name(&self.path, at);
        std::fs::rename(&self.path, &backup)?;
        self.file = BufWriter::new(open_private(&self.path)?);
        self.size = 0;
        for old in expired(&self.backups()?, now, &self.rotation) {
            if let Err(error) = std::fs::remove_file(&old) {
                tracing::warn!(%error, file = %old.display(), "removing an old audit log");
            }
        }
        Ok(())
    }

    /// The backups beside the log, with the time in their names.
    fn backups(&self) -> std::io::Result<Vec<(PathBuf, jiff::Timestamp)>> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(at) = backup_time(&self.path, &name) {
                found.push((entry.path(), at));
            }
        }
        Ok(found)
    }
}

fn open_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn backups_are_named_as_lumberjack_names_them() {
        let name = backup_name(
            Path::new("/var/log/audit.log"),
            at("2026-12-06T12:00:01.5Z"),
        );
        assert_eq!(
            name,
            Path::new("/var/log/audit-2026-12-06T12-00-01.500.log")
        );
        assert_eq!(
            backup_time(
                Path::new("/var/log/audit.log"),
                "audit-2026-12-06T12-00-01.500.log"
            ),
            Some(at("2026-12-06T12:00:01.5Z"))
        );
        assert_eq!(backup_time(Path::new("/x/audit.log"), "audit.log"), None);
        assert_eq!(
            backup_time(Path::new("/x/audit.log"), "other-2026.log"),
            None
        );
    }

    #[test]
    fn expired_keeps_the_newest_and_the_young() {
        let backups = vec![
            ("b1".into(), at("2026-12-01T00:00:00Z")),
            ("b3".into(), at("2026-12-05T00:00:00Z")),
            ("b2".into(), at("2026-12-03T00:00:00Z")),
        ];
        let now = at("2026-12-06T00:00:00Z");
        let count = Rotation {
            max_backups: 2,
            ..Rotation::default()
        };
        assert_eq!(expired(&backups, now, &count), [PathBuf::from("b1")]);
        let age = Rotation {
            max_age: Some(Duration::from_secs(4 * 86400)),
            ..Rotation::default()
        };
        assert_eq!(expired(&backups, now, &age), [PathBuf::from("b1")]);
        let both = Rotation {
            max_backups: 1,
            max_age: Some(Duration::from_secs(86400)),
            ..Rotation::default()
        };
        assert_eq!(
            expired(&backups, now, &both),
            [PathBuf::from("b2"), PathBuf::from("b1")]
        );
        assert!(expired(&backups, now, &Rotation::default()).is_empty());
    }

    #[test]
    fn rotation_at_max_size_keeps_max_backups_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let rotation = Rotation {
            max_size: 100,
            max_backups: 2,
            max_age: None,
        };
        let mut log = LogFile::open(&path, rotation).unwrap();
        let line = [b'x'; 39]; // 40 bytes with its newline: two fit in 100.
        let now = at("2026-12-06T12:00:00Z");
        for _ in 0..9 {
            log.write_line(&line, now).unwrap();
        }
        log.flush().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        // Nine lines, two per file: four rotations, two backups kept
        // (the newest: the fourth rotation took the third free millisecond).
        assert_eq!(
            names,
            [
                "audit-2026-12-06T12-00-00.002.log",
                "audit-2026-12-06T12-00-00.003.log",
                "audit.log"
            ]
        );
        assert_eq!(std::fs::read(&path).unwrap().len(), 40);
        for name in &names {
            let meta = std::fs::metadata(dir.path().join(name)).unwrap();
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
    }
}

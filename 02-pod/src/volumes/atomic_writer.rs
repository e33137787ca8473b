//! Writing a volume's files so that a container never sees half an
//! update: the kubelet's `AtomicWriter`.
//!
//! ```text
//! <volume>/
//!     ..2026_12_05_20_15_01.1234/    this version's files (a new directory per change)
//!         port
//!         conf/app.yaml
//!     ..data -> ..2026_12_05_20_15_01.1234
//!     port -> ..data/port            what the container opens
//!     conf -> ..data/conf
//! ```
//!
//! An update writes a whole new timestamped directory, points a new
//! symlink `..data_tmp` at it, and renames that over `..data`: rename(2)
//! replaces the link in one step, so a reader follows either the old
//! version or the new one, never a mix. The top-level names are symlinks
//! through `..data`, so they never change; the old directory is removed
//! last. The symlinks are relative, so they resolve the same inside the
//! container, where the volume is bind-mounted somewhere else.
//!
//! A `subPath` mount binds one file of a version directory: it keeps that
//! file, and sees no later version, as in Kubernetes.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::projection::{FileProjection, Payload};

/// The symlink to the current version.
pub const DATA_DIR: &str = "..data";
const DATA_DIR_TMP: &str = "..data_tmp";

// ANCHOR: write
/// Makes `dir` hold exactly `payload`. Returns whether anything changed:
/// writing what is already there does nothing (the sync loop calls this
/// at every pass).
pub fn write(dir: &Path, payload: &Payload) -> io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let old = std::fs::read_link(dir.join(DATA_DIR)).ok();
    if old.is_some() && read_current(dir).as_ref() == Some(payload) {
        return Ok(false);
    }
    // 1. This version's files, in a directory of their own.
    let version = new_version_dir(dir)?;
    write_files(&version, payload)?;
    // 2. Swing `..data` over to it in one rename.
    let tmp = dir.join(DATA_DIR_TMP);
    let _ = std::fs::remove_file(&tmp);
    symlink(version.file_name().expect("a named directory"), &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA_DIR))?;
    // 3. The names the container opens, through `..data`.
    let wanted = top_level_names(payload);
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA_DIR).join(name), &link)?;
        }
    }
    remove_stale_names(dir, &wanted)?;
    // 4. The old version, which no new open can reach any more.
    if let Some(old) = old {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(true)
}
// ANCHOR_END: write

/// `..<UTC time>.<n>`, the kubelet's name shape, unique in `dir`.
fn new_version_dir(dir: &Path) -> io::Result<std::path::PathBuf> {
    let stamp = jiff::Timestamp::now()
        .strftime("%Y_%m_%d_%H_%M_%S")
        .to_string();
    let made = tempfile::Builder::new()
        .prefix(&format!("..{stamp}."))
        .rand_bytes(6)
        .tempdir_in(dir)?;
    let path = made.keep();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// Each file of `payload` under `version`, with its mode.
fn write_files(version: &Path, payload: &Payload) -> io::Result<()> {
    for (path, file) in payload {
        let target = version.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &file.data)?;
        // Set after the write: the process's umask shaped the create.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(file.mode))?;
    }
    Ok(())
}

/// The first path element of every file: the names that get a symlink.
fn top_level_names(payload: &Payload) -> BTreeSet<String> {
    payload
        .keys()
        .filter_map(|p| p.split('/').next())
        .map(str::to_string)
        .collect()
}

/// Removes the symlinks of names no longer in the payload (a key deleted
/// from the ConfigMap disappears from the volume).
fn remove_stale_names(dir: &Path, wanted: &BTreeSet<String>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("..") || wanted.contains(&name) {
            continue;
        }
        if entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// What the current version holds, read back; `None` if it cannot be read.
pub fn read_current(dir: &Path) -> Option<Payload> {
    let root = dir.join(DATA_DIR);
    let mut payload = Payload::new();
    let mut stack = vec![root.clone()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).ok()? {
            let path = entry.ok()?.path();
            let meta = std::fs::symlink_metadata(&path).ok()?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(&root)
                .ok()?
                .to_string_lossy()
                .into_owned();
            let file = FileProjection {
                data: std::fs::read(&path).ok()?,
                mode: meta.permissions().mode() & 0o7777,
            };
            payload.insert(relative, file);
        }
    }
    Some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(files: &[(&str, &str, u32)]) -> Payload {
        files
            .iter()
            .map(|(p, d, m)| {
                let file = FileProjection {
                    data: d.as_bytes().to_vec(),
                    mode: *m,
                };
                (p.to_string(), file)
            })
            .collect()
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn versions_swap_under_a_stable_name() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path();
        let first = payload(&[("port", "8080", 0o644), ("conf/app", "a", 0o400)]);
        assert!(write(v, &first).unwrap());
        assert_eq!(read(&v.join("port")), "8080");
        assert_eq!(read(&v.join("conf/app")), "a");
        assert_eq!(
            std::fs::read_link(v.join("port")).unwrap(),
            Path::new("..data/port")
        );
        let mode = std::fs::metadata(v.join("conf/app"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o400);
        let version = std::fs::read_link(v.join(DATA_DIR)).unwrap();
        assert!(version.to_string_lossy().starts_with(".."), "{version:?}");

        // The same payload again: nothing is written.
        assert!(!write(v, &first).unwrap());
        assert_eq!(std::fs::read_link(v.join(DATA_DIR)).unwrap(), version);

        // A changed value and a removed key: a new version, the old one gone.
        assert!(write(v, &payload(&[("port", "9090", 0o644)])).unwrap());
        assert_eq!(read(&v.join("port")), "9090");
        assert!(std::fs::symlink_metadata(v.join("conf")).is_err());
        assert!(!v.join(&version).exists());
        let names: Vec<String> = std::fs::read_dir(v)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("..") && n != DATA_DIR)
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn an_empty_payload_is_an_empty_volume() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(dir.path(), &Payload::new()).unwrap());
        assert_eq!(read_current(dir.path()), Some(Payload::new()));
    }
}

//! `subPath`: one file or directory of a volume mounted instead of its
//! root.
//!
//! The path is checked to stay inside the volume twice: as written (no
//! absolute path, no `..`), and as resolved on the node, because a
//! container can leave a symlink in an `emptyDir` that points anywhere
//! (`ln -s / data/escape`); following it would mount the node's own root
//! into the next container (CVE-2017-1002101). The resolved path is what
//! gets bind-mounted, so a symlink changed after the check is not followed
//! again. (The kubelet goes further and opens each element with
//! `O_NOFOLLOW`; a symlink swapped between the check and the mount is a
//! race orc does not close.)

use std::path::{Path, PathBuf};

use super::projection::check_path;

// ANCHOR: resolve
/// The node path to bind for `sub_path` of the volume at `volume_dir`.
/// A missing path is made a directory, as the kubelet does (so `subPath:
/// data` of an `emptyDir` just works).
pub fn resolve(volume_dir: &Path, sub_path: &str) -> Result<PathBuf, String> {
    check_path(sub_path.trim_end_matches('/'))?;
    let wanted = volume_dir.join(sub_path);
    if std::fs::symlink_metadata(&wanted).is_err() {
        std::fs::create_dir_all(&wanted)
            .map_err(|e| format!("creating {}: {e}", wanted.display()))?;
    }
    let root = volume_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", volume_dir.display()))?;
    let resolved = wanted
        .canonicalize()
        .map_err(|e| format!("{}: {e}", wanted.display()))?;
    if !resolved.starts_with(&root) {
        return Err(format!(
            "subPath {sub_path:?} resolves to {} outside the volume",
            resolved.display()
        ));
    }
    Ok(resolved)
}
// ANCHOR_END: resolve

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_stay_inside_their_volume() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("v");
        std::fs::create_dir(&v).unwrap();
        std::fs::write(v.join("file"), "x").unwrap();
        assert_eq!(
            resolve(&v, "file").unwrap(),
            v.canonicalize().unwrap().join("file")
        );
        // Missing: made a directory.
        assert!(resolve(&v, "data/logs").unwrap().is_dir());
        assert!(resolve(&v, "../v").unwrap_err().contains("'..'"));
        assert!(resolve(&v, "/etc").unwrap_err().contains("relative"));
        // A symlink a container left behind does not lead out.
        std::os::unix::fs::symlink("/", v.join("escape")).unwrap();
        assert!(
            resolve(&v, "escape")
                .unwrap_err()
                .contains("outside the volume")
        );
    }
}

//! Volumes kept in memory: a tmpfs of the node mounted on the volume's
//! directory. `emptyDir: {medium: Memory}` asks for one (its `sizeLimit`
//! becomes the tmpfs's `size=`); Secret and projected volumes always get
//! one, as in Kubernetes, so a Secret's bytes never reach the node's disk.
//!
//! mount(2) forks nothing, so the agent calls it itself; the mount is made
//! once (a directory that is already a mount point is left alone) and
//! undone by [`unmount_all`] when the pod goes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

/// Mounts a tmpfs of at most `size` bytes (unbounded: `None`) on `dir`,
/// unless `dir` already is a mount point.
pub fn mount(dir: &Path, size: Option<u64>) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if is_mount_point(dir) {
        return Ok(());
    }
    let mut options = "mode=0755".to_string();
    if let Some(bytes) = size {
        options.push_str(&format!(",size={bytes}"));
    }
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| format!("mounting a tmpfs on {}: {e}", dir.display()))
}

/// Whether `dir` is the root of a mount: it lives on another device than
/// its parent.
fn is_mount_point(dir: &Path) -> bool {
    let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
    match (dev(dir), dir.parent().and_then(dev)) {
        (Some(a), Some(b)) => a != b,
        _ => false,
    }
}

/// Unmounts every tmpfs among the volume directories in `volumes_dir`,
/// so that removing the pod's directory removes nothing of the node's.
pub fn unmount_all(volumes_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(volumes_dir) else {
        return;
    };
    for dir in entries.flatten().map(|e| e.path()) {
        if is_mount_point(&dir) {
            if let Err(e) = nix::mount::umount2(&dir, MntFlags::MNT_DETACH) {
                tracing::warn!(path = %dir.display(), "unmounting a volume: {e}");
            }
        }
    }
}

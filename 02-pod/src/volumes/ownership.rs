//! `fsGroup`: the pod's volumes owned by one group the containers share.
//!
//! A container running as uid 1000 cannot write an emptyDir that root
//! made with mode 0755. The kubelet's answer (`SetVolumeOwnership`) is to
//! hand the volume to the pod's `fsGroup`: every file and directory gets
//! that group and group read/write (read only for the ConfigMap-like
//! volumes, which are read-only anyway), and directories get the setgid
//! bit, so what a container creates inside is group-owned by `fsGroup`
//! too. Every container is a member of `fsGroup`
//! ([`crate::security_context::user`]).
//!
//! `fsGroupChangePolicy: OnRootMismatch` skips the walk when the volume's
//! root already has the group and the bits: a large volume is then not
//! walked at every start. `Always` (the default) walks whenever the volume
//! is set up or its files are rewritten.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Group read and write: what a writable volume's files get.
const RW_MASK: u32 = 0o660;
/// Group read: what a read-only volume's files get.
const RO_MASK: u32 = 0o440;
/// Group (and owner) search, added on directories with the setgid bit.
const EXEC_MASK: u32 = 0o110;
const SETGID: u32 = 0o2000;

/// Whether the volume's files are read-only to the containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// When to walk the volume: `fsGroupChangePolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangePolicy {
    Always,
    OnRootMismatch,
}

impl ChangePolicy {
    /// The policy a pod spec names (`Always` when absent or unknown: the
    /// API server refuses anything else).
    pub fn from_spec(value: Option<&str>) -> ChangePolicy {
        match value {
            Some("OnRootMismatch") => ChangePolicy::OnRootMismatch,
            _ => ChangePolicy::Always,
        }
    }
}

fn mask(access: Access, is_dir: bool) -> u32 {
    let base = match access {
        Access::ReadWrite => RW_MASK,
        Access::ReadOnly => RO_MASK,
    };
    if is_dir {
        base | SETGID | EXEC_MASK
    } else {
        base
    }
}

// ANCHOR: set_ownership
/// Gives `dir` and everything under it to group `gid`, as the kubelet's
/// `SetVolumeOwnership`: `lchown` to the group (the owner stays), the
/// mask added to the mode; symbolic links (the `..data` swap's) are
/// re-grouped but never followed or chmod-ed.
pub fn set(dir: &Path, gid: u32, access: Access, policy: ChangePolicy) -> io::Result<()> {
    let root = std::fs::metadata(dir)?;
    let wanted = mask(access, true);
    let matches = root.gid() == gid && root.mode() & wanted == wanted;
    if policy == ChangePolicy::OnRootMismatch && matches {
        return Ok(());
    }
    walk(dir, gid, access)
}

fn walk(path: &Path, gid: u32, access: Access) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    std::os::unix::fs::lchown(path, None, Some(gid))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.mode() | mask(access, meta.is_dir());
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            walk(&entry?.path(), gid, access)?;
        }
    }
    Ok(())
}
// ANCHOR_END: set_ownership

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_is_handed_to_the_group_with_setgid_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("v");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f"), "x").unwrap();
        std::os::unix::fs::symlink("sub/f", root.join("link")).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(root.join("sub/f"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        set(&root, 2000, Access::ReadWrite, ChangePolicy::Always).unwrap();
        let meta = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
        assert_eq!((meta("").gid(), meta("").mode() & 0o7777), (2000, 0o2775));
        assert_eq!(
            (meta("sub/f").gid(), meta("sub/f").mode() & 0o7777),
            (2000, 0o660)
        );
        assert_eq!(meta("link").gid(), 2000);
        // OnRootMismatch: a root that matches is not walked again.
        std::fs::write(root.join("late"), "y").unwrap();
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(root.join("late"), private).unwrap();
        set(&root, 2000, Access::ReadOnly, ChangePolicy::OnRootMismatch).unwrap();
        assert_eq!(meta("late").mode() & 0o777, 0o600, "not walked");
        set(&root, 2000, Access::ReadOnly, ChangePolicy::Always).unwrap();
        assert_eq!(meta("late").mode() & 0o777, 0o640);
    }
}

//! The device nodes a container's `/dev` needs.
//!
//! With `/dev` a fresh tmpfs, the container sees no devices at all, and many
//! programs break without `/dev/null`. The OCI spec lists the ones a runtime
//! must provide; they are all harmless character devices (no disks). Access
//! to *other* devices is what the devices cgroup would police; orc simply
//! never creates them.

use crate::error::{Context, Result};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use std::path::Path;

/// `(name, major, minor)` of the default devices, all mode 0666.
pub const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Symlinks every Linux userland expects in `/dev`: `(link, target)`.
pub const DEFAULT_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    // With a private devpts instance (`newinstance`), /dev/ptmx must point at
    // that instance's ptmx, or ptys would be allocated on the host's devpts.
    ("ptmx", "pts/ptmx"),
];

/// Create the default devices and symlinks in `dev` (the container's `/dev`,
/// seen from the host side, before `pivot_root`).
///
/// In a user namespace `mknod` is forbidden (EPERM): even root there may not
/// mint device numbers. Then, like runc, we bind-mount the host's node over
/// an empty file instead.
pub(crate) fn create_default_devices(dev: &Path) -> Result<()> {
    for (name, major, minor) in DEFAULT_DEVICES {
        let path = dev.join(name);
        let made = mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        );
        match made {
            Ok(()) => {
                // mknod's mode is filtered by the umask; set it exactly.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
                    .context(|| format!("chmod {}", path.display()))?;
            }
            Err(nix::errno::Errno::EPERM) => {
                std::fs::File::create(&path).context(|| format!("creating {}", path.display()))?;
                let host = Path::new("/dev").join(name);
                mount(
                    Some(&host),
                    &path,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .context(|| format!("bind-mounting {} (user namespace)", host.display()))?;
            }
            Err(e) => return Err(e).context(|| format!("mknod {}", path.display())),
        }
    }
    for (link, target) in DEFAULT_SYMLINKS {
        let path = dev.join(link);
        match std::os::unix::fs::symlink(target, &path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            other => other.context(|| format!("symlink {} -> {target}", path.display()))?,
        }
    }
    Ok(())
}

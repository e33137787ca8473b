//! Building the container's view of the filesystem, then moving into it.
//!
//! Runs in the container's init, in its fresh mount namespace. The steps, in
//! order (each explained where it happens):
//!
//! 1. make every mount private, so nothing we do propagates to the host;
//! 2. bind the root filesystem onto itself (pivot_root wants a mount point);
//! 3. perform the [`mount_plan`], then create `/dev`'s nodes;
//! 4. `pivot_root` into it and detach the old root;
//!    then create `process.cwd` if the image lacks it;
//! 5. read-only paths, masked paths, and finally a read-only `/`.

use crate::cgroups::Layout;
use crate::devices;
use crate::error::{Context, Result};
use crate::mounts::{MountStep, mount_plan};
use crate::spec::Spec;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statvfs::{FsFlags, statvfs};
use std::path::{Path, PathBuf};

/// Steps 1 to 3: everything done while the host's paths are still visible
/// (bind sources, the bundle, the host's `/dev`).
pub(crate) fn prepare(spec: &Spec, bundle: &Path, rootfs: &Path) -> Result<()> {
    // ANCHOR: private
    // A new mount namespace starts with copies of the host's mounts, still
    // in the host's peer groups when they are "shared" (systemd makes `/`
    // shared). Without this, our mounts would appear on the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context(|| "making / private (mount --make-rprivate /)".into())?;
    // ANCHOR_END: private
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| format!("bind-mounting the root filesystem {}", rootfs.display()))?;

    // Validated when the bundle was loaded, so this cannot fail here.
    let plan = mount_plan(spec, Layout::of_host()).unwrap_or_default();
    for step in &plan {
        perform(step, bundle, rootfs)?;
    }
    if plan.iter().any(|s| s.destination == "/dev" && !s.is_bind()) {
        devices::create_default_devices(&rootfs.join("dev"))?;
    }
    Ok(())
}

/// Where a container path lands on the host, resolving symlinks the way
/// the *container* would see them: an absolute link target restarts from
/// the container's root, and `..` never climbs above it.
///
/// The rootfs comes from an image, which anyone can write. Resolving
/// `/var/run` with the host's rules would follow a link to `/run` onto the
/// host's `/run`, and the mount (or the directories created for it) would
/// land on the host. The result may not exist yet: components past the
/// last existing one are appended as they are.
// ANCHOR: resolve_in_root
pub fn resolve_in_root(root: &Path, path: &str) -> std::io::Result<PathBuf> {
    use std::path::Component;
    let mut resolved = PathBuf::new(); // relative to root
    let mut pending: Vec<PathBuf> = Path::new(path)
        .components()
        .rev()
        .map(|c| c.as_os_str().into())
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match Path::new(&part).components().next() {
            None | Some(Component::RootDir | Component::CurDir) => continue,
            Some(Component::ParentDir) => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.join(&part);
        let full = root.join(&candidate);
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&full)?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                pending.extend(target.components().rev().map(|c| c.as_os_str().into()));
            }
            _ => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}
// ANCHOR_END: resolve_in_root

/// Perform one planned mount.
// ANCHOR: perform
fn perform(step: &MountStep, bundle: &Path, rootfs: &Path) -> Result<()> {
    let what = || {
        format!(
            "mounting {} ({}) on {}",
            step.source, step.fstype, step.destination
        )
    };
    let source = if step.is_bind() {
        // runc resolves relative bind sources against the bundle directory.
        let src = bundle.join(&step.source);
        if !src.exists() {
            return Err(std::io::Error::from(std::io::ErrorKind::NotFound))
                .context(|| format!("bind source {} for {}", src.display(), step.destination));
        }
        Some(src)
    } else {
        None
    };
    // Create the mount point (an empty file for a file bind, else a
    // directory) at the path resolved inside the root.
    let target = resolve_in_root(rootfs, &step.destination)
        .context(|| format!("resolving {} in the root filesystem", step.destination))?;
    if !target.exists() {
        match &source {
            Some(src) if !src.is_dir() => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).context(what)?;
                }
                std::fs::File::create(&target).context(what)?;
            }
            _ => std::fs::create_dir_all(&target).context(what)?,
        }
    }

    if let Some(src) = &source {
        let first = step.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        mount(Some(src), &target, None::<&str>, first, None::<&str>).context(what)?;
        // The kernel ignores ro/nosuid/... on the initial bind: they need a
        // remount of the new bind mount.
        let rest = step.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
        if !rest.is_empty() {
            let flags = rest | MsFlags::MS_BIND | MsFlags::MS_REMOUNT | locked_flags(&target);
            mount(None::<&str>, &target, None::<&str>, flags, None::<&str>).context(what)?;
        }
    } else {
        let data = (!step.data.is_empty()).then_some(step.data.as_str());
        let done = mount(
            Some(step.source.as_str()),
            &target,
            Some(step.fstype.as_str()),
            step.flags,
            data,
        );
        match done {
            // A new sysfs instance needs a new network namespace (it shows
            // network devices). Without one, bind the host's, read-only.
            Err(nix::errno::Errno::EPERM) if step.fstype == "sysfs" => {
                let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount(Some("/sys"), &target, None::<&str>, bind, None::<&str>).context(what)?;
                remount_readonly(&target)?;
            }
            other => other.context(what)?,
        }
    }
    if let Some(prop) = step.propagation {
        mount(None::<&str>, &target, None::<&str>, prop, None::<&str>).context(what)?;
    }
    Ok(())
}
// ANCHOR_END: perform

/// The flags a remount must repeat. In a user namespace the kernel "locks"
/// nosuid/nodev/noexec/atime flags inherited from a more privileged mount and
/// refuses any remount that would clear them; asking for them again is fine.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// Remount an existing mount read-only, keeping its other flags.
fn remount_readonly(path: &Path) -> Result<()> {
    let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | locked_flags(path);
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
        .context(|| format!("remounting {} read-only", path.display()))
}

/// Step 4: make `rootfs` the root and drop every reference to the host's.
///
/// `chroot` only changes how paths resolve for one process; the old root
/// stays mounted and reachable (a classic escape: `chroot` again from a
/// directory fd opened before). `pivot_root` moves the old root to a mount
/// point *inside* the new one, where we can then unmount it: afterwards the
/// host's filesystem is simply not in this mount namespace any more.
// ANCHOR: pivot
pub(crate) fn pivot(rootfs: &Path) -> Result<()> {
    std::env::set_current_dir(rootfs).context(|| format!("chdir {}", rootfs.display()))?;
    // pivot_root(".", ".") stacks the old root on top of the new one at "/"
    // (no put_old directory needed, see pivot_root(2) NOTES)...
    nix::unistd::pivot_root(".", ".")
        .context(|| format!("pivot_root into {}", rootfs.display()))?;
    // ...and unmounting "." then removes the old root, lazily, since our own
    // cwd is still in it until we chdir.
    umount2(".", MntFlags::MNT_DETACH).context(|| "detaching the old root".into())?;
    std::env::set_current_dir("/").context(|| "chdir /".into())?;
    Ok(())
}
// ANCHOR_END: pivot

/// Between steps 4 and 5: create `process.cwd` when the image lacks it.
///
/// runc and crun both do this (runc since PR 1604, crun since PR 914), so a
/// Kubernetes pod whose `workingDir` is not in its image runs: the kubelet
/// passes `workingDir` through as `cwd` and expects the runtime to make it.
/// As in runc, the directories are made by the init while it is still the
/// container's root, before the user switch and before `/` turns
/// read-only: they belong to uid 0 and gid 0 *of the container* (its user
/// namespace's root when there is one), with mode 0755 whatever the umask.
///
/// We are already inside the new root, so no path can lead back to the
/// host; [`resolve_in_root`] still does the walk, so the error can name the
/// component in the way when one is a file (the container then fails at
/// `create`, as with runc).
// ANCHOR: create_cwd
pub(crate) fn create_cwd(cwd: &str) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let target = resolve_in_root(Path::new("/"), cwd)
        .context(|| format!("process.cwd {cwd}: resolving it in the root filesystem"))?;
    // Walk up to the deepest directory that exists; everything below it is
    // ours to create.
    let mut missing = Vec::new();
    let mut at = target.as_path();
    loop {
        match std::fs::metadata(at) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                let in_the_way = at.display().to_string();
                return Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)).context(|| {
                    format!(
                        "process.cwd {cwd}: {in_the_way} exists in the root filesystem and is \
                         not a directory (a missing cwd is created, but not over a file)"
                    )
                });
            }
            // ENOTDIR: a file higher up; the walk will reach it.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                missing.push(at);
                // `target` is absolute, so "/" (which exists) ends the walk.
                at = at.parent().unwrap_or(Path::new("/"));
            }
            Err(e) => return Err(e).context(|| format!("process.cwd {cwd}: {}", at.display())),
        }
    }
    for dir in missing.into_iter().rev() {
        let creating = || format!("process.cwd {cwd}: creating {}", dir.display());
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(dir)
            .context(creating)?;
        // The umask may have taken bits off; runc's directories are 0755.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).context(creating)?;
    }
    Ok(())
}
// ANCHOR_END: create_cwd

/// Step 5, after `pivot_root`: protect, hide, and freeze the root.
pub(crate) fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux_or_default();
    // Read-only paths first, then masks, in runc's order: a mask inside a
    // read-only tree (e.g. under /proc/sys) still lands on top.
    for path in &linux.readonly_paths {
        let p = Path::new(path);
        if !p.exists() {
            continue;
        }
        let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(Some(p), p, None::<&str>, bind, None::<&str>)
            .context(|| format!("binding {path}"))?;
        remount_readonly(p)?;
    }
    for path in &linux.masked_paths {
        let p = Path::new(path);
        // Paths absent from this kernel (e.g. /proc/timer_stats) are skipped.
        let Ok(meta) = std::fs::metadata(p) else {
            continue;
        };
        if meta.is_dir() {
            let ro = MsFlags::MS_RDONLY;
            mount(Some("tmpfs"), p, Some("tmpfs"), ro, None::<&str>)
                .context(|| format!("masking directory {path}"))?;
        } else {
            mount(
                Some("/dev/null"),
                p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .context(|| format!("masking {path} (is /dev/null mounted?)"))?;
        }
    }
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        remount_readonly(Path::new("/"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("run")).unwrap();
        std::fs::create_dir_all(root.join("var")).unwrap();
        symlink("/run", root.join("var/run")).unwrap();
        symlink("../../../../etc", root.join("var/up")).unwrap();
        symlink("loop", root.join("loop")).unwrap();

        let r = |p: &str| resolve_in_root(root, p).unwrap();
        assert_eq!(r("/var/run/app.sock"), root.join("run/app.sock"));
        assert_eq!(r("/var/up/passwd"), root.join("etc/passwd"));
        assert_eq!(r("/../../tmp/./x"), root.join("tmp/x"));
        let err = resolve_in_root(root, "/loop/x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }
}

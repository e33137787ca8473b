//! What a node leaves when its agent could not drain it: containers still
//! in the runtime's state, mounts under the node's state directory, and
//! its cgroups. `orc down` removes them after the agents stop, so that the
//! machine is left as found and the next `orc up` does not meet a
//! container that "already exists".
//!
//! A drain normally leaves nothing: this is the net under it (an agent
//! killed after its grace period, a pod stuck in stopping).

use std::path::{Path, PathBuf};

use orc_container::Runtime;
use orc_pod::agent::layout::StateLayout;

/// Removes node `state_dir`'s containers, mounts and the cgroup
/// `cgroup_root`; answers what it removed, one line each.
pub fn remove(state_dir: &Path, cgroup_root: &str) -> Vec<String> {
    let mut removed = vec![];
    let runtime = Runtime::new(StateLayout::new(state_dir).runtime_root());
    for container in runtime.list().unwrap_or_default() {
        match runtime.delete(&container.id, true) {
            Ok(()) => removed.push(format!("container {}", container.id)),
            Err(e) => eprintln!("warning: container {}: {e}", container.id),
        }
    }
    for mount in mounts_under(state_dir) {
        match nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => removed.push(format!("mount {}", mount.display())),
            Err(e) => eprintln!("warning: unmounting {}: {e}", mount.display()),
        }
    }
    // v2: /sys/fs/cgroup/<root>; v1: the same under each controller's
    // hierarchy, /sys/fs/cgroup/<controller>/<root>.
    let base = Path::new("/sys/fs/cgroup");
    let hierarchies = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    for hierarchy in std::iter::once(base.to_path_buf()).chain(hierarchies) {
        let dir = hierarchy.join(cgroup_root);
        if dir.is_dir() {
            remove_tree(&dir);
            removed.push(format!("cgroup {}", dir.display()));
        }
    }
    removed
}

/// Mount points under `dir`, deepest first, so none is unmounted from
/// under another.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| line.split(' ').nth(1))
        .map(PathBuf::from)
        .filter(|point| point.starts_with(dir))
        .collect();
    mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    mounts.dedup();
    mounts
}

/// A cgroup directory holds only the kernel's files: its children go
/// first, then `rmdir`.
fn remove_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            remove_tree(&entry.path());
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("warning: removing the cgroup {}: {e}", dir.display());
    }
}

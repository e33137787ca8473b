//! Namespaces: which the container gets, and how it gets them.
//!
//! A namespace wraps one global resource so that a process sees its own
//! copy: process ids (pid), the mount table (mount), hostname (uts), SysV IPC
//! (ipc), network stack (network), the cgroup root (cgroup), and uids/gids
//! (user). There are three ways in, all used by orc:
//!
//! - `clone(2)` with `CLONE_NEW*` flags creates them together with the child
//!   ([`clone_flags`]). The pid namespace *must* be created this way (or
//!   by `unshare` followed by a fork): the calling process never moves into
//!   a new pid namespace, only its children do.
//! - `unshare(2)` moves the caller into new ones. orc uses it for the cgroup
//!   namespace, which must be created *after* the process joined its cgroup,
//!   so that the container sees its own cgroup as `/`.
//! - `setns(2)` joins an existing one through a `/proc/PID/ns/*` file or a
//!   bind mount of one (`linux.namespaces[].path`, and `exec`).

use crate::error::{Context, Result};
use crate::spec::{IdMapping, Linux, NamespaceType};
use nix::sched::CloneFlags;

/// The `clone(2)` flag for a namespace type.
pub fn flag(kind: NamespaceType) -> CloneFlags {
    match kind {
        NamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        NamespaceType::Network => CloneFlags::CLONE_NEWNET,
        NamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        NamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        NamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        NamespaceType::User => CloneFlags::CLONE_NEWUSER,
        NamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
    }
}

/// The file name under `/proc/PID/ns/` for a namespace type.
pub fn proc_name(kind: NamespaceType) -> &'static str {
    match kind {
        NamespaceType::Pid => "pid",
        NamespaceType::Network => "net",
        NamespaceType::Mount => "mnt",
        NamespaceType::Ipc => "ipc",
        NamespaceType::Uts => "uts",
        NamespaceType::User => "user",
        NamespaceType::Cgroup => "cgroup",
    }
}

/// The namespaces to create at `clone(2)`: every listed type without a
/// `path`, except cgroup (created later by the init, see the module doc).
// ANCHOR: clone_flags
pub fn clone_flags(linux: &Linux) -> CloneFlags {
    linux
        .namespaces
        .iter()
        .filter(|ns| ns.path.is_none() && ns.kind != NamespaceType::Cgroup)
        .fold(CloneFlags::empty(), |flags, ns| flags | flag(ns.kind))
}
// ANCHOR_END: clone_flags

/// In the init: join every namespace the config gives a path for.
pub(crate) fn join_configured(linux: &Linux) -> Result<()> {
    for ns in &linux.namespaces {
        if let Some(path) = &ns.path {
            let file = std::fs::File::open(path)
                .context(|| format!("opening {} namespace {path}", proc_name(ns.kind)))?;
            nix::sched::setns(&file, flag(ns.kind))
                .context(|| format!("joining {} namespace {path}", proc_name(ns.kind)))?;
        }
    }
    Ok(())
}

/// The text written to `/proc/PID/uid_map` (or `gid_map`): one
/// `inside outside count` line per mapping.
// ANCHOR: id_map
pub fn id_map_text(mappings: &[IdMapping]) -> String {
    mappings
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}
// ANCHOR_END: id_map

/// From the parent: write the child's id maps. Only a process outside the
/// new user namespace (with CAP_SETUID over it) can map arbitrary ranges,
/// which is why the parent does this and the child waits for it.
pub(crate) fn write_id_maps(pid: i32, linux: &Linux) -> Result<()> {
    for (file, maps) in [
        ("uid_map", &linux.uid_mappings),
        ("gid_map", &linux.gid_mappings),
    ] {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, id_map_text(maps)).context(|| format!("writing {path}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Namespace;

    #[test]
    fn cgroup_and_joined_namespaces_are_not_cloned() {
        let linux = Linux {
            namespaces: vec![
                Namespace {
                    kind: NamespaceType::Pid,
                    path: None,
                },
                Namespace {
                    kind: NamespaceType::Network,
                    path: Some("/var/run/netns/x".into()),
                },
                Namespace {
                    kind: NamespaceType::Cgroup,
                    path: None,
                },
                Namespace {
                    kind: NamespaceType::Mount,
                    path: None,
                },
            ],
            ..Linux::default()
        };
        assert_eq!(
            clone_flags(&linux),
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS
        );
        let maps = [IdMapping {
            container_id: 0,
            host_id: 100000,
            size: 65536,
        }];
        assert_eq!(id_map_text(&maps), "0 100000 65536\n");
    }
}

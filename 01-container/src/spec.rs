//! The OCI runtime-spec `config.json`: the subset orc implements.
//!
//! A bundle is a directory holding `config.json` and a root filesystem. The
//! types here mirror the [runtime-spec] field for field, with the JSON names
//! (`camelCase`) the spec uses, so a bundle written for runc loads unchanged.
//!
//! Two deliberate choices:
//!
//! - **Unknown fields are accepted.** The spec grows (hooks, `vm`, `windows`,
//!   `linux.intelRdt`...); a runtime that refused every bundle mentioning a
//!   field it ignores would be useless. serde ignores unknown fields unless
//!   told otherwise, and we do not tell it otherwise.
//! - **Everything optional is `Option` or defaults to empty**, so that the
//!   minimal `{"ociVersion": "1.0.2", "process": {...}, "root": {...}}` works.
//!
//! [runtime-spec]: https://github.com/opencontainers/runtime-spec/blob/main/config.md

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole `config.json`.
// ANCHOR: spec
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// The spec version the bundle was written against. orc records it in
    /// `state` but does not refuse other versions: 1.0.x and 1.1.x share the
    /// subset orc implements.
    pub oci_version: String,
    /// The process to run. Required for `create`.
    pub process: Option<Process>,
    /// The root filesystem, relative to the bundle directory.
    pub root: Option<Root>,
    /// The hostname seen inside a new UTS namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Mounts performed, in this order, inside the new mount namespace.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Everything Linux-specific: namespaces, cgroups, masking, seccomp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
    /// Free-form metadata, echoed back by `state`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}
// ANCHOR_END: spec

/// The container's process: what to run, as whom, with which privileges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    /// orc passes stdio through and has no console support: `true` is refused
    /// with an explanation rather than silently ignored.
    #[serde(default)]
    pub terminal: bool,
    /// The numeric identity the process runs as (inside the user namespace,
    /// if there is one).
    #[serde(default)]
    pub user: User,
    /// `argv`. `args[0]` is looked up in the container's `PATH` like a shell
    /// would, because that is what runc does and what image configs expect.
    pub args: Vec<String>,
    /// `KEY=value` strings; the process gets exactly these, nothing inherited.
    #[serde(default)]
    pub env: Vec<String>,
    /// Working directory inside the container; must be absolute.
    #[serde(default = "default_cwd")]
    pub cwd: String,
    /// The five capability sets. Absent means "no capabilities at all".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
    /// Resource limits applied with `setrlimit(2)` before exec.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// Sets `PR_SET_NO_NEW_PRIVS`: setuid binaries and file capabilities stop
    /// granting privileges, and seccomp can be loaded without CAP_SYS_ADMIN.
    #[serde(default)]
    pub no_new_privileges: bool,
}

fn default_cwd() -> String {
    "/".to_string()
}

/// The user the process runs as. Numeric only: resolving names would mean
/// reading the container's `/etc/passwd`, which is the image tooling's job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, set with `setgroups(2)`. Empty means none: the
    /// host's groups must never leak into the container.
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

/// Capability names per set, like `"CAP_NET_BIND_SERVICE"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub bounding: Vec<String>,
    #[serde(default)]
    pub effective: Vec<String>,
    #[serde(default)]
    pub inheritable: Vec<String>,
    #[serde(default)]
    pub permitted: Vec<String>,
    #[serde(default)]
    pub ambient: Vec<String>,
}

/// One `setrlimit(2)` call, e.g. `{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

/// The root filesystem.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Root {
    /// Relative to the bundle directory, or absolute.
    pub path: String,
    /// Remount `/` read-only after every other mount is in place.
    #[serde(default)]
    pub readonly: bool,
}

/// One mount. `type` and `source` are optional because a bind mount needs
/// neither a filesystem type nor (for the kernel) anything but a path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    /// Absolute path inside the container.
    pub destination: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// fstab-style options: flags (`ro`, `nosuid`, `bind`...) and data
    /// (`mode=755`, `size=65536k`), told apart by [`crate::mounts`].
    #[serde(default)]
    pub options: Vec<String>,
}

/// The `linux` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    /// Namespaces to create (no `path`) or join (`path`). A type missing here
    /// is shared with the runtime's own namespace, as the spec says.
    #[serde(default)]
    pub namespaces: Vec<Namespace>,
    /// Only meaningful with a user namespace.
    #[serde(default)]
    pub uid_mappings: Vec<IdMapping>,
    #[serde(default)]
    pub gid_mappings: Vec<IdMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Where the container's cgroup lives; orc picks `/orc/<id>` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    /// Paths made unreadable: `/dev/null` bound over files, an empty
    /// read-only tmpfs over directories (e.g. `/proc/kcore`).
    #[serde(default)]
    pub masked_paths: Vec<String>,
    /// Paths remounted read-only (e.g. `/proc/sys`).
    #[serde(default)]
    pub readonly_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<Seccomp>,
}

/// A namespace to create or join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    #[serde(rename = "type")]
    pub kind: NamespaceType,
    /// Join the namespace at this path (e.g. `/var/run/netns/pod1`) instead
    /// of creating one: this is how a pod's containers share a network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The seven namespace types of the runtime-spec (time is not in it yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceType {
    Pid,
    Network,
    Mount,
    Ipc,
    Uts,
    User,
    Cgroup,
}

/// `containerID..containerID+size` maps to `hostID..hostID+size`: one line
/// of `/proc/PID/uid_map`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

/// The cgroup limits orc implements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryLimits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuLimits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<PidsLimit>,
    /// cgroup v2 files to write as given, file name → value (OCI's
    /// `unified`), after the limits above: the way to set what has no field
    /// of its own, such as `memory.oom.group`. Refused on a v1 host.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unified: BTreeMap<String, String>,
}

/// Memory in bytes. The spec's `swap` is memory *plus* swap, as in cgroup
/// v1's `memory.memsw.limit_in_bytes`; `-1` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
}

/// CPU bandwidth (`quota` microseconds per `period`) and relative weight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuLimits {
    /// cgroup v1 shares (2..262144, default 1024). v2 has `cpu.weight`
    /// instead; see [`crate::cgroups::shares_to_weight`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
}

/// Maximum number of tasks; `0` or negative means unlimited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PidsLimit {
    pub limit: i64,
}

/// A seccomp profile: a default action and per-syscall exceptions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seccomp {
    pub default_action: SeccompAction,
    /// errno returned by a default action of `SCMP_ACT_ERRNO` (EPERM if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Must include x86_64 (or be empty); other architectures are refused by
    /// the filter itself.
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
}

/// One rule: these syscalls get this action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    pub names: Vec<String>,
    pub action: SeccompAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument filters. orc's compiler does not implement them and refuses
    /// rules that have any, rather than silently widening the filter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<serde_json::Value>,
}

/// What the kernel does when a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompAction {
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_KILL", alias = "SCMP_ACT_KILL_THREAD")]
    Kill,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
}

impl Spec {
    /// The spec `runc spec` writes, minus the cgroup mount, plus orc's
    /// default seccomp profile: a good default for a bundle around a root
    /// filesystem, and what orc's tests start from.
    pub fn example(args: &[&str]) -> Spec {
        let mount = |dest: &str, kind: &str, source: &str, options: &[&str]| Mount {
            destination: dest.into(),
            kind: Some(kind.into()),
            source: Some(source.into()),
            options: options.iter().map(|o| o.to_string()).collect(),
        };
        let caps: Vec<String> = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let ns = |kind| Namespace { kind, path: None };
        Spec {
            oci_version: "1.0.2".into(),
            process: Some(Process {
                args: args.iter().map(|a| a.to_string()).collect(),
                env: vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                    "TERM=xterm".into(),
                ],
                cwd: "/".into(),
                capabilities: Some(Capabilities {
                    bounding: caps.clone(),
                    effective: caps.clone(),
                    permitted: caps.clone(),
                    ambient: caps.clone(),
                    inheritable: vec![],
                }),
                rlimits: vec![Rlimit {
                    kind: "RLIMIT_NOFILE".into(),
                    hard: 1024,
                    soft: 1024,
                }],
                no_new_privileges: true,
                ..Process::default()
            }),
            root: Some(Root {
                path: "rootfs".into(),
                readonly: true,
            }),
            hostname: Some("orc".into()),
            mounts: vec![
                mount("/proc", "proc", "proc", &[]),
                mount(
                    "/dev",
                    "tmpfs",
                    "tmpfs",
                    &["nosuid", "strictatime", "mode=755", "size=65536k"],
                ),
                mount(
                    "/dev/pts",
                    "devpts",
                    "devpts",
                    &[
                        "nosuid",
                        "noexec",
                        "newinstance",
                        "ptmxmode=0666",
                        "mode=0620",
                        "gid=5",
                    ],
                ),
                mount(
                    "/dev/shm",
                    "tmpfs",
                    "shm",
                    &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
                ),
                mount(
                    "/dev/mqueue",
                    "mqueue",
                    "mqueue",
                    &["nosuid", "noexec", "nodev"],
                ),
                mount(
                    "/sys",
                    "sysfs",
                    "sysfs",
                    &["nosuid", "noexec", "nodev", "ro"],
                ),
            ],
            linux: Some(Linux {
                namespaces: vec![
                    ns(NamespaceType::Pid),
                    ns(NamespaceType::Network),
                    ns(NamespaceType::Ipc),
                    ns(NamespaceType::Uts),
                    ns(NamespaceType::Mount),
                    ns(NamespaceType::Cgroup),
                ],
                masked_paths: [
                    "/proc/acpi",
                    "/proc/asound",
                    "/proc/kcore",
                    "/proc/keys",
                    "/proc/latency_stats",
                    "/proc/timer_list",
                    "/proc/timer_stats",
                    "/proc/sched_debug",
                    "/sys/firmware",
                    "/proc/scsi",
                ]
                .iter()
                .map(|p| p.to_string())
                .collect(),
                readonly_paths: [
                    "/proc/bus",
                    "/proc/fs",
                    "/proc/irq",
                    "/proc/sys",
                    "/proc/sysrq-trigger",
                ]
                .iter()
                .map(|p| p.to_string())
                .collect(),
                seccomp: Some(crate::seccomp::default_profile()),
                ..Linux::default()
            }),
            annotations: BTreeMap::new(),
        }
    }

    /// The `linux` section, or an empty one: "no `linux`" and "`linux: {}`"
    /// mean the same thing, so callers never have to tell them apart.
    pub fn linux_or_default(&self) -> Linux {
        self.linux.clone().unwrap_or_default()
    }
}

impl Linux {
    /// The entry for a namespace type, if the config lists it.
    pub fn namespace(&self, kind: NamespaceType) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.kind == kind)
    }
}

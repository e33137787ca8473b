//! cgroups: limits and accounting for the container's processes.
//!
//! A cgroup is a directory in a special filesystem; a process belongs to it
//! once its pid is written to `cgroup.procs`, and the controller files in the
//! directory (`memory.limit_in_bytes`, `pids.max`...) apply to every process
//! in it, and to their children, which are born inside.
//!
//! Two incompatible layouts exist, and orc speaks both through [`Cgroup`]:
//!
//! - **v1** ([`v1`]): one hierarchy per controller,
//!   `/sys/fs/cgroup/memory/orc/ID`, `/sys/fs/cgroup/pids/orc/ID`...
//!   A container has a directory in each.
//! - **v2** ([`v2`]): one unified hierarchy, `/sys/fs/cgroup/orc/ID`, with
//!   controllers switched on for children via `cgroup.subtree_control`, and
//!   different file names and units (`memory.max`, `cpu.weight`).
//!
//! Both backends take the cgroup filesystem's root as a parameter, so the v2
//! backend is unit-tested against a fake tree in a temp dir on this cgroup v1
//! machine.

pub mod v1;
pub mod v2;

use crate::error::{Error, Result};
use crate::spec::Resources;
use std::path::{Path, PathBuf};

/// What the runtime reads back from a cgroup, for `state` and for later
/// chapters' metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CgroupStats {
    pub memory_usage_bytes: u64,
    #[serde(default)]
    /// Memory the processes would miss at once if the kernel reclaimed
    /// what it easily can: the usage less the page cache on the inactive
    /// file list ([`working_set`]). What `kubectl top` shows as MEMORY, and
    /// what the kubelet evicts on.
    pub memory_working_set_bytes: u64,
    /// Total CPU time of all processes, in nanoseconds.
    pub cpu_usage_ns: u64,
    /// How many times the kernel's OOM killer killed a process here.
    pub oom_kills: u64,
    pub pids: u64,
}

// ANCHOR: working_set
/// The working set of a cgroup, as cAdvisor computes it for the kubelet
/// (and so for `kubectl top`): memory usage less `inactive_file`, the page
/// cache the kernel has not touched lately and would reclaim first. Page
/// cache counts in a cgroup's usage, so a container that once read a big
/// file would look big without this; clamped at zero, because the two
/// counters are read one after the other and may disagree for a moment.
pub fn working_set(usage_bytes: u64, inactive_file_bytes: u64) -> u64 {
    usage_bytes.saturating_sub(inactive_file_bytes)
}
// ANCHOR_END: working_set

/// One container's cgroup, whichever the layout.
// ANCHOR: cgroup_trait
pub trait Cgroup {
    /// Create the directories (and on v2, enable controllers on the way).
    fn create(&self) -> Result<()>;
    /// Write the limits from the config.
    fn apply(&self, resources: &Resources) -> Result<()>;
    /// Move a process in. Its future children are born inside.
    fn add_process(&self, pid: i32) -> Result<()>;
    /// Read usage counters. Missing files read as zero.
    fn stats(&self) -> CgroupStats;
    /// Pids of the processes inside.
    fn processes(&self) -> Vec<i32>;
    /// Remove the directories. Fails while processes are inside (EBUSY).
    fn remove(&self) -> Result<()>;
}
// ANCHOR_END: cgroup_trait

/// The cgroup filesystem of this host.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How a host lays out its cgroup filesystem. It decides the backend, and
/// what a `cgroup` mount in a container's config becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One hierarchy per controller (and, on "hybrid" hosts, a controller-less
    /// cgroup2 at `/sys/fs/cgroup/unified` beside them).
    V1,
    /// The unified hierarchy alone: what every recent distribution boots.
    V2,
}

impl Layout {
    /// The layout of the hierarchy mounted at `root`: only a cgroup2 root
    /// has `cgroup.controllers`.
    pub fn at(root: &Path) -> Layout {
        if root.join("cgroup.controllers").exists() {
            Layout::V2
        } else {
            Layout::V1
        }
    }

    /// This host's layout, from `/sys/fs/cgroup`.
    pub fn of_host() -> Layout {
        Layout::at(Path::new(CGROUP_ROOT))
    }
}

/// Why no container cgroup can be made under `root`, or `None` when a
/// cgroup filesystem is mounted there: a cgroup2 root (v2), or the tmpfs
/// that holds v1's hierarchies, one per controller. What else turns up at
/// `/sys/fs/cgroup` is the bare directory of a sysfs mounted afresh over
/// `/sys` without the cgroup mount beneath it, and that is exactly what
/// `ip netns exec` does (it remounts `/sys` so the namespace's own devices
/// show). Every later error would then be a puzzling "No such file or
/// directory" on some cgroup file; this one names the cause.
pub fn not_mounted(root: &Path) -> Option<String> {
    use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, SYSFS_MAGIC, TMPFS_MAGIC, statfs};
    let found = match statfs(root) {
        Ok(fs) if fs.filesystem_type() == CGROUP2_SUPER_MAGIC => return None,
        // v1: a tmpfs of hierarchies; a tmpfs with none is no cgroup mount.
        Ok(fs) if fs.filesystem_type() == TMPFS_MAGIC => {
            if root.join("memory").is_dir() || root.join("cpu").is_dir() {
                return None;
            }
            "a tmpfs with no cgroup hierarchies in it".to_string()
        }
        Ok(fs) if fs.filesystem_type() == SYSFS_MAGIC => {
            "only the directory sysfs provides, nothing mounted on it".to_string()
        }
        Ok(fs) => format!("a filesystem of type {:#x}", fs.filesystem_type().0),
        Err(e) => format!("{e}"),
    };
    Some(format!(
        "no cgroup filesystem at {} ({found}): every container needs one. If this runs \
         under `ip netns exec`, which mounts a fresh /sys without the cgroup mount, enter \
         the namespace with `nsenter --net=/run/netns/NAME` instead; otherwise mount it \
         (`mount -t cgroup2 cgroup2 {}`)",
        root.display(),
        root.display()
    ))
}

/// Open the container cgroup at `path` (e.g. `/orc/web`) on this host,
/// with the backend for its [`Layout`].
pub fn open(path: &str) -> Box<dyn Cgroup> {
    let root = Path::new(CGROUP_ROOT);
    match Layout::at(root) {
        Layout::V2 => Box::new(v2::CgroupV2::new(root, path)),
        Layout::V1 => Box::new(v1::CgroupV1::new(root, path)),
    }
}

/// The cgroup path for a container: the config's `cgroupsPath`, or
/// `/orc/ID`. Relative paths are taken from the hierarchy root as well,
/// which is what runc does when it is not under systemd.
pub fn container_path(cgroups_path: Option<&str>, id: &str) -> String {
    match cgroups_path {
        Some(p) if !p.is_empty() => format!("/{}", p.trim_start_matches('/')),
        _ => format!("/orc/{id}"),
    }
}

/// Convert v1 `cpu.shares` (2..=262144, default 1024) to v2 `cpu.weight`
/// (1..=10000, default 100).
///
/// The conversion Kubernetes asked the runtimes for in 2025, and runc
/// (1.3.2 and 1.4) and crun (1.23) write: a curve through both ranges on a
/// log scale. With `l = log2(shares)` (1 at the bottom of the range, 10 at
/// v1's default, 18 at the top), `weight = ⌈10^((l² + 125·l) / 612 − 7/34)⌉`:
/// the exponent is a parabola in `l` worth 0, 2 and 4 there, so 2 shares
/// become 1, 1024 (v1's default) become 100 (v2's default) and 262144
/// become 10000. The older linear map (`1 + (shares − 2) · 9999 / 262142`,
/// runc before 1.3.2, crun before 1.23) gave the v1 default only 39, less
/// than any process outside a container, and squeezed small requests
/// (100m of CPU, 102 shares) to a weight of 4.
// ANCHOR: shares_to_weight
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0, // "not set": leave the default alone
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}
// ANCHOR_END: shares_to_weight

/// Write one cgroup file. `O_TRUNC` on a cgroup file is harmless, and the
/// `create` flag only matters for fake trees in tests.
pub(crate) fn write_file(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|source| Error::Cgroup {
            path: path.to_path_buf(),
            source,
        })
}

/// Read a file holding a single number (missing or garbled: 0).
pub(crate) fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Read `key value` lines (memory.events, cpu.stat, memory.oom_control).
pub(crate) fn read_keyed(path: &Path, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Read `cgroup.procs`.
pub(crate) fn read_procs(path: &Path) -> Vec<i32> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// `rmdir` a cgroup directory, retrying briefly: right after the last
/// process exits the kernel may still report EBUSY for a moment.
pub(crate) fn remove_dir(dir: &PathBuf) -> Result<()> {
    for attempt in 0..50 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 49 => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(source) => {
                return Err(Error::Cgroup {
                    path: dir.clone(),
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_cgroup_mount_is_found_and_a_bare_sysfs_is_named() {
        // The host's own: a cgroup2 root or v1's tmpfs of hierarchies.
        assert_eq!(not_mounted(Path::new(CGROUP_ROOT)), None);
        // What `ip netns exec` leaves at /sys/fs/cgroup: a directory of
        // sysfs, the same filesystem as /sys itself.
        let why = not_mounted(Path::new("/sys")).expect("sysfs is no cgroup mount");
        assert!(why.contains("only the directory sysfs provides"), "{why}");
        assert!(why.contains("nsenter --net="), "{why}");
        // Anything else is named by its type.
        let why = not_mounted(Path::new("/proc")).expect("procfs is no cgroup mount");
        assert!(why.contains("type 0x9fa0"), "{why}");
    }

    #[test]
    fn shares_map_onto_weights() {
        // The ends of both ranges, and the defaults, meet.
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(262_144), 10_000);
        // Values runc 1.3.2 / 1.4 write for the same shares.
        assert_eq!(shares_to_weight(2000), 170);
        assert_eq!(shares_to_weight(22_000), 1204);
        // Kubernetes' requests: 250m is 256 shares, 500m is 512.
        assert_eq!(shares_to_weight(256), 35);
        assert_eq!(shares_to_weight(512), 59);
        // Out of range: clamped; zero: not set.
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(3), 2);
        assert_eq!(shares_to_weight(262_143), 10_000);
        assert_eq!(shares_to_weight(1 << 20), 10_000);
        assert_eq!(shares_to_weight(0), 0);
        // Monotonic over the whole range: more shares never less weight.
        let weights: Vec<u64> = (2..=262_144).map(shares_to_weight).collect();
        assert!(weights.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn default_path_is_under_orc() {
        assert_eq!(container_path(None, "web"), "/orc/web");
        assert_eq!(container_path(Some("pods/a"), "web"), "/pods/a");
        assert_eq!(container_path(Some("/pods/a"), "web"), "/pods/a");
    }

    #[test]
    fn working_set_leaves_out_inactive_page_cache() {
        // 100 MiB used, 30 MiB of it cache nobody touched lately: 70 MiB.
        assert_eq!(working_set(100 << 20, 30 << 20), 70 << 20);
        // Read apart, the counters can cross: never below zero.
        assert_eq!(working_set(4096, 8192), 0);
        assert_eq!(working_set(4096, 0), 4096);
    }
}

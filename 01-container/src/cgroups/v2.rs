//! cgroup v2: one unified hierarchy.
//!
//! Differences from v1 that shape this file:
//! - a controller works in a cgroup only if its parent lists it in
//!   `cgroup.subtree_control`, so creating `/orc/web` means enabling
//!   controllers in `/` and `/orc` first;
//! - processes may live only in leaves (the "no internal processes" rule),
//!   so the container's cgroup has no children of its own, and a
//!   `cgroupsPath` below another container's cgroup is refused, saying so;
//! - new names and units: `memory.max`, `memory.swap.max` (swap *alone*,
//!   where OCI's `swap` is memory+swap), `cpu.max` ("quota period"),
//!   `cpu.weight` (1..10000) instead of `cpu.shares`.

use super::{
    Cgroup, CgroupStats, read_keyed, read_procs, read_u64, remove_dir, shares_to_weight,
    working_set, write_file,
};
use crate::error::{Error, Result};
use crate::spec::Resources;
use std::path::{Path, PathBuf};

/// The controllers orc enables for its cgroups.
pub const CONTROLLERS: &[&str] = &["cpu", "memory", "pids"];

/// The default CFS period, used when the config gives a quota alone.
const DEFAULT_PERIOD: u64 = 100_000;

/// A container's cgroup on a v2 host.
#[derive(Debug, Clone)]
pub struct CgroupV2 {
    /// The unified hierarchy's mount point (`/sys/fs/cgroup`, or a fake tree).
    root: PathBuf,
    /// The cgroup path, without the leading `/`.
    path: String,
}

fn max_or(value: i64) -> String {
    if value < 0 {
        "max".into()
    } else {
        value.to_string()
    }
}

/// The files and values that express `resources` on cgroup v2: `(file, value)`.
// ANCHOR: v2_limit_files
pub fn limit_files(r: &Resources) -> Vec<(&'static str, String)> {
    let mut files = Vec::new();
    if let Some(m) = &r.memory {
        if let Some(limit) = m.limit {
            files.push(("memory.max", max_or(limit)));
        }
        if let Some(swap) = m.swap {
            let swap_only = match m.limit {
                _ if swap < 0 => "max".to_string(),
                Some(limit) if limit >= 0 => (swap - limit).max(0).to_string(),
                _ => swap.to_string(),
            };
            files.push(("memory.swap.max", swap_only));
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(shares) = c.shares {
            files.push(("cpu.weight", shares_to_weight(shares).to_string()));
        }
        if c.quota.is_some() || c.period.is_some() {
            let period = c.period.unwrap_or(DEFAULT_PERIOD);
            let quota = c.quota.map(max_or).unwrap_or_else(|| "max".into());
            files.push(("cpu.max", format!("{quota} {period}")));
        }
    }
    if let Some(p) = &r.pids {
        let max = if p.limit > 0 {
            p.limit.to_string()
        } else {
            "max".into()
        };
        files.push(("pids.max", max));
    }
    files
}
// ANCHOR_END: v2_limit_files

impl CgroupV2 {
    pub fn new(root: &Path, path: &str) -> CgroupV2 {
        CgroupV2 {
            root: root.to_path_buf(),
            path: path.trim_start_matches('/').to_string(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(&self.path)
    }

    /// The controllers the root offers, among those orc wants. A fake tree
    /// without `cgroup.controllers` offers them all.
    fn available(&self) -> Vec<&'static str> {
        match std::fs::read_to_string(self.root.join("cgroup.controllers")) {
            Ok(s) => CONTROLLERS
                .iter()
                .copied()
                .filter(|c| s.split_whitespace().any(|a| a == *c))
                .collect(),
            Err(_) => CONTROLLERS.to_vec(),
        }
    }
}

impl Cgroup for CgroupV2 {
    fn create(&self) -> Result<()> {
        let enable: String = self
            .available()
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(" ");
        // Enable controllers in every ancestor, top down, then make the leaf.
        let mut dir = self.root.clone();
        for part in self.path.split('/').filter(|p| !p.is_empty()) {
            if !enable.is_empty() {
                enable_for_children(&dir, &enable)?;
            }
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::Cgroup {
                        path: dir,
                        source: e,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        write_limits(&self.root, &self.path, resources).map(|_| ())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        write_file(&self.dir().join("cgroup.procs"), &pid.to_string())
    }

    fn stats(&self) -> CgroupStats {
        let dir = self.dir();
        let usage = read_u64(&dir.join("memory.current"));
        // v2's memory.stat is hierarchical already: `inactive_file`.
        let inactive = read_keyed(&dir.join("memory.stat"), "inactive_file");
        CgroupStats {
            memory_usage_bytes: usage,
            memory_working_set_bytes: working_set(usage, inactive),
            cpu_usage_ns: read_keyed(&dir.join("cpu.stat"), "usage_usec") * 1000,
            oom_kills: read_keyed(&dir.join("memory.events"), "oom_kill"),
            pids: read_u64(&dir.join("pids.current")),
        }
    }

    fn processes(&self) -> Vec<i32> {
        read_procs(&self.dir().join("cgroup.procs"))
    }

    fn remove(&self) -> Result<()> {
        remove_dir(&self.dir())
    }
}

/// Enable controllers (`+cpu +memory +pids`) for the children of `dir`.
///
/// The kernel refuses (EBUSY) when `dir` holds processes of its own: v2's
/// "no internal processes" rule lets only leaves hold processes once
/// controllers are handed down. Said plainly, since the cause is the
/// config's `cgroupsPath`.
fn enable_for_children(dir: &Path, enable: &str) -> Result<()> {
    let file = dir.join("cgroup.subtree_control");
    write_file(&file, enable).map_err(|e| match e {
        Error::Cgroup { source, .. } if source.raw_os_error() == Some(libc::EBUSY) => Error::Io {
            context: format!(
                "enabling {enable} in {}: the cgroup holds processes, and cgroup v2 \
                 allows no internal processes (only a leaf may hold processes); \
                 choose a cgroupsPath whose parents hold none",
                file.display()
            ),
            source,
        },
        other => other,
    })
}

/// Write `resources` into the v2 cgroup `path` of the hierarchy at `root`.
pub fn write_limits(root: &Path, path: &str, r: &Resources) -> Result<Vec<PathBuf>> {
    let dir = root.join(path.trim_start_matches('/'));
    let mut written = Vec::new();
    for (file, value) in limit_files(r) {
        let target = dir.join(file);
        // memory.swap.max is absent when the kernel has no swap support.
        if file == "memory.swap.max" && root.join("cgroup.controllers").exists() && !target.exists()
        {
            continue;
        }
        write_file(&target, &value)?;
        written.push(target);
    }
    // OCI's `unified`: files named by the config, written as given. A name
    // the kernel does not offer here (a typo, a controller not enabled) is
    // an error naming it, not a file created on the side.
    for (file, value) in &r.unified {
        let target = dir.join(file);
        if root.join("cgroup.controllers").exists() && !target.exists() {
            return Err(Error::Io {
                context: format!(
                    "linux.resources.unified: {} does not exist; the name is wrong, \
                     or its controller is not enabled for this cgroup",
                    target.display()
                ),
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
        write_file(&target, value)?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CpuLimits, MemoryLimits, PidsLimit};

    #[test]
    fn fake_tree_gets_v2_files_and_units() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let cg = CgroupV2::new(root.path(), "/orc/web");
        cg.create().unwrap();
        let read = |p: &str| std::fs::read_to_string(root.path().join(p)).unwrap();
        assert_eq!(read("cgroup.subtree_control"), "+cpu +memory +pids");
        assert_eq!(read("orc/cgroup.subtree_control"), "+cpu +memory +pids");
        // A fake leaf has no memory.swap.max: like a kernel without swap.
        let r = Resources {
            memory: Some(MemoryLimits {
                limit: Some(32 << 20),
                swap: Some(64 << 20),
            }),
            cpu: Some(CpuLimits {
                shares: Some(1024),
                quota: Some(20_000),
                period: None,
            }),
            pids: Some(PidsLimit { limit: 16 }),
            unified: [("memory.oom.group".to_string(), "1".to_string())].into(),
        };
        // The kernel's file, which `unified` writes into (never creates).
        std::fs::write(root.path().join("orc/web/memory.oom.group"), "0").unwrap();
        cg.apply(&r).unwrap();
        assert_eq!(read("orc/web/memory.oom.group"), "1");
        // A name the cgroup does not have is an error naming it.
        let typo = Resources {
            unified: [("memory.oom.grup".to_string(), "1".to_string())].into(),
            ..Resources::default()
        };
        let err = cg.apply(&typo).unwrap_err().to_string();
        assert!(
            err.contains("orc/web/memory.oom.grup does not exist"),
            "{err}"
        );
        assert!(!root.path().join("orc/web/memory.oom.grup").exists());
        assert_eq!(read("orc/web/memory.max"), "33554432");
        assert_eq!(read("orc/web/cpu.weight"), "100");
        assert_eq!(read("orc/web/cpu.max"), "20000 100000");
        assert_eq!(read("orc/web/pids.max"), "16");
        assert!(!root.path().join("orc/web/memory.swap.max").exists());

        std::fs::write(
            root.path().join("orc/web/memory.events"),
            "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("orc/web/cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\n",
        )
        .unwrap();
        std::fs::write(root.path().join("orc/web/cgroup.procs"), "12\n34\n").unwrap();
        std::fs::write(root.path().join("orc/web/memory.current"), "8192000\n").unwrap();
        std::fs::write(
            root.path().join("orc/web/memory.stat"),
            "anon 4096000\nfile 4096000\nactive_file 2048000\ninactive_file 2048000\n",
        )
        .unwrap();
        let stats = cg.stats();
        assert_eq!((stats.oom_kills, stats.cpu_usage_ns), (1, 1_500_000));
        assert_eq!(stats.memory_working_set_bytes, 8192000 - 2048000);
        assert_eq!(cg.processes(), [12, 34]);
    }

    #[test]
    fn swap_is_converted_from_memory_plus_swap() {
        let r = Resources {
            memory: Some(MemoryLimits {
                limit: Some(100),
                swap: Some(300),
            }),
            ..Resources::default()
        };
        assert_eq!(
            limit_files(&r),
            [
                ("memory.max", "100".to_string()),
                ("memory.swap.max", "200".to_string())
            ]
        );
        let r = Resources {
            memory: Some(MemoryLimits {
                limit: Some(-1),
                swap: Some(-1),
            }),
            ..Resources::default()
        };
        assert_eq!(
            limit_files(&r),
            [
                ("memory.max", "max".to_string()),
                ("memory.swap.max", "max".to_string())
            ]
        );
    }
}

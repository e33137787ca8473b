//! cgroup v1: one directory per controller hierarchy.
//!
//! orc joins the controllers it manages: memory, cpu, cpuacct (CPU time
//! accounting) and pids. cpuset is left out on purpose: a new v1 cpuset
//! cgroup starts with empty `cpuset.cpus`, and adding a process to it fails
//! until those are copied from the parent.

use super::{
    Cgroup, CgroupStats, read_keyed, read_procs, read_u64, remove_dir, working_set, write_file,
};
use crate::error::{Error, Result};
use crate::spec::Resources;
use std::path::{Path, PathBuf};

/// The v1 controllers a container joins.
pub const CONTROLLERS: &[&str] = &["memory", "cpu", "cpuacct", "pids"];

/// A container's cgroup on a v1 host.
#[derive(Debug, Clone)]
pub struct CgroupV1 {
    /// Where the hierarchies are mounted (`/sys/fs/cgroup`, or a fake tree).
    root: PathBuf,
    /// The cgroup path, without the leading `/` (`orc/web`).
    path: String,
}

/// The files and values that express `resources` on cgroup v1, in the order
/// they must be written: `(controller, file, value)`.
///
/// Pure, so the lab can check it without a cgroup filesystem. Order matters
/// once: the CFS period is written before the quota, because the kernel
/// checks a quota against the current period.
// ANCHOR: v1_limit_files
pub fn limit_files(r: &Resources) -> Vec<(&'static str, &'static str, String)> {
    let mut files = Vec::new();
    if let Some(m) = &r.memory {
        if let Some(limit) = m.limit {
            files.push(("memory", "memory.limit_in_bytes", limit.to_string()));
        }
        if let Some(swap) = m.swap {
            files.push(("memory", "memory.memsw.limit_in_bytes", swap.to_string()));
        }
    }
    if let Some(c) = &r.cpu {
        if let Some(shares) = c.shares {
            files.push(("cpu", "cpu.shares", shares.to_string()));
        }
        if let Some(period) = c.period {
            files.push(("cpu", "cpu.cfs_period_us", period.to_string()));
        }
        if let Some(quota) = c.quota {
            files.push(("cpu", "cpu.cfs_quota_us", quota.to_string()));
        }
    }
    if let Some(p) = &r.pids {
        let max = if p.limit > 0 {
            p.limit.to_string()
        } else {
            "max".into()
        };
        files.push(("pids", "pids.max", max));
    }
    files
}
// ANCHOR_END: v1_limit_files

/// Write `resources` into the v1 cgroup `path` under the hierarchies
/// mounted at `root`. Returns the files written.
///
/// `memory.memsw.*` exists only with swap accounting (`swapaccount=1`); a
/// swap limit on a host without it is skipped, since without swap
/// accounting there is nothing to limit.
pub fn write_limits(root: &Path, path: &str, r: &Resources) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (controller, file, value) in limit_files(r) {
        let dir = root.join(controller).join(path.trim_start_matches('/'));
        let target = dir.join(file);
        if file.starts_with("memory.memsw") && dir.exists() && !target.exists() {
            continue;
        }
        write_file(&target, &value)?;
        written.push(target);
    }
    Ok(written)
}

impl CgroupV1 {
    pub fn new(root: &Path, path: &str) -> CgroupV1 {
        CgroupV1 {
            root: root.to_path_buf(),
            path: path.trim_start_matches('/').to_string(),
        }
    }

    fn dir(&self, controller: &str) -> PathBuf {
        self.root.join(controller).join(&self.path)
    }
}

impl Cgroup for CgroupV1 {
    fn create(&self) -> Result<()> {
        for c in CONTROLLERS {
            let dir = self.dir(c);
            std::fs::create_dir_all(&dir).map_err(|source| Error::Cgroup { path: dir, source })?;
        }
        Ok(())
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        write_limits(&self.root, &self.path, resources).map(|_| ())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        for c in CONTROLLERS {
            write_file(&self.dir(c).join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn stats(&self) -> CgroupStats {
        let usage = read_u64(&self.dir("memory").join("memory.usage_in_bytes"));
        // `total_inactive_file` counts this cgroup and its children (the
        // pod's cgroup holds its containers'); `inactive_file` alone would
        // leave the children's cache in.
        let inactive = read_keyed(
            &self.dir("memory").join("memory.stat"),
            "total_inactive_file",
        );
        CgroupStats {
            memory_usage_bytes: usage,
            memory_working_set_bytes: working_set(usage, inactive),
            cpu_usage_ns: read_u64(&self.dir("cpuacct").join("cpuacct.usage")),
            // `oom_kill` in memory.oom_control counts kills (kernel >= 4.13);
            // `under_oom` would only say whether it is happening right now.
            oom_kills: read_keyed(&self.dir("memory").join("memory.oom_control"), "oom_kill"),
            pids: read_u64(&self.dir("pids").join("pids.current")),
        }
    }

    fn processes(&self) -> Vec<i32> {
        read_procs(&self.dir("pids").join("cgroup.procs"))
    }

    fn remove(&self) -> Result<()> {
        for c in CONTROLLERS {
            remove_dir(&self.dir(c))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{CpuLimits, MemoryLimits, PidsLimit};

    fn resources() -> Resources {
        Resources {
            memory: Some(MemoryLimits {
                limit: Some(64 << 20),
                swap: Some(64 << 20),
            }),
            cpu: Some(CpuLimits {
                shares: Some(512),
                quota: Some(50_000),
                period: Some(100_000),
            }),
            pids: Some(PidsLimit { limit: 0 }),
            ..Resources::default()
        }
    }

    #[test]
    fn limit_files_in_write_order() {
        let files: Vec<String> = limit_files(&resources())
            .into_iter()
            .map(|(c, f, v)| format!("{c}/{f}={v}"))
            .collect();
        assert_eq!(
            files,
            [
                "memory/memory.limit_in_bytes=67108864",
                "memory/memory.memsw.limit_in_bytes=67108864",
                "cpu/cpu.shares=512",
                "cpu/cpu.cfs_period_us=100000",
                "cpu/cpu.cfs_quota_us=50000",
                "pids/pids.max=max",
            ]
        );
    }

    #[test]
    fn fake_tree_without_swap_accounting() {
        let root = tempfile::tempdir().unwrap();
        let cg = CgroupV1::new(root.path(), "/orc/t1");
        cg.create().unwrap();
        let written = write_limits(root.path(), "/orc/t1", &resources()).unwrap();
        // The fake memory dir has no memsw file: like swapaccount=0.
        assert_eq!(written.len(), 5);
        let read = |p: &str| std::fs::read_to_string(root.path().join(p)).unwrap();
        assert_eq!(read("memory/orc/t1/memory.limit_in_bytes"), "67108864");
        assert_eq!(read("pids/orc/t1/pids.max"), "max");
        std::fs::write(
            root.path().join("memory/orc/t1/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        )
        .unwrap();
        assert_eq!(cg.stats().oom_kills, 2);
        std::fs::write(
            root.path().join("memory/orc/t1/memory.usage_in_bytes"),
            "10485760\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("memory/orc/t1/memory.stat"),
            "cache 4194304\ninactive_file 1048576\ntotal_inactive_file 3145728\n",
        )
        .unwrap();
        // The hierarchy's total, not the cgroup's own inactive_file.
        assert_eq!(cg.stats().memory_working_set_bytes, 10485760 - 3145728);
    }
}

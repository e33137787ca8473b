//! `GET /stats/summary`: what the node and each running container use.
//!
//! The kubelet serves the same path (its "Summary API", `stats/v1alpha1`),
//! and metrics-server scrapes it (or `/metrics/resource`, the Prometheus
//! form of the same figures) to answer `kubectl top`. orc serves the JSON
//! form, with the subset of fields the API server's scraper reads
//! (chapter 05, "Where `kubectl top` gets its figures"):
//!
//! ```json
//! {"node": {"cpu": {"time": "…", "usageCoreNanoSeconds": 1200000000},
//!           "memory": {"time": "…", "usageBytes": …, "workingSetBytes": …}},
//!  "pods": [{"podRef": {"name": "web", "namespace": "default", "uid": "…"},
//!            "cpu": {…}, "memory": {…},
//!            "containers": [{"name": "app", "cpu": {…}, "memory": {…}}]}]}
//! ```
//!
//! Every figure is a *counter* or a *gauge* read at `time`: CPU is the
//! cumulative CPU time since the cgroup was made (`usageCoreNanoSeconds`),
//! so a rate needs two readings, and the scraper takes the difference.
//! The kubelet adds `usageNanoCores` itself from its own readings; orc
//! leaves that to the one place that keeps a window, the API server.
//!
//! Where the figures come from:
//! - a container: its cgroup, through chapter 01's [`Cgroup::stats`]
//!   (the runtime's `list` reads it for every container);
//! - a pod: the pod cgroup, parent of its containers' and of the pause's;
//! - the node: `/proc/stat` and `/proc/meminfo`, the whole machine, as the
//!   kubelet reports the root cgroup. Test nodes that share one machine
//!   therefore all report the machine.
//!
//! Only running containers are listed: a stopped container's cgroup is
//! gone, and metrics-server leaves such containers out too.
//!
//! [`Cgroup::stats`]: orc_container::cgroups::Cgroup::stats

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use orc_container::cgroups::{self, CgroupStats};
use orc_container::state::{Record, State, Status};
use serde::Serialize;

use super::layout::StateLayout;
use crate::pod_spec::Pod;
use crate::sandbox::{ATTEMPT, CONTAINER_NAME, POD_UID, SANDBOX_NAME};

/// The answer: the kubelet's `Summary`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub node: NodeStats,
    pub pods: Vec<PodStats>,
}

/// The node as a whole.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
}

/// One pod: its cgroup's totals and its running containers.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PodStats {
    pub pod_ref: PodRef,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub containers: Vec<ContainerStats>,
}

/// Which pod: the kubelet's `PodReference`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PodRef {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// One container's current run.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    pub name: String,
    pub cpu: CpuStats,
    pub memory: MemoryStats,
}

/// CPU time used, cumulative: a counter.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    /// When it was read.
    pub time: Timestamp,
    /// CPU time of every process, on all cores, since the cgroup was made
    /// (or since boot, for the node): nanoseconds.
    pub usage_core_nano_seconds: u64,
}

/// Memory in use now: gauges.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    pub time: Timestamp,
    /// Everything charged, page cache included.
    pub usage_bytes: u64,
    /// Usage less the inactive page cache ([`cgroups::working_set`]).
    pub working_set_bytes: u64,
}

impl CpuStats {
    fn of(stats: &CgroupStats, time: Timestamp) -> CpuStats {
        CpuStats {
            time,
            usage_core_nano_seconds: stats.cpu_usage_ns,
        }
    }
}

impl MemoryStats {
    fn of(stats: &CgroupStats, time: Timestamp) -> MemoryStats {
        MemoryStats {
            time,
            usage_bytes: stats.memory_usage_bytes,
            working_set_bytes: stats.memory_working_set_bytes,
        }
    }
}

/// Serves `/stats/summary`. Reading cgroup files and the runtime's state
/// is blocking file I/O: done off the async runtime.
pub async fn summary(layout: StateLayout) -> Response {
    match tokio::task::spawn_blocking(move || read_summary(&layout)).await {
        Ok(Ok(summary)) => Json(summary).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

// ANCHOR: read_summary
/// Reads the node's figures, then every running container's (the runtime
/// reads their cgroups as it lists them), grouped by pod.
pub fn read_summary(layout: &StateLayout) -> Result<Summary, String> {
    let now = Timestamp::now();
    let node = NodeStats {
        cpu: CpuStats {
            time: now,
            usage_core_nano_seconds: read_node_cpu_ns()?,
        },
        memory: read_node_memory(now)?,
    };
    let root = layout.runtime_root();
    let states = orc_container::Runtime::new(&root)
        .list()
        .map_err(|e| format!("listing the containers in {}: {e}", root.display()))?;
    let pods = group_by_pod(&states)
        .into_iter()
        .filter_map(|(uid, runs)| pod_stats(layout, &uid, &runs, now))
        .collect();
    Ok(Summary { node, pods })
}
// ANCHOR_END: read_summary

/// One pod's running containers, the newest run of each name, and its
/// sandbox's id (whose cgroup's parent is the pod cgroup).
#[derive(Debug, Default)]
struct PodRuns<'a> {
    sandbox: Option<&'a State>,
    containers: BTreeMap<&'a str, (u32, &'a State)>,
}

fn group_by_pod(states: &[State]) -> BTreeMap<String, PodRuns<'_>> {
    let mut pods: BTreeMap<String, PodRuns> = BTreeMap::new();
    for state in states.iter().filter(|s| s.status == Status::Running) {
        let (Some(uid), Some(name)) = (
            state.annotations.get(POD_UID),
            state.annotations.get(CONTAINER_NAME),
        ) else {
            continue; // not a pod's container: someone else's
        };
        let pod = pods.entry(uid.clone()).or_default();
        if name == SANDBOX_NAME {
            pod.sandbox = Some(state);
            continue;
        }
        let attempt = state
            .annotations
            .get(ATTEMPT)
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let newer = pod
            .containers
            .get(name.as_str())
            .is_none_or(|(seen, _)| attempt >= *seen);
        if newer {
            pod.containers.insert(name, (attempt, state));
        }
    }
    pods
}

/// A pod's entry, when the agent still has its `pod.json` (for its name)
/// and something of it runs.
fn pod_stats(layout: &StateLayout, uid: &str, runs: &PodRuns, now: Timestamp) -> Option<PodStats> {
    let pod: Pod = serde_json::from_slice(&std::fs::read(layout.pod_spec(uid)).ok()?).ok()?;
    let containers: Vec<ContainerStats> = runs
        .containers
        .iter()
        .map(|(name, (_, state))| ContainerStats {
            name: name.to_string(),
            cpu: CpuStats::of(&state.stats, now),
            memory: MemoryStats::of(&state.stats, now),
        })
        .collect();
    // The pod cgroup holds the pause and every container: the parent of
    // the sandbox's own cgroup.
    let sandbox = runs.sandbox?;
    let record = Record::load(&layout.runtime_root(), &sandbox.id).ok()?;
    let parent = std::path::Path::new(&record.cgroup_path).parent()?;
    let pod_total = cgroups::open(&parent.to_string_lossy()).stats();
    Some(PodStats {
        pod_ref: PodRef {
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: uid.to_string(),
        },
        cpu: CpuStats::of(&pod_total, now),
        memory: MemoryStats::of(&pod_total, now),
        containers,
    })
}

/// The unit of `/proc/stat`: the kernel converts its ticks to `USER_HZ`,
/// 100 a second on x86 and arm whatever `CONFIG_HZ` is (what
/// `sysconf(_SC_CLK_TCK)` answers).
const USER_HZ: u64 = 100;

/// The machine's CPU time from `/proc/stat`.
fn read_node_cpu_ns() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    proc_stat_cpu_ns(&text, USER_HZ).ok_or_else(|| "/proc/stat has no \"cpu\" line".to_string())
}

/// The machine's memory from `/proc/meminfo`.
fn read_node_memory(time: Timestamp) -> Result<MemoryStats, String> {
    let text =
        std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    let (usage_bytes, working_set_bytes) = meminfo_usage(&text)
        .ok_or_else(|| "/proc/meminfo lacks MemTotal, MemFree or Inactive(file)".to_string())?;
    Ok(MemoryStats {
        time,
        usage_bytes,
        working_set_bytes,
    })
}

// ANCHOR: proc_stat
/// CPU time the machine spent working, from `/proc/stat`'s first line
/// (`cpu  user nice system idle iowait irq softirq steal guest guest_nice`,
/// in clock ticks, all cores summed): everything but `idle` and `iowait`
/// (time no process ran). `guest` is already inside `user`.
pub fn proc_stat_cpu_ns(proc_stat: &str, ticks_per_second: u64) -> Option<u64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap_or(0))
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6, 7] // user nice system irq softirq steal
        .iter()
        .map(|&i| ticks.get(i).copied().unwrap_or(0))
        .sum();
    Some(busy * (1_000_000_000 / ticks_per_second.max(1)))
}
// ANCHOR_END: proc_stat

/// The machine's memory usage and working set, in bytes, from
/// `/proc/meminfo`: what the root cgroup would say. Usage is everything
/// not free (page cache included, as a cgroup's usage counts it); the
/// working set is that less `Inactive(file)`, as for a container.
pub fn meminfo_usage(meminfo: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
    };
    let usage = field("MemTotal")?.saturating_sub(field("MemFree")?);
    Some((usage, cgroups::working_set(usage, field("Inactive(file)")?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_cpu_is_busy_ticks_in_nanoseconds() {
        let stat = "cpu  100 20 30 5000 40 1 2 3 0 0\ncpu0 50 10 15 2500 20 1 1 2 0 0\nintr 1\n";
        // user+nice+system+irq+softirq+steal = 156 ticks of 10 ms.
        assert_eq!(proc_stat_cpu_ns(stat, 100), Some(1_560_000_000));
        assert_eq!(proc_stat_cpu_ns("intr 1\n", 100), None);
    }

    #[test]
    fn node_memory_leaves_out_free_and_inactive_cache() {
        let meminfo = "MemTotal:        8000000 kB\nMemFree:         2000000 kB\n\
                       MemAvailable:    5000000 kB\nInactive(file):  1500000 kB\n";
        let (usage, working_set) = meminfo_usage(meminfo).unwrap();
        assert_eq!(usage, 6_000_000 * 1024);
        assert_eq!(working_set, 4_500_000 * 1024);
        assert_eq!(meminfo_usage("MemTotal: 1 kB\n"), None);
    }
}

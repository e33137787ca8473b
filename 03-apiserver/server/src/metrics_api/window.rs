//! From readings to rates: what one scrape adds to what the server knows.
//!
//! An agent reports CPU as a counter (nanoseconds of CPU time since the
//! cgroup was made) and memory as a gauge (the working set now). A counter
//! says nothing on its own: "1.2 s of CPU" could be a busy second or an
//! idle day. metrics-server keeps the last reading of every counter and,
//! when the next one comes, turns the pair into a rate over the *window*
//! between them:
//!
//! ```text
//! cpu (cores) = Δ CPU time / Δ wall time      e.g. 15 s of CPU in 15 s: 1 core
//! ```
//!
//! So the first scrape of a container gives no figure at all, and
//! `kubectl top` answers "metrics not available yet" until the second.
//! A counter that went *down* belongs to a new cgroup (the container was
//! restarted): that pair gives no figure either, and the next pair does.
//!
//! Everything here is pure: the scraper (`scraper.rs`) feeds it readings,
//! the handlers (`mod.rs`) read points out. Chapter 05, "Where `kubectl
//! top` gets its figures", walks through it.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// One reading of a cgroup (or of the node): a counter and a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the agent read it (its clock, not the scraper's: the window is
    /// the time between two readings, not between two requests).
    pub time: Timestamp,
    /// Cumulative CPU time, nanoseconds.
    pub cpu_ns: u64,
    /// The working set now, bytes.
    pub memory_bytes: u64,
}

/// What the Metrics API serves for one node or container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// The end of the window: the later reading's time.
    pub timestamp: Timestamp,
    /// The time between the two readings the rate was taken over.
    pub window: SignedDuration,
    /// CPU in use over the window: billionths of a core.
    pub nano_cores: u64,
    /// The working set at the later reading.
    pub memory_bytes: u64,
}

// ANCHOR: rate
/// The point two readings of the same thing make, or `None` when they
/// make none: time did not move forward, or the counter went back (a new
/// cgroup under the same name: the container was restarted).
pub fn rate(earlier: &Sample, later: &Sample) -> Option<Point> {
    let window = later.time.duration_since(earlier.time);
    let elapsed_ns = u128::try_from(window.as_nanos())
        .ok()
        .filter(|ns| *ns > 0)?;
    let used_ns = u128::from(later.cpu_ns.checked_sub(earlier.cpu_ns)?);
    // CPU ns per wall ns is cores; per wall *second* it is nanocores.
    let nano_cores = used_ns * 1_000_000_000 / elapsed_ns;
    Some(Point {
        timestamp: later.time,
        window,
        nano_cores: u64::try_from(nano_cores).unwrap_or(u64::MAX),
        memory_bytes: later.memory_bytes,
    })
}
// ANCHOR_END: rate

/// The last reading of one thing, and the point the last two made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Series {
    last: Option<Sample>,
    point: Option<Point>,
}

impl Series {
    /// Takes a new reading. One no newer than the last (the agent answered
    /// twice from the same reading) changes nothing.
    pub fn observe(&mut self, sample: Sample) {
        if let Some(last) = self.last {
            if sample.time <= last.time {
                return;
            }
            self.point = rate(&last, &sample);
        }
        self.last = Some(sample);
    }

    /// The latest point, once two readings made one.
    pub fn point(&self) -> Option<Point> {
        self.point
    }
}

/// What an agent's `/stats/summary` says, as far as the scraper reads it
/// (the kubelet's `Summary`; unknown fields are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub node: Usage,
    #[serde(default)]
    pub pods: Vec<PodSummary>,
}

/// One pod of a summary.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSummary {
    pub pod_ref: PodRef,
    #[serde(default)]
    pub containers: Vec<ContainerSummary>,
}

/// The pod a summary entry is about.
#[derive(Debug, Clone, Deserialize)]
pub struct PodRef {
    pub name: String,
    pub namespace: String,
    pub uid: String,
}

/// One container of a summary.
#[derive(Debug, Clone, Deserialize)]
pub struct ContainerSummary {
    pub name: String,
    #[serde(flatten)]
    pub usage: Usage,
}

/// A `cpu` and `memory` pair of a summary.
#[derive(Debug, Clone, Deserialize)]
pub struct Usage {
    pub cpu: CpuUsage,
    pub memory: MemoryUsage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuUsage {
    /// RFC 3339, to the nanosecond.
    pub time: String,
    pub usage_core_nano_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryUsage {
    pub time: String,
    pub working_set_bytes: u64,
}

impl Usage {
    /// The reading, unless its time is not a timestamp (then it cannot
    /// be placed in a window, and is skipped).
    fn sample(&self) -> Option<Sample> {
        Some(Sample {
            time: self.cpu.time.parse().ok()?,
            cpu_ns: self.cpu.usage_core_nano_seconds,
            memory_bytes: self.memory.working_set_bytes,
        })
    }
}

/// A pod's containers as last scraped.
#[derive(Debug, Clone, Default)]
pub struct PodSeries {
    /// The node that reported it.
    pub node: String,
    /// A pod deleted and made again under its name is another pod: its
    /// counters start over.
    pub uid: String,
    pub containers: BTreeMap<String, Series>,
}

impl PodSeries {
    /// One point per container, in name order; `None` until every
    /// running container has one (a pod shown with a container missing
    /// would look cheaper than it is; metrics-server leaves such pods out).
    pub fn points(&self) -> Option<Vec<(&str, Point)>> {
        if self.containers.is_empty() {
            return None;
        }
        self.containers
            .iter()
            .map(|(name, series)| Some((name.as_str(), series.point()?)))
            .collect()
    }
}

/// Everything the scraper learned: the Metrics API's whole state, kept
/// in memory only, as metrics-server keeps it (nothing goes to etcd: a
/// restarted server starts empty and has figures again two scrapes later).
#[derive(Debug, Clone, Default)]
pub struct UsageStore {
    pub nodes: BTreeMap<String, Series>,
    /// By (namespace, name).
    pub pods: BTreeMap<(String, String), PodSeries>,
}

impl UsageStore {
    // ANCHOR: record
    /// Takes node `node`'s summary: its own reading, and its pods'. Pods
    /// (and containers) the node no longer reports are forgotten.
    pub fn record(&mut self, node: &str, summary: &Summary) {
        if let Some(sample) = summary.node.sample() {
            self.nodes
                .entry(node.to_string())
                .or_default()
                .observe(sample);
        }
        let mut reported = BTreeMap::new();
        for pod in &summary.pods {
            let key = (pod.pod_ref.namespace.clone(), pod.pod_ref.name.clone());
            let mut series = self
                .pods
                .remove(&key)
                .filter(|old| old.uid == pod.pod_ref.uid)
                .unwrap_or_default();
            series.node = node.to_string();
            series.uid = pod.pod_ref.uid.clone();
            let mut containers = BTreeMap::new();
            for c in &pod.containers {
                let mut s = series.containers.remove(&c.name).unwrap_or_default();
                if let Some(sample) = c.usage.sample() {
                    s.observe(sample);
                }
                containers.insert(c.name.clone(), s);
            }
            series.containers = containers;
            reported.insert(key, series);
        }
        self.pods.retain(|_, p| p.node != node);
        self.pods.extend(reported);
    }
    // ANCHOR_END: record

    /// Forgets the nodes not in `nodes` (deleted), and their pods.
    pub fn keep_nodes(&mut self, nodes: &[String]) {
        self.nodes.retain(|name, _| nodes.contains(name));
        self.pods.retain(|_, p| nodes.contains(&p.node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn sample(secs: i64, cpu_ns: u64) -> Sample {
        Sample {
            time: at(secs),
            cpu_ns,
            memory_bytes: 4096,
        }
    }

    #[test]
    fn rate_is_cpu_time_over_wall_time() {
        // 15 s of CPU in a 15 s window: one core, 10^9 nanocores.
        let p = rate(&sample(0, 1_000), &sample(15, 1_000 + 15_000_000_000)).unwrap();
        assert_eq!(p.nano_cores, 1_000_000_000);
        assert_eq!(p.window, SignedDuration::from_secs(15));
        assert_eq!(p.timestamp, at(15));
        // 300 ms in 10 s: 30 millicores.
        let p = rate(&sample(0, 0), &sample(10, 300_000_000)).unwrap();
        assert_eq!(p.nano_cores, 30_000_000);
        // A counter that went back (restarted container), or no time: none.
        assert_eq!(rate(&sample(0, 500), &sample(15, 100)), None);
        assert_eq!(rate(&sample(15, 0), &sample(15, 100)), None);
    }

    #[test]
    fn a_series_needs_two_readings() {
        let mut s = Series::default();
        s.observe(sample(0, 0));
        assert_eq!(s.point(), None, "one reading makes no rate");
        s.observe(sample(15, 7_500_000_000));
        assert_eq!(s.point().unwrap().nano_cores, 500_000_000);
        // The same reading again: the point stays.
        s.observe(sample(15, 7_500_000_000));
        assert_eq!(s.point().unwrap().nano_cores, 500_000_000);
        // Restarted: no point until the next pair.
        s.observe(sample(30, 1_000));
        assert_eq!(s.point(), None);
        s.observe(sample(45, 1_000));
        assert_eq!(s.point().unwrap().nano_cores, 0);
    }

    /// A pod's namespace, name and its containers' CPU times.
    type PodCpu<'a> = (&'a str, &'a str, &'a [(&'a str, u64)]);

    fn summary(pods: &[PodCpu], secs: i64) -> Summary {
        let usage = |cpu: u64| {
            serde_json::json!({
                "cpu": {"time": at(secs).to_string(), "usageCoreNanoSeconds": cpu},
                "memory": {"time": at(secs).to_string(), "workingSetBytes": 8192},
            })
        };
        let pods: Vec<_> = pods
            .iter()
            .map(|(name, uid, containers)| {
                let containers: Vec<_> = containers
                    .iter()
                    .map(|(c, cpu)| {
                        let mut v = usage(*cpu);
                        v["name"] = (*c).into();
                        v
                    })
                    .collect();
                serde_json::json!({
                    "podRef": {"name": name, "namespace": "default", "uid": uid},
                    "containers": containers,
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({"node": usage(0), "pods": pods})).unwrap()
    }

    #[test]
    fn the_store_follows_pods_by_uid_and_node() {
        let key = ("default".to_string(), "web".to_string());
        let mut store = UsageStore::default();
        store.record("n1", &summary(&[("web", "u1", &[("app", 0)])], 0));
        assert_eq!(store.pods[&key].points(), None);
        store.record(
            "n1",
            &summary(&[("web", "u1", &[("app", 1_000_000_000)])], 10),
        );
        let points = store.pods[&key].points().unwrap();
        assert_eq!(points[0].0, "app");
        assert_eq!(points[0].1.nano_cores, 100_000_000);
        // Made again (new uid): starts over.
        store.record(
            "n1",
            &summary(&[("web", "u2", &[("app", 2_000_000_000)])], 20),
        );
        assert_eq!(store.pods[&key].points(), None);
        // Gone from its node's summary: forgotten.
        store.record("n1", &summary(&[], 30));
        assert!(store.pods.is_empty());
        store.record("n1", &summary(&[("web", "u3", &[("app", 0)])], 40));
        store.keep_nodes(&[]);
        assert!(store.pods.is_empty() && store.nodes.is_empty());
    }
}

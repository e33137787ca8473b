//! The controller manager's `/metrics`: what kube-controller-manager
//! reports that a student can check against orc, with Kubernetes' names,
//! labels and meanings (chapter 05, "Watching the controller manager").
//!
//! - every controller's work queue (client-go's `workqueue_*`, labelled
//!   `name` with the queue's name as Kubernetes gives it: `replicaset`,
//!   `job`, `horizontalpodautoscaler`...);
//! - `leader_election_master_status{name="kube-controller-manager"}`: 1
//!   while this manager leads, 0 while it stands by (only with leader
//!   election, as client-go reports it only then);
//! - the node lifecycle controller's `node_collector_*`, per zone (the
//!   zone key `region:\0:zone`, `""` for nodes without topology labels).
//!
//! How the queues find their way here: kube-controller-manager gives
//! client-go one process-wide metrics provider that every queue registers
//! with when it is made. orc scopes that provider to one manager instead
//! ([`ControllerMetrics::scope`]), so that two managers in one test
//! process (a leader and a standby) each report their own; a controller
//! run outside any manager (alone, in a test) registers nowhere.
//!
//! The text is written by chapter 03's `orc_client::prometheus`, which the
//! API server and the scheduler use too.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use orc_client::prometheus::{self, Histogram};
use orc_client::workqueue::WorkQueue;

tokio::task_local! {
    /// The manager whose controllers are being started (see the module
    /// comment).
    static MANAGER: Arc<ControllerMetrics>;
}

/// What one controller manager reports. Share it in an `Arc`.
#[derive(Default)]
pub struct ControllerMetrics {
    /// Every controller's queue, by its Kubernetes name. std's Mutex:
    /// held for a map operation or one render, never across an `.await`.
    queues: Mutex<BTreeMap<&'static str, Arc<WorkQueue>>>,
    /// The leader election's flag, when the manager takes part in one.
    leading: Mutex<Option<Arc<AtomicBool>>>,
    /// Each zone the node lifecycle controller has judged.
    zones: Mutex<BTreeMap<String, Zone>>,
}

impl std::fmt::Debug for ControllerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerMetrics").finish_non_exhaustive()
    }
}

/// One zone as the node lifecycle controller last judged it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zone {
    /// Nodes counted in the zone (`node_collector_zone_size`).
    pub size: usize,
    /// Of them, not Ready (`node_collector_unhealthy_nodes_in_zone`).
    pub unhealthy: usize,
    /// NoExecute taints put on the zone's nodes since this manager
    /// started (`node_collector_evictions_total`).
    pub evictions: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl ControllerMetrics {
    /// Runs `controllers` with `metrics` as their manager's: every queue
    /// registered while they start lands in it.
    pub async fn scope<F: Future>(metrics: Arc<ControllerMetrics>, controllers: F) -> F::Output {
        MANAGER.scope(metrics, controllers).await
    }

    /// The manager of the controllers being started, if any.
    pub fn current() -> Option<Arc<ControllerMetrics>> {
        MANAGER.try_with(Arc::clone).ok()
    }

    /// Registers `queue` under `name` with the current manager, if any.
    pub fn register_queue(name: &'static str, queue: &Arc<WorkQueue>) {
        if let Some(metrics) = ControllerMetrics::current() {
            lock(&metrics.queues).insert(name, queue.clone());
        }
    }

    /// Reports the leader election's `leading` flag from now on.
    pub fn follow_election(&self, leading: Arc<AtomicBool>) {
        *lock(&self.leading) = Some(leading);
    }

    /// Records the size and not-Ready nodes of `zone`, as judged now.
    pub fn zone_judged(&self, zone: &str, size: usize, unhealthy: usize) {
        let mut zones = lock(&self.zones);
        let entry = zones.entry(zone.to_string()).or_default();
        entry.size = size;
        entry.unhealthy = unhealthy;
    }

    /// Counts one node of `zone` tainted NoExecute.
    pub fn evicted(&self, zone: &str) {
        lock(&self.zones)
            .entry(zone.to_string())
            .or_default()
            .evictions += 1;
    }

    /// Everything, in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let queues: Vec<(&str, QueueStats)> = lock(&self.queues)
            .iter()
            .map(|(name, queue)| (*name, queue.stats()))
            .collect();
        render_queues(&mut out, &queues);
        if let Some(leading) = &*lock(&self.leading) {
            let leading = leading.load(Ordering::Relaxed);
            render_leader(&mut out, crate::LEASE_NAME, leading);
        }
        render_zones(&mut out, &lock(&self.zones));
        out
    }
}

/// One metric family: its name, help and type, and how to read its value
/// from a `T` (a queue's stats, a zone).
struct Family<T, V> {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    value: fn(&T) -> V,
}

type QueueStats = orc_client::workqueue::Stats;

// ANCHOR: render_queues
/// client-go's five workqueue metrics, one sample (or histogram) per queue.
pub fn render_queues(out: &mut String, queues: &[(&str, QueueStats)]) {
    let label = |name: &str| format!("name=\"{}\"", prometheus::escape(name));
    let counts: [Family<QueueStats, u64>; 3] = [
        Family {
            name: "workqueue_depth",
            help: "Current depth of workqueue",
            kind: "gauge",
            value: |s| s.depth as u64,
        },
        Family {
            name: "workqueue_adds_total",
            help: "Total number of adds handled by workqueue",
            kind: "counter",
            value: |s| s.adds,
        },
        Family {
            name: "workqueue_retries_total",
            help: "Total number of retries handled by workqueue",
            kind: "counter",
            value: |s| s.retries,
        },
    ];
    for family in counts {
        prometheus::header(out, family.name, family.help, family.kind);
        for (name, stats) in queues {
            prometheus::sample(out, family.name, &label(name), (family.value)(stats));
        }
    }
    let durations: [Family<QueueStats, Histogram>; 2] = [
        Family {
            name: "workqueue_queue_duration_seconds",
            help: "How long in seconds an item stays in workqueue before being requested.",
            kind: "histogram",
            value: |s| s.queue_duration.clone(),
        },
        Family {
            name: "workqueue_work_duration_seconds",
            help: "How long in seconds processing an item from workqueue takes.",
            kind: "histogram",
            value: |s| s.work_duration.clone(),
        },
    ];
    for family in durations {
        prometheus::header(out, family.name, family.help, family.kind);
        for (name, stats) in queues {
            prometheus::histogram(out, family.name, &label(name), &(family.value)(stats));
        }
    }
}
// ANCHOR_END: render_queues

/// client-go's leader election gauge for the Lease `lease`.
pub fn render_leader(out: &mut String, lease: &str, leading: bool) {
    let metric = "leader_election_master_status";
    prometheus::header(
        out,
        metric,
        "Gauge of if the reporting system is master of the relevant lease, 0 indicates \
         backup, 1 indicates master. 'name' is the string used to identify the lease. Please \
         make sure to group by name.",
        "gauge",
    );
    let labels = format!("name=\"{}\"", prometheus::escape(lease));
    prometheus::sample(out, metric, &labels, u8::from(leading));
}

/// The node lifecycle controller's per-zone metrics (Kubernetes'
/// `node_collector` subsystem). A zone's health is the percentage of its
/// nodes that are Ready.
pub fn render_zones(out: &mut String, zones: &BTreeMap<String, Zone>) {
    if zones.is_empty() {
        return;
    }
    let gauges: [Family<Zone, f64>; 3] = [
        Family {
            name: "node_collector_zone_health",
            help: "Gauge measuring percentage of healthy nodes per zone.",
            kind: "gauge",
            value: |z| {
                if z.size == 0 {
                    100.0
                } else {
                    100.0 * (z.size - z.unhealthy) as f64 / z.size as f64
                }
            },
        },
        Family {
            name: "node_collector_zone_size",
            help: "Gauge measuring number of registered Nodes per zones.",
            kind: "gauge",
            value: |z| z.size as f64,
        },
        Family {
            name: "node_collector_unhealthy_nodes_in_zone",
            help: "Gauge measuring number of not Ready Nodes per zones.",
            kind: "gauge",
            value: |z| z.unhealthy as f64,
        },
    ];
    let label = |zone: &str| format!("zone=\"{}\"", prometheus::escape(zone));
    for family in gauges {
        prometheus::header(out, family.name, family.help, family.kind);
        for (zone, z) in zones {
            prometheus::sample(out, family.name, &label(zone), (family.value)(z));
        }
    }
    let metric = "node_collector_evictions_total";
    prometheus::header(
        out,
        metric,
        "Number of Node evictions that happened since current instance of NodeController \
         started.",
        "counter",
    );
    for (zone, z) in zones {
        prometheus::sample(out, metric, &label(zone), z.evictions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queues_leader_and_zones_render_with_kubernetes_names() {
        let metrics = Arc::new(ControllerMetrics::default());
        let queue = Arc::new(WorkQueue::new());
        ControllerMetrics::scope(metrics.clone(), async {
            ControllerMetrics::register_queue("replicaset", &queue);
        })
        .await;
        queue.add("default/web");
        queue.add("default/db");
        let leading = Arc::new(AtomicBool::new(false));
        metrics.follow_election(leading.clone());
        metrics.zone_judged("", 4, 1);
        metrics.evicted("");

        let text = metrics.render();
        for line in [
            "# TYPE workqueue_depth gauge",
            "workqueue_depth{name=\"replicaset\"} 2",
            "workqueue_adds_total{name=\"replicaset\"} 2",
            "workqueue_retries_total{name=\"replicaset\"} 0",
            "# TYPE workqueue_queue_duration_seconds histogram",
            "workqueue_queue_duration_seconds_bucket{name=\"replicaset\",le=\"+Inf\"} 0",
            "workqueue_work_duration_seconds_count{name=\"replicaset\"} 0",
            "leader_election_master_status{name=\"kube-controller-manager\"} 0",
            "node_collector_zone_health{zone=\"\"} 75",
            "node_collector_zone_size{zone=\"\"} 4",
            "node_collector_unhealthy_nodes_in_zone{zone=\"\"} 1",
            "node_collector_evictions_total{zone=\"\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        leading.store(true, Ordering::Relaxed);
        assert!(
            metrics
                .render()
                .contains("leader_election_master_status{name=\"kube-controller-manager\"} 1\n")
        );
    }

    #[test]
    fn without_an_election_or_zones_those_metrics_are_absent() {
        let text = ControllerMetrics::default().render();
        assert!(!text.contains("leader_election_master_status{"), "{text}");
        assert!(!text.contains("node_collector"), "{text}");
        // A queue registered outside any manager goes nowhere.
        ControllerMetrics::register_queue("job", &Arc::new(WorkQueue::new()));
    }
}

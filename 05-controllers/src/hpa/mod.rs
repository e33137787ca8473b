//! The HorizontalPodAutoscaler controller: every 15 s, reads each HPA's
//! target through its `scale` subresource, the target's pods and their
//! metrics, and sets the target's replica count.
//!
//! An informer on HPAs queues a new or changed HPA at once; after that each
//! HPA is looked at again every [`Tuning::sync_period`] on the injected
//! clock (Kubernetes' `--horizontal-pod-autoscaler-sync-period`), since load
//! changes without any event. The controller's own status writes do not
//! queue the HPA again (their generation is unchanged), so one HPA is
//! decided once per period, as in Kubernetes.
//!
//! Layout: `replicas.rs` (the replica calculator; lab 05), `pods.rs` (which
//! pods count, their requests), `behavior.rs` (the stabilization window
//! and the scaling policies), `metrics.rs` (the metrics API, and the table
//! tests use), `decide.rs` (the reconcile, pure), `flags.rs`
//! (kube-controller-manager's `--horizontal-pod-autoscaler-*` flags, which
//! make a [`Tuning`]); this file reads and writes through the API.

pub mod behavior;
pub mod decide;
pub mod flags;
pub mod metrics;
pub mod pods;
pub mod replicas;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orc_client::events::Recorder;
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, by_kind};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError, Method};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::clock::SharedClock;
use crate::object::{generation, key_of, namespace_and_name};
use crate::worker::{self, Action};
use behavior::History;
use metrics::SharedMetrics;
use orc_client::informer as informers;

// ANCHOR: tuning
/// The controller's knobs, kube-controller-manager's
/// `--horizontal-pod-autoscaler-*` flags ([`flags::HpaFlags`]). The
/// defaults are Kubernetes'.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// How often every HPA is looked at again (15 s).
    pub sync_period: Duration,
    /// Within this fraction of the target nothing changes (0.1).
    pub tolerance: f64,
    /// The scale-down stabilization window of an HPA whose
    /// `behavior.scaleDown` does not set `stabilizationWindowSeconds`
    /// (300 s).
    pub downscale_stabilization: Duration,
    /// A pod that turned unready within this long of starting has not
    /// been ready yet (30 s).
    pub initial_readiness_delay: Duration,
    /// For this long after a pod starts, its CPU counts only once measured
    /// entirely while the pod was ready: start-up work is not load (300 s).
    pub cpu_initialization_period: Duration,
}
// ANCHOR_END: tuning

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            sync_period: Duration::from_secs(15),
            tolerance: replicas::TOLERANCE,
            downscale_stabilization: Duration::from_secs(300),
            initial_readiness_delay: Duration::from_secs(30),
            cpu_initialization_period: Duration::from_secs(300),
        }
    }
}

const KIND: (&str, &str) = ("autoscaling/v2", "HorizontalPodAutoscaler");

fn hpas() -> &'static Resource {
    by_kind(KIND.0, KIND.1).expect("the resource table serves HorizontalPodAutoscalers")
}

fn pods() -> &'static Resource {
    by_kind("v1", "Pod").expect("the resource table serves pods")
}

/// The controller. [`HorizontalPodAutoscalerController::run`] starts it.
pub struct HorizontalPodAutoscalerController {
    client: Client,
    hpas: Arc<Cache>,
    queue: Arc<WorkQueue>,
    clock: SharedClock,
    metrics: SharedMetrics,
    tuning: Tuning,
    recorder: Recorder,
    /// Each HPA's recommendations and scale events, by key. std's Mutex:
    /// held only while deciding, which never awaits.
    histories: Mutex<HashMap<String, History>>,
    /// The keys with a resync pending, so each HPA has one timer at most
    /// (shared with the timers, which clear their key when they fire).
    pending: Arc<Mutex<HashSet<String>>>,
}

impl HorizontalPodAutoscalerController {
    /// Follows HPAs through `client` and, once they are listed, reconciles
    /// with `workers` workers, reading pod usage from `metrics`, on
    /// `clock`, with `tuning`, until dropped.
    pub async fn run(
        client: Client,
        workers: usize,
        clock: SharedClock,
        metrics: SharedMetrics,
        tuning: Tuning,
    ) {
        let informer = informers::everything(&client, hpas());
        let controller = Arc::new(HorizontalPodAutoscalerController {
            hpas: informer.cache(),
            recorder: Recorder::new(client.clone(), "horizontal-pod-autoscaler"),
            client,
            queue: Arc::new(WorkQueue::new()),
            clock,
            metrics,
            tuning,
            histories: Mutex::new(HashMap::new()),
            pending: Arc::new(Mutex::new(HashSet::new())),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let synced = informers::follow(&mut tasks, informer, move |n| c.changed(n));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("horizontalpodautoscaler", controller.queue.clone());
        worker::run_after_sync(tasks, vec![synced], queue, workers, reconcile).await;
    }

    /// Queues a new HPA, or one whose spec changed; forgets a deleted one.
    fn changed(&self, notification: Notification) {
        match notification {
            Notification::Added(hpa) => self.queue.add(&key_of(&hpa)),
            Notification::Updated { old, new } if generation(&old) != generation(&new) => {
                self.queue.add(&key_of(&new))
            }
            Notification::Deleted(hpa) => {
                lock(&self.histories).remove(&key_of(&hpa));
            }
            _ => {}
        }
    }

    /// Queues `key` again after the sync period on the clock, unless a
    /// timer for it is running already.
    fn resync(&self, key: &str) {
        if !lock(&self.pending).insert(key.to_string()) {
            return;
        }
        let sleep = self.clock.sleep(self.tuning.sync_period);
        let (queue, pending, key) = (self.queue.clone(), self.pending.clone(), key.to_string());
        tokio::spawn(async move {
            sleep.await;
            lock(&pending).remove(&key);
            queue.add(&key);
        });
    }

    // ANCHOR: reconcile
    /// Reads the HPA's target, pods and metrics, decides, scales, and
    /// writes the status and events.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(hpa) = self.hpas.get(key) else {
            return Ok(Action::await_change());
        };
        if crate::claims::is_deleting(&hpa) {
            return Ok(Action::await_change());
        }
        self.resync(key);
        let (ns, _) = namespace_and_name(&hpa);
        let scale = self.read_scale(&hpa).await;
        let selector = scale
            .as_ref()
            .ok()
            .and_then(|s| s.pointer("/status/selector"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (pod_list, usage) = if scale.is_ok() {
            let list = self.client.list(pods(), Some(ns), &selector).await?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            (items, self.metrics.pod_usage(ns, &selector).await)
        } else {
            (Vec::new(), Ok(Vec::new()))
        };
        let observed = decide::Observed {
            hpa: &hpa,
            scale: scale.as_ref().map_err(Clone::clone),
            pods: &pod_list,
            usage: usage.as_deref().map_err(Clone::clone),
            now: self.clock.now(),
            tuning: &self.tuning,
        };
        let mut d = {
            let mut histories = lock(&self.histories);
            decide::decide(&observed, histories.entry(key.to_string()).or_default())
        };
        if let Some((replicas, reason)) = d.rescale.clone() {
            self.rescale(&hpa, replicas, &reason, &mut d).await;
        }
        for note in d.events.drain(..) {
            self.recorder.record(&hpa, KIND, note).await;
        }
        self.write_status(&hpa, &d.status).await?;
        Ok(Action::await_change())
    }
    // ANCHOR_END: reconcile

    /// The `Scale` of the HPA's target: `GET .../<plural>/<name>/scale`
    /// of whatever kind it names, if that kind has a scale subresource.
    async fn read_scale(&self, hpa: &Value) -> Result<Value, String> {
        let target = &hpa["spec"]["scaleTargetRef"];
        let resource = target_resource(target)?;
        let (ns, _) = namespace_and_name(hpa);
        let name = target["name"].as_str().unwrap_or("");
        let path = format!("{}/scale", orc_client::path(resource, Some(ns), Some(name)));
        self.client
            .send_path(Method::GET, &path, None, None)
            .await
            .map_err(|e| e.to_string())
    }

    /// Sets the target's replicas through its scale subresource; records
    /// the outcome in the decision's status and events.
    async fn rescale(&self, hpa: &Value, replicas: i64, reason: &str, d: &mut decide::Decision) {
        let mut conditions = decide::Conditions::of(&json!({"status": d.status}), self.clock.now());
        let target = &hpa["spec"]["scaleTargetRef"];
        let (ns, _) = namespace_and_name(hpa);
        let written = match target_resource(target) {
            Ok(resource) => self
                .client
                .merge_patch(
                    resource,
                    Some(ns),
                    target["name"].as_str().unwrap_or(""),
                    Some("scale"),
                    &json!({"spec": {"replicas": replicas}}),
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        use orc_client::events::Note;
        match written {
            Ok(_) => {
                let message =
                    format!("the HPA controller was able to update the target scale to {replicas}");
                conditions.set("AbleToScale", true, "SucceededRescale", &message);
                d.events.push(Note::normal(
                    "SuccessfulRescale",
                    format!("New size: {replicas}; reason: {reason}"),
                ));
                d.status["lastScaleTime"] = json!(orc_client::time::format(self.clock.now()));
            }
            Err(e) => {
                let message =
                    format!("the HPA controller was unable to update the target scale: {e}");
                conditions.set("AbleToScale", false, "FailedUpdateScale", &message);
                d.events.push(Note::warning(
                    "FailedRescale",
                    format!("New size: {replicas}; reason: {reason}; error: {e}"),
                ));
                d.status["desiredReplicas"] = d.status["currentReplicas"].clone();
            }
        }
        d.status["conditions"] = json!(conditions.list);
    }

    /// Writes `status` if a merge patch would change it.
    async fn write_status(&self, hpa: &Value, status: &Value) -> Result<(), ClientError> {
        let patch = json!({"status": status});
        let mut merged = hpa.clone();
        json_patch::merge(&mut merged, &patch);
        if merged == *hpa {
            return Ok(());
        }
        let (ns, name) = namespace_and_name(hpa);
        match self
            .client
            .merge_patch(hpas(), Some(ns), name, Some("status"), &patch)
            .await
        {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }
}

/// The resource a `scaleTargetRef` names, if it is served and has a
/// `scale` subresource.
fn target_resource(target: &Value) -> Result<&'static Resource, String> {
    let api_version = target["apiVersion"].as_str().unwrap_or("");
    let kind = target["kind"].as_str().unwrap_or("");
    let resource = by_kind(api_version, kind)
        .ok_or_else(|| format!("unable to determine resource for scale target reference: no kind {kind:?} in {api_version:?}"))?;
    if !resource.has_scale {
        return Err(format!("{} has no scale subresource", resource.plural));
    }
    Ok(resource)
}

/// Locks `mutex`, through a poisoned lock (its data stays consistent: every
/// holder only inserts or removes whole entries).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

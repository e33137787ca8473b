//! Where an HPA's numbers come from: the resource metrics API
//! (`metrics.k8s.io/v1beta1` PodMetrics), behind a trait.
//!
//! Kubernetes' HPA controller reads the same API `kubectl top pods` does;
//! the agents measure each container's CPU rate over a window and its
//! memory working set, and the API serves one PodMetrics per pod:
//!
//! ```json
//! {"metadata": {"name": "web-1"}, "timestamp": "...", "window": "15s",
//!  "containers": [{"name": "c", "usage": {"cpu": "250m", "memory": "40Mi"}}]}
//! ```
//!
//! [`MetricsApi`] reads that over HTTP; [`FixedMetrics`] is a table a
//! test writes, so a test can say "these pods burn three times their
//! request" without burning a CPU.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use jiff::Timestamp;
use orc_client::Client;
use serde_json::Value;

/// One pod's usage, summed over its containers, in milli-units
/// (millicores; thousandths of a byte), as Kubernetes' metrics client
/// counts (`MilliValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodUsage {
    /// The pod's name.
    pub pod: String,
    /// Usage by resource name (`cpu`, `memory`).
    pub usage: HashMap<String, i64>,
    /// When the sample window ended.
    pub timestamp: Timestamp,
    /// How long the window was, in seconds.
    pub window_seconds: i64,
}

/// A source of pod metrics, shared by the controller's workers.
pub trait PodMetricsSource: Send + Sync + std::fmt::Debug {
    /// The usage of the pods in `namespace` that match `selector` (a label
    /// selector in its string form, as `Scale.status.selector` has it).
    fn pod_usage<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PodUsage>, String>>;
}

/// The source a controller manager runs with.
pub type SharedMetrics = Arc<dyn PodMetricsSource>;

// ANCHOR: metrics_api
/// The real source: `GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods`.
#[derive(Debug, Clone)]
pub struct MetricsApi {
    /// The API client (the metrics API is served, or proxied, by the API
    /// server like any other group).
    pub client: Client,
}

impl PodMetricsSource for MetricsApi {
    fn pod_usage<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PodUsage>, String>> {
        Box::pin(async move {
            let path = format!(
                "/apis/metrics.k8s.io/v1beta1/namespaces/{}/pods?labelSelector={}",
                orc_client::encode(namespace),
                orc_client::encode(selector)
            );
            let list = self
                .client
                .send_path(orc_client::Method::GET, &path, None, None)
                .await
                .map_err(|e| format!("unable to fetch metrics from resource metrics API: {e}"))?;
            let items = list["items"].as_array().cloned().unwrap_or_default();
            Ok(items.iter().filter_map(pod_usage).collect())
        })
    }
}
// ANCHOR_END: metrics_api

/// One PodMetrics object read: its containers' usage summed per resource.
/// A pod whose object has no containers is left out (Kubernetes: "no
/// metrics for pod"), and so counts as missing.
pub fn pod_usage(metrics: &Value) -> Option<PodUsage> {
    let containers = metrics["containers"].as_array().filter(|c| !c.is_empty())?;
    let mut usage: HashMap<String, i64> = HashMap::new();
    for container in containers {
        for (resource, quantity) in container["usage"].as_object().into_iter().flatten() {
            let milli = quantity.as_str().and_then(parse_milli)?;
            *usage.entry(resource.clone()).or_default() += milli;
        }
    }
    Some(PodUsage {
        pod: metrics.pointer("/metadata/name")?.as_str()?.to_string(),
        usage,
        timestamp: orc_client::time::at(metrics, "/timestamp").unwrap_or(Timestamp::UNIX_EPOCH),
        window_seconds: metrics["window"]
            .as_str()
            .and_then(parse_window)
            .unwrap_or(0),
    })
}

/// A Go duration as the metrics API writes a window (`15s`, `1m0s`,
/// `30.5s`), in whole seconds.
fn parse_window(text: &str) -> Option<i64> {
    let duration: jiff::SignedDuration = text.parse().ok()?;
    Some(duration.as_secs())
}

/// A quantity in milli-units: `250m` → 250, `1` → 1000, `123456789n` →
/// 124 (rounded up, as Kubernetes' `MilliValue`), `40Mi` → 41943040000.
pub fn parse_milli(text: &str) -> Option<i64> {
    let millis = orc_pod::quantity::parse_scaled(text, 1000).ok()?;
    i64::try_from(millis).ok()
}

/// A milli-unit amount as Kubernetes writes the quantity
/// (`NewMilliQuantity(n, DecimalSI).String()`): `250m`, `2`, `64M`.
pub fn format_milli(milli: i64) -> String {
    if milli % 1000 != 0 {
        return format!("{milli}m");
    }
    let mut whole = milli / 1000;
    for suffix in ["", "k", "M", "G", "T", "P"] {
        if whole == 0 || whole % 1000 != 0 {
            return format!("{whole}{suffix}");
        }
        whole /= 1000;
    }
    format!("{whole}E")
}

/// Metrics a test sets: usage per pod, by namespace and name.
#[derive(Debug, Default)]
pub struct FixedMetrics {
    /// std's Mutex: held only to copy a map in or out, never across an await.
    pods: Mutex<HashMap<(String, String), PodUsage>>,
}

impl FixedMetrics {
    /// An empty table, shared between the test and the controller.
    pub fn new() -> Arc<FixedMetrics> {
        Arc::new(FixedMetrics::default())
    }

    /// Says pod `namespace/pod` used `cpu_milli` millicores in the window
    /// ending at `at`.
    pub fn set_cpu(&self, namespace: &str, pod: &str, cpu_milli: i64, at: Timestamp) {
        let usage = PodUsage {
            pod: pod.to_string(),
            usage: HashMap::from([("cpu".to_string(), cpu_milli)]),
            timestamp: at,
            window_seconds: 15,
        };
        self.lock()
            .insert((namespace.to_string(), pod.to_string()), usage);
    }

    /// Forgets pod `namespace/pod`: it has no metrics now.
    pub fn remove(&self, namespace: &str, pod: &str) {
        self.lock()
            .remove(&(namespace.to_string(), pod.to_string()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), PodUsage>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PodMetricsSource for FixedMetrics {
    /// Every pod set in `namespace`; the controller matches them to the
    /// selected pods by name, so the selector is not needed here.
    fn pod_usage<'a>(
        &'a self,
        namespace: &'a str,
        _selector: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PodUsage>, String>> {
        let found: Vec<PodUsage> = self
            .lock()
            .iter()
            .filter(|((ns, _), _)| ns == namespace)
            .map(|(_, usage)| usage.clone())
            .collect();
        Box::pin(async move { Ok(found) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_metrics_sum_containers_in_milli_units() {
        let m = json!({"metadata": {"name": "web-1"}, "timestamp": "2026-01-01T00:00:00Z",
            "window": "15.2s", "containers": [
                {"name": "a", "usage": {"cpu": "123456789n", "memory": "1Mi"}},
                {"name": "b", "usage": {"cpu": "100m", "memory": "0"}}]});
        let usage = pod_usage(&m).unwrap();
        assert_eq!(usage.usage["cpu"], 224);
        assert_eq!(usage.usage["memory"], 1_048_576_000);
        assert_eq!(usage.window_seconds, 15);
        assert!(pod_usage(&json!({"metadata": {"name": "x"}, "containers": []})).is_none());
    }

    #[test]
    fn quantities_are_written_as_kubernetes_writes_them() {
        assert_eq!(format_milli(250), "250m");
        assert_eq!(format_milli(2000), "2");
        assert_eq!(format_milli(64_000_000_000), "64M");
        assert_eq!(format_milli(0), "0");
    }
}

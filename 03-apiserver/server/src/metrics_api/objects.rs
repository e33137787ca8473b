//! `NodeMetrics` and `PodMetrics`, in metrics.k8s.io/v1beta1's JSON.
//!
//! The shape is exactly metrics-server's, because clients decode it with
//! Kubernetes' types: `kubectl top` and the HorizontalPodAutoscaler read
//! `usage.cpu` and `usage.memory` (and, for pods, `containers[].usage`)
//! as resource quantities, `timestamp` and `window`:
//!
//! ```json
//! {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
//!  "metadata": {"name": "web", "namespace": "default", "labels": {…},
//!               "creationTimestamp": "2026-12-06T05:40:00Z"},
//!  "timestamp": "2026-12-06T05:39:58Z", "window": "15.002s",
//!  "containers": [{"name": "app", "usage": {"cpu": "1001852n", "memory": "1368Ki"}}]}
//! ```
//!
//! CPU is written in nanocores and memory in bytes, each in the canonical
//! form of a Kubernetes quantity ([`cpu_quantity`], [`memory_quantity`]).

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::window::Point;
use orc_client::time;

/// The group version every object here carries.
pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";

// ANCHOR: quantities
/// Nanocores as a Kubernetes quantity in canonical form: the largest SI
/// suffix that keeps the number whole (`1500000000n` is `1500m`,
/// `2000000000n` is `2`, `123456n` stays), as metrics-server's
/// `resource.NewScaledQuantity(n, resource.Nano)` prints.
pub fn cpu_quantity(nano_cores: u64) -> String {
    if nano_cores == 0 {
        return "0".into();
    }
    let mut value = nano_cores;
    let mut suffixes = ["n", "u", "m", "", "k", "M", "G"].iter();
    let mut suffix = suffixes.next().expect("non-empty");
    while value % 1000 == 0 {
        let Some(next) = suffixes.next() else { break };
        value /= 1000;
        suffix = next;
    }
    format!("{value}{suffix}")
}

/// Bytes as a binary quantity in canonical form: the largest power-of-1024
/// suffix that keeps the number whole (`1400832` is `1368Ki`), plain bytes
/// below 1 Ki or when none does, as `resource.NewQuantity(b, BinarySI)`.
pub fn memory_quantity(bytes: u64) -> String {
    if bytes < 1024 {
        return bytes.to_string();
    }
    let mut value = bytes;
    let mut suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].iter();
    let mut suffix = suffixes.next().expect("non-empty");
    while value % 1024 == 0 {
        let Some(next) = suffixes.next() else { break };
        value /= 1024;
        suffix = next;
    }
    format!("{value}{suffix}")
}
// ANCHOR_END: quantities

/// A window as Go's `time.Duration` prints it (metav1.Duration's JSON):
/// `15s`, `15.0025s`, `1m0.5s`.
pub fn go_duration(window: SignedDuration) -> String {
    let total_ns = window.as_nanos().max(0);
    let minutes = total_ns / 60_000_000_000;
    let rest = total_ns % 60_000_000_000;
    let seconds = rest / 1_000_000_000;
    let fraction = rest % 1_000_000_000;
    let mut text = String::new();
    if minutes > 0 {
        let (h, m) = (minutes / 60, minutes % 60);
        if h > 0 {
            text.push_str(&format!("{h}h"));
        }
        text.push_str(&format!("{m}m"));
    }
    text.push_str(&seconds.to_string());
    if fraction > 0 {
        let digits = format!("{fraction:09}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('s');
    text
}

/// The `usage` map of one point.
fn usage(point: &Point) -> Value {
    json!({
        "cpu": cpu_quantity(point.nano_cores),
        "memory": memory_quantity(point.memory_bytes),
    })
}

/// Metadata as metrics-server writes it: the object's name, namespace and
/// labels, created "now" (a metrics object is made for each answer).
fn metadata(source: &Value, now: Timestamp) -> Value {
    let mut meta = json!({
        "name": source["metadata"]["name"],
        "creationTimestamp": time::format(now),
    });
    if let Some(ns) = source["metadata"]["namespace"].as_str() {
        meta["namespace"] = json!(ns);
    }
    if let Some(labels) = source["metadata"]["labels"].as_object() {
        meta["labels"] = json!(labels);
    }
    meta
}

// ANCHOR: node_metrics
/// The NodeMetrics of `node` (the Node object, for its name and labels).
pub fn node_metrics(node: &Value, point: &Point, now: Timestamp) -> Value {
    json!({
        "kind": "NodeMetrics",
        "apiVersion": API_VERSION,
        "metadata": metadata(node, now),
        "timestamp": time::format(point.timestamp),
        "window": go_duration(point.window),
        "usage": usage(point),
    })
}
// ANCHOR_END: node_metrics

/// The PodMetrics of `pod` (the Pod object), one entry per container.
pub fn pod_metrics(pod: &Value, containers: &[(&str, Point)], now: Timestamp) -> Value {
    // Every container was read in the same scrape: the first one's time
    // and window are the pod's.
    let (timestamp, window) = containers
        .first()
        .map(|(_, p)| (p.timestamp, p.window))
        .unwrap_or((now, SignedDuration::ZERO));
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, point)| json!({"name": name, "usage": usage(point)}))
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": API_VERSION,
        "metadata": metadata(pod, now),
        "timestamp": time::format(timestamp),
        "window": go_duration(window),
        "containers": containers,
    })
}

/// A list of either kind, as metrics-server answers a list.
pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({
        "kind": format!("{kind}List"),
        "apiVersion": API_VERSION,
        "metadata": {},
        "items": items,
    })
}

/// `/apis/metrics.k8s.io`: the group and its one version.
pub fn api_group() -> Value {
    let version = json!({"groupVersion": API_VERSION, "version": "v1beta1"});
    json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "metrics.k8s.io",
        "versions": [version.clone()],
        "preferredVersion": version,
    })
}

// ANCHOR: resource_list
/// `/apis/metrics.k8s.io/v1beta1`: the two kinds, read-only (get and
/// list, as metrics-server registers them: no watch, no writes).
pub fn resource_list() -> Value {
    let row = |name: &str, singular: &str, kind: &str, namespaced: bool| {
        json!({
            "name": name,
            "singularName": singular,
            "namespaced": namespaced,
            "kind": kind,
            "verbs": ["get", "list"],
        })
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": API_VERSION,
        "resources": [
            row("nodes", "", "NodeMetrics", false),
            row("pods", "", "PodMetrics", true),
        ],
    })
}
// ANCHOR_END: resource_list

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_canonical_nanocores() {
        assert_eq!(cpu_quantity(0), "0");
        assert_eq!(cpu_quantity(123_456), "123456n");
        assert_eq!(cpu_quantity(5_000), "5u");
        assert_eq!(cpu_quantity(1_500_000_000), "1500m");
        assert_eq!(cpu_quantity(2_000_000_000), "2");
        assert_eq!(cpu_quantity(1_001_852), "1001852n");
    }

    #[test]
    fn memory_is_canonical_binary() {
        assert_eq!(memory_quantity(0), "0");
        assert_eq!(memory_quantity(1000), "1000");
        assert_eq!(memory_quantity(1025), "1025");
        assert_eq!(memory_quantity(1_400_832), "1368Ki");
        assert_eq!(memory_quantity(64 << 20), "64Mi");
    }

    #[test]
    fn windows_print_as_go_durations() {
        assert_eq!(go_duration(SignedDuration::from_secs(15)), "15s");
        assert_eq!(go_duration(SignedDuration::from_millis(15_002)), "15.002s");
        assert_eq!(go_duration(SignedDuration::from_millis(60_500)), "1m0.5s");
        assert_eq!(go_duration(SignedDuration::from_secs(3_600)), "1h0m0s");
    }

    #[test]
    fn pod_metrics_have_the_kubernetes_shape() {
        let now = Timestamp::from_second(1_700_000_100).unwrap();
        let point = Point {
            timestamp: Timestamp::from_second(1_700_000_000).unwrap(),
            window: SignedDuration::from_secs(15),
            nano_cores: 250_000_000,
            memory_bytes: 4 << 20,
        };
        let pod =
            json!({"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}}});
        assert_eq!(
            pod_metrics(&pod, &[("app", point)], now),
            json!({
                "kind": "PodMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                             "creationTimestamp": "2023-11-14T22:15:00Z"},
                "timestamp": "2023-11-14T22:13:20Z",
                "window": "15s",
                "containers": [{"name": "app", "usage": {"cpu": "250m", "memory": "4Mi"}}],
            })
        );
        let node = json!({"metadata": {"name": "n1"}});
        let metrics = node_metrics(&node, &point, now);
        assert_eq!(metrics["usage"], json!({"cpu": "250m", "memory": "4Mi"}));
        assert_eq!(metrics["metadata"].get("namespace"), None);
    }
}

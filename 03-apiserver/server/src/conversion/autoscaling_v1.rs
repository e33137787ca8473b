//! `autoscaling/v1` HorizontalPodAutoscalers, served by conversion from
//! the `autoscaling/v2` objects etcd holds (chapter 05, "Autoscaling").
//!
//! Kubernetes keeps one *storage version* of a kind and converts every
//! other version it serves on the way in and out. v1 knows a single
//! metric, `spec.targetCPUUtilizationPercentage`; v2 has a list. Going
//! out, the CPU utilization metric becomes that field, and whatever v1
//! has no field for (other metrics, `behavior`, the status conditions) is
//! kept in annotations, so that a v1 client which reads, edits and writes
//! back loses nothing (Kubernetes uses the same annotation names; orc
//! writes their values in the v2 shape). Coming in, the reverse.
//!
//! The resource table marks the v1 row `converts_to:
//! Some("autoscaling/v2")`; [`super::stored`] and [`super::served`] call
//! [`AutoscalingV1`] on every v1 body and every object answered to a v1
//! URL, so the rest of the server sees only v2.

use serde_json::{Map, Value, json};

use super::Conversion;

/// The `autoscaling/v1` row's entry in [`super::CONVERSIONS`].
pub struct AutoscalingV1;

impl Conversion for AutoscalingV1 {
    fn to_stored(&self, obj: Value) -> Value {
        to_v2(obj)
    }

    fn to_served(&self, obj: Value) -> Value {
        to_v1(obj)
    }
}

/// The annotation holding the metrics besides CPU utilization.
const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// The annotation holding the current values of those metrics.
const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// The annotation holding `status.conditions`.
const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// The annotation holding `spec.behavior`.
const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";

/// Whether a metric (spec or status) is the one v1 has a field for: CPU
/// as a utilization of the pods' requests.
fn is_cpu_utilization(metric: &Value) -> bool {
    metric["type"] == "Resource"
        && metric.pointer("/resource/name") == Some(&json!("cpu"))
        && (metric.pointer("/resource/target/type") == Some(&json!("Utilization"))
            || metric
                .pointer("/resource/current/averageUtilization")
                .is_some())
}

/// The v2 object an `autoscaling/v1` body stands for.
fn to_v2(mut obj: Value) -> Value {
    let mut annotations = take_annotations(&mut obj);
    let mut from_annotation = |name: &str| {
        annotations.remove(name).and_then(|v| {
            v.as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
        })
    };
    let (metrics, current, conditions, behavior) = (
        from_annotation(METRICS),
        from_annotation(CURRENT_METRICS),
        from_annotation(CONDITIONS),
        from_annotation(BEHAVIOR),
    );
    put_annotations(&mut obj, annotations);
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let mut list = Vec::new();
        if let Some(percent) = spec.remove("targetCPUUtilizationPercentage") {
            if !percent.is_null() {
                list.push(json!({"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": percent}}}));
            }
        }
        list.extend(
            metrics
                .and_then(|m| m.as_array().cloned())
                .unwrap_or_default(),
        );
        if !list.is_empty() {
            spec.insert("metrics".into(), json!(list));
        }
        if let Some(behavior) = behavior {
            spec.insert("behavior".into(), behavior);
        }
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        let mut list = Vec::new();
        if let Some(percent) = status.remove("currentCPUUtilizationPercentage") {
            if !percent.is_null() {
                list.push(json!({"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": percent}}}));
            }
        }
        list.extend(
            current
                .and_then(|m| m.as_array().cloned())
                .unwrap_or_default(),
        );
        if !list.is_empty() {
            status.insert("currentMetrics".into(), json!(list));
        }
        if let Some(conditions) = conditions {
            status.insert("conditions".into(), conditions);
        }
    }
    obj
}

/// One stored HPA as `autoscaling/v1`.
fn to_v1(mut obj: Value) -> Value {
    let mut annotations = take_annotations(&mut obj);
    let mut keep = |name: &str, value: Option<Value>| {
        if let Some(value) = value.filter(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
            annotations.insert(name.into(), json!(value.to_string()));
        }
    };
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = spec.remove("metrics").and_then(|m| m.as_array().cloned());
        let (cpu, others): (Vec<Value>, Vec<Value>) = metrics
            .unwrap_or_default()
            .into_iter()
            .partition(is_cpu_utilization);
        if let Some(percent) = cpu
            .first()
            .and_then(|m| m.pointer("/resource/target/averageUtilization"))
        {
            spec.insert("targetCPUUtilizationPercentage".into(), percent.clone());
        }
        keep(METRICS, Some(json!(others)));
        keep(BEHAVIOR, spec.remove("behavior"));
    }
    if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
        let current = status
            .remove("currentMetrics")
            .and_then(|m| m.as_array().cloned());
        let (cpu, others): (Vec<Value>, Vec<Value>) = current
            .unwrap_or_default()
            .into_iter()
            .partition(is_cpu_utilization);
        if let Some(percent) = cpu
            .first()
            .and_then(|m| m.pointer("/resource/current/averageUtilization"))
        {
            status.insert("currentCPUUtilizationPercentage".into(), percent.clone());
        }
        keep(CURRENT_METRICS, Some(json!(others)));
        keep(CONDITIONS, status.remove("conditions"));
    }
    put_annotations(&mut obj, annotations);
    obj
}

/// Removes and answers `metadata.annotations`.
fn take_annotations(obj: &mut Value) -> Map<String, Value> {
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("annotations"))
        .and_then(|a| a.as_object().cloned())
        .unwrap_or_default()
}

/// Puts `annotations` back, leaving none when there are none.
fn put_annotations(obj: &mut Value, annotations: Map<String, Value>) {
    if annotations.is_empty() {
        return;
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversion::{served, stored};
    use orc_client::resources::{Resource, by_kind};

    fn v1() -> &'static Resource {
        by_kind("autoscaling/v1", "HorizontalPodAutoscaler").unwrap()
    }

    #[test]
    fn kubectl_autoscale_body_becomes_a_cpu_metric() {
        let body = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}});
        let v2 = stored(v1(), body.clone());
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(
            v2["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}])
        );
        assert!(v2["spec"].get("targetCPUUtilizationPercentage").is_none());
        // And back: the same v1 object.
        let mut again = v2.clone();
        again["kind"] = json!("HorizontalPodAutoscaler");
        assert_eq!(served(v1(), again), body);
    }

    #[test]
    fn what_v1_cannot_say_survives_a_round_trip() {
        let v2 = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {"maxReplicas": 5, "metrics": [
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "64Mi"}}},
                {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
            "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 150, "averageValue": "150m"}}}],
                "conditions": [{"type": "AbleToScale", "status": "True"}]}});
        let one = served(v1(), v2.clone());
        assert_eq!(one["spec"]["targetCPUUtilizationPercentage"], 50);
        assert_eq!(one["status"]["currentCPUUtilizationPercentage"], 150);
        assert!(
            one["metadata"]["annotations"][METRICS]
                .as_str()
                .unwrap()
                .contains("64Mi")
        );
        assert!(one["metadata"]["annotations"][CONDITIONS].is_string());
        let back = stored(v1(), one);
        assert_eq!(back["spec"]["behavior"], v2["spec"]["behavior"]);
        assert_eq!(back["status"]["conditions"], v2["status"]["conditions"]);
        assert_eq!(back["spec"]["metrics"].as_array().unwrap().len(), 2);
        assert!(back["metadata"].get("annotations").is_none());
    }
}

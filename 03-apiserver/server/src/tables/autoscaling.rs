//! The row of a HorizontalPodAutoscaler, with the columns Kubernetes
//! v1.32's printer gives it: what it scales, each metric's current value
//! beside its target, the bounds and the replicas it last saw.

use serde_json::{Value, json};

use super::{AGE, NAME, Printer, age, col, int, items, name};

/// At most this many metrics are shown; the rest are counted.
const SHOWN_METRICS: usize = 2;

/// One metric as `cpu: 250%/50%` (a utilization) or `memory: 40Mi/64Mi`
/// (an average value); `<unknown>` until the controller has measured it.
/// A metric's current value is the status entry at the same index, as in
/// Kubernetes' `formatHPAMetrics`.
fn metric(spec: &Value, current: Option<&Value>) -> String {
    if spec["type"] != "Resource" {
        return "<unknown type>".into();
    }
    let resource = &spec["resource"];
    let name = resource["name"].as_str().unwrap_or("");
    let current = current
        .and_then(|c| c.get("resource"))
        .map(|r| &r["current"]);
    if let Some(target) = resource
        .pointer("/target/averageValue")
        .and_then(Value::as_str)
    {
        let now = current
            .and_then(|c| c["averageValue"].as_str())
            .unwrap_or("<unknown>");
        return format!("{name}: {now}/{target}");
    }
    let now = current
        .and_then(|c| c["averageUtilization"].as_i64())
        .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
    let target = resource
        .pointer("/target/averageUtilization")
        .and_then(Value::as_i64)
        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
    format!("{name}: {now}/{target}")
}

/// The TARGETS cell: the first two metrics, then `+ N more...`.
pub(super) fn targets(hpa: &Value) -> String {
    let specs: Vec<&Value> = items(hpa, "/spec/metrics").collect();
    if specs.is_empty() {
        return "<none>".into();
    }
    let statuses: Vec<&Value> = items(hpa, "/status/currentMetrics").collect();
    let shown: Vec<String> = specs
        .iter()
        .enumerate()
        .take(SHOWN_METRICS)
        .map(|(i, spec)| metric(spec, statuses.get(i).copied()))
        .collect();
    let more = specs.len().saturating_sub(SHOWN_METRICS);
    if more > 0 {
        format!("{} + {more} more...", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// A HorizontalPodAutoscaler: NAME REFERENCE TARGETS MINPODS MAXPODS
/// REPLICAS AGE.
pub(super) const HORIZONTAL_POD_AUTOSCALER: Printer = Printer {
    columns: &[
        NAME,
        col("Reference", "string"),
        col("Targets", "string"),
        col("MinPods", "string"),
        col("MaxPods", "integer"),
        col("Replicas", "integer"),
        AGE,
    ],
    cells: |hpa| {
        let target = &hpa["spec"]["scaleTargetRef"];
        let reference = format!(
            "{}/{}",
            target["kind"].as_str().unwrap_or(""),
            target["name"].as_str().unwrap_or("")
        );
        let min = hpa
            .pointer("/spec/minReplicas")
            .and_then(Value::as_i64)
            .map_or_else(|| "<unset>".to_string(), |m| m.to_string());
        vec![
            name(hpa),
            json!(reference),
            json!(targets(hpa)),
            json!(min),
            json!(int(hpa, "/spec/maxReplicas")),
            json!(int(hpa, "/status/currentReplicas")),
            age(hpa),
        ]
    },
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_show_current_over_target_per_metric() {
        let hpa = json!({"spec": {"metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "64Mi"}}},
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 90}}}]},
            "status": {"currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 250, "averageValue": "250m"}}}]}});
        assert_eq!(
            targets(&hpa),
            "cpu: 250%/50%, memory: <unknown>/64Mi + 1 more..."
        );
        assert_eq!(targets(&json!({"spec": {}})), "<none>");
    }
}

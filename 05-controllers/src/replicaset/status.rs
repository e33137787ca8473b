//! A ReplicaSet's status, computed from the pods it owns.

use jiff::Timestamp;
use orc_client::conditions::is_ready;
use orc_client::selectors::labels_of;
use serde_json::{Map, Value, json};

use super::pods::is_available;
use crate::object::{ReplicaSet, Workload, generation};

// ANCHOR: status
/// The status of `rs` given its owned, active `pods` at `now`: how many
/// there are, how many carry all the template's labels, how many are ready
/// and available, and which generation of the spec this is about.
/// Counts that are zero are left out, as Kubernetes' JSON leaves them out.
pub fn status(rs: &Value, pods: &[&Value], now: Timestamp) -> Value {
    let template_labels = labels_of(ReplicaSet(rs).template());
    let min_ready = ReplicaSet(rs).min_ready_seconds();
    let fully_labeled = pods
        .iter()
        .filter(|p| {
            let labels = labels_of(p);
            template_labels
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let ready = pods.iter().filter(|p| is_ready(p)).count();
    let available = pods
        .iter()
        .filter(|p| is_available(p, min_ready, now))
        .count();
    let mut status = Map::new();
    status.insert("replicas".into(), json!(pods.len()));
    let optional = [
        ("fullyLabeledReplicas", fully_labeled as i64),
        ("readyReplicas", ready as i64),
        ("availableReplicas", available as i64),
        ("observedGeneration", generation(rs)),
    ];
    for (field, count) in optional {
        if count != 0 {
            status.insert(field.into(), json!(count));
        }
    }
    Value::Object(status)
}
// ANCHOR_END: status

/// The merge patch that turns `current` status into `wanted`: every field
/// of `wanted`, and `null` for the counts `wanted` leaves out. Conditions
/// and anything else another party wrote are kept.
pub fn patch(current: Option<&Value>, wanted: &Value) -> Option<Value> {
    let mut patch = Map::new();
    for field in [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
    ] {
        let now = current.and_then(|c| c.get(field)).filter(|v| !v.is_null());
        let next = wanted.get(field);
        if now != next {
            patch.insert(field.into(), next.cloned().unwrap_or(Value::Null));
        }
    }
    (!patch.is_empty()).then(|| json!({"status": patch}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_generation_come_from_the_pods_and_the_spec() {
        let rs = json!({"metadata": {"generation": 3},
            "spec": {"minReadySeconds": 0, "template": {"metadata": {"labels": {"app": "web"}}}}});
        let ready = json!({"metadata": {"labels": {"app": "web"}},
            "status": {"conditions": [{"type": "Ready", "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        let starting = json!({"metadata": {"labels": {"app": "web-old"}}});
        let s = status(
            &rs,
            &[&ready, &starting],
            Timestamp::from_second(2_000_000_000).unwrap(),
        );
        assert_eq!(
            s,
            json!({"replicas": 2, "fullyLabeledReplicas": 1, "readyReplicas": 1,
                "availableReplicas": 1, "observedGeneration": 3})
        );
        let none = status(&rs, &[], Timestamp::UNIX_EPOCH);
        assert_eq!(none, json!({"replicas": 0, "observedGeneration": 3}));
    }

    #[test]
    fn the_patch_names_only_what_changed_and_clears_zeroes() {
        let current = json!({"replicas": 2, "readyReplicas": 2, "conditions": []});
        let wanted = json!({"replicas": 2, "observedGeneration": 1});
        assert_eq!(
            patch(Some(&current), &wanted),
            Some(json!({"status": {"readyReplicas": null, "observedGeneration": 1}}))
        );
        assert_eq!(patch(Some(&wanted), &wanted), None);
    }
}

//! Status conditions, read one way by every component: a pod's or a
//! node's `Ready`, a Deployment's `Available`. Kubernetes keeps a list of
//! `{type, status, reason, message, lastTransitionTime}` in
//! `status.conditions`; a condition that is absent is not true.

use serde_json::Value;

/// The condition of type `kind` in `object`'s `status.conditions`, if
/// there is one.
pub fn find<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Whether `object` has a condition of type `kind` whose status is
/// `"True"`.
pub fn is_true(object: &Value, kind: &str) -> bool {
    find(object, kind).is_some_and(|c| c["status"] == "True")
}

/// Whether the `Ready` condition is `"True"`: a pod's readiness
/// (Kubernetes' `IsPodReady`: what endpoints, budgets, ReplicaSets and
/// Jobs count) and a node's alike.
pub fn is_ready(object: &Value) -> bool {
    is_true(object, "Ready")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn readiness_is_the_ready_condition_and_nothing_else() {
        let ready = json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "True"}]}});
        assert!(is_ready(&ready));
        let not_ready = json!({"status": {"phase": "Running", "conditions": [
            {"type": "ContainersReady", "status": "True"},
            {"type": "Ready", "status": "False"}]}});
        assert!(!is_ready(&not_ready));
        assert!(!is_ready(&json!({"status": {"phase": "Running"}})));
        assert!(!is_ready(&json!({"status": {"conditions": "Ready"}})));
        assert_eq!(
            find(&not_ready, "ContainersReady").map(|c| &c["status"]),
            Some(&json!("True"))
        );
        assert!(is_true(&not_ready, "ContainersReady"));
        assert!(!is_true(&not_ready, "Initialized"));
    }
}

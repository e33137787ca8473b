//! The `DefaultTolerationSeconds` admission step (chapter 05).
//!
//! When a node stops reporting, chapter 05's node lifecycle controller
//! taints it `node.kubernetes.io/unreachable:NoExecute` (or `not-ready`
//! when its agent says it is not ready), and taint eviction deletes every
//! pod there that does not tolerate the taint. Evicting at the first
//! missed heartbeat would move whole nodes' worth of pods over a network
//! blip, so the API server gives every new pod two tolerations that hold
//! for five minutes:
//!
//! ```yaml
//! tolerations:
//! - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
//! - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 300}
//! ```
//!
//! A pod that already tolerates one of the two (a toleration with that key
//! or no key, and the `NoExecute` effect or no effect, as Kubernetes'
//! plugin checks) keeps its own: a DaemonSet's pods tolerate both forever,
//! and a pod may ask for a shorter wait. Kubernetes runs the step on
//! creates; so does orc.

use orc_client::taints::{NOT_READY, UNREACHABLE};
use serde_json::{Value, json};

/// How long the added tolerations hold (Kubernetes'
/// `--default-not-ready-toleration-seconds` and
/// `--default-unreachable-toleration-seconds`).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

// ANCHOR: admit
/// Adds the `not-ready` and `unreachable` NoExecute tolerations, 300 s
/// each, to a pod being created that has none of its own for them.
pub fn admit_pod(pod: &mut Value) {
    let mut tolerations = match pod.pointer("/spec/tolerations") {
        Some(Value::Array(list)) => list.clone(),
        None | Some(Value::Null) => Vec::new(),
        // Not a list: validation refuses it, nothing to add to.
        Some(_) => return,
    };
    let mut added = false;
    for key in [NOT_READY, UNREACHABLE] {
        if !tolerations.iter().any(|t| covers(t, key)) {
            tolerations.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
            added = true;
        }
    }
    if added && pod["spec"].is_object() {
        pod["spec"]["tolerations"] = json!(tolerations);
    }
}

/// Whether `toleration` already speaks for the NoExecute taint `key`: its
/// key is that one or empty, its effect NoExecute or empty.
fn covers(toleration: &Value, key: &str) -> bool {
    let text = |field: &str| toleration.get(field).and_then(Value::as_str).unwrap_or("");
    (text("key") == key || text("key").is_empty())
        && (text("effect") == "NoExecute" || text("effect").is_empty())
}
// ANCHOR_END: admit

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(tolerations: Value) -> Value {
        json!({"spec": {"containers": [], "tolerations": tolerations}})
    }

    #[test]
    fn a_pod_without_tolerations_gets_both() {
        let mut p = json!({"spec": {"containers": []}});
        admit_pod(&mut p);
        let added = p["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(added.len(), 2);
        assert_eq!(added[0]["key"], NOT_READY);
        assert_eq!(added[1]["key"], UNREACHABLE);
        assert!(added.iter().all(|t| t["tolerationSeconds"] == 300));
        assert!(added.iter().all(|t| t["effect"] == "NoExecute"));
    }

    #[test]
    fn a_pod_own_toleration_is_kept() {
        let own = json!({"key": UNREACHABLE, "operator": "Exists",
            "effect": "NoExecute", "tolerationSeconds": 5});
        let mut p = pod(json!([own]));
        admit_pod(&mut p);
        let list = p["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(list.len(), 2, "only not-ready is added: {list:?}");
        assert_eq!(list[0]["tolerationSeconds"], 5);
        assert_eq!(list[1]["key"], NOT_READY);
    }

    #[test]
    fn a_toleration_of_everything_needs_no_defaults() {
        let mut p = pod(json!([{"operator": "Exists"}]));
        admit_pod(&mut p);
        assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_noschedule_toleration_does_not_count() {
        let mut p = pod(json!([{"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}]));
        admit_pod(&mut p);
        assert_eq!(p["spec"]["tolerations"].as_array().unwrap().len(), 3);
    }
}

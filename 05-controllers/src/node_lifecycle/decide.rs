//! What the node lifecycle controller does to one node, decided purely.
//!
//! Two steps, as in Kubernetes' `monitorNodeHealth`:
//!
//! 1. **Health.** A node not heard from for longer than the grace period
//!    (`--node-monitor-grace-period`, 50 s in Kubernetes 1.32) has its
//!    conditions set to `Unknown`: nobody can vouch for them any more.
//! 2. **Taints.** The `Ready` condition, as it now stands, decides the
//!    node's taints: `False` (its agent says it cannot run pods) gives
//!    `node.kubernetes.io/not-ready`, `Unknown` gives
//!    `node.kubernetes.io/unreachable`, each with both effects: `NoSchedule`
//!    keeps new pods off, `NoExecute` (with `timeAdded`) starts taint
//!    eviction for the pods already there. `True` removes them.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use orc_client::taints::{NOT_READY, UNREACHABLE};
use orc_client::time;
use serde_json::{Value, json};

use super::heartbeats::ready_condition;

/// The conditions a node's agent posts, which go `Unknown` together.
pub const NODE_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What to write to one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeVerdict {
    /// `status.conditions` to write, when the node has gone silent.
    pub conditions: Option<Value>,
    /// `spec.taints` to write, when they are not what `Ready` asks for
    /// (`Value::Null`: none left).
    pub taints: Option<Value>,
    /// Whether the node just stopped being Ready (an event says so).
    pub became_not_ready: bool,
    /// When the node goes silent if nothing is heard from it before.
    pub silent_at: Timestamp,
}

// ANCHOR: decide
/// The verdict for `node`, last heard from at `last_seen`, at `now`.
pub fn decide(node: &Value, last_seen: Timestamp, now: Timestamp, grace: Duration) -> NodeVerdict {
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    let silent_at = last_seen.saturating_add(grace).unwrap_or(Timestamp::MAX);
    let was_ready = ready_status(node) == Some("True");
    let mut node = node.clone();
    let mut conditions = None;
    if now > silent_at && ready_status(&node) != Some("Unknown") {
        let unknown = unknown_conditions(&node, now);
        node["status"]["conditions"] = unknown.clone();
        conditions = Some(unknown);
    }
    let wanted = taints_for(ready_status(&node));
    let current = node.pointer("/spec/taints").cloned().unwrap_or(json!([]));
    let taints = reconcile_taints(&current, &wanted, now);
    NodeVerdict {
        conditions,
        taints: (taints != current).then(|| match taints.as_array() {
            Some(list) if list.is_empty() => Value::Null,
            _ => taints,
        }),
        became_not_ready: was_ready && ready_status(&node) != Some("True"),
        silent_at,
    }
}
// ANCHOR_END: decide

/// `status` of the `Ready` condition.
fn ready_status(node: &Value) -> Option<&str> {
    ready_condition(node)?.get("status")?.as_str()
}

/// The node's conditions with the four the agent posts set to `Unknown`,
/// their last heartbeat kept (it says when the node was last heard); one
/// the agent never posted is added, as Kubernetes does.
fn unknown_conditions(node: &Value, now: Timestamp) -> Value {
    let mut list = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let now = time::format(now);
    for kind in NODE_CONDITIONS {
        match list.iter_mut().find(|c| c["type"] == kind) {
            Some(c) => {
                c["status"] = json!("Unknown");
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!("Kubelet stopped posting node status.");
                c["lastTransitionTime"] = json!(now);
            }
            None => list.push(json!({
                "type": kind,
                "status": "Unknown",
                "reason": "NodeStatusNeverUpdated",
                "message": "Kubelet never posted node status.",
                "lastHeartbeatTime": node["metadata"]["creationTimestamp"],
                "lastTransitionTime": now,
            })),
        }
    }
    json!(list)
}

/// The controller's taints a node with this `Ready` status should carry
/// (key, effect). No `Ready` condition yet: none.
fn taints_for(ready: Option<&str>) -> Vec<(&'static str, &'static str)> {
    let key = match ready {
        Some("False") => NOT_READY,
        Some("Unknown") => UNREACHABLE,
        _ => return Vec::new(),
    };
    vec![(key, "NoSchedule"), (key, "NoExecute")]
}

/// `current` with the controller's taints made `wanted`: others kept as
/// they are, a wanted one already there kept (its `timeAdded` is when
/// eviction's clock started), a missing one added at `now`.
fn reconcile_taints(current: &Value, wanted: &[(&str, &str)], now: Timestamp) -> Value {
    let ours = |t: &Value| t["key"] == NOT_READY || t["key"] == UNREACHABLE;
    let is = |t: &Value, (key, effect): &(&str, &str)| t["key"] == *key && t["effect"] == *effect;
    let mut out: Vec<Value> = current
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| !ours(t) || wanted.iter().any(|w| is(t, w)))
        .cloned()
        .collect();
    for w @ (key, effect) in wanted {
        if !out.iter().any(|t| is(t, w)) {
            let mut taint = json!({"key": key, "effect": effect});
            if *effect == "NoExecute" {
                taint["timeAdded"] = json!(time::format(now));
            }
            out.push(taint);
        }
    }
    json!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(50);

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn node(ready: &str, taints: Value) -> Value {
        json!({"metadata": {"name": "n1", "creationTimestamp": "2027-01-15T08:00:00Z"},
            "spec": {"taints": taints},
            "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "hb"},
                {"type": "Ready", "status": ready, "reason": "KubeletReady",
                 "lastHeartbeatTime": "hb", "lastTransitionTime": "t"}]}})
    }

    #[test]
    fn a_node_heard_from_in_time_is_left_alone() {
        let v = decide(&node("True", json!([])), at(0), at(50), GRACE);
        assert_eq!(v.conditions, None);
        assert_eq!(v.taints, None);
        assert_eq!(v.silent_at, at(50));
    }

    #[test]
    fn a_silent_node_goes_unknown_and_unreachable() {
        let other = json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"});
        let v = decide(&node("True", json!([other])), at(0), at(51), GRACE);
        let conditions = v.conditions.unwrap();
        let ready = conditions
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .unwrap();
        assert_eq!(ready["status"], "Unknown");
        assert_eq!(ready["reason"], "NodeStatusUnknown");
        assert_eq!(ready["message"], "Kubelet stopped posting node status.");
        assert_eq!(
            ready["lastHeartbeatTime"], "hb",
            "the last heartbeat is kept"
        );
        // The two pressure conditions it never posted are added.
        assert_eq!(conditions.as_array().unwrap().len(), 4);
        let taints = v.taints.unwrap();
        assert_eq!(taints[0], other, "a user's taint stays");
        assert_eq!(
            taints[1],
            json!({"key": UNREACHABLE, "effect": "NoSchedule"})
        );
        assert_eq!(taints[2]["key"], UNREACHABLE);
        assert_eq!(taints[2]["effect"], "NoExecute");
        assert_eq!(taints[2]["timeAdded"], time::format(at(51)));
        assert!(v.became_not_ready);
    }

    #[test]
    fn an_unknown_node_keeps_its_taint_time() {
        let taints = json!([{"key": UNREACHABLE, "effect": "NoSchedule"},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "then"}]);
        let v = decide(&node("Unknown", taints), at(0), at(500), GRACE);
        assert_eq!(
            v,
            NodeVerdict {
                conditions: None,
                taints: None,
                became_not_ready: false,
                silent_at: at(50)
            }
        );
    }

    #[test]
    fn a_not_ready_node_is_tainted_not_ready() {
        let taints = json!([{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "then"}]);
        let v = decide(&node("False", taints), at(0), at(10), GRACE);
        assert_eq!(v.conditions, None, "the agent reported: nothing is unknown");
        let keys: Vec<_> = v
            .taints
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}:{}",
                    t["key"].as_str().unwrap(),
                    t["effect"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                format!("{NOT_READY}:NoSchedule"),
                format!("{NOT_READY}:NoExecute")
            ]
        );
    }

    #[test]
    fn a_node_back_loses_the_taints() {
        let taints = json!([{"key": UNREACHABLE, "effect": "NoSchedule"},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "then"}]);
        let v = decide(&node("True", taints), at(100), at(110), GRACE);
        assert_eq!(v.taints, Some(Value::Null));
    }
}

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
//!
//! Adding a `NoExecute` taint is what starts evictions, so it is the one
//! step the zone's rate limit and disruption state may hold back: the
//! caller says through a [`Gate`] whether one may be added now (see
//! `zones.rs` and `rate_limit.rs`). `NoSchedule` is never held back, as in
//! Kubernetes, where condition taints are not rate limited.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use orc_client::taints::{NOT_READY, UNREACHABLE};
use orc_client::time;
use serde_json::{Value, json};

use super::heartbeats::ready_condition;

/// The conditions a node's agent posts, which go `Unknown` together.
pub const NODE_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Whether a `NoExecute` taint may be put on the node now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Yes: the zone's rate limit let one through.
    Open,
    /// Not a new one (the zone's rate limit holds it back); one already
    /// there stays, and may switch between `not-ready` and `unreachable`
    /// at once, which starts no new eviction.
    Closed,
    /// None at all, and the controller's own come off: master disruption
    /// mode, every zone dark.
    Stopped,
}

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
    /// Whether the taints written put a `NoExecute` taint on a node that
    /// had none of the controller's: what the zone's rate limit counts.
    pub adds_no_execute: bool,
}

// ANCHOR: decide
/// The verdict for `node`, last heard from at `last_seen`, at `now`, with
/// new `NoExecute` taints let through or not by `gate`.
pub fn decide(
    node: &Value,
    last_seen: Timestamp,
    now: Timestamp,
    grace: Duration,
    gate: Gate,
) -> NodeVerdict {
    let silent_at = silent_at(last_seen, grace);
    let was_ready = ready_status(node) == Some("True");
    let mut node = node.clone();
    let mut conditions = None;
    if now > silent_at && ready_status(&node) != Some("Unknown") {
        let unknown = unknown_conditions(&node, now);
        node["status"]["conditions"] = unknown.clone();
        conditions = Some(unknown);
    }
    let current = node.pointer("/spec/taints").cloned().unwrap_or(json!([]));
    let had_no_execute = has_our_no_execute(&current);
    let mut wanted = taints_for(ready_status(&node));
    let no_execute_held = match gate {
        Gate::Open => false,
        Gate::Closed => !had_no_execute,
        Gate::Stopped => true,
    };
    if no_execute_held {
        wanted.retain(|(_, effect)| *effect != "NoExecute");
    }
    let adds_no_execute = !had_no_execute && wanted.iter().any(|(_, e)| *e == "NoExecute");
    let taints = reconcile_taints(&current, &wanted, now);
    NodeVerdict {
        conditions,
        taints: (taints != current).then(|| match taints.as_array() {
            Some(list) if list.is_empty() => Value::Null,
            _ => taints,
        }),
        became_not_ready: was_ready && ready_status(&node) != Some("True"),
        silent_at,
        adds_no_execute,
    }
}
// ANCHOR_END: decide

/// When a node last heard from at `last_seen` goes silent.
fn silent_at(last_seen: Timestamp, grace: Duration) -> Timestamp {
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    last_seen.saturating_add(grace).unwrap_or(Timestamp::MAX)
}

/// The node's `Ready` status once [`decide`] has had its say at `now`:
/// `Unknown` past the grace period, else what the node reported. What the
/// zones are judged on, before the writes land.
pub fn ready_now(
    node: &Value,
    last_seen: Timestamp,
    now: Timestamp,
    grace: Duration,
) -> Option<&str> {
    if now > silent_at(last_seen, grace) {
        return Some("Unknown");
    }
    ready_status(node)
}

/// Whether `taints` hold a `NoExecute` taint of the controller's.
fn has_our_no_execute(taints: &Value) -> bool {
    taints
        .as_array()
        .into_iter()
        .flatten()
        .any(|t| t["effect"] == "NoExecute" && (t["key"] == NOT_READY || t["key"] == UNREACHABLE))
}

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
        let v = decide(&node("True", json!([])), at(0), at(50), GRACE, Gate::Open);
        assert_eq!(v.conditions, None);
        assert_eq!(v.taints, None);
        assert_eq!(v.silent_at, at(50));
    }

    #[test]
    fn a_silent_node_goes_unknown_and_unreachable() {
        let other = json!({"key": "dedicated", "value": "gpu", "effect": "NoSchedule"});
        let v = decide(
            &node("True", json!([other])),
            at(0),
            at(51),
            GRACE,
            Gate::Open,
        );
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
        assert!(v.adds_no_execute);
    }

    #[test]
    fn a_closed_gate_holds_back_a_new_noexecute_taint_only() {
        let v = decide(&node("True", json!([])), at(0), at(51), GRACE, Gate::Closed);
        assert_eq!(
            v.taints,
            Some(json!([{"key": UNREACHABLE, "effect": "NoSchedule"}])),
            "NoSchedule at once"
        );
        assert!(!v.adds_no_execute);
        // A NoExecute taint already there switches key at once.
        let not_ready = json!([{"key": NOT_READY, "effect": "NoExecute", "timeAdded": "then"}]);
        let v = decide(&node("True", not_ready), at(0), at(51), GRACE, Gate::Closed);
        let taints = v.taints.unwrap();
        assert_eq!(taints[0]["key"], UNREACHABLE);
        assert_eq!(taints[0]["effect"], "NoSchedule");
        assert_eq!(taints[1]["key"], UNREACHABLE);
        assert_eq!(taints[1]["effect"], "NoExecute");
        assert!(!v.adds_no_execute, "a switch starts no new eviction");
    }

    #[test]
    fn a_stopped_gate_lifts_the_noexecute_taints() {
        let taints = json!([{"key": UNREACHABLE, "effect": "NoSchedule"},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "then"},
            {"key": "user", "effect": "NoExecute"}]);
        let v = decide(
            &node("Unknown", taints),
            at(0),
            at(500),
            GRACE,
            Gate::Stopped,
        );
        assert_eq!(
            v.taints,
            Some(json!([{"key": UNREACHABLE, "effect": "NoSchedule"},
                {"key": "user", "effect": "NoExecute"}]))
        );
        assert_eq!(
            ready_now(&node("True", json!([])), at(0), at(51), GRACE),
            Some("Unknown")
        );
        assert_eq!(
            ready_now(&node("False", json!([])), at(0), at(50), GRACE),
            Some("False")
        );
    }

    #[test]
    fn an_unknown_node_keeps_its_taint_time() {
        let taints = json!([{"key": UNREACHABLE, "effect": "NoSchedule"},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "then"}]);
        let v = decide(&node("Unknown", taints), at(0), at(500), GRACE, Gate::Open);
        assert_eq!(
            v,
            NodeVerdict {
                conditions: None,
                taints: None,
                became_not_ready: false,
                silent_at: at(50),
                adds_no_execute: false,
            }
        );
    }

    #[test]
    fn a_not_ready_node_is_tainted_not_ready() {
        let taints = json!([{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": "then"}]);
        let v = decide(&node("False", taints), at(0), at(10), GRACE, Gate::Open);
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
        let v = decide(&node("True", taints), at(100), at(110), GRACE, Gate::Open);
        assert_eq!(v.taints, Some(Value::Null));
    }
}

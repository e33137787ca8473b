//! Whether a pod must leave its node, and when: Kubernetes'
//! `NoExecuteTaintManager`, decided purely.
//!
//! A `NoExecute` taint evicts the pods already on the node, not only new
//! ones. For each such taint the pod needs a toleration; none means it
//! goes at once. A toleration may hold for `tolerationSeconds` only (the
//! API server gives every pod 300 s for `not-ready` and `unreachable`, see
//! `03-apiserver/server/src/default_tolerations.rs`); the shortest of the
//! pod's matching tolerations decides, counted from when the taint was
//! added. Tolerations without seconds hold forever (a DaemonSet's pods).

use jiff::Timestamp;
use orc_client::taints::{self, Effect, tolerates};
use orc_client::time;
use serde_json::Value;

/// What becomes of one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// It tolerates every `NoExecute` taint of its node for good (or there
    /// is none).
    Keep,
    /// It goes now.
    Now,
    /// It goes at this time, unless the taint is gone by then.
    At(Timestamp),
}

// ANCHOR: decide
/// The eviction of `pod` from a node with `node_taints` (its
/// `spec.taints`), at `now`.
pub fn decide(pod: &Value, node_taints: Option<&Value>, now: Timestamp) -> Eviction {
    let raw_taints: Vec<&Value> = node_taints
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t["effect"] == "NoExecute")
        .collect();
    let parsed = taints::parse_taints(node_taints);
    let no_execute: Vec<_> = parsed
        .iter()
        .filter(|t| t.effect == Effect::NoExecute)
        .collect();
    if no_execute.is_empty() {
        return Eviction::Keep;
    }
    let raw_tolerations = pod.pointer("/spec/tolerations");
    // Malformed tolerations are refused when the pod is created; should
    // one slip through, it tolerates nothing.
    let tolerations = taints::parse_tolerations(raw_tolerations).unwrap_or_default();
    let seconds = |i: usize| {
        raw_tolerations
            .and_then(|list| list.get(i))
            .and_then(|t| t.get("tolerationSeconds"))
            .and_then(Value::as_i64)
    };
    // The shortest hold among the tolerations used; `None`: forever.
    let mut shortest: Option<i64> = None;
    for taint in &no_execute {
        let matching: Vec<usize> = (0..tolerations.len())
            .filter(|&i| tolerates(&tolerations[i], taint))
            .collect();
        if matching.is_empty() {
            return Eviction::Now;
        }
        for secs in matching.into_iter().filter_map(seconds) {
            shortest = Some(shortest.map_or(secs, |s| s.min(secs)));
        }
    }
    let Some(secs) = shortest else {
        return Eviction::Keep;
    };
    // Counted from the newest NoExecute taint: the one whose arrival made
    // the hold start (a taint without `timeAdded` counts from now).
    let since = raw_taints
        .iter()
        .map(|t| t["timeAdded"].as_str().and_then(time::parse).unwrap_or(now))
        .max()
        .unwrap_or(now);
    let deadline = time::add_seconds(since, secs.max(0));
    if deadline <= now {
        Eviction::Now
    } else {
        Eviction::At(deadline)
    }
}
// ANCHOR_END: decide

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::taints::UNREACHABLE;
    use serde_json::json;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn unreachable_since(secs: i64) -> Value {
        json!([{"key": UNREACHABLE, "effect": "NoSchedule"},
            {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": time::format(at(secs))}])
    }

    fn pod(tolerations: Value) -> Value {
        json!({"spec": {"tolerations": tolerations}})
    }

    #[test]
    fn no_noexecute_taint_keeps_every_pod() {
        let taints = json!([{"key": UNREACHABLE, "effect": "NoSchedule"}]);
        assert_eq!(
            decide(&pod(json!([])), Some(&taints), at(0)),
            Eviction::Keep
        );
        assert_eq!(decide(&pod(json!([])), None, at(0)), Eviction::Keep);
    }

    #[test]
    fn an_untolerated_taint_evicts_at_once() {
        let taints = unreachable_since(0);
        assert_eq!(decide(&pod(json!([])), Some(&taints), at(1)), Eviction::Now);
    }

    #[test]
    fn the_shortest_toleration_sets_the_time() {
        let taints = unreachable_since(100);
        let p = pod(json!([
            {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"operator": "Exists", "tolerationSeconds": 30}]));
        assert_eq!(decide(&p, Some(&taints), at(101)), Eviction::At(at(130)));
        assert_eq!(decide(&p, Some(&taints), at(130)), Eviction::Now);
    }

    #[test]
    fn a_toleration_without_seconds_holds_forever() {
        let taints = unreachable_since(0);
        let p = pod(json!([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}]));
        assert_eq!(decide(&p, Some(&taints), at(100_000)), Eviction::Keep);
    }

    #[test]
    fn every_noexecute_taint_needs_a_toleration() {
        let mut taints = unreachable_since(0);
        taints
            .as_array_mut()
            .unwrap()
            .push(json!({"key": "gone", "effect": "NoExecute"}));
        let p = pod(json!([{"key": UNREACHABLE, "operator": "Exists"}]));
        assert_eq!(decide(&p, Some(&taints), at(1)), Eviction::Now);
    }
}

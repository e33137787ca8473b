//! A PodDisruptionBudget's status from its pods, pure (Kubernetes'
//! `DisruptionController.trySync` without the API calls).
//!
//! - **expectedPods**: how many pods there should be. For `maxUnavailable`
//!   and a percentage `minAvailable`, the sum of the scales
//!   (`spec.replicas`) of the pods' controllers, found through each pod's
//!   controller reference (a Deployment's pods through their ReplicaSet);
//!   for a count `minAvailable`, simply the pods selected.
//! - **desiredHealthy**: `minAvailable` (a percentage of expectedPods,
//!   rounded up), or expectedPods minus `maxUnavailable` (rounded up), at
//!   least 0.
//! - **currentHealthy**: selected pods that are ready, not being deleted,
//!   and not recently evicted.
//! - **disruptionsAllowed**: currentHealthy − desiredHealthy, but 0 when
//!   negative or when no pod is expected.
//! - **disruptedPods**: the evictions the API server has granted but
//!   whose pods are not yet being deleted. An entry older than two
//!   minutes is dropped: the pod was not deleted after all, and counts
//!   again.
//!
//! A pod without a controller, or whose controller cannot be found, makes
//! the scale unknowable: the budget then allows nothing (`SyncFailed`).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use orc_client::conditions::is_ready;
use serde_json::{Map, Value, json};

use crate::claims::is_deleting;
use crate::object::namespace_and_name;
use crate::owners::OwnerRef;

/// How long an eviction's pod may take to start being deleted before
/// the budget counts it again (Kubernetes' `DeletionTimeout`).
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(2 * 60);

/// The counts a budget's status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub expected_pods: i64,
    pub desired_healthy: i64,
    pub current_healthy: i64,
    pub disruptions_allowed: i64,
}

/// The disruptedPods entries kept, and when the earliest of them expires
/// (the budget must be looked at again then).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Disrupted {
    pub pods: Map<String, Value>,
    pub recheck: Option<Timestamp>,
    /// Pods whose eviction expired without a delete (Kubernetes records
    /// a `NotDeleted` event on each).
    pub expired: Vec<String>,
}

/// A controller's scale, as [`expected_scale`] asks for it: the owner
/// reference of a pod and its namespace → the uid of the controller that
/// decides how many pods there are, and that number. `None`: not found.
pub type FindScale<'a> = dyn Fn(&OwnerRef, &str) -> Option<(String, i64)> + 'a;

// ANCHOR: expected_scale
/// The sum of the scales of the pods' controllers, each counted once;
/// or why it cannot be known (Kubernetes' `getExpectedScale`).
pub fn expected_scale(pods: &[Value], find: &FindScale<'_>) -> Result<i64, String> {
    // Owners already looked up, and each deciding controller's scale
    // (a Deployment's pods name its ReplicaSets, which it decides for).
    let mut asked: HashSet<String> = HashSet::new();
    let mut scales: BTreeMap<String, i64> = BTreeMap::new();
    for pod in pods {
        let (ns, name) = namespace_and_name(pod);
        let Some(owner) = crate::owners::controller_of(pod) else {
            return Err(format!("found no controller ref for pod {name:?}"));
        };
        if !asked.insert(owner.uid.clone()) {
            continue;
        }
        let Some((uid, scale)) = find(&owner, ns) else {
            return Err(format!("found no controllers for pod {name:?}"));
        };
        scales.insert(uid, scale);
    }
    Ok(scales.values().sum())
}
// ANCHOR_END: expected_scale

/// `value` of `total` when it is a percentage, rounded up; the number
/// itself when it is one (Kubernetes' `GetScaledValueFromIntOrPercent`
/// with `roundUp`).
pub fn scaled(value: &Value, total: i64) -> Result<i64, String> {
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| format!("invalid value {n}")),
        Value::String(s) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            Ok((percent * total + 99) / 100)
        }
        other => Err(format!("invalid type: neither int nor percentage: {other}")),
    }
}

// ANCHOR: expected_and_desired
/// expectedPods and desiredHealthy of `pdb` over `pods` (Kubernetes'
/// `getExpectedPodCount`).
pub fn expected_and_desired(
    pdb: &Value,
    pods: &[Value],
    find: &FindScale<'_>,
) -> Result<(i64, i64), String> {
    let spec = pdb.get("spec").unwrap_or(&Value::Null);
    let set = |field: &str| spec.get(field).filter(|v| !v.is_null());
    if let Some(max) = set("maxUnavailable") {
        let expected = expected_scale(pods, find)?;
        let desired = (expected - scaled(max, expected)?).max(0);
        return Ok((expected, desired));
    }
    match set("minAvailable") {
        Some(Value::Number(n)) => Ok((pods.len() as i64, n.as_i64().unwrap_or(0))),
        Some(percent) => {
            let expected = expected_scale(pods, find)?;
            Ok((expected, scaled(percent, expected)?))
        }
        None => Ok((0, 0)),
    }
}
// ANCHOR_END: expected_and_desired

// ANCHOR: disrupted
/// The budget's disruptedPods still pending at `now` (Kubernetes'
/// `buildDisruptedPodMap`): entries for pods now being deleted or gone
/// are done, entries past [`DELETION_TIMEOUT`] expire.
pub fn disrupted(pdb: &Value, pods: &[Value], now: Timestamp) -> Disrupted {
    let mut out = Disrupted::default();
    let Some(recorded) = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
    else {
        return out;
    };
    for pod in pods.iter().filter(|p| !is_deleting(p)) {
        let name = namespace_and_name(pod).1;
        let Some(at) = recorded.get(name) else {
            continue;
        };
        let Some(since) = at.as_str().and_then(|t| t.parse::<Timestamp>().ok()) else {
            continue;
        };
        let due = since + DELETION_TIMEOUT;
        if due < now {
            out.expired.push(name.to_string());
        } else {
            out.recheck = Some(out.recheck.map_or(due, |r| r.min(due)));
            out.pods.insert(name.to_string(), at.clone());
        }
    }
    out
}
// ANCHOR_END: disrupted

/// The selected pods that count as healthy: ready, not being deleted,
/// and not among the pending evictions.
pub fn current_healthy(pods: &[Value], disrupted: &Map<String, Value>) -> i64 {
    pods.iter()
        .filter(|p| !is_deleting(p))
        .filter(|p| !disrupted.contains_key(namespace_and_name(p).1))
        .filter(|p| is_ready(p))
        .count() as i64
}

// ANCHOR: counts
/// All four counts of the budget at `now`, with the evictions still
/// pending; or why they cannot be known.
pub fn counts(
    pdb: &Value,
    pods: &[Value],
    find: &FindScale<'_>,
    now: Timestamp,
) -> Result<(Counts, Disrupted), String> {
    let (expected_pods, desired_healthy) = expected_and_desired(pdb, pods, find)?;
    let pending = disrupted(pdb, pods, now);
    let current_healthy = current_healthy(pods, &pending.pods);
    let allowed = current_healthy - desired_healthy;
    let disruptions_allowed = if expected_pods <= 0 || allowed <= 0 {
        0
    } else {
        allowed
    };
    let counts = Counts {
        expected_pods,
        desired_healthy,
        current_healthy,
        disruptions_allowed,
    };
    Ok((counts, pending))
}
// ANCHOR_END: counts

/// The status to write: the counts, the pending evictions (entries no
/// longer pending set to `null`, so a merge patch removes them), the
/// generation observed and the `DisruptionAllowed` condition.
pub fn status(pdb: &Value, counts: Counts, pending: &Disrupted, now: Timestamp) -> Value {
    let mut next = pdb.clone();
    let mut disrupted: BTreeMap<String, Value> = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, _)| (k.clone(), Value::Null))
        .collect();
    disrupted.extend(pending.pods.clone());
    next["status"] = json!({
        "observedGeneration": crate::object::generation(pdb),
        "expectedPods": counts.expected_pods,
        "desiredHealthy": counts.desired_healthy,
        "currentHealthy": counts.current_healthy,
        "disruptionsAllowed": counts.disruptions_allowed,
        "disruptedPods": disrupted,
        "conditions": pdb.pointer("/status/conditions").cloned().unwrap_or(json!([])),
    });
    orc_client::disruption::set_disruption_allowed(&mut next, now);
    next["status"].clone()
}

/// The status when the counts cannot be known: nothing allowed, and the
/// reason in a `SyncFailed` condition (Kubernetes' `failSafe`).
pub fn failed_status(pdb: &Value, why: &str, now: Timestamp) -> Value {
    let mut next = pdb.clone();
    if !next["status"].is_object() {
        next["status"] = json!({});
    }
    next["status"]["disruptionsAllowed"] = json!(0);
    next["status"]["observedGeneration"] = json!(crate::object::generation(pdb));
    orc_client::disruption::set_condition(&mut next, "False", "SyncFailed", why, now);
    next["status"].clone()
}

/// Whether writing `status` would change what `pdb` reports (entries
/// set to `null` are removals).
pub fn changes(pdb: &Value, status: &Value) -> bool {
    let mut wanted = status.clone();
    if let Some(map) = wanted
        .get_mut("disruptedPods")
        .and_then(Value::as_object_mut)
    {
        map.retain(|_, v| !v.is_null());
    }
    let mut current = pdb.get("status").cloned().unwrap_or(json!({}));
    if current.get("disruptedPods").is_none() {
        current["disruptedPods"] = json!({});
    }
    current != wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn pod(name: &str, ready: bool, owner: Option<&str>) -> Value {
        let mut pod = json!({"metadata": {"name": name, "namespace": "d", "labels": {"app": "web"}},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        if let Some(uid) = owner {
            pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1",
                "kind": "ReplicaSet", "name": "web", "uid": uid, "controller": true}]);
        }
        pod
    }

    fn pdb(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "generation": 2}, "spec": spec})
    }

    /// Every ReplicaSet named here wants 3 pods.
    fn three(owner: &OwnerRef, _ns: &str) -> Option<(String, i64)> {
        (owner.kind == "ReplicaSet").then(|| (owner.uid.clone(), 3))
    }

    #[test]
    fn min_available_counts_pods_max_unavailable_counts_the_scale() {
        let pods = [
            pod("a", true, Some("rs")),
            pod("b", true, Some("rs")),
            pod("c", false, Some("rs")),
        ];
        let min = pdb(json!({"minAvailable": 1}));
        let (got, _) = counts(&min, &pods, &three, at(0)).unwrap();
        assert_eq!(
            got,
            Counts {
                expected_pods: 3,
                desired_healthy: 1,
                current_healthy: 2,
                disruptions_allowed: 1
            }
        );
        // 3 wanted, at most 1 gone: 2 desired; only 2 ready, so none allowed.
        let max = pdb(json!({"maxUnavailable": 1}));
        let (got, _) = counts(&max, &pods[..2], &three, at(0)).unwrap();
        assert_eq!((got.expected_pods, got.desired_healthy), (3, 2));
        assert_eq!(got.disruptions_allowed, 0);
        // Percentages round up: 50% of 3 is 2.
        let half = pdb(json!({"minAvailable": "50%"}));
        assert_eq!(expected_and_desired(&half, &pods, &three).unwrap(), (3, 2));
        let quarter = pdb(json!({"maxUnavailable": "25%"}));
        assert_eq!(
            expected_and_desired(&quarter, &pods, &three).unwrap(),
            (3, 2)
        );
    }

    #[test]
    fn pods_without_a_known_controller_make_the_scale_unknown() {
        let max = pdb(json!({"maxUnavailable": 1}));
        let orphan = [pod("a", true, None)];
        assert_eq!(
            expected_and_desired(&max, &orphan, &three).unwrap_err(),
            r#"found no controller ref for pod "a""#
        );
        let lost = |_: &OwnerRef, _: &str| -> Option<(String, i64)> { None };
        assert_eq!(
            expected_and_desired(&max, &[pod("a", true, Some("rs"))], &lost).unwrap_err(),
            r#"found no controllers for pod "a""#
        );
        // A count needs no controller at all.
        let min = pdb(json!({"minAvailable": 1}));
        assert_eq!(expected_and_desired(&min, &orphan, &lost).unwrap(), (1, 1));
        let failed = failed_status(&max, "found no controllers", at(0));
        assert_eq!(failed["disruptionsAllowed"], 0);
        assert_eq!(failed["conditions"][0]["reason"], "SyncFailed");
        assert_eq!(failed["observedGeneration"], 2);
    }

    #[test]
    fn evicted_pods_do_not_count_until_their_time_runs_out() {
        let mut budget = pdb(json!({"minAvailable": 1}));
        budget["status"] = json!({"disruptedPods": {
            "a": orc_client::time::format(at(0)), "gone": orc_client::time::format(at(0))}});
        let pods = [pod("a", true, None), pod("b", true, None)];
        let (got, pending) = counts(&budget, &pods, &three, at(60)).unwrap();
        assert_eq!(got.current_healthy, 1);
        assert_eq!(got.disruptions_allowed, 0);
        assert_eq!(pending.recheck, Some(at(120)));
        assert!(pending.pods.contains_key("a") && !pending.pods.contains_key("gone"));
        // The status removes the finished entry, keeps the pending one.
        let written = status(&budget, got, &pending, at(60));
        assert_eq!(written["disruptedPods"]["gone"], Value::Null);
        assert!(written["disruptedPods"]["a"].is_string());
        assert_eq!(written["conditions"][0]["reason"], "InsufficientPods");
        assert!(changes(&budget, &written));
        // Two minutes on, the pod was not deleted: it counts again.
        let (got, pending) = counts(&budget, &pods, &three, at(121)).unwrap();
        assert_eq!(got.disruptions_allowed, 1);
        assert_eq!(pending.expired, ["a"]);
        assert!(pending.pods.is_empty() && pending.recheck.is_none());
    }

    #[test]
    fn an_unchanged_status_is_not_written_again() {
        let mut budget = pdb(json!({"minAvailable": 1}));
        let pods = [pod("a", true, None), pod("b", true, None)];
        let (got, pending) = counts(&budget, &pods, &three, at(0)).unwrap();
        budget["status"] = status(&budget, got, &pending, at(0));
        let again = status(&budget, got, &pending, at(5));
        assert!(!changes(&budget, &again));
    }
}

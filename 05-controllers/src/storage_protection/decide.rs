//! What the two storage-protection controllers do about one claim or one
//! volume (pure): Kubernetes' `pvc-protection` and `pv-protection`.
//!
//! The API server gives every new claim the `kubernetes.io/pvc-protection`
//! finalizer and every new volume `kubernetes.io/pv-protection`. A DELETE
//! then only marks the object; the finalizer comes off here, and the
//! object goes, once nothing depends on it:
//!
//! - a claim once no pod uses it. A pod uses a claim when it has been
//!   placed on a node (`spec.nodeName`) and one of its volumes names the
//!   claim. An unplaced pod does not count: the node agent will not start
//!   a pod whose claim is being deleted. Kubernetes (v1.32) does not look
//!   at the pod's phase either: a `Succeeded` Job pod keeps its claim
//!   until the pod itself is deleted, and so does orc's.
//! - a volume once it is no longer `Bound` (the binder marks it
//!   `Released` when its claim has gone).

use serde_json::Value;

/// The finalizer that keeps a claim while a pod uses it.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The finalizer that keeps a volume while it is bound.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// What to do about a claim's or a volume's protection finalizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing: not deleted and protected, or not ours to finish.
    Nothing,
    /// The object predates the admission step (or lost the finalizer
    /// before any delete): put it back, as Kubernetes' controllers do.
    AddFinalizer,
    /// Deleted and still in use: keep it (it shows `Terminating`).
    Keep,
    /// Deleted and unused: take the finalizer off; the object goes.
    RemoveFinalizer,
}

fn has_finalizer(obj: &Value, finalizer: &str) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|f| f == finalizer))
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// The verdict on `obj` guarded by `finalizer`; `in_use` is asked only
/// when the answer depends on it (for a claim it may cost a live list).
pub fn verdict(obj: &Value, finalizer: &str, in_use: impl FnOnce() -> bool) -> Verdict {
    match (deleting(obj), has_finalizer(obj, finalizer)) {
        (false, false) => Verdict::AddFinalizer,
        (false, true) | (true, false) => Verdict::Nothing,
        (true, true) if in_use() => Verdict::Keep,
        (true, true) => Verdict::RemoveFinalizer,
    }
}

// ANCHOR: pod_uses_claim
/// Whether `pod` uses the claim `claim` of its namespace: it is placed on
/// a node and one of its volumes names the claim.
pub fn pod_uses_claim(pod: &Value, claim: &str) -> bool {
    let placed = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    placed && claims_of(pod).any(|c| c == claim)
}
// ANCHOR_END: pod_uses_claim

/// The claims `pod`'s volumes name (`persistentVolumeClaim.claimName`).
pub fn claims_of(pod: &Value) -> impl Iterator<Item = &str> {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName"))
        .filter_map(Value::as_str)
}

/// Whether `volume` is in use: its phase is `Bound`.
pub fn volume_in_use(volume: &Value) -> bool {
    volume.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
}

/// The list without `finalizer`, for the update that removes it.
pub fn without(obj: &Value, finalizer: &str) -> Value {
    let mut obj = obj.clone();
    if let Some(list) = obj
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        list.retain(|f| f != finalizer);
    }
    obj
}

/// `obj` with `finalizer` appended (the list made when missing).
pub fn with(obj: &Value, finalizer: &str) -> Value {
    let mut obj = obj.clone();
    match obj
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        Some(list) => list.push(finalizer.into()),
        None => obj["metadata"]["finalizers"] = serde_json::json!([finalizer]),
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(deleted: bool, finalizers: &[&str]) -> Value {
        let mut c = json!({"metadata": {"name": "data", "finalizers": finalizers}});
        if deleted {
            c["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        c
    }

    fn pod(node: &str, claims: &[&str]) -> Value {
        let volumes: Vec<Value> = claims
            .iter()
            .map(|c| json!({"name": c, "persistentVolumeClaim": {"claimName": c}}))
            .collect();
        json!({"metadata": {"name": "p"}, "spec": {"nodeName": node, "volumes": volumes}})
    }

    #[test]
    fn a_deleted_claim_is_kept_while_used_and_released_after() {
        let deleted = claim(true, &[PVC_PROTECTION]);
        assert_eq!(verdict(&deleted, PVC_PROTECTION, || true), Verdict::Keep);
        assert_eq!(
            verdict(&deleted, PVC_PROTECTION, || false),
            Verdict::RemoveFinalizer
        );
    }

    #[test]
    fn live_claims_get_the_finalizer_and_use_is_not_asked() {
        let bare = claim(false, &[]);
        let asked = || panic!("in_use asked for a claim not being deleted");
        assert_eq!(verdict(&bare, PVC_PROTECTION, asked), Verdict::AddFinalizer);
        let protected = claim(false, &[PVC_PROTECTION]);
        assert_eq!(verdict(&protected, PVC_PROTECTION, asked), Verdict::Nothing);
        // Deleted without our finalizer: someone else's to finish.
        let other = claim(true, &["example.com/keep"]);
        assert_eq!(verdict(&other, PVC_PROTECTION, asked), Verdict::Nothing);
    }

    #[test]
    fn only_a_placed_pod_naming_the_claim_uses_it() {
        assert!(pod_uses_claim(&pod("n1", &["data"]), "data"));
        assert!(!pod_uses_claim(&pod("", &["data"]), "data"));
        assert!(!pod_uses_claim(&pod("n1", &["other"]), "data"));
        let mut done = pod("n1", &["data"]);
        done["status"] = json!({"phase": "Succeeded"});
        assert!(pod_uses_claim(&done, "data"), "as Kubernetes: any phase");
    }

    #[test]
    fn a_volume_is_in_use_while_bound() {
        assert!(volume_in_use(&json!({"status": {"phase": "Bound"}})));
        assert!(!volume_in_use(&json!({"status": {"phase": "Released"}})));
        assert!(!volume_in_use(&json!({"status": {"phase": "Available"}})));
    }

    #[test]
    fn finalizers_are_added_and_removed_without_touching_others() {
        let c = claim(false, &["a", PVC_PROTECTION]);
        assert_eq!(
            without(&c, PVC_PROTECTION)["metadata"]["finalizers"],
            json!(["a"])
        );
        let bare = json!({"metadata": {"name": "v"}});
        assert_eq!(
            with(&bare, PV_PROTECTION)["metadata"]["finalizers"],
            json!([PV_PROTECTION])
        );
    }
}

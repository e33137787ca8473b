//! Graceful deletion: what a DELETE does to an object before (or instead
//! of) removing it.
//!
//! Kubernetes cannot remove a running pod's object at once: the node still
//! runs its containers, and the object is how the node learns to stop
//! them. So a DELETE of a pod bound to a node only *marks* it:
//! `metadata.deletionTimestamp` becomes now + the grace period and
//! `metadata.deletionGracePeriodSeconds` the grace period. The node agent
//! sees the mark (its watch gets a MODIFIED event), stops the containers
//! with SIGTERM, waits up to the grace period, SIGKILLs what is left, and
//! then deletes the object for good with `gracePeriodSeconds: 0` and a uid
//! precondition. `kubectl delete pod` meanwhile watches until the object is
//! gone.
//!
//! The grace period is, first match wins: `DeleteOptions.gracePeriodSeconds`
//! (`?gracePeriodSeconds=` or the body, `kubectl delete --grace-period`),
//! the pod's `spec.terminationGracePeriodSeconds`, 30 s. It is 0 (delete at
//! once) for a pod no node runs (no `spec.nodeName`) and for a pod that has
//! already finished (`Succeeded`, `Failed`), as the pod strategy of
//! Kubernetes' registry decides. A second DELETE may shorten a pending
//! grace period, never lengthen it. Finalizers are the other reason an
//! object stays: kinds without graceful deletion are marked with grace 0
//! and wait for them.

use jiff::Timestamp;
use orc_client::time::{self, add_seconds};
use serde_json::Value;

use crate::meta::ObjectMeta;

/// Kubernetes' default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE_SECONDS: i64 = 30;

// ANCHOR: pod_grace
/// The grace period a DELETE gives `pod`; `requested` is the
/// DeleteOptions' `gracePeriodSeconds`, if any.
pub fn pod_grace_seconds(pod: &Value, requested: Option<i64>) -> i64 {
    let bound = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if !bound || finished {
        return 0;
    }
    let grace = requested
        .or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(DEFAULT_GRACE_SECONDS);
    // A negative grace period means "as short as possible, but graceful".
    if grace < 0 { 1 } else { grace }
}
// ANCHOR_END: pod_grace

/// What a DELETE does to the stored object.
#[derive(Debug, Clone, PartialEq)]
pub enum Deletion {
    /// Remove it from storage now.
    Now,
    /// Store it with this metadata (deletionTimestamp set or moved earlier).
    Mark(Box<ObjectMeta>),
    /// Deletion is already under way and this request changes nothing.
    Pending,
}

// ANCHOR: decide
/// Decides a DELETE of an object with metadata `meta`, given the grace
/// period its kind allows (`None`: the kind has no graceful deletion) and
/// the time now.
pub fn decide(meta: &ObjectMeta, grace: Option<i64>, now: Timestamp) -> Deletion {
    let has_finalizers = !meta.finalizers.is_empty();
    if let Some(marked_at) = &meta.deletion_timestamp {
        // Already being deleted: only a shorter grace period changes anything.
        return match (grace, meta.deletion_grace_period_seconds) {
            (Some(new), Some(old)) if new < old => {
                let marked_at = time::parse(marked_at).unwrap_or(now);
                let deadline = add_seconds(marked_at, new.saturating_sub(old));
                if new == 0 && !has_finalizers {
                    return Deletion::Now;
                }
                let mut next = meta.clone();
                next.deletion_timestamp = Some(time::format(deadline));
                next.deletion_grace_period_seconds = Some(new);
                Deletion::Mark(Box::new(next))
            }
            _ if has_finalizers || grace.is_some_and(|g| g > 0) => Deletion::Pending,
            _ => Deletion::Now,
        };
    }
    let grace = grace.unwrap_or(0);
    if grace == 0 && !has_finalizers {
        return Deletion::Now;
    }
    let mut next = meta.clone();
    next.deletion_timestamp = Some(time::format(add_seconds(now, grace)));
    next.deletion_grace_period_seconds = Some(grace);
    Deletion::Mark(Box::new(next))
}
// ANCHOR_END: decide

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn text(secs: i64) -> String {
        time::format(at(secs))
    }

    fn bound_pod(grace: Option<i64>) -> Value {
        let mut pod = json!({"spec": {"nodeName": "n1", "containers": []}});
        if let Some(g) = grace {
            pod["spec"]["terminationGracePeriodSeconds"] = json!(g);
        }
        pod
    }

    #[test]
    fn the_grace_period_comes_from_options_then_spec_then_default() {
        assert_eq!(pod_grace_seconds(&bound_pod(Some(5)), Some(2)), 2);
        assert_eq!(pod_grace_seconds(&bound_pod(Some(5)), None), 5);
        assert_eq!(pod_grace_seconds(&bound_pod(None), None), 30);
        assert_eq!(pod_grace_seconds(&bound_pod(None), Some(-3)), 1);
        let unbound = json!({"spec": {"containers": []}});
        assert_eq!(pod_grace_seconds(&unbound, Some(10)), 0);
        let mut done = bound_pod(None);
        done["status"] = json!({"phase": "Succeeded"});
        assert_eq!(pod_grace_seconds(&done, None), 0);
    }

    #[test]
    fn a_first_delete_marks_and_a_second_may_only_shorten() {
        let meta = ObjectMeta::default();
        let Deletion::Mark(marked) = decide(&meta, Some(30), at(1_000)) else {
            panic!("a graceful delete marks");
        };
        assert_eq!(marked.deletion_timestamp.as_deref(), Some(&*text(1_030)));
        assert_eq!(marked.deletion_grace_period_seconds, Some(30));
        assert_eq!(decide(&marked, Some(60), at(1_001)), Deletion::Pending);
        let Deletion::Mark(shorter) = decide(&marked, Some(10), at(1_001)) else {
            panic!("a shorter grace period moves the deadline");
        };
        assert_eq!(shorter.deletion_timestamp.as_deref(), Some(&*text(1_010)));
        assert_eq!(decide(&marked, Some(0), at(1_001)), Deletion::Now);
        assert_eq!(decide(&meta, Some(0), at(1_000)), Deletion::Now);
        assert_eq!(decide(&meta, None, at(1_000)), Deletion::Now);
    }

    #[test]
    fn finalizers_keep_an_object_marked() {
        let meta = ObjectMeta {
            finalizers: vec!["example.com/x".into()],
            ..ObjectMeta::default()
        };
        let Deletion::Mark(marked) = decide(&meta, None, at(1_000)) else {
            panic!("finalizers mark");
        };
        assert_eq!(marked.deletion_grace_period_seconds, Some(0));
        assert_eq!(decide(&marked, None, at(1_001)), Deletion::Pending);
        assert_eq!(decide(&marked, Some(0), at(1_001)), Deletion::Pending);
    }
}

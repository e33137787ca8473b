//! The fields controllers read from objects, which they keep as JSON
//! values (as chapter 03's client hands them out): each path and its
//! default written once, here, instead of a `.pointer(...)` chain at every
//! place that reads it.
//!
//! Metadata every object has is read through free functions; a
//! [`ReplicaSet`] is read through a typed view ([`Workload`]), as
//! Kubernetes' controllers read the fields of an `apps.ReplicaSet` struct.

use std::cmp::Ordering;

use orc_client::time;
use serde_json::Value;

pub use orc_client::informer::key_of;

/// `metadata.uid`; empty when missing.
pub fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace` and `metadata.name`; empty when missing.
pub fn namespace_and_name(obj: &Value) -> (&str, &str) {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    (text("/metadata/namespace"), text("/metadata/name"))
}

/// `metadata.generation`: the API server adds one whenever the spec
/// changes, and a controller reports the one it acted on as
/// `status.observedGeneration` (`kubectl rollout status` compares the two).
/// 0 when missing.
pub fn generation(obj: &Value) -> i64 {
    number(obj, "/metadata/generation").unwrap_or(0)
}

/// The annotation `key` of `obj`, when it is text.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(key)?.as_str()
}

/// Oldest first, by `metadata.creationTimestamp`, then name (timestamps
/// have whole seconds, so two objects often share one): the order in which
/// old ReplicaSets shrink, and in which Kubernetes' controllers break ties.
pub fn by_age(a: &Value, b: &Value) -> Ordering {
    let created = |obj: &Value| time::at(obj, "/metadata/creationTimestamp");
    created(a)
        .cmp(&created(b))
        .then_with(|| namespace_and_name(a).1.cmp(namespace_and_name(b).1))
}

/// The integer at `pointer` in `obj`.
pub(crate) fn number(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

/// What the workload resources that run copies of one pod template have
/// in common, read through typed accessors: a Deployment and a ReplicaSet
/// both have `spec.replicas`, `spec.minReadySeconds`, `spec.template` and
/// a status counting pods. Implemented by the views [`ReplicaSet`] and
/// `deployment::Deployment`, which only say where their object is.
pub trait Workload<'a>: Copy {
    /// The object itself, for what the view does not name.
    fn object(self) -> &'a Value;

    /// `spec.replicas`: the pods wanted; 1 when unset, the API server's
    /// default.
    fn replicas(self) -> i64 {
        number(self.object(), "/spec/replicas").unwrap_or(1)
    }

    /// `spec.minReadySeconds`: how long a pod must have been ready to count
    /// as available; 0 when unset.
    fn min_ready_seconds(self) -> i64 {
        number(self.object(), "/spec/minReadySeconds").unwrap_or(0)
    }

    /// `spec.template`: the pod every replica is made from.
    fn template(self) -> &'a Value {
        &self.object()["spec"]["template"]
    }

    /// `status.replicas`: the pods at its controller's last count (0
    /// before the first).
    fn status_replicas(self) -> i64 {
        number(self.object(), "/status/replicas").unwrap_or(0)
    }

    /// `status.readyReplicas`: of those, the ready ones.
    fn ready_replicas(self) -> i64 {
        number(self.object(), "/status/readyReplicas").unwrap_or(0)
    }

    /// `status.availableReplicas`: of those, the ones ready for at least
    /// `minReadySeconds`.
    fn available_replicas(self) -> i64 {
        number(self.object(), "/status/availableReplicas").unwrap_or(0)
    }
}

/// A ReplicaSet, read through typed accessors ([`Workload`]). Both
/// controllers of the chapter read one: the ReplicaSet controller its own
/// spec, the Deployment controller the counts its ReplicaSets report (and,
/// in `deployment::object`, the annotations it wrote on them).
#[derive(Debug, Clone, Copy)]
pub struct ReplicaSet<'a>(pub &'a Value);

impl<'a> Workload<'a> for ReplicaSet<'a> {
    fn object(self) -> &'a Value {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_replicaset_reads_its_fields_and_their_defaults() {
        let rs = json!({"metadata": {"generation": 2, "annotations": {"a": "b"}},
            "spec": {"replicas": 3, "minReadySeconds": 5},
            "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 1}});
        let view = ReplicaSet(&rs);
        assert_eq!(view.replicas(), 3);
        assert_eq!(view.min_ready_seconds(), 5);
        let counts = (
            view.status_replicas(),
            view.ready_replicas(),
            view.available_replicas(),
        );
        assert_eq!(counts, (3, 2, 1));
        assert_eq!((generation(&rs), annotation(&rs, "a")), (2, Some("b")));
        let bare = json!({});
        let view = ReplicaSet(&bare);
        assert_eq!((view.replicas(), view.status_replicas()), (1, 0));
        assert_eq!((generation(&bare), annotation(&bare, "a")), (0, None));
    }
}

//! A StatefulSet's fields, read through a typed view: where each lives and
//! its default (the API server's, so a missing field reads as Kubernetes
//! would have stored it).

use serde_json::Value;

use crate::object::{Workload, number};

/// How pods are created and deleted (`spec.podManagementPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodManagement {
    /// One at a time, in ordinal order, each Running and Ready before the
    /// next; scale-down in reverse order. The default.
    OrderedReady,
    /// All at once, without waiting on each other.
    Parallel,
}

/// How a new template reaches existing pods (`spec.updateStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStrategy {
    /// The controller replaces pods with an ordinal at or above
    /// `partition` (counted from the first ordinal), highest first, one
    /// at a time.
    RollingUpdate { partition: i64 },
    /// Nothing replaced until someone deletes a pod; its replacement gets
    /// the new template.
    OnDelete,
}

/// What happens to a pod's claims (`spec.persistentVolumeClaimRetentionPolicy`):
/// for each of two events, kept or deleted with the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// The claims stay (and a later pod of the same ordinal reuses them).
    /// The default.
    Retain,
    /// The claims go: the garbage collector deletes them with their owner.
    Delete,
}

/// `spec.persistentVolumeClaimRetentionPolicy`: what happens to the claims
/// when the set is deleted, and when a pod is scaled away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `whenDeleted`: the StatefulSet itself is deleted.
    pub when_deleted: Retention,
    /// `whenScaled`: `replicas` drops below a pod's ordinal.
    pub when_scaled: Retention,
}

/// A StatefulSet, read through typed accessors ([`Workload`] has what it
/// shares with ReplicaSets: replicas, minReadySeconds, the template).
#[derive(Debug, Clone, Copy)]
pub struct StatefulSet<'a>(pub &'a Value);

impl<'a> Workload<'a> for StatefulSet<'a> {
    fn object(self) -> &'a Value {
        self.0
    }
}

impl<'a> StatefulSet<'a> {
    /// `spec.serviceName`: the headless Service that gives the pods their
    /// DNS names (`web-0.web.ns.svc.cluster.local`); may be empty.
    pub fn service_name(self) -> &'a str {
        self.0
            .pointer("/spec/serviceName")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `spec.podManagementPolicy`.
    pub fn pod_management(self) -> PodManagement {
        match self.0.pointer("/spec/podManagementPolicy") {
            Some(Value::String(p)) if p == "Parallel" => PodManagement::Parallel,
            _ => PodManagement::OrderedReady,
        }
    }

    /// `spec.updateStrategy`.
    pub fn update_strategy(self) -> UpdateStrategy {
        match self.0.pointer("/spec/updateStrategy/type") {
            Some(Value::String(t)) if t == "OnDelete" => UpdateStrategy::OnDelete,
            _ => UpdateStrategy::RollingUpdate {
                partition: number(self.0, "/spec/updateStrategy/rollingUpdate/partition")
                    .unwrap_or(0)
                    .max(0),
            },
        }
    }

    /// `spec.ordinals.start`: the first pod's number (0 unless set).
    pub fn start_ordinal(self) -> i64 {
        number(self.0, "/spec/ordinals/start").unwrap_or(0).max(0)
    }

    /// The ordinals the pods should have: `start .. start + replicas`.
    pub fn ordinals(self) -> std::ops::Range<i64> {
        let start = self.start_ordinal();
        start..start + self.replicas().max(0)
    }

    /// `spec.revisionHistoryLimit`: old ControllerRevisions kept (10).
    pub fn revision_history_limit(self) -> i64 {
        number(self.0, "/spec/revisionHistoryLimit")
            .unwrap_or(10)
            .max(0)
    }

    /// `spec.volumeClaimTemplates`: one claim per pod made from each.
    pub fn volume_claim_templates(self) -> &'a [Value] {
        self.0
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// `spec.persistentVolumeClaimRetentionPolicy` (Retain and Retain
    /// unless set: an unknown value reads as Retain, as Kubernetes treats it).
    pub fn retention_policy(self) -> RetentionPolicy {
        let read = |when: &str| match self.0.pointer(&format!(
            "/spec/persistentVolumeClaimRetentionPolicy/{when}"
        )) {
            Some(Value::String(p)) if p == "Delete" => Retention::Delete,
            _ => Retention::Retain,
        };
        RetentionPolicy {
            when_deleted: read("whenDeleted"),
            when_scaled: read("whenScaled"),
        }
    }

    /// `status.collisionCount`: bumped when a revision's name is taken by
    /// other data, so the next hash differs.
    pub fn collision_count(self) -> i64 {
        number(self.0, "/status/collisionCount").unwrap_or(0)
    }

    /// `status.currentRevision`: the revision of the pods below the
    /// partition (all pods, once a rollout completes); empty at first.
    pub fn current_revision(self) -> &'a str {
        self.0
            .pointer("/status/currentRevision")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_and_their_defaults() {
        let sts = json!({"spec": {"replicas": 3, "serviceName": "web",
            "podManagementPolicy": "Parallel", "ordinals": {"start": 5},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}},
            "status": {"currentRevision": "web-1", "collisionCount": 1}});
        let s = StatefulSet(&sts);
        assert_eq!(s.service_name(), "web");
        assert_eq!(s.pod_management(), PodManagement::Parallel);
        assert_eq!(
            s.update_strategy(),
            UpdateStrategy::RollingUpdate { partition: 2 }
        );
        assert_eq!(s.ordinals(), 5..8);
        assert_eq!((s.current_revision(), s.collision_count()), ("web-1", 1));
        let bare = json!({});
        let s = StatefulSet(&bare);
        assert_eq!(s.pod_management(), PodManagement::OrderedReady);
        assert_eq!(
            s.update_strategy(),
            UpdateStrategy::RollingUpdate { partition: 0 }
        );
        assert_eq!((s.ordinals(), s.revision_history_limit()), (0..1, 10));
        let retain = RetentionPolicy {
            when_deleted: Retention::Retain,
            when_scaled: Retention::Retain,
        };
        assert_eq!(s.retention_policy(), retain);
        assert!(s.volume_claim_templates().is_empty());
        let deleting = json!({"spec": {"persistentVolumeClaimRetentionPolicy":
            {"whenDeleted": "Delete", "whenScaled": "Retain"}}});
        let policy = StatefulSet(&deleting).retention_policy();
        assert_eq!(
            (policy.when_deleted, policy.when_scaled),
            (Retention::Delete, Retention::Retain)
        );
    }
}

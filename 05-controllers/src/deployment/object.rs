//! A Deployment read through typed accessors, and the annotations the
//! controller writes on its ReplicaSets: each path and default written
//! once, as Kubernetes' controller reads the fields of `apps.Deployment`.

use serde_json::{Map, Value};

use super::rolling;
use crate::object::{self, ReplicaSet, Workload, number};

/// The annotation holding a ReplicaSet's (and its Deployment's) revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The Deployment's `spec.replicas` when the ReplicaSet was last sized: a
/// different one now marks a resize (Kubernetes' `DesiredReplicasAnnotation`).
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's `spec.replicas + maxSurge` when the ReplicaSet was last
/// sized: the base of its proportion (Kubernetes' `MaxReplicasAnnotation`).
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// How a Deployment replaces old pods with new ones (`spec.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every old pod goes before any new one comes (`Recreate`).
    Recreate,
    /// Old and new side by side, within bounds (`RollingUpdate`, the
    /// default), resolved to pod counts for `spec.replicas`
    /// ([`rolling::fenceposts`]).
    RollingUpdate {
        /// Pods above `spec.replicas` allowed at once.
        max_surge: i64,
        /// Pods below `spec.replicas` allowed to be unavailable at once.
        max_unavailable: i64,
    },
}

/// A Deployment, read through typed accessors: those of every
/// [`Workload`] (`replicas`, `template`, `status_replicas`...) and its own.
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'a>(pub &'a Value);

impl<'a> Workload<'a> for Deployment<'a> {
    fn object(self) -> &'a Value {
        self.0
    }
}

impl<'a> Deployment<'a> {
    /// `spec.strategy`, its bounds resolved for `spec.replicas`.
    pub fn strategy(self) -> Strategy {
        if self
            .0
            .pointer("/spec/strategy/type")
            .and_then(Value::as_str)
            == Some("Recreate")
        {
            return Strategy::Recreate;
        }
        let bounds = self.0.pointer("/spec/strategy/rollingUpdate");
        let (max_surge, max_unavailable) = rolling::fenceposts(bounds, self.replicas());
        Strategy::RollingUpdate {
            max_surge,
            max_unavailable,
        }
    }

    /// Pods above `spec.replicas` allowed at once: 0 for Recreate
    /// (Kubernetes' `MaxSurge`).
    pub fn max_surge(self) -> i64 {
        match self.strategy() {
            Strategy::Recreate => 0,
            Strategy::RollingUpdate { max_surge, .. } => max_surge,
        }
    }

    /// Pods below `spec.replicas` allowed to be unavailable: 0 for Recreate
    /// (Kubernetes' `MaxUnavailable`).
    pub fn max_unavailable(self) -> i64 {
        match self.strategy() {
            Strategy::Recreate => 0,
            Strategy::RollingUpdate {
                max_unavailable, ..
            } => max_unavailable,
        }
    }

    /// The most pods it may have at once: `spec.replicas` plus the surge.
    pub fn max_replicas(self) -> i64 {
        self.replicas() + self.max_surge()
    }

    /// `spec.paused` (`kubectl rollout pause`): follow resizes, roll nothing.
    pub fn paused(self) -> bool {
        self.0
            .pointer("/spec/paused")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `spec.progressDeadlineSeconds`: how long a rollout may go without
    /// progress before it is reported stuck; `None` means never.
    pub fn progress_deadline_seconds(self) -> Option<i64> {
        number(self.0, "/spec/progressDeadlineSeconds")
    }

    /// `spec.revisionHistoryLimit`: how many empty old ReplicaSets to keep
    /// for `kubectl rollout undo`; 10 when unset, the API server's default.
    pub fn revision_history_limit(self) -> i64 {
        number(self.0, "/spec/revisionHistoryLimit").unwrap_or(10)
    }

    /// `status.collisionCount`: how many times a new ReplicaSet's name was
    /// taken by another template's, which changes the next hash.
    pub fn collision_count(self) -> i64 {
        number(self.0, "/status/collisionCount").unwrap_or(0)
    }

    /// `status`, as last written (`None` before the first).
    pub fn status(self) -> Option<&'a Value> {
        self.0.get("status")
    }

    /// `status.conditions`, as last written.
    pub fn conditions(self) -> &'a [Value] {
        self.0
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// `metadata.annotations`; empty when there are none.
    pub fn annotations(self) -> Map<String, Value> {
        self.0
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}

/// The annotations the Deployment controller writes on its ReplicaSets,
/// read beside where they are named (an inherent `impl` may live in any
/// module of the crate that defines the type).
impl ReplicaSet<'_> {
    /// Its revision; 0 without one.
    pub fn revision(self) -> i64 {
        annotation_number(self.0, REVISION).unwrap_or(0)
    }

    /// The Deployment's `spec.replicas` when it was last sized.
    pub fn desired_replicas_annotation(self) -> Option<i64> {
        annotation_number(self.0, DESIRED_REPLICAS)
    }

    /// The Deployment's `spec.replicas + maxSurge` when it was last sized.
    pub fn max_replicas_annotation(self) -> Option<i64> {
        annotation_number(self.0, MAX_REPLICAS)
    }
}

/// An annotation holding a number, as the controller writes revisions and
/// sizes (annotations are text).
fn annotation_number(obj: &Value, key: &str) -> Option<i64> {
    object::annotation(obj, key)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_strategy_resolves_its_bounds_and_recreate_has_none() {
        let rolling = json!({"spec": {"replicas": 10,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}});
        let d = Deployment(&rolling);
        let bounds = Strategy::RollingUpdate {
            max_surge: 3,
            max_unavailable: 2,
        };
        assert_eq!(d.strategy(), bounds, "maxUnavailable defaults to 25%");
        assert_eq!((d.max_replicas(), d.max_unavailable()), (13, 2));
        let recreate = json!({"spec": {"replicas": 4, "strategy": {"type": "Recreate"}}});
        let d = Deployment(&recreate);
        assert_eq!(d.strategy(), Strategy::Recreate);
        assert_eq!((d.max_replicas(), d.max_unavailable()), (4, 0));
    }

    #[test]
    fn fields_left_out_take_the_api_servers_defaults() {
        let bare = json!({});
        let d = Deployment(&bare);
        assert_eq!((d.replicas(), d.revision_history_limit()), (1, 10));
        assert_eq!((d.paused(), d.progress_deadline_seconds()), (false, None));
        assert!(d.conditions().is_empty() && d.status().is_none());
        let rs = json!({"metadata": {"annotations": {REVISION: "3", DESIRED_REPLICAS: "x"}}});
        let rs = ReplicaSet(&rs);
        assert_eq!(rs.revision(), 3);
        assert_eq!(rs.desired_replicas_annotation(), None, "not a number");
        assert_eq!(ReplicaSet(&bare).revision(), 0);
    }
}

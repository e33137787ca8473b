//! A DaemonSet's fields, read through a typed view, and the labels its
//! controller writes on pods and revisions.

use serde_json::Value;

use crate::deployment::rolling::resolve;
use crate::object::number;

/// The label on a pod (and on a ControllerRevision) naming the revision
/// of the template it was made from. A pod whose label matches the
/// current revision's hash is *updated*.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// The older label with the DaemonSet's `metadata.generation` at the
/// time the pod was made. Kubernetes still writes it (deprecated since
/// 1.6, kept for tools that read it); orc writes it too.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// How a DaemonSet replaces its pods when the template changes
/// (`spec.updateStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStrategy {
    /// The controller replaces old pods itself, within these bounds
    /// (pods, resolved against the number of nodes that should run one).
    RollingUpdate {
        /// How many nodes may be without an available pod at once.
        max_unavailable: i64,
        /// How many nodes may run a second (new) pod beside the old one
        /// while the new one becomes available.
        max_surge: i64,
    },
    /// Old pods stay until someone deletes them; replacements are new.
    OnDelete,
}

/// A DaemonSet, read through typed accessors.
#[derive(Debug, Clone, Copy)]
pub struct DaemonSet<'a>(pub &'a Value);

impl<'a> DaemonSet<'a> {
    /// `spec.template`: the pod every node gets.
    pub fn template(self) -> &'a Value {
        &self.0["spec"]["template"]
    }

    /// `spec.minReadySeconds`: how long a pod must be ready to count as
    /// available; 0 when unset.
    pub fn min_ready_seconds(self) -> i64 {
        number(self.0, "/spec/minReadySeconds").unwrap_or(0)
    }

    /// `spec.revisionHistoryLimit`: old ControllerRevisions kept for
    /// `kubectl rollout undo`; 10 when unset, the API server's default.
    pub fn revision_history_limit(self) -> i64 {
        number(self.0, "/spec/revisionHistoryLimit").unwrap_or(10)
    }

    /// `status.collisionCount`: how often a revision's name was already
    /// taken by a different revision (it is mixed into the hash).
    pub fn collision_count(self) -> i64 {
        number(self.0, "/status/collisionCount").unwrap_or(0)
    }

    // ANCHOR: strategy
    /// `spec.updateStrategy`, its bounds resolved for `desired` nodes: a
    /// percentage rounds *up* for both (Kubernetes' `unavailableCount` and
    /// `surgeCount`), so 10% of 3 nodes is 1. The API server defaults a
    /// RollingUpdate to `maxUnavailable: 1, maxSurge: 0` and refuses both
    /// being 0; should both still resolve to 0 (0% of few nodes), one node
    /// at a time may be unavailable, or the rollout could never start.
    pub fn strategy(self, desired: i64) -> UpdateStrategy {
        let strategy = &self.0["spec"]["updateStrategy"];
        if strategy["type"] == "OnDelete" {
            return UpdateStrategy::OnDelete;
        }
        let rolling = strategy.get("rollingUpdate");
        let field = |name| rolling.and_then(|r| r.get(name));
        let max_surge = resolve(field("maxSurge"), desired, true).unwrap_or(0);
        let max_unavailable = resolve(field("maxUnavailable"), desired, true).unwrap_or(1);
        UpdateStrategy::RollingUpdate {
            max_unavailable: if max_surge == 0 {
                max_unavailable.max(1)
            } else {
                max_unavailable
            },
            max_surge,
        }
    }
    // ANCHOR_END: strategy
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_strategy_resolves_percentages_upwards() {
        let ds = |strategy: Value| json!({"spec": {"updateStrategy": strategy}});
        let rolling = ds(json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 0}}));
        assert_eq!(
            DaemonSet(&rolling).strategy(3),
            UpdateStrategy::RollingUpdate {
                max_unavailable: 1,
                max_surge: 0
            }
        );
        let surge = ds(json!({"type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "50%"}}));
        assert_eq!(
            DaemonSet(&surge).strategy(3),
            UpdateStrategy::RollingUpdate {
                max_unavailable: 0,
                max_surge: 2
            }
        );
        let on_delete = ds(json!({"type": "OnDelete"}));
        assert_eq!(DaemonSet(&on_delete).strategy(3), UpdateStrategy::OnDelete);
        let bare = json!({});
        assert_eq!(
            DaemonSet(&bare).strategy(0),
            UpdateStrategy::RollingUpdate {
                max_unavailable: 1,
                max_surge: 0
            }
        );
        assert_eq!(DaemonSet(&bare).revision_history_limit(), 10);
    }
}

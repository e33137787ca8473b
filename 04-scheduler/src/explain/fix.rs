//! The smallest change that would let a pending pod fit (for `orc
//! explain`), pure.
//!
//! For each node, change the pod (or the node) just enough to get past
//! the filter that refused it, and run every filter again; repeat while
//! another filter refuses, up to [`MAX_STEPS`] changes. The changes that
//! end with the pod fitting are kept, fewest changes first:
//!
//! - `Insufficient cpu` (or memory, ephemeral-storage): request exactly
//!   the shortfall less ("fits node-2 with 300m less cpu requested");
//! - an untolerated taint: tolerate it ("tolerate taint
//!   dedicated=gpu:NoSchedule to use node-3");
//! - a cordoned node: uncordon it.
//!
//! Other refusals (affinity, spreading, ports, too many pods) end the
//! search for that node: the change they need is not one number.

use std::sync::Arc;

use crate::cache::{NodeInfo, Snapshot};
use crate::framework::schedule::fits;
use crate::framework::{Cycle, Profile, Status};
use crate::objects::resources::ResourceName;
use crate::objects::taints::{Effect, Operator, Toleration, untolerated};
use crate::objects::{Node, PodInfo, Resources};

/// The taint a cordoned node carries.
const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// At most this many changes for one node.
pub const MAX_STEPS: usize = 3;

/// One change, as a user reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    LessRequested(ResourceName, i64),
    Tolerate(String),
    Uncordon,
}

// ANCHOR: fixes
/// The changes that would let `pod` fit, one line per node that can be
/// helped: fewest changes first, then the smallest share of the pod's
/// requests given up, then the snapshot's order.
pub fn fixes(profile: &Profile, pod: &PodInfo, snapshot: &Snapshot) -> Vec<String> {
    let mut found: Vec<((usize, i64), String)> = Vec::new();
    for node in snapshot.nodes.iter() {
        let cycle = Cycle { pod, snapshot };
        if fits(profile, cycle, node).is_success() {
            continue;
        }
        if let Some(changes) = changes_for(profile, pod, snapshot, node) {
            let given_up: i64 = changes
                .iter()
                .map(|c| match c {
                    Change::LessRequested(r, amount) => amount * 1000 / pod.requests.get(*r).max(1),
                    _ => 0,
                })
                .sum();
            found.push(((changes.len(), given_up), describe(node.name(), &changes)));
        }
    }
    found.sort_by_key(|(size, _)| *size);
    found.into_iter().map(|(_, text)| text).collect()
}
// ANCHOR_END: fixes

/// The changes after which `pod` fits `node`, if a few suffice.
fn changes_for(
    profile: &Profile,
    pod: &PodInfo,
    snapshot: &Snapshot,
    node: &NodeInfo,
) -> Option<Vec<Change>> {
    let mut pod = pod.clone();
    let mut node = node.clone();
    let mut changes = Vec::new();
    for _ in 0..=MAX_STEPS {
        let status = fits(
            profile,
            Cycle {
                pod: &pod,
                snapshot,
            },
            &node,
        );
        if status.is_success() {
            return Some(changes);
        }
        if changes.len() == MAX_STEPS {
            return None;
        }
        let change = next_change(&status, &pod, &node)?;
        apply(&change, &mut pod, &mut node);
        changes.push(change);
    }
    None
}

/// The change that gets past the refusal `status`, if there is one.
fn next_change(status: &Status, pod: &PodInfo, node: &NodeInfo) -> Option<Change> {
    match status.plugin {
        "NodeResourcesFit" => {
            for resource in [
                ResourceName::Cpu,
                ResourceName::Memory,
                ResourceName::EphemeralStorage,
            ] {
                let free = node.node.allocatable.get(resource) - node.requested.get(resource);
                let short = pod.requests.get(resource) - free;
                if short > 0 && free >= 0 {
                    return Some(Change::LessRequested(resource, short));
                }
            }
            None
        }
        "TaintToleration" => {
            let taint = untolerated(&node.node.taints, &pod.tolerations, |e| {
                matches!(e, Effect::NoSchedule | Effect::NoExecute)
            })?;
            Some(Change::Tolerate(format!(
                "{}={}:{:?}",
                taint.key, taint.value, taint.effect
            )))
        }
        "NodeUnschedulable" => Some(Change::Uncordon),
        _ => None,
    }
}

fn apply(change: &Change, pod: &mut PodInfo, node: &mut NodeInfo) {
    match change {
        Change::LessRequested(resource, amount) => {
            let mut less = Resources::default();
            match resource {
                ResourceName::Cpu => less.milli_cpu = *amount,
                ResourceName::Memory => less.memory = *amount,
                ResourceName::EphemeralStorage => less.ephemeral_storage = *amount,
                ResourceName::Pods => {}
            }
            pod.requests.subtract(&less);
        }
        Change::Tolerate(_) => {
            if let Some(taint) = untolerated(&node.node.taints, &pod.tolerations, |e| {
                matches!(e, Effect::NoSchedule | Effect::NoExecute)
            }) {
                pod.tolerations.push(Toleration {
                    key: taint.key.clone(),
                    operator: Operator::Equal,
                    value: taint.value.clone(),
                    effect: Some(taint.effect),
                });
            }
        }
        Change::Uncordon => {
            // `kubectl uncordon` clears `spec.unschedulable`, and with it
            // goes the taint that marks a cordoned node.
            let taints = node
                .node
                .taints
                .iter()
                .filter(|t| t.key != UNSCHEDULABLE_TAINT)
                .cloned()
                .collect();
            let uncordoned = Node {
                unschedulable: false,
                taints,
                ..(*node.node).clone()
            };
            *node = node.with_node(Arc::new(uncordoned));
        }
    }
}

/// "fits node-2 with 300m less cpu requested", ...
fn describe(node: &str, changes: &[Change]) -> String {
    let parts: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::LessRequested(r, amount) => {
                format!("{} less {} requested", quantity(*r, *amount), r.as_str())
            }
            Change::Tolerate(taint) => format!("taint {taint} tolerated"),
            Change::Uncordon => format!("{node} uncordoned"),
        })
        .collect();
    match changes {
        [Change::Tolerate(taint)] => format!("tolerate taint {taint} to use {node}"),
        [Change::Uncordon] => format!("uncordon {node} to use it"),
        _ => format!("fits {node} with {}", parts.join(" and ")),
    }
}

/// An amount as a quantity a user would write: `300m`, `64Mi`.
fn quantity(resource: ResourceName, amount: i64) -> String {
    const MI: i64 = 1024 * 1024;
    match resource {
        ResourceName::Cpu if amount % 1000 == 0 => (amount / 1000).to_string(),
        ResourceName::Cpu => format!("{amount}m"),
        _ if amount % (1024 * MI) == 0 => format!("{}Gi", amount / (1024 * MI)),
        // Rounded up: asking for this much less is always enough.
        _ => format!("{}Mi", (amount + MI - 1) / MI),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::{ScoringStrategy, default_profile};
    use serde_json::json;

    #[test]
    fn the_smallest_change_per_node_fewest_first() {
        let node = |name: &str, cpu: &str, spec: serde_json::Value| {
            NodeInfo::new(Arc::new(Node::parse(&json!({"metadata": {"name": name},
                "spec": spec, "status": {"allocatable": {"cpu": cpu, "memory": "1Gi", "pods": "10"}}}))))
        };
        let snapshot = Snapshot::of_nodes(vec![
            node("node-1", "100m", json!({})),
            node("node-2", "700m", json!({})),
            node(
                "node-3",
                "4",
                json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
            ),
            node(
                "node-4",
                "600m",
                json!({"unschedulable": true,
                "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]}),
            ),
        ]);
        let pod = PodInfo::parse(
            &json!({"metadata": {"namespace": "d", "name": "p", "uid": "p"},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1", "memory": "128Mi"}}}]}}),
        );
        let profile = default_profile(ScoringStrategy::LeastAllocated, 0);
        assert_eq!(
            fixes(&profile, &pod, &snapshot),
            [
                "tolerate taint dedicated=gpu:NoSchedule to use node-3",
                "fits node-2 with 300m less cpu requested",
                "fits node-1 with 900m less cpu requested",
                "fits node-4 with node-4 uncordoned and 400m less cpu requested",
            ]
        );
    }
}

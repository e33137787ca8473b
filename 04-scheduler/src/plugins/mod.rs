//! kube-scheduler's default plugins, one per file, and the default
//! profile that puts them at their extension points with their weights.
//!
//! | plugin | filter | score weight |
//! |---|---|---|
//! | `NodeUnschedulable` | cordoned nodes | |
//! | `NodeName` | `spec.nodeName` | |
//! | `TaintToleration` | `NoSchedule`, `NoExecute` | 3 (`PreferNoSchedule`) |
//! | `NodeAffinity` | `nodeSelector`, required terms | 2 (preferred terms) |
//! | `NodePorts` | host ports | |
//! | `NodeResourcesFit` | requests vs allocatable | 1 (Least/MostAllocated) |
//! | `VolumeBinding` | claims exist and are bound or wait for a consumer; bound volumes' node affinity | |
//! | `PodTopologySpread` | `DoNotSchedule` | 2 (`ScheduleAnyway`, defaults) |
//! | `InterPodAffinity` | required terms | 2 (preferred terms) |
//! | `NodeResourcesBalancedAllocation` | | 1 |
//! | `ImageLocality` | | 1 |
//! | `DefaultPreemption` | PostFilter: evicts lower priorities | |

pub mod balanced_allocation;
pub mod default_preemption;
pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_resources_fit;
pub mod node_unschedulable;
pub mod pod_topology_spread;
pub mod taint_toleration;
pub mod volume_binding;

use std::sync::Arc;

use crate::framework::{Plugin, Profile};
use crate::objects::pod::DEFAULT_SCHEDULER;

pub use node_resources_fit::ScoringStrategy;

/// Kubernetes' default profile (v1.32): the filters in its order, the
/// scores with its weights.
pub fn default_profile(strategy: ScoringStrategy, percentage_of_nodes_to_score: usize) -> Profile {
    let preemption = default_preemption::DefaultPreemption::default();
    profile_with_preemption(strategy, percentage_of_nodes_to_score, preemption)
}

// ANCHOR: default_profile
/// [`default_profile`] with its PostFilter given: the scheduler's own
/// `DefaultPreemption` reads PodDisruptionBudgets from an informer.
pub fn profile_with_preemption(
    strategy: ScoringStrategy,
    percentage_of_nodes_to_score: usize,
    preemption: default_preemption::DefaultPreemption,
) -> Profile {
    let taints: Arc<dyn Plugin> = Arc::new(taint_toleration::TaintToleration);
    let affinity: Arc<dyn Plugin> = Arc::new(node_affinity::NodeAffinity);
    let fit: Arc<dyn Plugin> = Arc::new(node_resources_fit::NodeResourcesFit { strategy });
    let spread: Arc<dyn Plugin> = Arc::new(pod_topology_spread::PodTopologySpread);
    let inter_pod: Arc<dyn Plugin> = Arc::new(inter_pod_affinity::InterPodAffinity);
    Profile {
        name: DEFAULT_SCHEDULER.to_string(),
        filters: vec![
            Arc::new(node_unschedulable::NodeUnschedulable),
            Arc::new(node_name::NodeName),
            taints.clone(),
            affinity.clone(),
            Arc::new(node_ports::NodePorts),
            fit.clone(),
            Arc::new(volume_binding::VolumeBinding),
            spread.clone(),
            inter_pod.clone(),
        ],
        post_filters: vec![Arc::new(preemption)],
        scores: vec![
            (taints, 3),
            (affinity, 2),
            (fit, 1),
            (spread, 2),
            (inter_pod, 2),
            (Arc::new(balanced_allocation::BalancedAllocation), 1),
            (Arc::new(image_locality::ImageLocality), 1),
        ],
        reservers: Vec::new(),
        percentage_of_nodes_to_score,
    }
}
// ANCHOR_END: default_profile

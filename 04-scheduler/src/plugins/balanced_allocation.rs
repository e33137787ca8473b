//! `NodeResourcesBalancedAllocation`: prefer nodes whose CPU and memory
//! would be used in the same proportion once the pod is placed, so that
//! no node runs out of one while the other sits idle (a score, weight 1).

use std::sync::Arc;

use crate::cache::NodeInfo;
use crate::framework::normalize::MAX_NODE_SCORE;
use crate::framework::{Cycle, CycleState, Events, Plugin, Status};
use crate::objects::ResourceName;

/// The plugin.
pub struct BalancedAllocation;

// ANCHOR: balanced
/// `(1 − standard deviation of the used fractions) × 100`, over the
/// resources the node has (each fraction `requested / allocatable`,
/// capped at 1). For two resources the deviation is half their
/// difference: CPU 50 % and memory 50 % used scores 100; 80 % and 20 %
/// scores 70.
pub fn balanced_score(fractions: &[f64]) -> i64 {
    let n = fractions.len();
    let deviation = match n {
        0 | 1 => 0.0,
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        _ => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            let variance = fractions
                .iter()
                .map(|f| (f - mean) * (f - mean))
                .sum::<f64>()
                / n as f64;
            variance.sqrt()
        }
    };
    ((1.0 - deviation) * MAX_NODE_SCORE as f64) as i64
}
// ANCHOR_END: balanced

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }

    fn events(&self) -> Events {
        Events::NONE
    }

    /// A pod that requests neither CPU nor memory would not change any
    /// node's balance; scoring it anyway sends every such pod to the same
    /// most-balanced node, so Kubernetes skips them (issue 129138).
    fn pre_score(&self, cycle: Cycle, _state: &mut CycleState, _nodes: &[Arc<NodeInfo>]) -> Status {
        let r = &cycle.pod.requests;
        if r.milli_cpu == 0 && r.memory == 0 {
            Status::skip()
        } else {
            Status::success()
        }
    }

    /// Unlike the fit score, this one counts the requests as declared.
    fn score(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> i64 {
        let mut requested = node.requested;
        requested.add(&cycle.pod.requests);
        // On the stack: this runs for every feasible node of every pod.
        let mut fractions = [0.0; 2];
        let mut n = 0;
        for r in [ResourceName::Cpu, ResourceName::Memory] {
            let allocatable = node.node.allocatable.get(r);
            if allocatable > 0 {
                fractions[n] = (requested.get(r) as f64 / allocatable as f64).min(1.0);
                n += 1;
            }
        }
        balanced_score(&fractions[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_is_one_minus_the_deviation() {
        assert_eq!(balanced_score(&[0.5, 0.5]), 100);
        assert_eq!(balanced_score(&[0.8, 0.2]), 70);
        assert_eq!(balanced_score(&[1.0, 0.0]), 50);
        assert_eq!(balanced_score(&[0.3]), 100);
    }
}

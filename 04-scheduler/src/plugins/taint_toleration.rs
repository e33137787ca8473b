//! `TaintToleration`: a pod goes only where it tolerates every
//! `NoSchedule` and `NoExecute` taint (a filter), and rather where fewer
//! `PreferNoSchedule` taints are left untolerated (a score, weight 3).

use std::sync::Arc;

use crate::cache::NodeInfo;
use crate::framework::normalize::default_normalize;
use crate::framework::{Cycle, CycleState, Events, Plugin, PreFilterResult, Status};
use crate::objects::pod::Part;
use crate::objects::taints::{Effect, Taint, Toleration, tolerates, untolerated};

/// The plugin.
pub struct TaintToleration;

const NAME: &str = "TaintToleration";

/// Kubernetes' reason for a node refused by `taint`.
pub fn reason(taint: &Taint) -> String {
    format!(
        "node(s) had untolerated taint {{{}: {}}}",
        taint.key, taint.value
    )
}

// ANCHOR: prefer_no_schedule
/// How many `PreferNoSchedule` taints of a node `tolerations` leave
/// untolerated: the raw score, where less is better. Only tolerations for
/// `PreferNoSchedule` or for every effect count.
pub fn intolerable_prefer_no_schedule(taints: &[Taint], tolerations: &[Toleration]) -> i64 {
    let relevant: Vec<&Toleration> = tolerations
        .iter()
        .filter(|t| t.effect.is_none_or(|e| e == Effect::PreferNoSchedule))
        .collect();
    taints
        .iter()
        .filter(|t| t.effect == Effect::PreferNoSchedule)
        .filter(|t| !relevant.iter().any(|tol| tolerates(tol, t)))
        .count() as i64
}
// ANCHOR_END: prefer_no_schedule

// ANCHOR: plugin
impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn events(&self) -> Events {
        Events::NODE_ADDED.or(Events::NODE_TAINTS)
    }

    fn pre_filter(&self, cycle: Cycle, _state: &mut CycleState) -> Result<PreFilterResult, Status> {
        match cycle.pod.problem(Part::Tolerations) {
            Some(problem) => Err(Status::unresolvable(problem)),
            None => Ok(PreFilterResult::AllNodes),
        }
    }

    fn filter(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> Status {
        let hard = |e: Effect| matches!(e, Effect::NoSchedule | Effect::NoExecute);
        match untolerated(&node.node.taints, &cycle.pod.tolerations, hard) {
            Some(taint) => Status::unresolvable(reason(taint)),
            None => Status::success(),
        }
    }

    fn score(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> i64 {
        intolerable_prefer_no_schedule(&node.node.taints, &cycle.pod.tolerations)
    }

    /// More untolerated taints is worse: reversed.
    fn normalize_score(&self, _: Cycle, _: &CycleState, _: &[Arc<NodeInfo>], scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}
// ANCHOR_END: plugin

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::taints::Operator;

    fn taint(key: &str, effect: Effect) -> Taint {
        Taint {
            key: key.into(),
            value: "v".into(),
            effect,
        }
    }

    #[test]
    fn only_prefer_no_schedule_taints_are_scored() {
        let taints = [
            taint("a", Effect::PreferNoSchedule),
            taint("b", Effect::PreferNoSchedule),
            taint("c", Effect::NoSchedule),
        ];
        assert_eq!(intolerable_prefer_no_schedule(&taints, &[]), 2);
        let a_for_no_schedule = Toleration {
            key: "a".into(),
            operator: Operator::Exists,
            value: String::new(),
            effect: Some(Effect::NoSchedule),
        };
        assert_eq!(
            intolerable_prefer_no_schedule(&taints, std::slice::from_ref(&a_for_no_schedule)),
            2,
            "a toleration for another effect does not count"
        );
        let a_any = Toleration {
            effect: None,
            ..a_for_no_schedule
        };
        assert_eq!(intolerable_prefer_no_schedule(&taints, &[a_any]), 1);
    }

    #[test]
    fn the_reason_names_the_taint() {
        assert_eq!(
            reason(&Taint {
                key: "dedicated".into(),
                value: "gpu".into(),
                effect: Effect::NoSchedule
            }),
            "node(s) had untolerated taint {dedicated: gpu}"
        );
    }
}

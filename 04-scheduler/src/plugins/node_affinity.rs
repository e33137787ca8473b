//! `NodeAffinity`: `spec.nodeSelector` and the required node affinity
//! terms are a filter; the preferred terms a score (the sum of the
//! weights of the terms a node satisfies, normalized; weight 2).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::cache::NodeInfo;
use crate::framework::normalize::default_normalize;
use crate::framework::{Cycle, CycleState, Events, Plugin, PreFilterResult, Status};
use crate::objects::node_selector::{NodeOperator, NodeSelectorTerm};
use crate::objects::pod::Part;

/// Kubernetes' reason.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";
/// Kubernetes' reason when the terms on node names exclude every node.
pub const CONFLICT: &str = "pod affinity terms conflict";

/// The plugin.
pub struct NodeAffinity;

/// The only nodes the required terms can match, when every term names
/// nodes (`matchFields` on `metadata.name` with `In`): the union over
/// terms of the intersection within each. `None` when some term allows
/// any node name.
pub fn named_nodes(terms: &[NodeSelectorTerm]) -> Option<BTreeSet<String>> {
    let mut union = BTreeSet::new();
    for term in terms {
        let mut within: Option<BTreeSet<String>> = None;
        for field in &term.fields {
            if let NodeOperator::In(names) = &field.operator {
                let names: BTreeSet<String> = names.iter().cloned().collect();
                within = Some(match within {
                    Some(w) => w.intersection(&names).cloned().collect(),
                    None => names,
                });
            }
        }
        union.extend(within?);
    }
    Some(union)
}

impl Plugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn events(&self) -> Events {
        Events::NODE_ADDED.or(Events::NODE_LABELS)
    }

    fn pre_filter(&self, cycle: Cycle, _state: &mut CycleState) -> Result<PreFilterResult, Status> {
        if let Some(problem) = cycle.pod.problem(Part::NodeAffinity) {
            return Err(Status::unresolvable(problem));
        }
        let prefs = &cycle.pod.node_preferences;
        if !prefs.has_required() {
            return Ok(PreFilterResult::Skip);
        }
        match prefs.required.as_deref().and_then(named_nodes) {
            Some(names) if names.is_empty() => Err(Status::unresolvable(CONFLICT)),
            Some(names) => Ok(PreFilterResult::Only(names)),
            None => Ok(PreFilterResult::AllNodes),
        }
    }

    fn filter(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> Status {
        let prefs = &cycle.pod.node_preferences;
        if prefs.required_match(node.name(), &node.node.labels) {
            Status::success()
        } else {
            Status::unresolvable(REASON)
        }
    }

    fn pre_score(&self, cycle: Cycle, _state: &mut CycleState, _nodes: &[Arc<NodeInfo>]) -> Status {
        if cycle.pod.node_preferences.preferred.is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }

    fn score(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> i64 {
        cycle
            .pod
            .node_preferences
            .preferred_weight(node.name(), &node.node.labels)
    }

    fn normalize_score(&self, _: Cycle, _: &CycleState, _: &[Arc<NodeInfo>], scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::node_selector::parse;
    use serde_json::json;

    fn terms(terms: serde_json::Value) -> Vec<NodeSelectorTerm> {
        parse(
            &json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": terms}}}}),
        )
        .unwrap()
        .required
        .unwrap()
    }

    #[test]
    fn terms_on_names_narrow_the_nodes() {
        let name_in =
            |names: &[&str]| json!({"key": "metadata.name", "operator": "In", "values": names});
        let named =
            terms(json!([{"matchFields": [name_in(&["a"])]}, {"matchFields": [name_in(&["b"])]}]));
        assert_eq!(
            named_nodes(&named),
            Some(["a".to_string(), "b".to_string()].into())
        );
        let open = terms(
            json!([{"matchFields": [name_in(&["a"])]}, {"matchExpressions": [{"key": "x", "operator": "Exists"}]}]),
        );
        assert_eq!(named_nodes(&open), None, "the second term allows any name");
    }
}

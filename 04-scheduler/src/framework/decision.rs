//! [`Decision`]: everything one scheduling cycle found out, kept so it
//! can be explained: each node's filter verdict, each plugin's score, and
//! the outcome, with the message a user reads when no node fits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::status::{Code, Status};

/// A node's name in a decision: shared with the snapshot's `NodeInfo`
/// (`NodeInfo::shared_name`), so naming 500 nodes allocates nothing.
pub type NodeName = Arc<str>;

/// How one plugin scored one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginScore {
    pub plugin: &'static str,
    /// What `score` answered.
    pub raw: i64,
    /// After `normalize_score` (0..=100).
    pub normalized: i64,
    pub weight: i64,
}

/// How a feasible node scored in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScore {
    pub node: NodeName,
    /// One entry per score plugin that ran for this pod.
    pub plugins: Vec<PluginScore>,
    /// The sum of normalized × weight.
    pub total: i64,
}

/// How the cycle ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Bind the pod to this node.
    Selected(String),
    /// No node fits; the message for the pod's condition and event.
    Unschedulable(String),
    /// Something failed that is not about fitting.
    Error(String),
}

/// One cycle, whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// How many nodes the cluster had.
    pub nodes_total: usize,
    /// A PreFilter's refusal, if the cycle stopped there.
    pub pre_filter: Option<Status>,
    /// Each node filtered, with its verdict: success, or the status of the
    /// first plugin that refused it (filters stop at the first refusal,
    /// as Kubernetes' do). Nodes not looked at (sampling) are absent.
    pub verdicts: Vec<(NodeName, Status)>,
    /// The PostFilter's answer when no node fit (preemption).
    pub post_filter: Option<Status>,
    /// Where preemption made room, and whom it evicts.
    pub nomination: Option<super::Nomination>,
    /// Each feasible node's scores (empty when one node or none fit).
    pub scores: Vec<NodeScore>,
    /// Plugins that refused the pod somewhere: the events they register
    /// decide when it is tried again.
    pub rejected_by: BTreeSet<&'static str>,
    pub outcome: Outcome,
}

impl Decision {
    /// The node chosen, if any.
    pub fn selected(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Selected(node) => Some(node),
            _ => None,
        }
    }

    /// About how many bytes it holds: its rows (a verdict per node looked
    /// at, a score per plugin per feasible node) and their texts. Node
    /// names are shared with the snapshot and not counted.
    pub fn weight(&self) -> usize {
        use std::mem::size_of;
        let text = |s: &Status| s.reasons.iter().map(String::len).sum::<usize>();
        let verdicts = self.verdicts.len() * size_of::<(NodeName, Status)>()
            + self.verdicts.iter().map(|(_, s)| text(s)).sum::<usize>();
        let scores = self.scores.len() * size_of::<NodeScore>()
            + self.scores.iter().map(|n| n.plugins.len()).sum::<usize>() * size_of::<PluginScore>();
        let outcome = match &self.outcome {
            Outcome::Selected(s) | Outcome::Unschedulable(s) | Outcome::Error(s) => s.len(),
        };
        size_of::<Decision>() + verdicts + scores + outcome
    }
}

// ANCHOR: fit_error
/// The message Kubernetes' `FitError` writes when no node fits:
///
/// ```text
/// 0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated
/// taint {dedicated: gpu}. preemption: 0/5 nodes are available: ...
/// ```
///
/// A PreFilter's refusal stands for every node. Otherwise each reason is
/// counted over the nodes that gave it, written `count reason`, and the
/// lines are sorted *as text* (so `10 x` comes before `2 y`, as in
/// Kubernetes). The PostFilter's message follows.
pub fn fit_error_message<N>(
    nodes_total: usize,
    pre_filter: Option<&Status>,
    verdicts: &[(N, Status)],
    post_filter: Option<&Status>,
) -> String {
    let mut message = format!("0/{nodes_total} nodes are available:");
    match pre_filter {
        Some(status) => message.push_str(&format!(" {}.", status.message())),
        None => {
            let histogram = reason_histogram(verdicts.iter().map(|(_, s)| s));
            if !histogram.is_empty() {
                message.push_str(&format!(" {}.", histogram.join(", ")));
            }
        }
    }
    if let Some(post) = post_filter.filter(|s| !s.reasons.is_empty()) {
        message.push_str(&format!(" {}", post.message()));
    }
    message
}
// ANCHOR_END: fit_error

/// `count reason` for every reason of `statuses`, sorted as text.
pub fn reason_histogram<'a>(statuses: impl Iterator<Item = &'a Status>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for status in statuses.filter(|s| s.code != Code::Success) {
        for reason in &status.reasons {
            *counts.entry(reason).or_default() += 1;
        }
    }
    let mut lines: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    lines.sort();
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(node: &str, status: Status) -> (String, Status) {
        (node.to_string(), status)
    }

    #[test]
    fn reasons_are_counted_and_sorted_as_text() {
        let taint = || Status::unresolvable("node(s) had untolerated taint {dedicated: gpu}");
        let cpu = || Status::unschedulable(vec!["Insufficient cpu".into()]);
        let verdicts = vec![
            refused("a", cpu()),
            refused("b", taint()),
            refused("c", cpu()),
            refused("d", taint()),
            refused("e", taint()),
        ];
        let post = Status::unschedulable(vec![
            "preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, \
             3 Preemption is not helpful for scheduling."
                .into(),
        ]);
        assert_eq!(
            fit_error_message(5, None, &verdicts, Some(&post)),
            "0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint \
             {dedicated: gpu}. preemption: 0/5 nodes are available: 2 No preemption victims \
             found for incoming pod, 3 Preemption is not helpful for scheduling."
        );
        let many: Vec<_> = (0..10)
            .map(|i| refused(&i.to_string(), cpu()))
            .chain([refused("x", taint()), refused("y", taint())])
            .collect();
        assert_eq!(
            fit_error_message(12, None, &many, None),
            "0/12 nodes are available: 10 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}."
        );
    }

    #[test]
    fn a_pre_filter_refusal_stands_for_every_node() {
        let pre =
            Status::unresolvable("spec.tolerations[0].operator: \"Maybe\" is not Equal or Exists");
        assert_eq!(
            fit_error_message::<&str>(3, Some(&pre), &[], None),
            "0/3 nodes are available: spec.tolerations[0].operator: \"Maybe\" is not Equal or Exists."
        );
    }
}

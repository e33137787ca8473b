//! [`schedule`]: one scheduling cycle, as a pure function.
//!
//! Pod and snapshot in, [`Decision`] out: no API calls, no clock, no
//! shared state but the index sampling resumes from and a random number
//! for ties, both given. This is kube-scheduler's `schedulePod`:
//! `findNodesThatFitPod` (PreFilter, then Filter on a sample of nodes,
//! then PostFilter if none fit), `prioritizeNodes` (PreScore, Score,
//! NormalizeScore, weights) and `selectHost`.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::decision::{Decision, NodeName, NodeScore, Outcome, PluginScore, fit_error_message};
use super::plugin::{Cycle, CycleState, Filters, Plugin, PreFilterResult};
use super::profile::Profile;
use super::sampling::num_feasible_nodes_to_find;
use super::status::{Code, Status};
use crate::cache::{NodeInfo, Snapshot};
use crate::objects::PodInfo;

/// Kubernetes' message when the cluster has no node at all.
pub const NO_NODES: &str = "no nodes available to schedule pods";

/// Where the filtering of the next pod starts: after the last node this
/// one looked at, so that with sampling every node gets its turn.
#[derive(Debug, Clone, Copy, Default)]
pub struct NextStart(pub usize);

// ANCHOR: schedule
/// Decides where `pod` should run in `snapshot`.
pub fn schedule(
    profile: &Profile,
    pod: &PodInfo,
    snapshot: &Snapshot,
    next_start: &mut NextStart,
    random: u64,
) -> Decision {
    let cycle = Cycle { pod, snapshot };
    let mut decision = Decision {
        nodes_total: snapshot.nodes.len(),
        pre_filter: None,
        verdicts: Vec::new(),
        post_filter: None,
        nomination: None,
        scores: Vec::new(),
        rejected_by: BTreeSet::new(),
        outcome: Outcome::Error(String::new()),
    };
    if snapshot.nodes.is_empty() {
        decision.outcome = Outcome::Unschedulable(NO_NODES.into());
        return decision;
    }
    let mut state = CycleState::default();
    let feasible = match pre_filter(profile, cycle, &mut state, &mut decision) {
        Ok((candidates, skipped)) => filter(
            profile,
            cycle,
            &state,
            (candidates, &skipped),
            next_start,
            &mut decision,
        ),
        Err(()) => Vec::new(),
    };
    if matches!(decision.outcome, Outcome::Error(ref e) if !e.is_empty()) {
        return decision;
    }
    decision.outcome = match feasible.len() {
        0 => {
            post_filter(profile, cycle, &mut decision);
            Outcome::Unschedulable(fit_error_message(
                decision.nodes_total,
                decision.pre_filter.as_ref(),
                &decision.verdicts,
                decision.post_filter.as_ref(),
            ))
        }
        // One feasible node: nothing to compare, so no scoring (as
        // Kubernetes does).
        1 => Outcome::Selected(feasible[0].name().to_string()),
        _ => {
            decision.scores = prioritize(profile, cycle, &mut state, &feasible);
            Outcome::Selected(select_host(&decision.scores, random))
        }
    };
    decision
}
// ANCHOR_END: schedule

/// Runs every PreFilter. Answers the nodes to filter (`None`: all) and the
/// plugins whose Filter is skipped; on a refusal, records it against
/// every node and answers `Err`.
fn pre_filter(
    profile: &Profile,
    cycle: Cycle,
    state: &mut CycleState,
    decision: &mut Decision,
) -> Result<(Option<BTreeSet<String>>, HashSet<&'static str>), ()> {
    let mut candidates: Option<BTreeSet<String>> = None;
    let mut narrowed_by = Vec::new();
    let mut skipped = HashSet::new();
    for plugin in &profile.filters {
        match plugin.pre_filter(cycle, state) {
            Ok(PreFilterResult::AllNodes) => {}
            Ok(PreFilterResult::Skip) => {
                skipped.insert(plugin.name());
            }
            Ok(PreFilterResult::Only(nodes)) => {
                narrowed_by.push(plugin.name());
                candidates = Some(match candidates {
                    Some(c) => c.intersection(&nodes).cloned().collect(),
                    None => nodes,
                });
            }
            Err(status) => {
                let status = status.by(plugin.name());
                if status.code == Code::Error {
                    decision.outcome = Outcome::Error(format!(
                        "running PreFilter plugin {:?}: {}",
                        plugin.name(),
                        status.message()
                    ));
                    return Err(());
                }
                refuse_everywhere(status, cycle, decision);
                return Err(());
            }
        }
    }
    if candidates.as_ref().is_some_and(|c| c.is_empty()) {
        let status = Status::unresolvable(format!(
            "node(s) didn't satisfy plugin(s) [{}] simultaneously",
            narrowed_by.join(" ")
        ));
        let status = match narrowed_by.as_slice() {
            [one] => Status::unresolvable(format!("node(s) didn't satisfy plugin {one}")),
            _ => status,
        }
        .by(narrowed_by[0]);
        refuse_everywhere(status, cycle, decision);
        return Err(());
    }
    if let Some(c) = &candidates {
        // Nodes a PreFilter ruled out still count in the message, as
        // Kubernetes' "absent nodes" status.
        let status = Status::unresolvable(format!(
            "node(s) didn't satisfy plugin(s) [{}]",
            narrowed_by.join(" ")
        ))
        .by(narrowed_by[0]);
        for node in cycle
            .snapshot
            .nodes
            .iter()
            .filter(|n| !c.contains(n.name()))
        {
            decision
                .verdicts
                .push((node.shared_name.clone(), status.clone()));
        }
        decision.rejected_by.extend(narrowed_by);
    }
    Ok((candidates, skipped))
}

/// A PreFilter refused the pod: every node gets that status.
fn refuse_everywhere(status: Status, cycle: Cycle, decision: &mut Decision) {
    decision.rejected_by.insert(status.plugin);
    decision.verdicts = cycle
        .snapshot
        .nodes
        .iter()
        .map(|n| (n.shared_name.clone(), status.clone()))
        .collect();
    decision.pre_filter = Some(status);
}

/// Filters nodes (all, or the PreFilters' candidates) until enough
/// feasible ones are found; answers those.
fn filter(
    profile: &Profile,
    cycle: Cycle,
    state: &CycleState,
    (candidates, skipped): (Option<BTreeSet<String>>, &HashSet<&'static str>),
    next_start: &mut NextStart,
    decision: &mut Decision,
) -> Vec<Arc<NodeInfo>> {
    let all = &cycle.snapshot.nodes;
    // Every node, or the candidates: no list of 5,000 references made
    // for each pod when every node is a candidate.
    let narrowed: Vec<&Arc<NodeInfo>> = match &candidates {
        Some(c) => all.iter().filter(|n| c.contains(n.name())).collect(),
        None => Vec::new(),
    };
    let nodes = Nodes {
        narrowed: candidates.is_some().then_some(&narrowed[..]),
        all,
    };
    // The filters to run on each node, decided once for the pod rather
    // than looked up at every node.
    let active = active_filters(profile, skipped);
    let wanted = num_feasible_nodes_to_find(profile.percentage_of_nodes_to_score, nodes.len());
    // Resume where the last pod stopped, but only when walking all nodes.
    let start = if candidates.is_none() {
        next_start.0 % nodes.len().max(1)
    } else {
        0
    };
    let mut feasible = Vec::new();
    let mut processed = 0;
    for i in 0..nodes.len() {
        if feasible.len() >= wanted {
            break;
        }
        let node = nodes.at((start + i) % nodes.len());
        processed += 1;
        let status = filter_with_nominated(profile, cycle, state, &active, node);
        if status.code == Code::Error {
            decision.outcome = Outcome::Error(format!(
                "running Filter plugin {:?} on node {:?}: {}",
                status.plugin,
                node.name(),
                status.message()
            ));
            return Vec::new();
        }
        if status.is_success() {
            feasible.push(node.clone());
        } else {
            decision.rejected_by.insert(status.plugin);
        }
        decision.verdicts.push((node.shared_name.clone(), status));
    }
    if candidates.is_none() && !nodes.is_empty() {
        next_start.0 = (start + processed) % nodes.len();
    }
    feasible
}

/// The nodes to filter: every node, or those the PreFilters narrowed
/// them to.
struct Nodes<'a> {
    narrowed: Option<&'a [&'a Arc<NodeInfo>]>,
    all: &'a [Arc<NodeInfo>],
}

impl<'a> Nodes<'a> {
    fn len(&self) -> usize {
        self.narrowed.map_or(self.all.len(), <[_]>::len)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn at(&self, i: usize) -> &'a Arc<NodeInfo> {
        match self.narrowed {
            Some(narrowed) => narrowed[i],
            None => &self.all[i],
        }
    }
}

// ANCHOR: filter_with_nominated
/// Every filter on one node, counting the pods nominated there that hold
/// their room against this pod. As Kubernetes, the filters run twice when
/// there are such pods: with them on the node (PreFilter recomputed with
/// them counted, since affinity and spreading see them too), so the pod
/// cannot take the room preemption freed for them; then, if that passes,
/// without them, since they may never land (a pod's anti-affinity to a
/// nominated pod must not be satisfied by a pod that is not there).
fn filter_with_nominated(
    profile: &Profile,
    cycle: Cycle,
    state: &CycleState,
    active: &[&dyn Plugin],
    node: &NodeInfo,
) -> Status {
    if let Some(refused) = ProfileFilters(profile).refused_with_nominated(cycle, node) {
        return refused;
    }
    filter_node(active, cycle, state, node)
}
// ANCHOR_END: filter_with_nominated

/// The profile's filters but those whose PreFilter said `Skip`, in order.
fn active_filters<'a>(
    profile: &'a Profile,
    skipped: &HashSet<&'static str>,
) -> Vec<&'a dyn Plugin> {
    profile
        .filters
        .iter()
        .map(|p| &**p)
        .filter(|p| !skipped.contains(p.name()))
        .collect()
}

/// Every active filter on one node, stopping at the first refusal.
fn filter_node(
    active: &[&dyn Plugin],
    cycle: Cycle,
    state: &CycleState,
    node: &NodeInfo,
) -> Status {
    for plugin in active {
        let status = plugin.filter(cycle, state, node);
        if !status.is_success() {
            return status.by(plugin.name());
        }
    }
    Status::success()
}

/// PostFilter: the first plugin with something to say says it.
fn post_filter(profile: &Profile, cycle: Cycle, decision: &mut Decision) {
    let rejections: Vec<(NodeName, Status)> = decision
        .verdicts
        .iter()
        .filter(|(_, s)| !s.is_success())
        .cloned()
        .collect();
    let filters = ProfileFilters(profile);
    let answer = profile.post_filters.iter().find_map(|p| {
        p.post_filter(cycle, &rejections, &filters).map(|mut r| {
            r.status = r.status.by(p.name());
            r
        })
    });
    if let Some(answer) = answer {
        decision.post_filter = Some(answer.status);
        decision.nomination = answer.nomination;
    }
}

/// Whether `cycle`'s pod fits `node` (a changed copy of one of the
/// snapshot's nodes) by every PreFilter and Filter of `profile`: what
/// preemption and `orc explain`'s suggestions ask.
pub fn fits(profile: &Profile, cycle: Cycle, node: &NodeInfo) -> Status {
    ProfileFilters(profile).fits(cycle, node)
}

/// The profile's filters, for PostFilter plugins to run again.
struct ProfileFilters<'a>(&'a Profile);

impl Filters for ProfileFilters<'_> {
    /// With the pods nominated to the node that hold their room against
    /// this one, then without them, as a first decision filters
    /// ([`filter_with_nominated`]): preemption must not count room that
    /// is promised to another pod.
    fn fits(&self, cycle: Cycle, node: &NodeInfo) -> Status {
        match self.refused_with_nominated(cycle, node) {
            Some(refused) => refused,
            None => self.fits_as_is(cycle, node),
        }
    }
}

impl ProfileFilters<'_> {
    /// The refusal of the pod on `node` with the nominated pods that hold
    /// their room against it counted there; `None` when there are none,
    /// or the pod fits beside them.
    fn refused_with_nominated(&self, cycle: Cycle, node: &NodeInfo) -> Option<Status> {
        let nominated = cycle.snapshot.nominated_for(node.name(), cycle.pod);
        if nominated.is_empty() {
            return None;
        }
        let mut with = node.clone();
        for pod in nominated {
            with.add_pod(pod);
        }
        Some(self.fits_as_is(cycle, &with)).filter(|s| !s.is_success())
    }

    /// PreFilter runs again on a snapshot holding the changed node, since
    /// what it computes (affinity and spreading counts) depends on the
    /// pods of every node. Kubernetes updates the PreFilter state in place
    /// instead (`AddPod`/`RemovePod`); orc recomputes it, slower but with
    /// one way of counting. Then the node's filters, as for any node.
    fn fits_as_is(&self, cycle: Cycle, node: &NodeInfo) -> Status {
        let snapshot = cycle.snapshot.with_node(node.clone());
        let cycle = Cycle {
            pod: cycle.pod,
            snapshot: &snapshot,
        };
        let mut state = CycleState::default();
        let mut skipped = HashSet::new();
        for plugin in &self.0.filters {
            match plugin.pre_filter(cycle, &mut state) {
                Ok(PreFilterResult::AllNodes) => {}
                Ok(PreFilterResult::Skip) => {
                    skipped.insert(plugin.name());
                }
                Ok(PreFilterResult::Only(nodes)) if nodes.contains(node.name()) => {}
                Ok(PreFilterResult::Only(_)) => {
                    return Status::unresolvable(format!(
                        "node(s) didn't satisfy plugin {}",
                        plugin.name()
                    ))
                    .by(plugin.name());
                }
                Err(status) => return status.by(plugin.name()),
            }
        }
        filter_node(&active_filters(self.0, &skipped), cycle, &state, node)
    }
}

// ANCHOR: prioritize
/// Scores every feasible node with every score plugin: raw scores,
/// normalized to 0..=100, times the plugin's weight, summed.
fn prioritize(
    profile: &Profile,
    cycle: Cycle,
    state: &mut CycleState,
    feasible: &[Arc<NodeInfo>],
) -> Vec<NodeScore> {
    let mut scores: Vec<NodeScore> = feasible
        .iter()
        .map(|n| NodeScore {
            node: n.shared_name.clone(),
            plugins: Vec::with_capacity(profile.scores.len()),
            total: 0,
        })
        .collect();
    for (plugin, weight) in &profile.scores {
        // A plugin with nothing to say about this pod (no preferences,
        // no constraints) is left out, as Kubernetes' PreScore `Skip`.
        if plugin.pre_score(cycle, state, feasible).code == Code::Skip {
            continue;
        }
        let raw: Vec<i64> = feasible
            .iter()
            .map(|n| plugin.score(cycle, state, n))
            .collect();
        let mut normalized = raw.clone();
        plugin.normalize_score(cycle, state, feasible, &mut normalized);
        for (i, node) in scores.iter_mut().enumerate() {
            node.plugins.push(PluginScore {
                plugin: plugin.name(),
                raw: raw[i],
                normalized: normalized[i],
                weight: *weight,
            });
            node.total += normalized[i] * weight;
        }
    }
    scores
}
// ANCHOR_END: prioritize

/// The node with the highest total; ties are broken at random (reservoir
/// sampling over the best, as Kubernetes' `selectHost`), so equal nodes
/// share the load instead of the first one taking every pod.
pub fn select_host(scores: &[NodeScore], mut random: u64) -> String {
    let mut best: Option<&NodeScore> = None;
    let mut ties = 0u64;
    for score in scores {
        match best {
            Some(b) if score.total < b.total => {}
            Some(b) if score.total == b.total => {
                ties += 1;
                random = next_random(random);
                if random % ties == 0 {
                    best = Some(score);
                }
            }
            _ => {
                best = Some(score);
                ties = 1;
            }
        }
    }
    best.map(|b| b.node.to_string()).unwrap_or_default()
}

/// xorshift64*: a small, fast generator, plenty for breaking ties.
fn next_random(x: u64) -> u64 {
    let mut x = x.max(1);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(node: &str, total: i64) -> NodeScore {
        NodeScore {
            node: Arc::from(node),
            plugins: Vec::new(),
            total,
        }
    }

    #[test]
    fn the_best_wins_and_ties_are_shared() {
        let scores = [score("a", 10), score("b", 30), score("c", 20)];
        assert_eq!(select_host(&scores, 7), "b");
        let tied = [score("a", 5), score("b", 5), score("c", 5)];
        let mut seen = BTreeSet::new();
        for seed in 0..64 {
            seen.insert(select_host(&tied, seed * 7919 + 1));
        }
        assert_eq!(
            seen.len(),
            3,
            "every tied node is chosen sometimes: {seen:?}"
        );
    }
}

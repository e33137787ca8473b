//! Pods per topology domain, kept from one decision to the next.
//!
//! `PodTopologySpread` and `InterPodAffinity` both ask, at PreFilter,
//! "how many pods like these are in each domain (zone, host) of this node
//! label?". kube-scheduler answers afresh for every pod, walking every
//! node and every pod on it (its `preFilterState`): O(nodes × pods) per
//! decision, the cost that grows fastest with the cluster. orc keeps the
//! answers instead. The snapshot holds, for each *question* ([`CountKey`])
//! that some placed pod would ask, the count per domain
//! ([`DomainCounts`]), and brings them up to date from the same node
//! changes it takes in before each decision: a pod assumed on a node
//! changes one count by one. PreFilter then looks its questions up,
//! O(constraints), and Filter reads one count per node.
//!
//! Which questions are kept ([`declared_by`]): those the placed pods
//! would ask themselves (their hard spread constraints, their required
//! affinity and anti-affinity terms), and the one InterPodAffinity asks of
//! every placed pod with required anti-affinity ("where are the pods
//! carrying this term?"). Replicas of one workload ask the same questions,
//! so from the second replica on the answers are ready. A question no
//! placed pod asks (the first replica's), or whose answer depends on the
//! asking pod (a spread constraint that honours the pod's node affinity or
//! tolerations, a term with a namespace selector), is counted over every
//! node for that pod alone, by the same [`DomainCounts::count`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use orc_client::selectors::labels::Selector;

use super::node_info::NodeInfo;
use super::snapshot::Workloads;
use crate::objects::pod_affinity::AffinityTerm;
use crate::objects::spread::{self, SpreadConstraint, WhenUnsatisfiable};
use crate::objects::{PodInfo, hash_selector};

/// Which pods a kept count counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Pods of `namespace` that a spread constraint's selector counts, not
    /// being deleted (`PodTopologySpread`).
    Spread {
        namespace: String,
        selector: Option<Selector>,
    },
    /// Pods that every one of these terms names: a pod's required affinity
    /// terms all at once, or one required anti-affinity term
    /// (`InterPodAffinity`). Kept only for terms without a namespace
    /// selector, whose answer does not change with namespace labels.
    NamedBy(Vec<AffinityTerm>),
    /// Pods carrying this required anti-affinity term, once per time they
    /// carry it: where they are, no pod the term names may go.
    Carrying(AffinityTerm),
    /// The weight pods carrying this term give a pod it names, by
    /// InterPodAffinity's score: `+weight` for each preferred affinity
    /// term, `−weight` for each preferred anti-affinity term,
    /// `+hardPodAffinityWeight` for each required affinity term.
    Weight(AffinityTerm),
    /// How many times pods carry this term among those three lists: a
    /// domain whose weights cancel out still counts as weighed.
    Weighers(AffinityTerm),
}

/// By hand: a `Selector` (orc-client's) is not `Hash`.
impl Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Counted::Spread {
                namespace,
                selector,
            } => {
                (0u8, namespace).hash(state);
                hash_selector(selector.as_ref(), state);
            }
            Counted::NamedBy(terms) => (1u8, terms).hash(state),
            Counted::Carrying(term) => (2u8, term).hash(state),
            Counted::Weight(term) => (3u8, term).hash(state),
            Counted::Weighers(term) => (4u8, term).hash(state),
        }
    }
}

impl Counted {
    /// How many times `pod` counts (0 or 1 but for `Carrying`,
    /// `Weighers`; a weight, maybe negative, for `Weight`).
    pub fn times(&self, pod: &PodInfo) -> i64 {
        match self {
            Counted::Spread {
                namespace,
                selector,
            } => i64::from(spread::counted(selector.as_ref(), namespace, pod)),
            Counted::NamedBy(terms) => i64::from(
                terms
                    .iter()
                    .all(|t| t.matches(&pod.namespace, &pod.labels, &NO_LABELS)),
            ),
            Counted::Carrying(term) => pod
                .affinity
                .required_anti_affinity
                .iter()
                .filter(|t| *t == term)
                .count() as i64,
            Counted::Weight(term) => weighing(pod, term).map(|(_, w)| w).sum(),
            Counted::Weighers(term) => weighing(pod, term).count() as i64,
        }
    }
}

/// Kubernetes' default `hardPodAffinityWeight`: what a placed pod's
/// required affinity term weighs for a pod it names, at Score.
pub const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// The weights `pod` gives by `term` to a pod the term names: one per
/// time it carries the term as preferred affinity, preferred
/// anti-affinity or required affinity.
fn weighing<'a>(
    pod: &'a PodInfo,
    term: &'a AffinityTerm,
) -> impl Iterator<Item = (&'a AffinityTerm, i64)> + 'a {
    weighed_terms(pod).filter(move |(t, _)| *t == term)
}

/// Every term by which `pod` weighs for the pods it names, with its
/// signed weight.
pub fn weighed_terms(pod: &PodInfo) -> impl Iterator<Item = (&AffinityTerm, i64)> {
    let a = &pod.affinity;
    let preferred = a.preferred_affinity.iter().map(|w| (&w.term, w.weight));
    let against = (a.preferred_anti_affinity.iter()).map(|w| (&w.term, -w.weight));
    let required = (a.required_affinity.iter()).map(|t| (t, HARD_POD_AFFINITY_WEIGHT));
    preferred.chain(against).chain(required)
}

/// No namespace labels: `NamedBy` terms have no namespace selector.
static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

/// One question: which pods, counted per value of which node label, over
/// which nodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CountKey {
    pub counted: Counted,
    /// The node label whose values are the domains.
    pub topology_key: String,
    /// The labels a node needs, every one, to count at all: a spread
    /// constraint counts only nodes with the topology labels of all the
    /// pod's hard constraints. Sorted, so equal questions are equal keys.
    pub node_labels: Vec<String>,
}

impl CountKey {
    /// The question hard spread constraint `c` of `pod` asks; `hard` is
    /// every hard constraint of the pod.
    pub fn spread(pod: &PodInfo, c: &SpreadConstraint, hard: &[SpreadConstraint]) -> CountKey {
        let mut node_labels: Vec<String> = hard.iter().map(|c| c.topology_key.clone()).collect();
        node_labels.sort();
        node_labels.dedup();
        CountKey {
            counted: Counted::Spread {
                namespace: pod.namespace.clone(),
                selector: c.selector.clone(),
            },
            topology_key: c.topology_key.clone(),
            node_labels,
        }
    }

    /// The question soft (`ScheduleAnyway`) constraint `c` of a pod in
    /// `namespace` asks at PreScore; `soft` is every soft constraint of
    /// the pod. With `require_all` (the pod's own constraints, not the
    /// system defaults) a node counts only with every soft constraint's
    /// topology label, as at PreFilter.
    pub fn soft_spread(
        namespace: &str,
        c: &SpreadConstraint,
        soft: &[SpreadConstraint],
        require_all: bool,
    ) -> CountKey {
        let mut node_labels: Vec<String> = if require_all {
            soft.iter().map(|c| c.topology_key.clone()).collect()
        } else {
            vec![c.topology_key.clone()]
        };
        node_labels.sort();
        node_labels.dedup();
        CountKey {
            counted: Counted::Spread {
                namespace: namespace.to_string(),
                selector: c.selector.clone(),
            },
            topology_key: c.topology_key.clone(),
            node_labels,
        }
    }

    /// The pods all of `terms` name, counted under `topology_key`.
    pub fn named_by(terms: &[AffinityTerm], topology_key: &str) -> CountKey {
        CountKey {
            counted: Counted::NamedBy(terms.to_vec()),
            topology_key: topology_key.to_string(),
            node_labels: vec![topology_key.to_string()],
        }
    }

    /// The pods carrying the required anti-affinity `term`.
    pub fn carrying(term: &AffinityTerm) -> CountKey {
        CountKey {
            counted: Counted::Carrying(term.clone()),
            topology_key: term.topology_key.clone(),
            node_labels: vec![term.topology_key.clone()],
        }
    }

    /// The weight the pods carrying `term` give, or (`weighers`) how many
    /// times they carry it.
    pub fn weight(term: &AffinityTerm, weighers: bool) -> CountKey {
        let term = term.clone();
        CountKey {
            topology_key: term.topology_key.clone(),
            node_labels: vec![term.topology_key.clone()],
            counted: if weighers {
                Counted::Weighers(term)
            } else {
                Counted::Weight(term)
            },
        }
    }

    /// The domain `node` is in for this question, if it counts at all.
    pub fn domain_of<'n>(&self, node: &'n NodeInfo) -> Option<&'n String> {
        let labels = &node.node.labels;
        if !self.node_labels.iter().all(|l| labels.contains_key(l)) {
            return None;
        }
        labels.get(&self.topology_key)
    }

    /// The answer counted over every node in `nodes`.
    pub fn count(&self, nodes: &[Arc<NodeInfo>]) -> DomainCounts {
        DomainCounts::count(self, nodes, |_| true, |p| self.counted.times(p))
    }
}

/// Whether the counts of a term's pods can be kept: they cannot when it
/// selects namespaces by their labels.
pub fn keepable(terms: &[AffinityTerm]) -> bool {
    terms.iter().all(|t| t.namespace_selector.is_none())
}

/// The soft spread constraints of `pod`, its own `ScheduleAnyway` ones
/// or, when it declares no constraint at all, Kubernetes' system
/// defaults for the Services and ReplicaSets of `workloads` that select
/// it; and whether a node needs every one's topology label to count (only
/// for the pod's own).
pub fn soft_constraints(pod: &PodInfo, workloads: &Workloads) -> (Vec<SpreadConstraint>, bool) {
    if pod.spread.is_empty() {
        let selector = workloads.default_selector(pod);
        if selector.requirements.is_empty() {
            return (Vec::new(), false);
        }
        return (spread::system_defaults(selector), false);
    }
    let soft = pod
        .spread
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
        .cloned()
        .collect();
    (soft, true)
}

/// The questions `pod` asks at PreFilter and PreScore that can be kept:
/// what a placed pod *declares*, so that the next pod like it finds the
/// answers ready. `workloads` say which system default spreading it has.
pub fn declared_by(pod: &PodInfo, workloads: &Workloads) -> Vec<CountKey> {
    let mut keys = Vec::new();
    let terms = &pod.affinity;
    let (soft, require_all) = soft_constraints(pod, workloads);
    if pod.spread.is_empty() && soft.is_empty() && terms.is_empty() {
        // Most pods: nothing to ask, and nothing allocated to say so.
        return keys;
    }
    let hard: Vec<SpreadConstraint> = pod
        .spread
        .iter()
        .filter(|c| c.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule)
        .cloned()
        .collect();
    for c in hard.iter().filter(|c| c.includes_every_node(pod)) {
        keys.push(CountKey::spread(pod, c, &hard));
    }
    for c in soft.iter().filter(|c| c.includes_every_node(pod)) {
        keys.push(CountKey::soft_spread(&pod.namespace, c, &soft, require_all));
    }
    let affinity = &pod.affinity.required_affinity;
    if keepable(affinity) {
        for term in affinity {
            keys.push(CountKey::named_by(affinity, &term.topology_key));
        }
    }
    for term in &pod.affinity.required_anti_affinity {
        if keepable(std::slice::from_ref(term)) {
            keys.push(CountKey::named_by(
                std::slice::from_ref(term),
                &term.topology_key,
            ));
        }
        keys.push(CountKey::carrying(term));
    }
    // InterPodAffinity's score: the pods the pod's own preferred terms
    // name, and the weight it gives to the pods its terms name.
    let preferred = terms.preferred_affinity.iter();
    for w in preferred.chain(&terms.preferred_anti_affinity) {
        if keepable(std::slice::from_ref(&w.term)) {
            let key = CountKey::named_by(std::slice::from_ref(&w.term), &w.term.topology_key);
            keys.push(key);
        }
    }
    for (term, _) in weighed_terms(pod) {
        keys.push(CountKey::weight(term, false));
        keys.push(CountKey::weight(term, true));
    }
    let mut seen = HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

/// One domain's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Domain {
    /// Nodes in it that count: a domain exists while it has one, even
    /// without pods (a spread's empty zone is its minimum).
    nodes: i64,
    pods: i64,
}

/// The answer to one question: pods counted per domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainCounts {
    domains: HashMap<String, Domain>,
    /// Pods counted → how many domains hold that many. Its first entry is
    /// the fewest in any domain (the spread's global minimum), read
    /// without a pass over the domains, which with the hostname as
    /// topology are as many as the nodes.
    sizes: BTreeMap<i64, usize>,
    /// Pods counted in all domains.
    total: i64,
}

impl DomainCounts {
    /// Counts over `nodes`: those that have the key's node labels and that
    /// `included` admits, each pod `times` times.
    pub fn count(
        key: &CountKey,
        nodes: &[Arc<NodeInfo>],
        included: impl Fn(&NodeInfo) -> bool,
        times: impl Fn(&PodInfo) -> i64,
    ) -> DomainCounts {
        let mut counts = DomainCounts::default();
        for node in nodes {
            let Some(domain) = key.domain_of(node) else {
                continue;
            };
            if !included(node) {
                continue;
            }
            let pods: i64 = node.pods.iter().map(|p| times(p)).sum();
            // Look up before inserting: no new key for a known domain.
            match counts.domains.get_mut(domain) {
                Some(d) => {
                    d.nodes += 1;
                    d.pods += pods;
                }
                None => {
                    counts
                        .domains
                        .insert(domain.clone(), Domain { nodes: 1, pods });
                }
            }
            counts.total += pods;
        }
        for d in counts.domains.values() {
            *counts.sizes.entry(d.pods).or_default() += 1;
        }
        counts
    }

    /// Pods counted in `domain` (0 if it is not one).
    pub fn pods_in(&self, domain: &str) -> i64 {
        self.domains.get(domain).map_or(0, |d| d.pods)
    }

    /// Nodes counted in `domain` (0 if it is not one).
    pub fn nodes_in(&self, domain: &str) -> i64 {
        self.domains.get(domain).map_or(0, |d| d.nodes)
    }

    /// Whether the domain a node with `labels` is in for `key` holds any
    /// pod counted (not when the node lacks the label).
    pub fn holds(&self, labels: &BTreeMap<String, String>, key: &str) -> bool {
        labels.get(key).is_some_and(|v| self.pods_in(v) > 0)
    }

    /// How many domains there are.
    pub fn domains(&self) -> usize {
        self.domains.len()
    }

    /// The fewest pods in any domain; `None` without domains.
    pub fn min(&self) -> Option<i64> {
        self.sizes.keys().next().copied()
    }

    /// Pods counted in all domains.
    pub fn total(&self) -> i64 {
        self.total
    }

    /// Adds `nodes` nodes and `pods` pods (either may be negative) to
    /// `domain`, keeping the sizes in step; a domain left without nodes
    /// is gone.
    fn change(&mut self, domain: &str, nodes: i64, pods: i64) {
        let before = self.domains.get(domain).copied().unwrap_or_default();
        let after = Domain {
            nodes: before.nodes + nodes,
            pods: before.pods + pods,
        };
        if before.nodes > 0 {
            let size = self.sizes.get_mut(&before.pods).expect("a size per domain");
            *size -= 1;
            if *size == 0 {
                self.sizes.remove(&before.pods);
            }
        }
        if after.nodes > 0 {
            *self.sizes.entry(after.pods).or_default() += 1;
            match self.domains.get_mut(domain) {
                Some(d) => *d = after,
                None => {
                    self.domains.insert(domain.to_string(), after);
                }
            }
        } else {
            debug_assert_eq!(after.pods, 0, "pods in a domain without nodes");
            self.domains.remove(domain);
        }
        self.total += pods;
    }
}

/// Every kept answer of one snapshot.
#[derive(Debug, Clone, Default)]
pub struct KeptCounts {
    /// Shared with what-if copies of the snapshot (preemption's), each
    /// answer copied only when a change touches it.
    kept: Arc<HashMap<CountKey, Arc<DomainCounts>>>,
    /// The cache's generation of declared questions these answers follow.
    pub generation: u64,
}

impl KeptCounts {
    /// The kept answers to the questions the pods on `nodes` declare
    /// (tests and labs' snapshots, made without a cache).
    pub fn of_nodes(nodes: &[Arc<NodeInfo>], workloads: &Workloads) -> KeptCounts {
        let keys: HashSet<CountKey> = nodes
            .iter()
            .flat_map(|n| n.pods.iter())
            .flat_map(|p| declared_by(p, workloads))
            .collect();
        let mut counts = KeptCounts::default();
        counts.follow(keys.iter(), 0, nodes);
        counts
    }

    /// The kept answer to `key`, if it is kept.
    pub fn get(&self, key: &CountKey) -> Option<&Arc<DomainCounts>> {
        self.kept.get(key)
    }

    /// The kept answers to "where are the pods carrying this term?", for
    /// every required anti-affinity term of a placed pod.
    pub fn carrying(&self) -> impl Iterator<Item = (&AffinityTerm, &Arc<DomainCounts>)> {
        self.kept
            .iter()
            .filter_map(|(key, counts)| match &key.counted {
                Counted::Carrying(term) => Some((term, counts)),
                _ => None,
            })
    }

    /// The kept answers to "what weight do the pods carrying this term
    /// give?", for every term by which a placed pod weighs (see
    /// [`Counted::Weight`]).
    pub fn weights(&self) -> impl Iterator<Item = (&AffinityTerm, &Arc<DomainCounts>)> {
        self.kept
            .iter()
            .filter_map(|(key, counts)| match &key.counted {
                Counted::Weight(term) => Some((term, counts)),
                _ => None,
            })
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Adds the answers to the questions `pods` declare that are not kept
    /// yet, counted over `nodes` (a what-if copy whose node gained pods).
    pub fn declare<'p>(
        &mut self,
        pods: impl Iterator<Item = &'p Arc<PodInfo>>,
        nodes: &[Arc<NodeInfo>],
        workloads: &Workloads,
    ) {
        for key in pods.flat_map(|p| declared_by(p, workloads)) {
            if !self.kept.contains_key(&key) {
                let counts = Arc::new(key.count(nodes));
                Arc::make_mut(&mut self.kept).insert(key, counts);
            }
        }
    }

    /// Keeps exactly the answers to `keys` (the cache's declared questions
    /// at `generation`): those no longer asked are dropped, new ones
    /// counted over `nodes` once.
    pub fn follow<'k>(
        &mut self,
        keys: impl Iterator<Item = &'k CountKey>,
        generation: u64,
        nodes: &[Arc<NodeInfo>],
    ) {
        let wanted: HashSet<&CountKey> = keys.collect();
        let kept = Arc::make_mut(&mut self.kept);
        kept.retain(|key, _| wanted.contains(key));
        for key in wanted {
            if !kept.contains_key(key) {
                kept.insert(key.clone(), Arc::new(key.count(nodes)));
            }
        }
        self.generation = generation;
    }

    // ANCHOR: replace
    /// Brings every answer up to date after the node `before` became
    /// `now` (`None`: added, or removed). With the same labels only the
    /// pods that came or went are counted; otherwise the old node is taken
    /// out of its domains and the new one put into its own.
    pub fn replace(&mut self, before: Option<&NodeInfo>, now: Option<&NodeInfo>) {
        if self.kept.is_empty() {
            return;
        }
        if let (Some(before), Some(now)) = (before, now) {
            if before.node.labels == now.node.labels {
                let (came, went) = pods_changed(before, now);
                if came.is_empty() && went.is_empty() {
                    return;
                }
                for (key, counts) in Arc::make_mut(&mut self.kept).iter_mut() {
                    let Some(domain) = key.domain_of(now) else {
                        continue;
                    };
                    let times = |pods: &[&PodInfo]| -> i64 {
                        pods.iter().map(|p| key.counted.times(p)).sum()
                    };
                    let delta = times(&came) - times(&went);
                    if delta != 0 {
                        Arc::make_mut(counts).change(domain, 0, delta);
                    }
                }
                return;
            }
        }
        for (key, counts) in Arc::make_mut(&mut self.kept).iter_mut() {
            let mut move_node = |node: &NodeInfo, sign: i64| {
                if let Some(domain) = key.domain_of(node) {
                    let pods: i64 = node.pods.iter().map(|p| key.counted.times(p)).sum();
                    Arc::make_mut(counts).change(domain, sign, sign * pods);
                }
            };
            if let Some(before) = before {
                move_node(before, -1);
            }
            if let Some(now) = now {
                move_node(now, 1);
            }
        }
    }
    // ANCHOR_END: replace

    /// Brings every answer up to date after the snapshot took a new list
    /// of nodes (nodes came or went): each node is compared with its old
    /// copy by name, and only those that differ are replaced.
    pub fn relist(&mut self, before: &[Arc<NodeInfo>], now: &[Arc<NodeInfo>]) {
        if self.kept.is_empty() {
            return;
        }
        let mut old: HashMap<&str, &Arc<NodeInfo>> = before.iter().map(|n| (n.name(), n)).collect();
        for node in now {
            match old.remove(node.name()) {
                Some(was) if Arc::ptr_eq(was, node) => {}
                was => self.replace(was.map(|n| &**n), Some(node)),
            }
        }
        for gone in old.into_values() {
            self.replace(Some(gone), None);
        }
    }

    /// Whether these answers equal the answers counted afresh over
    /// `nodes`, and if not, the first that differs (the property tests).
    pub fn differs_from_recount(&self, nodes: &[Arc<NodeInfo>]) -> Option<String> {
        self.kept.iter().find_map(|(key, counts)| {
            let recounted = key.count(nodes);
            (**counts != recounted)
                .then(|| format!("{key:?}: kept {counts:?}, recounted {recounted:?}"))
        })
    }
}

/// The pods on `now` not on `before`, and those on `before` not on `now`,
/// told apart by the shared `PodInfo` (a pod updated is a new one).
fn pods_changed<'a>(
    before: &'a NodeInfo,
    now: &'a NodeInfo,
) -> (Vec<&'a PodInfo>, Vec<&'a PodInfo>) {
    // Most often one pod was added at the end: no sets needed.
    let (b, n) = (&before.pods, &now.pods);
    if n.len() == b.len() + 1 && b.iter().zip(n.iter()).all(|(x, y)| Arc::ptr_eq(x, y)) {
        return (vec![&*n[n.len() - 1]], Vec::new());
    }
    let old: HashSet<*const PodInfo> = b.iter().map(Arc::as_ptr).collect();
    let new: HashSet<*const PodInfo> = n.iter().map(Arc::as_ptr).collect();
    let came = n
        .iter()
        .filter(|p| !old.contains(&Arc::as_ptr(p)))
        .map(|p| &**p)
        .collect();
    let went = b
        .iter()
        .filter(|p| !new.contains(&Arc::as_ptr(p)))
        .map(|p| &**p)
        .collect();
    (came, went)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Cache, Snapshot};
    use crate::framework::{NextStart, schedule};
    use crate::objects::Node;
    use crate::plugins::{ScoringStrategy, default_profile};
    use serde_json::{Value, json};

    /// A node in zone `zone` (`None`: without the zone label); `n7`
    /// carries `n6`'s hostname label.
    fn node(name: &str, zone: Option<&str>) -> Node {
        let hostname = if name == "n7" { "n6" } else { name };
        let mut labels = json!({"kubernetes.io/hostname": hostname});
        if let Some(zone) = zone {
            labels["zone"] = json!(zone);
        }
        Node::parse(&json!({"metadata": {"name": name, "labels": labels},
            "status": {"allocatable": {"cpu": "100", "pods": "500"}}}))
    }

    /// How many kinds of pod [`pod`] makes.
    const KINDS: u64 = 12;

    /// The pods the test places and schedules, by kind: plain pods of two
    /// apps (spread by the system defaults where a Service selects them),
    /// spread over zones (alone, or with hosts too, or honouring a node
    /// selector, which no snapshot keeps, or as a score), required
    /// anti-affinity and affinity, terms with a namespace selector, and
    /// preferred terms (some that cancel out, some with a namespace
    /// selector).
    fn pod(uid: &str, ns: &str, kind: u64, app: &str, terminating: bool) -> PodInfo {
        let selector = json!({"matchLabels": {"app": app}});
        let spread = |key: &str, skew: i64, when: &str| {
            json!({"maxSkew": skew, "topologyKey": key,
                "whenUnsatisfiable": when, "labelSelector": selector})
        };
        let zone = |key: &str| spread(key, 1, "DoNotSchedule");
        let term = |key: &str| json!({"labelSelector": selector, "topologyKey": key});
        let weighed = |weight: i64, term: Value| json!({"weight": weight, "podAffinityTerm": term});
        let mut spec = json!({"containers": [{"name": "c"}]});
        match kind {
            0 | 1 => {}
            2 => spec["topologySpreadConstraints"] = json!([zone("zone")]),
            3 => {
                spec["topologySpreadConstraints"] =
                    json!([zone("zone"), zone("kubernetes.io/hostname")])
            }
            4 => {
                spec["topologySpreadConstraints"] = json!([zone("zone")]);
                spec["nodeSelector"] = json!({"kubernetes.io/hostname": "n1"});
            }
            5 => {
                spec["affinity"] = json!({"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [term("kubernetes.io/hostname")]}})
            }
            6 => {
                spec["affinity"] = json!({"podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [term("zone"), term("kubernetes.io/hostname")]}})
            }
            7 => {
                let mut t = term("zone");
                t["namespaceSelector"] = json!({});
                spec["affinity"] = json!({"podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [t]}});
            }
            8 => {
                spec["topologySpreadConstraints"] = json!([
                    spread("zone", 2, "ScheduleAnyway"),
                    spread("kubernetes.io/hostname", 1, "ScheduleAnyway"),
                ])
            }
            9 => {
                spec["affinity"] = json!({
                    "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                        [weighed(7, term("zone"))]},
                    "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                        [weighed(3, term("kubernetes.io/hostname"))]}})
            }
            10 => {
                // The same term both ways: its weights cancel out.
                spec["affinity"] = json!({
                    "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                        [weighed(4, term("zone"))]},
                    "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
                        [weighed(4, term("zone"))]}})
            }
            _ => {
                let mut t = term("zone");
                t["namespaceSelector"] = json!({});
                spec["affinity"] = json!({"podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [weighed(5, t)]}});
            }
        }
        let mut meta = json!({"uid": uid, "name": uid, "namespace": ns, "labels": {"app": app}});
        if terminating {
            meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        PodInfo::parse(&json!({"metadata": meta, "spec": spec}))
    }

    /// InterPodAffinity's raw score of each node as Kubernetes computes
    /// it, walking every (incoming pod, placed pod) pair; `None` when no
    /// pair weighs (the plugin is skipped).
    fn walked_affinity_scores(
        incoming: &PodInfo,
        snapshot: &Snapshot,
    ) -> Option<HashMap<String, i64>> {
        let mut sums: HashMap<(String, String), i64> = HashMap::new();
        let mut weighed = false;
        let matches = |t: &&AffinityTerm, p: &PodInfo| {
            t.matches(
                &p.namespace,
                &p.labels,
                snapshot.namespace_labels(&p.namespace),
            )
        };
        for node in snapshot.nodes.iter() {
            for placed in &node.pods {
                let a = &incoming.affinity;
                let own = (a.preferred_affinity.iter()).map(|w| (&w.term, w.weight));
                let against = (a.preferred_anti_affinity.iter()).map(|w| (&w.term, -w.weight));
                let pairs = own
                    .chain(against)
                    .filter(|(t, _)| matches(t, placed))
                    .chain(weighed_terms(placed).filter(|(t, _)| matches(t, incoming)));
                for (term, weight) in pairs {
                    if let Some(value) = node.node.labels.get(&term.topology_key) {
                        weighed = true;
                        *sums
                            .entry((term.topology_key.clone(), value.clone()))
                            .or_default() += weight;
                    }
                }
            }
        }
        let score = |node: &NodeInfo| {
            (sums.iter())
                .filter(|((key, value), _)| node.node.labels.get(key) == Some(value))
                .map(|(_, w)| w)
                .sum::<i64>()
        };
        weighed.then(|| {
            (snapshot.nodes.iter())
                .map(|n| (n.name().to_string(), score(n.as_ref())))
                .collect()
        })
    }

    /// The snapshot's kept questions are exactly the cache's declared.
    fn keys_of(counts: &KeptCounts) -> HashSet<CountKey> {
        counts.kept.keys().cloned().collect()
    }

    #[test]
    fn kept_counts_equal_a_full_recount_after_random_changes() {
        // A fixed seed: pods of every kind are assumed, confirmed (maybe
        // relabelled or terminating), forgotten and deleted; nodes are
        // relabelled, removed and added again. After each step the kept
        // snapshot's answers equal answers counted afresh, so do a
        // preemption-style what-if copy's, and a decision reads the same
        // verdicts and scores from them as from counting everything for
        // itself (a Service spreading pods by default comes and goes;
        // two nodes share a hostname label, so that hostname domain is
        // not one node).
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut random = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let zones = [Some("z0"), Some("z1"), Some("z2"), None];
        let mut cache = Cache::new();
        let web = || Some(BTreeMap::from([("app".to_string(), "a".to_string())]));
        cache.set_service("d", "web", web());
        for i in 0..8 {
            cache.set_node(node(&format!("n{i}"), zones[i % 4]));
        }
        let mut snapshot = Snapshot::default();
        let profile = default_profile(ScoringStrategy::LeastAllocated, 0);
        let mut placed: Vec<(String, u64)> = Vec::new();
        let mut kept_reads = 0;
        let mut affinity_scored = 0;
        for step in 0..800 {
            let uid = format!("p{step}");
            let (ns, app) = (
                ["d", "e"][random(2) as usize],
                ["a", "b"][random(2) as usize],
            );
            match random(10) {
                0..=3 => {
                    let kind = random(KINDS);
                    let at = format!("n{}", random(9)); // n8: not (yet) a node
                    cache.assume(&pod(&uid, ns, kind, app, false), &at);
                    placed.push((uid.clone(), kind));
                }
                4 if !placed.is_empty() => {
                    // Confirmed by its event: maybe other labels, maybe
                    // terminating, maybe on another node.
                    let (uid, kind) = placed[random(placed.len() as u64) as usize].clone();
                    let mut confirmed = pod(&uid, ns, kind, app, random(4) == 0);
                    confirmed.node_name = format!("n{}", random(8));
                    cache.set_pod(Arc::new(confirmed));
                }
                5 if !placed.is_empty() => {
                    let (uid, _) = placed.swap_remove(random(placed.len() as u64) as usize);
                    if random(2) == 0 {
                        cache.forget(&uid);
                    }
                    cache.remove_pod(&uid);
                }
                6 => {
                    let i = random(9);
                    cache.set_node(node(&format!("n{i}"), zones[random(4) as usize]));
                }
                7 => cache.remove_node(&format!("n{}", random(9))),
                // The Service comes and goes: the system default
                // spreading of placed pods is undeclared as declared.
                8 => cache.set_service("d", "web", web().filter(|_| random(2) == 0)),
                _ => {}
            }
            cache.update_snapshot(&mut snapshot);
            assert_eq!(
                keys_of(&snapshot.counts),
                cache.declared.keys().cloned().collect(),
                "step {step}: the questions kept"
            );
            if let Some(diff) = snapshot.counts.differs_from_recount(&snapshot.nodes) {
                panic!("step {step}: {diff}");
            }
            if snapshot.nodes.is_empty() {
                continue;
            }
            // A what-if copy without one pod of one node.
            let mut changed =
                (*snapshot.nodes[random(snapshot.nodes.len() as u64) as usize]).clone();
            if let Some(p) = changed.pods.first().map(|p| p.uid.clone()) {
                changed.remove_pod(&p);
            }
            let what_if = snapshot.with_node(changed);
            if let Some(diff) = what_if.counts.differs_from_recount(&what_if.nodes) {
                panic!("step {step}, what-if: {diff}");
            }
            // A decision on the kept answers, and on none but those of
            // the placed pods' anti-affinity terms (always kept: no
            // decision counts them for itself).
            let incoming = pod("incoming", ns, random(KINDS), app, false);
            let always = |k: &&CountKey| {
                matches!(
                    k.counted,
                    Counted::Carrying(_) | Counted::Weight(_) | Counted::Weighers(_)
                )
            };
            let carrying: Vec<CountKey> = (snapshot.counts.kept.keys())
                .filter(always)
                .cloned()
                .collect();
            let mut unkept = snapshot.clone();
            unkept.counts = KeptCounts::default();
            unkept.counts.follow(carrying.iter(), 0, &snapshot.nodes);
            let start = random(8) as usize;
            let decide = |s: &Snapshot| schedule(&profile, &incoming, s, &mut NextStart(start), 7);
            let (kept, counted) = (decide(&snapshot), decide(&unkept));
            assert_eq!(kept.outcome, counted.outcome, "step {step}");
            assert_eq!(kept.verdicts, counted.verdicts, "step {step}");
            assert_eq!(kept.scores, counted.scores, "step {step}");
            // InterPodAffinity's score reads only kept weights: it equals
            // the walk over every pair, plugin skipped or not.
            let walked = walked_affinity_scores(&incoming, &snapshot);
            let read: Vec<(&str, i64)> = (kept.scores.iter())
                .flat_map(|n| {
                    let plugins = n.plugins.iter();
                    (plugins.filter(|p| p.plugin == "InterPodAffinity"))
                        .map(move |p| (&*n.node, p.raw))
                })
                .collect();
            match &walked {
                Some(walked) if kept.scores.len() > 1 => {
                    affinity_scored += 1;
                    assert_eq!(read.len(), kept.scores.len(), "step {step}: scored");
                    for (node, raw) in read {
                        assert_eq!(raw, walked[node], "step {step}: {node}");
                    }
                }
                _ => assert!(read.is_empty(), "step {step}: skipped"),
            }
            kept_reads += usize::from(!snapshot.counts.is_empty());
        }
        assert!(kept_reads > 500, "most decisions read kept answers");
        assert!(
            affinity_scored > 100,
            "affinity weighed {affinity_scored} times"
        );
    }

    #[test]
    fn a_domain_without_nodes_is_gone_and_the_minimum_follows() {
        let key = CountKey {
            counted: Counted::Spread {
                namespace: "d".into(),
                selector: None,
            },
            topology_key: "zone".into(),
            node_labels: vec!["zone".into()],
        };
        let mut counts = key.count(&[]);
        counts.change("z0", 1, 2);
        counts.change("z1", 1, 0);
        assert_eq!(
            (counts.min(), counts.domains(), counts.total()),
            (Some(0), 2, 2)
        );
        counts.change("z1", -1, 0);
        assert_eq!((counts.min(), counts.domains()), (Some(2), 1));
        assert_eq!(counts.pods_in("z1"), 0);
        counts.change("z0", 0, -2);
        assert_eq!(counts.min(), Some(0));
    }
}

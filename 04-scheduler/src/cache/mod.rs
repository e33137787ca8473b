//! The scheduler's cache: every node, and every pod placed on one.
//!
//! Fed by the informers (nodes, pods with a node, namespaces, Services,
//! ReplicaSets) and by the scheduler itself: a pod counts on its node
//! from the moment it is chosen, before its binding reaches the API
//! server. This *assume* step is what lets the next decision start at
//! once without over-committing the node: the binding is written in the
//! background, and the pod's update event later *confirms* the assumed
//! pod (or, if the binding failed, the scheduler *forgets* it). Kubernetes'
//! scheduler cache works the same way (`AssumePod`, `ForgetPod`, `AddPod`).
//!
//! - `node_info.rs`: one node and its pods, with the sums kept up to date;
//! - `snapshot.rs`: the frozen view one decision works on, brought up to
//!   date by [`Cache::update_snapshot`] with only the nodes that changed;
//! - `domain_counts.rs`: matching pods per topology domain, for spreading
//!   and inter-pod affinity, kept in the snapshot from the same changes.

pub mod domain_counts;
pub mod node_info;
pub mod snapshot;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use orc_client::selectors::labels::Selector;

pub use domain_counts::{CountKey, DomainCounts, KeptCounts};
pub use node_info::NodeInfo;
pub use snapshot::{Snapshot, Workloads};

use serde_json::Value;

use crate::objects::volumes::Volumes;
use crate::objects::{Node, PodInfo};

/// Where a pod is counted.
#[derive(Debug, Clone)]
struct Placement {
    node: String,
    /// Chosen by this scheduler, binding not yet seen in a pod event.
    assumed: bool,
    /// For an assumed pod, the `resourceVersion` of the object it was
    /// assumed from (empty otherwise): [`Cache::confirm`] compares it with
    /// the object the binding replaced.
    assumed_from: String,
    /// The questions it declared when placed, undeclared with it: kept
    /// rather than asked again, since the system default spreading it
    /// declared depends on the Services and ReplicaSets of that moment.
    declared: Vec<CountKey>,
}

/// What changed about a node, for the queue to decide which waiting pods
/// might fit now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeChange {
    pub added: bool,
    pub labels: bool,
    pub taints: bool,
    pub allocatable: bool,
    pub images: bool,
}

impl NodeChange {
    /// Whether anything the scheduler reads changed.
    pub fn any(&self) -> bool {
        self.added || self.labels || self.taints || self.allocatable || self.images
    }
}

/// Nodes and placed pods. Not thread-safe by itself: the scheduler keeps
/// it behind a mutex that no `.await` ever holds.
#[derive(Debug, Default)]
pub struct Cache {
    /// Every node. Each `NodeInfo` is shared with the snapshot that last
    /// copied it, and copied by the cache only when it changes while a
    /// snapshot still holds it.
    nodes: Vec<Arc<NodeInfo>>,
    /// Node name → position in `nodes`.
    index: HashMap<String, usize>,
    /// Counts every change to a node (and every node added or removed);
    /// the node keeps the count of its last change in
    /// `NodeInfo::generation`.
    generation: u64,
    /// Generation → the node changed then, one entry per node (its last
    /// change), so that a snapshot finds the nodes changed since its own
    /// generation without looking at the others. Kubernetes keeps a list
    /// with the most recently changed node at its head, for the same walk.
    changed: BTreeMap<u64, String>,
    /// The generation of the last node added or removed: a snapshot older
    /// than that lists different nodes (or the same in another order), so
    /// it takes the whole list again.
    list_generation: u64,
    /// Pod uid → where it is counted.
    pods: HashMap<String, Placement>,
    /// Pods bound to a node the cache does not know (yet): counted once
    /// the node appears.
    orphans: HashMap<String, Vec<Arc<PodInfo>>>,
    image_nodes: Arc<HashMap<String, usize>>,
    namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    workloads: Arc<Workloads>,
    /// Node name → pending pods nominated to it; shared with snapshots.
    nominated: Arc<HashMap<String, Vec<Arc<PodInfo>>>>,
    /// Pod uid → the node it is nominated to.
    nominations: HashMap<String, String>,
    /// Claims, volumes and classes; shared with snapshots.
    volumes: Arc<Volumes>,
    /// The questions placed pods ask of spreading and inter-pod affinity
    /// (`domain_counts::declared_by`) → how many placed pods ask each: a
    /// snapshot keeps the answers to these, and to these only.
    declared: HashMap<CountKey, usize>,
    /// Counts the changes to the set of `declared` questions (a question
    /// asked for the first time, or no longer asked).
    declared_generation: u64,
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// A new frozen view (one-off readers: `orc explain`, tests). The
    /// scheduler keeps one snapshot and updates it instead.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        self.update_snapshot(&mut snapshot);
        snapshot
    }

    // ANCHOR: update_snapshot
    /// Brings `snapshot` up to date with the cache, copying in only the
    /// nodes changed since its generation (kube-scheduler's
    /// `UpdateSnapshot`): the cost of a decision's snapshot follows what
    /// changed since the last one, not the size of the cluster.
    pub fn update_snapshot(&self, snapshot: &mut Snapshot) {
        if snapshot.generation < self.list_generation || snapshot.nodes.len() != self.nodes.len() {
            // Nodes came or went: the whole list, in the cache's order.
            let before = std::mem::replace(&mut snapshot.nodes, Arc::new(self.nodes.clone()));
            snapshot.counts.relist(&before, &snapshot.nodes);
        } else if snapshot.generation < self.generation {
            // The same nodes at the same positions: replace the changed.
            let nodes = Arc::make_mut(&mut snapshot.nodes);
            for name in self
                .changed
                .range(snapshot.generation + 1..)
                .map(|(_, n)| n)
            {
                let at = self.index[name];
                let now = &self.nodes[at];
                let before = std::mem::replace(&mut nodes[at], now.clone());
                // And the kept counts: by the pods that came or went.
                snapshot.counts.replace(Some(&before), Some(now));
            }
        }
        // Questions asked for the first time are counted once, over the
        // nodes as they are now; those no longer asked are dropped.
        if snapshot.counts.generation != self.declared_generation {
            snapshot.counts.follow(
                self.declared.keys(),
                self.declared_generation,
                &snapshot.nodes,
            );
        }
        // The rest is copied on write by the cache: sharing is free.
        snapshot.image_nodes = self.image_nodes.clone();
        snapshot.namespaces = self.namespaces.clone();
        snapshot.workloads = self.workloads.clone();
        snapshot.nominated = self.nominated.clone();
        snapshot.volumes = self.volumes.clone();
        snapshot.generation = self.generation;
    }
    // ANCHOR_END: update_snapshot

    /// Sets (or, with `None`, removes) a claim, volume or class: `kind` is
    /// `PersistentVolumeClaim`, `PersistentVolume` or `StorageClass`, `key`
    /// the informer's key.
    pub fn set_volume_object(&mut self, kind: &str, key: String, object: Option<Arc<Value>>) {
        let volumes = Arc::make_mut(&mut self.volumes);
        let map = match kind {
            "PersistentVolumeClaim" => &mut volumes.claims,
            "PersistentVolume" => &mut volumes.volumes,
            _ => &mut volumes.classes,
        };
        match object {
            Some(object) => map.insert(key, object),
            None => map.remove(&key),
        };
    }

    /// The claims, volumes and classes as the cache has them now.
    pub fn volumes(&self) -> Arc<Volumes> {
        self.volumes.clone()
    }

    /// Whether the node `name` is known.
    pub fn has_node(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// How many nodes there are.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Records that the node at `at` changes now: a new generation, and
    /// the node moved to the newest end of `changed`.
    fn touch(&mut self, at: usize) -> u64 {
        self.generation += 1;
        let info = &self.nodes[at];
        self.changed.remove(&info.generation);
        self.changed
            .insert(self.generation, info.name().to_string());
        self.generation
    }

    /// Changes the node at `at`, copying it first if a snapshot holds it.
    fn node_mut(&mut self, at: usize) -> &mut NodeInfo {
        let generation = self.touch(at);
        let info = Arc::make_mut(&mut self.nodes[at]);
        info.generation = generation;
        info
    }

    /// Counts the questions `pod` asks as asked once more; answers them.
    fn declare(&mut self, pod: &PodInfo) -> Vec<CountKey> {
        let keys = domain_counts::declared_by(pod, &self.workloads);
        for key in &keys {
            let askers = self.declared.entry(key.clone()).or_default();
            *askers += 1;
            if *askers == 1 {
                self.declared_generation += 1;
            }
        }
        keys
    }

    /// Counts the questions a placed pod declared as asked once less.
    fn undeclare(&mut self, keys: &[CountKey]) {
        for key in keys {
            if let Some(askers) = self.declared.get_mut(key) {
                *askers -= 1;
                if *askers == 0 {
                    self.declared.remove(key);
                    self.declared_generation += 1;
                }
            }
        }
    }

    fn count_images(&mut self, node: &Node, delta: isize) {
        let counts = Arc::make_mut(&mut self.image_nodes);
        for name in node.images.iter().flat_map(|i| &i.names) {
            let n = counts.entry(name.clone()).or_default();
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                counts.remove(name);
            }
        }
    }

    /// Adds or updates a node; answers what changed.
    pub fn set_node(&mut self, node: Node) -> NodeChange {
        let node = Arc::new(node);
        match self.index.get(&node.name).copied() {
            Some(at) => {
                let old = self.nodes[at].node.clone();
                let change = NodeChange {
                    added: false,
                    labels: old.labels != node.labels,
                    taints: old.taints != node.taints || old.unschedulable != node.unschedulable,
                    allocatable: old.allocatable != node.allocatable,
                    images: old.images != node.images,
                };
                if change.images {
                    self.count_images(&old, -1);
                    self.count_images(&node, 1);
                }
                let mut updated = self.nodes[at].with_node(node);
                updated.generation = self.touch(at);
                self.nodes[at] = Arc::new(updated);
                change
            }
            None => {
                self.count_images(&node, 1);
                let mut info = NodeInfo::new(node.clone());
                for pod in self.orphans.remove(&node.name).unwrap_or_default() {
                    info.add_pod(pod);
                }
                self.generation += 1;
                info.generation = self.generation;
                self.list_generation = self.generation;
                self.changed.insert(self.generation, node.name.clone());
                self.index.insert(node.name.clone(), self.nodes.len());
                self.nodes.push(Arc::new(info));
                NodeChange {
                    added: true,
                    ..NodeChange::default()
                }
            }
        }
    }

    /// Removes a node; its pods wait as orphans until they are deleted
    /// (their node agent is gone) or the node comes back.
    pub fn remove_node(&mut self, name: &str) {
        let Some(at) = self.index.remove(name) else {
            return;
        };
        let removed = self.nodes.swap_remove(at);
        if let Some(moved) = self.nodes.get(at) {
            self.index.insert(moved.name().to_string(), at);
        }
        self.changed.remove(&removed.generation);
        self.generation += 1;
        self.list_generation = self.generation;
        self.count_images(&removed.node.clone(), -1);
        if !removed.pods.is_empty() {
            self.orphans.insert(name.to_string(), removed.pods.to_vec());
        }
    }

    fn place(&mut self, pod: Arc<PodInfo>, node: &str) {
        match self.index.get(node).copied() {
            Some(at) => self.node_mut(at).add_pod(pod),
            None => self.orphans.entry(node.to_string()).or_default().push(pod),
        }
    }

    fn unplace(&mut self, uid: &str, node: &str) {
        match self.index.get(node).copied() {
            Some(at) => {
                self.node_mut(at).remove_pod(uid);
            }
            None => {
                if let Some(pods) = self.orphans.get_mut(node) {
                    pods.retain(|p| p.uid != uid);
                    if pods.is_empty() {
                        self.orphans.remove(node);
                    }
                }
            }
        }
    }

    /// A pod with a node, from an informer event: counted on its node. If
    /// the scheduler had assumed it, this confirms it.
    pub fn set_pod(&mut self, pod: Arc<PodInfo>) {
        let uid = pod.uid.clone();
        if let Some(old) = self.pods.remove(&uid) {
            self.unplace(&uid, &old.node);
            self.undeclare(&old.declared);
        }
        self.unnominate(&uid);
        let node = pod.node_name.clone();
        let declared = self.declare(&pod);
        self.place(pod, &node);
        self.pods.insert(
            uid,
            Placement {
                node,
                assumed: false,
                assumed_from: String::new(),
                declared,
            },
        );
    }

    /// A pod is gone (deleted); whether it was counted.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        self.unnominate(uid);
        match self.pods.remove(uid) {
            Some(old) => {
                self.unplace(uid, &old.node);
                self.undeclare(&old.declared);
                true
            }
            None => false,
        }
    }

    // ANCHOR: assume
    /// Counts `pod` on `node` now, before its binding is written.
    pub fn assume(&mut self, pod: &PodInfo, node: &str) {
        let assumed = Arc::new(PodInfo {
            node_name: node.to_string(),
            ..pod.clone()
        });
        self.unnominate(&pod.uid);
        if let Some(old) = self.pods.remove(&pod.uid) {
            self.unplace(&pod.uid, &old.node);
            self.undeclare(&old.declared);
        }
        self.place(assumed.clone(), node);
        let declared = self.declare(&assumed);
        self.pods.insert(
            pod.uid.clone(),
            Placement {
                node: node.to_string(),
                assumed: true,
                assumed_from: pod.resource_version.clone(),
                declared,
            },
        );
    }

    /// Confirms the assumed pod `uid` from its binding's event, without
    /// reading the pod again: if it is assumed on `node` from the very
    /// object the binding replaced (`replaced`, that object's
    /// `resourceVersion`), the pod the cache counts is already the bound
    /// one, and it stays on its node as it is (the node is not changed,
    /// so the next snapshot copies nothing). Whether it did; if not, the
    /// caller reads the pod and sets it ([`Cache::set_pod`]), as
    /// Kubernetes' `AddPod` replaces an assumed pod with the API's.
    pub fn confirm(&mut self, uid: &str, node: &str, replaced: &str) -> bool {
        match self.pods.get_mut(uid) {
            Some(p)
                if p.assumed
                    && p.node == node
                    && !replaced.is_empty()
                    && p.assumed_from == replaced =>
            {
                p.assumed = false;
                p.assumed_from.clear();
                true
            }
            _ => false,
        }
    }

    /// Stops counting an assumed pod whose binding failed. A pod already
    /// confirmed by an event is left alone: the API says it is placed.
    pub fn forget(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|p| p.assumed) {
            self.remove_pod(uid);
        }
    }
    // ANCHOR_END: assume

    // ANCHOR: nominate
    /// Holds room on `node` for the pending `pod`, which preemption
    /// nominated there: until it is placed (assumed or bound) or deleted,
    /// decisions for pods of lower or equal priority count it on `node`
    /// (Kubernetes' nominator in the scheduling queue).
    pub fn nominate(&mut self, pod: Arc<PodInfo>, node: &str) {
        if self.nominations.get(&pod.uid).map(String::as_str) == Some(node) {
            // The same nomination, maybe a newer copy of the pod.
            let pods = Arc::make_mut(&mut self.nominated)
                .entry(node.to_string())
                .or_default();
            pods.retain(|p| p.uid != pod.uid);
            pods.push(pod);
            return;
        }
        self.unnominate(&pod.uid);
        self.nominations.insert(pod.uid.clone(), node.to_string());
        Arc::make_mut(&mut self.nominated)
            .entry(node.to_string())
            .or_default()
            .push(pod);
    }

    /// Stops holding room for the pod `uid`, if it was nominated.
    pub fn unnominate(&mut self, uid: &str) {
        let Some(node) = self.nominations.remove(uid) else {
            return;
        };
        let nominated = Arc::make_mut(&mut self.nominated);
        if let Some(pods) = nominated.get_mut(&node) {
            pods.retain(|p| p.uid != uid);
            if pods.is_empty() {
                nominated.remove(&node);
            }
        }
    }

    /// The node the pod `uid` is nominated to, if any.
    pub fn nominated_node(&self, uid: &str) -> Option<&str> {
        self.nominations.get(uid).map(String::as_str)
    }
    // ANCHOR_END: nominate

    /// Whether the pod is assumed (chosen, not yet confirmed).
    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// Whether the pod is counted on a node, assumed or confirmed.
    pub fn is_placed(&self, uid: &str) -> bool {
        self.pods.contains_key(uid)
    }

    /// Sets the labels of a namespace (None: it is gone).
    pub fn set_namespace(&mut self, name: &str, labels: Option<BTreeMap<String, String>>) {
        let namespaces = Arc::make_mut(&mut self.namespaces);
        match labels {
            Some(labels) => namespaces.insert(name.to_string(), labels),
            None => namespaces.remove(name),
        };
    }

    /// Sets a Service's selector (None: it is gone or selects nothing).
    pub fn set_service(
        &mut self,
        ns: &str,
        name: &str,
        selector: Option<BTreeMap<String, String>>,
    ) {
        let workloads = Arc::make_mut(&mut self.workloads);
        let services = workloads.services.entry(ns.to_string()).or_default();
        match selector {
            Some(s) => services.insert(name.to_string(), s),
            None => services.remove(name),
        };
    }

    /// Sets a ReplicaSet's selector (None: it is gone).
    pub fn set_replica_set(&mut self, ns: &str, name: &str, selector: Option<Selector>) {
        let workloads = Arc::make_mut(&mut self.workloads);
        let key = format!("{ns}/{name}");
        match selector {
            Some(s) => workloads.replica_sets.insert(key, s),
            None => workloads.replica_sets.remove(&key),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str) -> Node {
        Node::parse(&json!({"metadata": {"name": name},
            "status": {"allocatable": {"cpu": "1", "pods": "10"}}}))
    }

    fn pod(uid: &str, node: &str) -> PodInfo {
        PodInfo::parse(&json!({
            "metadata": {"uid": uid, "name": uid, "namespace": "d"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]},
        }))
    }

    fn requested(cache: &Cache, name: &str) -> i64 {
        let snapshot = cache.snapshot();
        let info = snapshot.nodes.iter().find(|n| n.name() == name).unwrap();
        info.requested.milli_cpu
    }

    #[test]
    fn an_assumed_pod_counts_until_forgotten_or_confirmed() {
        let mut cache = Cache::new();
        cache.set_node(node("n1"));
        let waiting = pod("a", "");
        cache.assume(&waiting, "n1");
        assert_eq!(requested(&cache, "n1"), 100);
        assert!(cache.is_assumed("a"));
        cache.forget("a");
        assert_eq!(requested(&cache, "n1"), 0);

        cache.assume(&waiting, "n1");
        cache.set_pod(Arc::new(pod("a", "n1")));
        assert!(!cache.is_assumed("a"), "confirmed by the pod's event");
        cache.forget("a");
        assert_eq!(
            requested(&cache, "n1"),
            100,
            "a confirmed pod is not forgotten"
        );
    }

    #[test]
    fn a_binding_that_changed_nothing_else_confirms_in_place() {
        let mut cache = Cache::new();
        cache.set_node(node("n1"));
        let mut waiting = pod("a", "");
        waiting.resource_version = "7".into();
        cache.assume(&waiting, "n1");
        let generation = cache.snapshot().nodes[0].generation;
        // Another node, or a binding of a later version of the pod than
        // the one assumed: not confirmed in place.
        assert!(!cache.confirm("a", "n2", "7"));
        assert!(!cache.confirm("a", "n1", "8"));
        assert!(!cache.confirm("a", "n1", ""));
        assert!(cache.is_assumed("a"));
        assert!(cache.confirm("a", "n1", "7"));
        assert!(!cache.is_assumed("a"));
        assert_eq!(
            cache.snapshot().nodes[0].generation,
            generation,
            "the node is left as it was"
        );
        cache.forget("a");
        assert_eq!(requested(&cache, "n1"), 100, "confirmed, so not forgotten");
        assert!(!cache.confirm("a", "n1", "7"), "only an assumed pod is");
    }

    #[test]
    fn snapshots_do_not_see_later_changes() {
        let mut cache = Cache::new();
        cache.set_node(node("n1"));
        let before = cache.snapshot();
        cache.set_pod(Arc::new(pod("a", "n1")));
        assert_eq!(before.nodes[0].requested.milli_cpu, 0);
        assert_eq!(requested(&cache, "n1"), 100);
    }

    #[test]
    fn pods_on_unknown_nodes_wait_for_them() {
        let mut cache = Cache::new();
        cache.set_pod(Arc::new(pod("a", "n2")));
        cache.set_node(node("n1"));
        assert!(cache.set_node(node("n2")).added);
        assert_eq!(requested(&cache, "n2"), 100);
        cache.remove_node("n1");
        assert_eq!(cache.node_count(), 1);
        assert_eq!(requested(&cache, "n2"), 100, "the index follows the swap");
        assert!(cache.remove_pod("a"));
        assert_eq!(requested(&cache, "n2"), 0);
    }

    #[test]
    fn nominations_last_until_the_pod_is_placed_or_gone() {
        let mut cache = Cache::new();
        cache.set_node(node("n1"));
        let mut high = pod("high", "");
        high.priority = 10;
        let low = pod("low", "");
        cache.nominate(Arc::new(high.clone()), "n1");
        let held = cache.snapshot();
        assert_eq!(
            held.nominated_for("n1", &low).len(),
            1,
            "held against lower"
        );
        assert!(
            held.nominated_for("n1", &high).is_empty(),
            "not against itself"
        );
        assert!(held.nominated_for("n2", &low).is_empty());
        let mut higher = pod("higher", "");
        higher.priority = 11;
        assert!(
            held.nominated_for("n1", &higher).is_empty(),
            "not against higher"
        );

        cache.assume(&high, "n1");
        assert!(
            cache.snapshot().nominated_for("n1", &low).is_empty(),
            "placed"
        );
        assert_eq!(
            held.nominated_for("n1", &low).len(),
            1,
            "snapshots are frozen"
        );

        cache.nominate(Arc::new(low.clone()), "n1");
        cache.nominate(Arc::new(low.clone()), "n1");
        let mut lower = pod("lower", "");
        lower.priority = -1;
        assert_eq!(
            cache.snapshot().nominated_for("n1", &lower).len(),
            1,
            "once"
        );
        assert_eq!(cache.nominated_node("low"), Some("n1"));
        cache.remove_pod("low");
        assert_eq!(cache.nominated_node("low"), None, "deleted");
        assert!(cache.snapshot().nominated.is_empty());
    }

    fn names(nodes: &[Arc<NodeInfo>]) -> Vec<&str> {
        nodes.iter().map(|n| n.name()).collect()
    }

    #[test]
    fn a_kept_snapshot_takes_only_the_nodes_changed_since() {
        let mut cache = Cache::new();
        for name in ["n1", "n2", "n3"] {
            cache.set_node(node(name));
        }
        let mut snapshot = Snapshot::default();
        cache.update_snapshot(&mut snapshot);
        assert_eq!(names(&snapshot.nodes), ["n1", "n2", "n3"]);
        let before = snapshot.nodes.clone();

        cache.assume(&pod("a", ""), "n2");
        cache.update_snapshot(&mut snapshot);
        assert!(Arc::ptr_eq(&before[0], &snapshot.nodes[0]), "n1 not copied");
        assert!(Arc::ptr_eq(&before[2], &snapshot.nodes[2]), "n3 not copied");
        assert!(!Arc::ptr_eq(&before[1], &snapshot.nodes[1]), "n2 changed");
        assert_eq!(snapshot.nodes[1].requested.milli_cpu, 100);
        assert_eq!(before[1].requested.milli_cpu, 0, "the old copy is frozen");
        assert_eq!(snapshot.generation, cache.generation);

        // Nothing changed: nothing copied.
        let current = snapshot.nodes.clone();
        cache.update_snapshot(&mut snapshot);
        assert!(Arc::ptr_eq(&current, &snapshot.nodes));

        // A node gone: the list is taken again, in the cache's order.
        cache.remove_node("n1");
        cache.update_snapshot(&mut snapshot);
        assert_eq!(names(&snapshot.nodes), ["n3", "n2"]);
        cache.assume(&pod("b", ""), "n3");
        cache.update_snapshot(&mut snapshot);
        assert_eq!(snapshot.nodes[0].requested.milli_cpu, 100);
        assert_eq!(snapshot.nodes[1].requested.milli_cpu, 100);
    }

    #[test]
    fn namespaces_and_nominations_reach_a_kept_snapshot() {
        let mut cache = Cache::new();
        cache.set_node(node("n1"));
        let mut snapshot = Snapshot::default();
        cache.update_snapshot(&mut snapshot);
        cache.set_namespace("d", Some(BTreeMap::from([("k".into(), "v".into())])));
        cache.nominate(Arc::new(pod("high", "")), "n1");
        cache.update_snapshot(&mut snapshot);
        assert_eq!(snapshot.namespace_labels("d").get("k").unwrap(), "v");
        assert_eq!(snapshot.nominated.len(), 1);
    }

    #[test]
    fn node_changes_are_reported() {
        let mut cache = Cache::new();
        cache.set_node(node("n1"));
        let mut tainted = node("n1");
        tainted.unschedulable = true;
        let change = cache.set_node(tainted);
        assert!(change.taints && !change.labels && !change.added);
        assert!(!cache.set_node(node("n1")).labels);
    }
}

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
//! - `snapshot.rs`: the frozen view one decision works on.

pub mod node_info;
pub mod snapshot;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use orc_client::selectors::labels::Selector;

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
    /// Shared with snapshots; copied only when a snapshot still holds it.
    nodes: Arc<Vec<Arc<NodeInfo>>>,
    /// Node name → position in `nodes`.
    index: HashMap<String, usize>,
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
}

impl Cache {
    /// An empty cache.
    pub fn new() -> Cache {
        Cache::default()
    }

    /// The frozen view for one decision.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            nodes: self.nodes.clone(),
            image_nodes: self.image_nodes.clone(),
            namespaces: self.namespaces.clone(),
            workloads: self.workloads.clone(),
            nominated: self.nominated.clone(),
            volumes: self.volumes.clone(),
        }
    }

    /// Sets (or, with `None`, removes) a claim, volume or class: `kind` is
    /// `PersistentVolumeClaim`, `PersistentVolume` or `StorageClass`, `key`
    /// the informer's key.
    pub fn set_volume_object(&mut self, kind: &str, key: String, object: Option<Value>) {
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

    /// Changes the node at `at`, copying it first if a snapshot holds it.
    fn node_mut(&mut self, at: usize) -> &mut NodeInfo {
        Arc::make_mut(&mut Arc::make_mut(&mut self.nodes)[at])
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
                let updated = self.nodes[at].with_node(node);
                *self.node_mut(at) = updated;
                change
            }
            None => {
                self.count_images(&node, 1);
                let mut info = NodeInfo::new(node.clone());
                for pod in self.orphans.remove(&node.name).unwrap_or_default() {
                    info.add_pod(pod);
                }
                self.index.insert(node.name.clone(), self.nodes.len());
                Arc::make_mut(&mut self.nodes).push(Arc::new(info));
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
        let nodes = Arc::make_mut(&mut self.nodes);
        let removed = nodes.swap_remove(at);
        if let Some(moved) = nodes.get(at) {
            self.index.insert(moved.name().to_string(), at);
        }
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
        }
        self.unnominate(&uid);
        let node = pod.node_name.clone();
        self.place(pod, &node);
        self.pods.insert(
            uid,
            Placement {
                node,
                assumed: false,
            },
        );
    }

    /// A pod is gone (deleted); whether it was counted.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        self.unnominate(uid);
        match self.pods.remove(uid) {
            Some(old) => {
                self.unplace(uid, &old.node);
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
        }
        self.place(assumed, node);
        self.pods.insert(
            pod.uid.clone(),
            Placement {
                node: node.to_string(),
                assumed: true,
            },
        );
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

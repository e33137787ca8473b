//! [`Snapshot`]: the cluster as one decision sees it, frozen.
//!
//! A decision reads many nodes, one after the other; if pods and nodes
//! changed under it, two nodes could be judged against two different
//! clusters. So a decision works on a snapshot that nothing changes.
//!
//! The scheduler keeps one snapshot for its whole life and brings it up
//! to date before each decision, as kube-scheduler's `UpdateSnapshot`
//! does: every change to the cache has a generation number, and only the
//! nodes changed since the snapshot's generation are copied in
//! (`Cache::update_snapshot`). Copying a node is cloning an `Arc`: the
//! snapshot shares every `NodeInfo` with the cache, and the cache copies a
//! node only when it changes one that the snapshot still holds (copy on
//! write, `Arc::make_mut`). So a decision on 5,000 nodes after one pod
//! was placed costs one node's copy, not 5,000.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use orc_client::selectors::labels::{Requirement, Selector};

use super::domain_counts::KeptCounts;
use super::node_info::NodeInfo;
use crate::objects::PodInfo;
use crate::objects::volumes::Volumes;

/// What the Services and ReplicaSets of the cluster say, for the default
/// topology spreading (Kubernetes' `DefaultSelector`).
#[derive(Debug, Clone, Default)]
pub struct Workloads {
    /// Namespace → Service name → `spec.selector`.
    pub services: HashMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// `namespace/name` of a ReplicaSet → its selector.
    pub replica_sets: HashMap<String, Selector>,
}

impl Workloads {
    /// The pods like `pod`, for spreading: the labels of every Service
    /// selecting it, and the selector of the ReplicaSet controlling it.
    /// Empty when nothing selects it (then it is not spread by default).
    pub fn default_selector(&self, pod: &PodInfo) -> Selector {
        let mut labels = BTreeMap::new();
        for selector in self
            .services
            .get(&pod.namespace)
            .into_iter()
            .flat_map(|s| s.values())
        {
            if selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v)) {
                labels.extend(selector.clone());
            }
        }
        let mut requirements: Vec<Requirement> = labels
            .into_iter()
            .map(|(k, v)| Requirement::Equals(k, v))
            .collect();
        if let Some(rs) = &pod.replica_set {
            let key = format!("{}/{rs}", pod.namespace);
            if let Some(selector) = self.replica_sets.get(&key) {
                requirements.extend(selector.requirements.iter().cloned());
            }
        }
        Selector { requirements }
    }
}

/// The cluster for one decision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every node, in the cache's order (which sampling rotates through).
    pub nodes: Arc<Vec<Arc<NodeInfo>>>,
    /// Matching pods per topology domain, for the questions placed pods
    /// ask of spreading and inter-pod affinity, kept up to date with the
    /// nodes (`domain_counts.rs`). Among them, where the pods carrying
    /// each required anti-affinity term are: only those pods can refuse a
    /// newcomer by their own terms, so InterPodAffinity's PreFilter reads
    /// these rather than visiting nodes (where Kubernetes walks its
    /// `havePodsWithRequiredAntiAffinityNodeInfoList`).
    pub counts: KeptCounts,
    /// The cache's generation this snapshot is up to date with.
    pub generation: u64,
    /// Image name → how many nodes hold it (ImageLocality favours images
    /// that are on few nodes less: pulling them is rarely avoided).
    pub image_nodes: Arc<HashMap<String, usize>>,
    /// Namespace → its labels (affinity terms' namespace selectors).
    pub namespaces: Arc<HashMap<String, BTreeMap<String, String>>>,
    pub workloads: Arc<Workloads>,
    /// Node name → the pending pods nominated to it (preemption made room
    /// for them there; their victims may still be leaving).
    pub nominated: Arc<HashMap<String, Vec<Arc<PodInfo>>>>,
    /// Claims, volumes and classes (`VolumeBinding`).
    pub volumes: Arc<Volumes>,
}

/// Labels of a namespace that is not (or not yet) known: none.
static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl Snapshot {
    /// The labels of namespace `ns`.
    pub fn namespace_labels(&self, ns: &str) -> &BTreeMap<String, String> {
        self.namespaces.get(ns).unwrap_or(&NO_LABELS)
    }

    // ANCHOR: nominated_for
    /// The pods nominated to `node` that hold their room against `pod`:
    /// those of equal or higher priority, other than `pod` itself
    /// (Kubernetes' `addNominatedPods`). A lower-priority pod must not
    /// take the room preemption freed for them.
    pub fn nominated_for(&self, node: &str, pod: &PodInfo) -> Vec<Arc<PodInfo>> {
        if self.nominated.is_empty() {
            return Vec::new();
        }
        self.nominated
            .get(node)
            .into_iter()
            .flatten()
            .filter(|p| p.priority >= pod.priority && p.uid != pod.uid)
            .cloned()
            .collect()
    }
    // ANCHOR_END: nominated_for

    /// The same cluster with `node` in place of the node of that name (what
    /// preemption asks "would the pod fit if these pods were gone?" on).
    pub fn with_node(&self, node: NodeInfo) -> Snapshot {
        let mut counts = self.counts.clone();
        let nodes: Vec<Arc<NodeInfo>> = self
            .nodes
            .iter()
            .map(|n| {
                if n.name() == node.name() {
                    // The kept counts follow the change, copied on write.
                    counts.replace(Some(n), Some(&node));
                    Arc::new(node.clone())
                } else {
                    n.clone()
                }
            })
            .collect();
        // A pod added to the node (a nominated one) may ask questions no
        // placed pod asks: their answers are counted now.
        counts.declare(node.pods.iter(), &nodes, &self.workloads);
        Snapshot {
            nodes: Arc::new(nodes),
            counts,
            ..self.clone()
        }
    }

    /// A snapshot of `nodes` alone (tests and labs).
    pub fn of_nodes(nodes: Vec<NodeInfo>) -> Snapshot {
        let mut image_nodes: HashMap<String, usize> = HashMap::new();
        for n in &nodes {
            for name in n.images.keys() {
                *image_nodes.entry(name.clone()).or_default() += 1;
            }
        }
        let nodes: Vec<Arc<NodeInfo>> = nodes.into_iter().map(Arc::new).collect();
        Snapshot {
            counts: KeptCounts::of_nodes(&nodes, &Workloads::default()),
            nodes: Arc::new(nodes),
            image_nodes: Arc::new(image_nodes),
            ..Snapshot::default()
        }
    }
}

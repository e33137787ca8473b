//! [`NodeInfo`]: one node and the pods on it, with the sums every
//! decision needs already added up.

use std::collections::HashMap;
use std::sync::Arc;

use crate::objects::pod::HostPort;
use crate::objects::{Node, PodInfo, Resources};

/// A node, the pods placed on it (bound, or assumed while their binding
/// is on its way), and aggregates kept up to date as pods come and go, so
/// a filter reads "requested CPU" as one field rather than a sum over
/// pods (Kubernetes' `framework.NodeInfo`).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    /// The node's name, shared: every decision names each node it filters
    /// and scores (hundreds per pod), and cloning an `Arc` costs no
    /// allocation where a `String` would.
    pub shared_name: Arc<str>,
    pub pods: Vec<Arc<PodInfo>>,
    /// The sum of the pods' requests (`pods` is their count).
    pub requested: Resources,
    /// The same, with a missing CPU or memory request counted as the
    /// default (what the scores read).
    pub non_zero_requested: Resources,
    /// Every host port taken, one entry per pod that takes it.
    pub used_ports: Vec<HostPort>,
    /// Image name → size in bytes, from `status.images`. Shared: it
    /// changes only with the Node object, while the node is copied each
    /// time a pod lands on it.
    pub images: Arc<HashMap<String, i64>>,
    /// The cache's generation when this node last changed (Kubernetes'
    /// `NodeInfo.Generation`): a snapshot copies only the nodes changed
    /// since its own generation.
    pub generation: u64,
}

impl NodeInfo {
    /// A node without pods.
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let images = node
            .images
            .iter()
            .flat_map(|i| i.names.iter().map(move |n| (n.clone(), i.size_bytes)))
            .collect();
        NodeInfo {
            shared_name: Arc::from(node.name.as_str()),
            node,
            pods: Vec::new(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
            used_ports: Vec::new(),
            images: Arc::new(images),
            generation: 0,
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.node.name
    }

    /// Counts `pod` on this node.
    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.requested.pods += 1;
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.non_zero_requested.pods += 1;
        self.used_ports.extend(pod.host_ports.iter().cloned());
        self.pods.push(pod);
    }

    /// Stops counting the pod with `uid`; whether it was here.
    pub fn remove_pod(&mut self, uid: &str) -> bool {
        let Some(at) = self.pods.iter().position(|p| p.uid == uid) else {
            return false;
        };
        let pod = self.pods.swap_remove(at);
        self.requested.subtract(&pod.requests);
        self.requested.pods -= 1;
        self.non_zero_requested.subtract(&pod.non_zero_requests);
        self.non_zero_requested.pods -= 1;
        for port in &pod.host_ports {
            if let Some(i) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(i);
            }
        }
        true
    }

    /// The same pods on an updated node object.
    pub fn with_node(&self, node: Arc<Node>) -> NodeInfo {
        let mut info = NodeInfo::new(node);
        for pod in &self.pods {
            info.add_pod(pod.clone());
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sums_follow_pods_in_and_out() {
        let mut info = NodeInfo::new(Arc::new(Node::default()));
        let pod = |uid: &str, cpu: &str| {
            Arc::new(PodInfo::parse(&json!({
                "metadata": {"uid": uid, "name": uid, "namespace": "d"},
                "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}},
                    "ports": [{"hostPort": 80}]}]},
            })))
        };
        info.add_pod(pod("a", "100m"));
        info.add_pod(pod("b", "300m"));
        assert_eq!(info.requested.milli_cpu, 400);
        assert_eq!(info.requested.pods, 2);
        assert_eq!(info.used_ports.len(), 2);
        assert!(info.remove_pod("a"));
        assert!(!info.remove_pod("a"));
        assert_eq!(info.requested.milli_cpu, 300);
        assert_eq!(info.used_ports.len(), 1);
    }
}

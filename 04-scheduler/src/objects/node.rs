//! [`Node`]: a Node object as the scheduler reads it, parsed once.

use std::collections::BTreeMap;

use orc_client::selectors::labels_of;
use serde_json::Value;

use super::field;
use super::resources::{self, Resources};
use super::taints::{self, Taint};

/// An image a node holds (`status.images`): its names and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeImage {
    pub names: Vec<String>,
    pub size_bytes: i64,
}

/// A node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    /// `spec.unschedulable`: cordoned (`kubectl cordon`).
    pub unschedulable: bool,
    /// `status.allocatable`: what pods may request in all.
    pub allocatable: Resources,
    pub images: Vec<NodeImage>,
}

impl Node {
    /// Reads a Node object. An allocatable that cannot be read counts as
    /// nothing (no pod with requests fits) and is logged: it is the node
    /// agent's to fix, not a pod's.
    pub fn parse(node: &Value) -> Node {
        let name = field(node, &["metadata", "name"])
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let allocatable = field(node, &["status", "allocatable"])
            .map(|a| resources::parse_list(a, "status.allocatable"))
            .unwrap_or(Ok(Resources::default()))
            .unwrap_or_else(|error| {
                tracing::warn!(node = %name, %error, "unreadable allocatable; counted as none");
                Resources::default()
            });
        let images = field(node, &["status", "images"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|i| NodeImage {
                names: i
                    .get("names")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect(),
                size_bytes: i.get("sizeBytes").and_then(Value::as_i64).unwrap_or(0),
            })
            .collect();
        Node {
            labels: labels_of(node),
            taints: taints::parse_taints(field(node, &["spec", "taints"])),
            unschedulable: field(node, &["spec", "unschedulable"])
                .and_then(Value::as_bool)
                .unwrap_or(false),
            allocatable,
            images,
            name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_parse() {
        let node = Node::parse(&json!({
            "metadata": {"name": "n1", "labels": {"zone": "a"}},
            "spec": {"unschedulable": true, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "images": [{"names": ["nginx:1.25"], "sizeBytes": 1000}]},
        }));
        assert_eq!(node.name, "n1");
        assert!(node.unschedulable);
        assert_eq!(node.taints.len(), 1);
        assert_eq!(node.allocatable.milli_cpu, 4000);
        assert_eq!(node.allocatable.pods, 110);
        assert_eq!(node.images[0].size_bytes, 1000);
    }
}

//! The scheduler's typed view of API objects, read once from JSON.
//!
//! orc's client hands out `serde_json::Value`s; the scheduler reads the
//! fields it needs into these types when an informer delivers an object,
//! so no decision parses JSON. Parsing never fails on user input: what
//! cannot be read is kept as a problem for the plugin that owns the field
//! to report.

pub mod node;
pub mod node_selector;
pub mod pod;
pub mod pod_affinity;
pub mod resources;
pub mod spread;
pub mod volumes;

pub use node::Node;
/// Taints and tolerations live in the client crate: the API server's
/// `DefaultTolerationSeconds` admission and chapter 05's taint eviction
/// read them too.
pub use orc_client::taints;
pub use pod::PodInfo;
pub use resources::{ResourceName, Resources};

/// A label map from pairs, for tests.
#[cfg(test)]
pub(crate) fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

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

/// The value at a path of object fields, without allocating: orc-client's,
/// because its informers and selectors read fields on every event too
/// (chapter 04, the callgrind section).
pub use orc_client::field::field;

/// Hashes a label selector by its requirements. orc-client's `Selector`
/// is not `Hash`; the scheduler keys counts by selectors
/// (`cache/domain_counts.rs`), so it hashes them here, consistently with
/// their `==` (equal selectors hash equal).
pub(crate) fn hash_selector<H: std::hash::Hasher>(
    selector: Option<&orc_client::selectors::labels::Selector>,
    state: &mut H,
) {
    use orc_client::selectors::labels::Requirement;
    use std::hash::Hash;
    let Some(selector) = selector else {
        return 0u8.hash(state);
    };
    1u8.hash(state);
    for r in &selector.requirements {
        match r {
            Requirement::Equals(k, v) => (0u8, k, v).hash(state),
            Requirement::NotEquals(k, v) => (1u8, k, v).hash(state),
            Requirement::In(k, values) => (2u8, k, values).hash(state),
            Requirement::NotIn(k, values) => (3u8, k, values).hash(state),
            Requirement::Exists(k) => (4u8, k).hash(state),
            Requirement::DoesNotExist(k) => (5u8, k).hash(state),
        }
    }
}

/// A label map from pairs, for tests.
#[cfg(test)]
pub(crate) fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

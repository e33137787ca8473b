//! Inter-pod affinity terms: "run me near (or away from) pods like these".
//!
//! A term names pods (a label selector, in some namespaces) and a
//! *topology key*, a node label such as `kubernetes.io/hostname` or
//! `topology.kubernetes.io/zone`. "Near" means on a node whose value for
//! that label is the value of a node running such a pod: the same host,
//! the same zone. Affinity asks for that; anti-affinity forbids it (or,
//! preferred, discourages it with a weight).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use orc_client::selectors::labels::{Selector, try_from_label_selector};
use serde_json::Value;

/// One `PodAffinityTerm`, resolved as Kubernetes' `framework.AffinityTerm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityTerm {
    /// `namespaces`; the pod's own namespace when both this and the
    /// namespace selector are left out.
    pub namespaces: BTreeSet<String>,
    /// `namespaceSelector`: `None` selects no namespace (it was left out),
    /// `Some` of an empty selector selects every namespace.
    pub namespace_selector: Option<Selector>,
    /// `labelSelector`: `None` (left out) selects no pod.
    pub selector: Option<Selector>,
    /// The node label that defines "near".
    pub topology_key: String,
}

/// The counts of the pods a term names are kept per term
/// (`cache/domain_counts.rs`): terms are hash keys.
impl Hash for AffinityTerm {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.namespaces.hash(state);
        super::hash_selector(self.namespace_selector.as_ref(), state);
        super::hash_selector(self.selector.as_ref(), state);
        self.topology_key.hash(state);
    }
}

// ANCHOR: term_matches
impl AffinityTerm {
    /// Whether a pod in namespace `ns` (whose labels are `ns_labels`) with
    /// `labels` is one of the pods this term names.
    pub fn matches(
        &self,
        ns: &str,
        labels: &BTreeMap<String, String>,
        ns_labels: &BTreeMap<String, String>,
    ) -> bool {
        let in_namespace = self.namespaces.contains(ns)
            || self
                .namespace_selector
                .as_ref()
                .is_some_and(|s| s.matches(ns_labels));
        in_namespace && self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}
// ANCHOR_END: term_matches

/// A preferred term and its weight (1 to 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedTerm {
    pub weight: i64,
    pub term: AffinityTerm,
}

/// `spec.affinity.podAffinity` and `podAntiAffinity` of one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodAffinity {
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedTerm>,
    pub preferred_anti_affinity: Vec<WeightedTerm>,
}

impl PodAffinity {
    /// Whether the pod has any term at all (Kubernetes keeps such pods in
    /// a node's `PodsWithAffinity`, the only ones the scores must visit
    /// when the incoming pod has no preferences of its own).
    pub fn is_empty(&self) -> bool {
        self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty()
    }
}

/// Reads the inter-pod affinity of a pod spec; `ns` is the pod's namespace.
pub fn parse(spec: &Value, ns: &str) -> Result<PodAffinity, String> {
    let mut affinity = PodAffinity::default();
    for (kind, required, preferred) in [
        (
            "podAffinity",
            &mut affinity.required_affinity,
            &mut affinity.preferred_affinity,
        ),
        (
            "podAntiAffinity",
            &mut affinity.required_anti_affinity,
            &mut affinity.preferred_anti_affinity,
        ),
    ] {
        let Some(section) = spec.get("affinity").and_then(|a| a.get(kind)) else {
            continue;
        };
        let path = format!("spec.affinity.{kind}");
        let list = |key: &str| {
            section
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
        };
        let key = "requiredDuringSchedulingIgnoredDuringExecution";
        for (i, t) in list(key) {
            required.push(term(t, ns, &format!("{path}.{key}[{i}]"))?);
        }
        let key = "preferredDuringSchedulingIgnoredDuringExecution";
        for (i, w) in list(key) {
            let at = format!("{path}.{key}[{i}]");
            let weight = w.get("weight").and_then(Value::as_i64).unwrap_or(0);
            if !(1..=100).contains(&weight) {
                return Err(format!("{at}.weight: must be in the range 1-100"));
            }
            let t = w
                .get("podAffinityTerm")
                .ok_or_else(|| format!("{at}.podAffinityTerm: required"))?;
            preferred.push(WeightedTerm {
                weight,
                term: term(t, ns, &format!("{at}.podAffinityTerm"))?,
            });
        }
    }
    Ok(affinity)
}

fn term(value: &Value, ns: &str, path: &str) -> Result<AffinityTerm, String> {
    let selector = |key: &str| -> Result<Option<Selector>, String> {
        match value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(s) => try_from_label_selector(s)
                .map(Some)
                .map_err(|e| format!("{path}.{key}: {e}")),
        }
    };
    let topology_key = value
        .get("topologyKey")
        .and_then(Value::as_str)
        .unwrap_or("");
    if topology_key.is_empty() {
        return Err(format!("{path}.topologyKey: required"));
    }
    let namespace_selector = selector("namespaceSelector")?;
    let mut namespaces: BTreeSet<String> = value
        .get("namespaces")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    if namespaces.is_empty() && namespace_selector.is_none() {
        namespaces.insert(ns.to_string());
    }
    Ok(AffinityTerm {
        namespaces,
        namespace_selector,
        selector: selector("labelSelector")?,
        topology_key: topology_key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::labels;
    use serde_json::json;

    fn one_term(t: Value) -> AffinityTerm {
        let spec = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [t]}}});
        parse(&spec, "web").unwrap().required_affinity.remove(0)
    }

    #[test]
    fn a_term_without_namespaces_means_the_pods_own() {
        let t = one_term(
            json!({"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}),
        );
        let db = labels(&[("app", "db")]);
        assert!(t.matches("web", &db, &labels(&[])));
        assert!(!t.matches("other", &db, &labels(&[])));
    }

    #[test]
    fn namespace_selectors_and_missing_label_selectors() {
        let t = one_term(
            json!({"labelSelector": {}, "namespaceSelector": {"matchLabels": {"team": "a"}}, "topologyKey": "zone"}),
        );
        assert!(t.matches("x", &labels(&[]), &labels(&[("team", "a")])));
        assert!(
            !t.matches("web", &labels(&[]), &labels(&[])),
            "only the selected namespaces"
        );
        let nothing = one_term(json!({"topologyKey": "zone"}));
        assert!(!nothing.matches("web", &labels(&[]), &labels(&[])));
    }

    #[test]
    fn malformed_terms_are_named() {
        let spec = json!({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 10, "podAffinityTerm": {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}, "topologyKey": "zone"}}]}}});
        assert_eq!(
            parse(&spec, "d").unwrap_err(),
            "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]\
             .podAffinityTerm.labelSelector: matchExpressions[0].values: In needs at least one value"
        );
        let spec = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}});
        assert!(
            parse(&spec, "d")
                .unwrap_err()
                .ends_with("topologyKey: required")
        );
    }
}

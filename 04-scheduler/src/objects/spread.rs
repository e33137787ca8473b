//! Topology spread constraints: "keep pods like me evenly spread over
//! zones (or hosts)".
//!
//! A constraint names pods (a label selector in the pod's namespace), a
//! topology key (a node label: each value is a *domain*), and the largest
//! difference allowed between the domain with the most such pods and the
//! one with the fewest (`maxSkew`). `DoNotSchedule` makes it a filter,
//! `ScheduleAnyway` a score.

use std::collections::BTreeMap;

use orc_client::selectors::labels::{Requirement, Selector, try_from_label_selector};
use serde_json::Value;

use super::PodInfo;

/// `whenUnsatisfiable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnsatisfiable {
    /// A filter: nodes that would make the skew too large are refused.
    DoNotSchedule,
    /// A score: such nodes are only ranked lower.
    ScheduleAnyway,
}

/// `nodeAffinityPolicy` and `nodeTaintsPolicy`: whether nodes the pod
/// could not run on (by its node affinity, or by taints it does not
/// tolerate) count as domains when spreading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InclusionPolicy {
    Honor,
    Ignore,
}

/// One `topologySpreadConstraints` entry, or one of Kubernetes' system
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpreadConstraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub when_unsatisfiable: WhenUnsatisfiable,
    /// The pods counted; `None` (no `labelSelector`) counts none.
    pub selector: Option<Selector>,
    /// Fewer eligible domains than this make the global minimum 0, so
    /// pods go to new domains first (`minDomains`, default 1).
    pub min_domains: i64,
    /// Default `Honor`.
    pub node_affinity_policy: InclusionPolicy,
    /// Default `Ignore`.
    pub node_taints_policy: InclusionPolicy,
}

impl SpreadConstraint {
    /// Whether a pod in the constraint's namespace with `labels` counts.
    pub fn counts(&self, labels: &BTreeMap<String, String>) -> bool {
        selects(self.selector.as_ref(), labels)
    }

    /// Whether every node with the topology labels is a domain whatever
    /// the pod: neither inclusion policy looks at the pod's own node
    /// affinity or tolerations. Only then can the counts be shared by all
    /// pods asking with this selector (`cache/domain_counts.rs`).
    pub fn includes_every_node(&self, pod: &PodInfo) -> bool {
        let by_affinity = self.node_affinity_policy == InclusionPolicy::Honor
            && pod.node_preferences.has_required();
        !by_affinity && self.node_taints_policy == InclusionPolicy::Ignore
    }
}

/// Whether a constraint's `selector` counts a pod with `labels`: a
/// constraint without a selector, or with an empty one, counts none.
fn selects(selector: Option<&Selector>, labels: &BTreeMap<String, String>) -> bool {
    selector.is_some_and(|s| !s.requirements.is_empty() && s.matches(labels))
}

/// Whether `pod` counts for a constraint with `selector` of a pod in
/// `namespace`: in that namespace, selected, and not being deleted.
pub fn counted(selector: Option<&Selector>, namespace: &str, pod: &PodInfo) -> bool {
    !pod.terminating && pod.namespace == namespace && selects(selector, &pod.labels)
}

/// Kubernetes' system default constraints, used for pods that declare
/// none, with a selector made from the Services and ReplicaSets that
/// select the pod (so replicas of one workload spread): at most 3 more on
/// one host than on another, at most 5 more in one zone, both as scores.
pub fn system_defaults(selector: Selector) -> Vec<SpreadConstraint> {
    [
        ("kubernetes.io/hostname", 3),
        ("topology.kubernetes.io/zone", 5),
    ]
    .into_iter()
    .map(|(key, max_skew)| SpreadConstraint {
        max_skew,
        topology_key: key.to_string(),
        when_unsatisfiable: WhenUnsatisfiable::ScheduleAnyway,
        selector: Some(selector.clone()),
        min_domains: 1,
        node_affinity_policy: InclusionPolicy::Honor,
        node_taints_policy: InclusionPolicy::Ignore,
    })
    .collect()
}

/// `spec.topologySpreadConstraints` of a pod with `labels`.
pub fn parse(
    spec: &Value,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<SpreadConstraint>, String> {
    let mut constraints = Vec::new();
    for (i, c) in spec
        .get("topologySpreadConstraints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        constraints.push(constraint(
            c,
            labels,
            &format!("spec.topologySpreadConstraints[{i}]"),
        )?);
    }
    Ok(constraints)
}

fn constraint(
    c: &Value,
    labels: &BTreeMap<String, String>,
    path: &str,
) -> Result<SpreadConstraint, String> {
    let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
    let max_skew = c.get("maxSkew").and_then(Value::as_i64).unwrap_or(0);
    if max_skew < 1 {
        return Err(format!("{path}.maxSkew: must be greater than zero"));
    }
    if text("topologyKey").is_empty() {
        return Err(format!("{path}.topologyKey: required"));
    }
    let when_unsatisfiable = match text("whenUnsatisfiable") {
        "DoNotSchedule" => WhenUnsatisfiable::DoNotSchedule,
        "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
        other => {
            return Err(format!(
                "{path}.whenUnsatisfiable: {other:?} is not DoNotSchedule or ScheduleAnyway"
            ));
        }
    };
    let min_domains = match c.get("minDomains") {
        None | Some(Value::Null) => 1,
        Some(v) => {
            let n = v
                .as_i64()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{path}.minDomains: must be greater than zero"))?;
            if when_unsatisfiable != WhenUnsatisfiable::DoNotSchedule {
                return Err(format!(
                    "{path}.minDomains: can only be used with whenUnsatisfiable DoNotSchedule"
                ));
            }
            n
        }
    };
    let policy = |key: &str, default| match text(key) {
        "" => Ok(default),
        "Honor" => Ok(InclusionPolicy::Honor),
        "Ignore" => Ok(InclusionPolicy::Ignore),
        other => Err(format!("{path}.{key}: {other:?} is not Honor or Ignore")),
    };
    let mut selector = match c.get("labelSelector") {
        None | Some(Value::Null) => None,
        Some(s) => {
            Some(try_from_label_selector(s).map_err(|e| format!("{path}.labelSelector: {e}"))?)
        }
    };
    // `matchLabelKeys`: spread among pods that also share this pod's
    // values for these labels (a Deployment's `pod-template-hash`, so each
    // revision spreads on its own).
    for key in c
        .get("matchLabelKeys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let (Some(s), Some(value)) = (selector.as_mut(), labels.get(key)) {
            s.requirements
                .push(Requirement::In(key.to_string(), vec![value.clone()]));
        }
    }
    Ok(SpreadConstraint {
        max_skew,
        topology_key: text("topologyKey").to_string(),
        when_unsatisfiable,
        selector,
        min_domains,
        node_affinity_policy: policy("nodeAffinityPolicy", InclusionPolicy::Honor)?,
        node_taints_policy: policy("nodeTaintsPolicy", InclusionPolicy::Ignore)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::labels;
    use serde_json::json;

    #[test]
    fn constraints_parse_with_their_defaults() {
        let spec = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}},
            "matchLabelKeys": ["pod-template-hash"]}]});
        let pod = labels(&[("app", "web"), ("pod-template-hash", "abc")]);
        let c = parse(&spec, &pod).unwrap().remove(0);
        assert_eq!(c.min_domains, 1);
        assert_eq!(c.node_affinity_policy, InclusionPolicy::Honor);
        assert_eq!(c.node_taints_policy, InclusionPolicy::Ignore);
        assert!(c.counts(&pod));
        assert!(!c.counts(&labels(&[("app", "web"), ("pod-template-hash", "old")])));
    }

    #[test]
    fn malformed_constraints_are_named() {
        let spec = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "ScheduleAnyway", "minDomains": 2}]});
        assert_eq!(
            parse(&spec, &labels(&[])).unwrap_err(),
            "spec.topologySpreadConstraints[0].minDomains: can only be used with whenUnsatisfiable DoNotSchedule"
        );
        let spec = json!({"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone"}]});
        assert!(parse(&spec, &labels(&[])).is_err());
    }
}

//! Node selectors: which nodes a pod may (or would rather) run on.
//!
//! Two forms, both in the pod's spec:
//!
//! - `spec.nodeSelector`: a map of labels the node must carry, all of them;
//! - `spec.affinity.nodeAffinity`: *terms* of requirements. The terms are
//!   ORed, the requirements within one term ANDed. A requirement has an
//!   operator: `In`, `NotIn`, `Exists`, `DoesNotExist`, and `Gt`/`Lt`,
//!   which compare a label as an integer. `matchExpressions` look at the
//!   node's labels, `matchFields` at its fields (only `metadata.name`).
//!
//! Kubernetes' API validation refuses malformed terms before a scheduler
//! sees them; orc's API server does not check these fields yet, so the
//! parser here says what is wrong, field path included, and the scheduler
//! reports it on the pod rather than guessing.

use std::collections::BTreeMap;

use serde_json::Value;

/// An operator of a node selector requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeOperator {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    /// The label, read as an integer, is greater than this.
    Gt(i64),
    /// The label, read as an integer, is less than this.
    Lt(i64),
}

/// One requirement on one label (or field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRequirement {
    pub key: String,
    pub operator: NodeOperator,
}

// ANCHOR: requirement_matches
impl NodeRequirement {
    /// Whether a node whose label (or field) `key` is `value` satisfies
    /// this requirement.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (&self.operator, value) {
            (NodeOperator::In(values), Some(v)) => values.iter().any(|x| x == v),
            (NodeOperator::In(_), None) => false,
            (NodeOperator::NotIn(values), Some(v)) => !values.iter().any(|x| x == v),
            (NodeOperator::NotIn(_), None) => true,
            (NodeOperator::Exists, v) => v.is_some(),
            (NodeOperator::DoesNotExist, v) => v.is_none(),
            // A label that is not an integer satisfies neither Gt nor Lt.
            (NodeOperator::Gt(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v > *n),
            (NodeOperator::Lt(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v < *n),
            (NodeOperator::Gt(_) | NodeOperator::Lt(_), None) => false,
        }
    }
}
// ANCHOR_END: requirement_matches

/// One term: every expression on labels and every field must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    pub expressions: Vec<NodeRequirement>,
    /// Only `metadata.name`, with `In` or `NotIn` and one value.
    pub fields: Vec<NodeRequirement>,
}

impl NodeSelectorTerm {
    /// Whether the node named `name` with `labels` satisfies the term. A
    /// term with no requirements at all matches no node (Kubernetes: "a
    /// null or empty node selector term matches no objects").
    pub fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.expressions.is_empty() && self.fields.is_empty() {
            return false;
        }
        self.expressions
            .iter()
            .all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self.fields.iter().all(|r| r.matches(Some(name)))
    }
}

/// A preferred term and its weight (1 to 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferredTerm {
    pub weight: i64,
    pub term: NodeSelectorTerm,
}

/// Everything a pod says about nodes: `nodeSelector` and node affinity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePreferences {
    /// `spec.nodeSelector`.
    pub node_selector: BTreeMap<String, String>,
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`:
    /// `None` when the pod has none (every node passes).
    pub required: Option<Vec<NodeSelectorTerm>>,
    /// `preferredDuringSchedulingIgnoredDuringExecution`.
    pub preferred: Vec<PreferredTerm>,
}

// ANCHOR: required_matches
impl NodePreferences {
    /// Whether the node passes `nodeSelector` and the required terms
    /// (Kubernetes' `RequiredNodeAffinity.Match`).
    pub fn required_match(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        let selected = self
            .node_selector
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v));
        selected
            && self
                .required
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(name, labels)))
    }

    /// The sum of the weights of the preferred terms the node satisfies.
    pub fn preferred_weight(&self, name: &str, labels: &BTreeMap<String, String>) -> i64 {
        self.preferred
            .iter()
            .filter(|p| p.term.matches(name, labels))
            .map(|p| p.weight)
            .sum()
    }

    /// Whether the pod says anything at all about nodes.
    pub fn has_required(&self) -> bool {
        !self.node_selector.is_empty() || self.required.is_some()
    }
}
// ANCHOR_END: required_matches

/// Reads `spec.nodeSelector` and `spec.affinity.nodeAffinity` of a pod spec.
pub fn parse(spec: &Value) -> Result<NodePreferences, String> {
    let mut prefs = NodePreferences::default();
    if let Some(map) = spec.get("nodeSelector").and_then(Value::as_object) {
        for (k, v) in map {
            let v = v
                .as_str()
                .ok_or_else(|| format!("spec.nodeSelector.{k}: must be a string"))?;
            prefs.node_selector.insert(k.clone(), v.to_string());
        }
    }
    let path = "spec.affinity.nodeAffinity";
    let Some(affinity) = super::field(spec, &["affinity", "nodeAffinity"]) else {
        return Ok(prefs);
    };
    if let Some(required) = affinity
        .get("requiredDuringSchedulingIgnoredDuringExecution")
        .filter(|r| !r.is_null())
    {
        let path = format!("{path}.requiredDuringSchedulingIgnoredDuringExecution");
        let terms = required
            .get("nodeSelectorTerms")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{path}.nodeSelectorTerms: required"))?;
        let mut parsed = Vec::new();
        for (i, t) in terms.iter().enumerate() {
            parsed.push(term(t, &format!("{path}.nodeSelectorTerms[{i}]"))?);
        }
        prefs.required = Some(parsed);
    }
    for (i, p) in affinity
        .get("preferredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("{path}.preferredDuringSchedulingIgnoredDuringExecution[{i}]");
        let weight = p.get("weight").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=100).contains(&weight) {
            return Err(format!("{path}.weight: must be in the range 1-100"));
        }
        let preference = p
            .get("preference")
            .ok_or_else(|| format!("{path}.preference: required"))?;
        prefs.preferred.push(PreferredTerm {
            weight,
            term: term(preference, &format!("{path}.preference"))?,
        });
    }
    Ok(prefs)
}

fn term(value: &Value, path: &str) -> Result<NodeSelectorTerm, String> {
    let list = |key: &str| -> Result<Vec<NodeRequirement>, String> {
        value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| requirement(r, &format!("{path}.{key}[{i}]"), key == "matchFields"))
            .collect()
    };
    Ok(NodeSelectorTerm {
        expressions: list("matchExpressions")?,
        fields: list("matchFields")?,
    })
}

/// One requirement, checked as Kubernetes' `NodeSelectorRequirementsAsSelector`
/// checks it (and, for a field, `nodeSelectorRequirementsAsFieldSelector`).
fn requirement(value: &Value, path: &str, field: bool) -> Result<NodeRequirement, String> {
    let key = value.get("key").and_then(Value::as_str).unwrap_or("");
    if key.is_empty() {
        return Err(format!("{path}.key: required"));
    }
    let values: Vec<String> = value
        .get("values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let op = value.get("operator").and_then(Value::as_str).unwrap_or("");
    if field {
        if key != "metadata.name" {
            return Err(format!(
                "{path}.key: {key:?} is not a supported field (only metadata.name)"
            ));
        }
        if !matches!(op, "In" | "NotIn") || values.len() != 1 {
            return Err(format!(
                "{path}: a field requirement takes In or NotIn and exactly one value"
            ));
        }
    }
    let integer = || -> Result<i64, String> {
        match values.as_slice() {
            [one] => one
                .parse()
                .map_err(|_| format!("{path}.values: {one:?} is not an integer for {op}")),
            _ => Err(format!("{path}.values: {op} takes exactly one value")),
        }
    };
    let operator = match op {
        "In" | "NotIn" if values.is_empty() => {
            return Err(format!("{path}.values: {op} needs at least one value"));
        }
        "In" => NodeOperator::In(values.clone()),
        "NotIn" => NodeOperator::NotIn(values.clone()),
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            return Err(format!("{path}.values: {op} takes no values"));
        }
        "Exists" => NodeOperator::Exists,
        "DoesNotExist" => NodeOperator::DoesNotExist,
        "Gt" => NodeOperator::Gt(integer()?),
        "Lt" => NodeOperator::Lt(integer()?),
        other => {
            return Err(format!(
                "{path}.operator: {other:?} is not In, NotIn, Exists, DoesNotExist, Gt or Lt"
            ));
        }
    };
    Ok(NodeRequirement {
        key: key.to_string(),
        operator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::labels;
    use serde_json::json;

    fn required(expressions: Value) -> NodePreferences {
        parse(
            &json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": expressions}]}}}}),
        )
        .unwrap()
    }

    #[test]
    fn every_operator() {
        let node = labels(&[("zone", "a"), ("cores", "8")]);
        let case = |e: Value| required(json!([e])).required_match("n", &node);
        assert!(case(
            json!({"key": "zone", "operator": "In", "values": ["a", "b"]})
        ));
        assert!(!case(
            json!({"key": "zone", "operator": "NotIn", "values": ["a"]})
        ));
        assert!(case(
            json!({"key": "disk", "operator": "NotIn", "values": ["ssd"]})
        ));
        assert!(case(json!({"key": "zone", "operator": "Exists"})));
        assert!(case(json!({"key": "disk", "operator": "DoesNotExist"})));
        assert!(case(
            json!({"key": "cores", "operator": "Gt", "values": ["4"]})
        ));
        assert!(!case(
            json!({"key": "cores", "operator": "Lt", "values": ["8"]})
        ));
        assert!(!case(
            json!({"key": "zone", "operator": "Gt", "values": ["1"]})
        ));
    }

    #[test]
    fn terms_are_ored_and_empty_terms_match_nothing() {
        let prefs = parse(&json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{}, {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]}}}}))
        .unwrap();
        assert!(!prefs.required_match("n1", &labels(&[])));
        assert!(prefs.required_match("n2", &labels(&[])));
    }

    #[test]
    fn node_selector_and_preferences() {
        let prefs = parse(&json!({
            "nodeSelector": {"disk": "ssd"},
            "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
                {"weight": 7, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
            ]}},
        }))
        .unwrap();
        let node = labels(&[("disk", "ssd"), ("zone", "a")]);
        assert!(prefs.required_match("n", &node));
        assert!(!prefs.required_match("n", &labels(&[("zone", "a")])));
        assert_eq!(prefs.preferred_weight("n", &node), 12);
    }

    #[test]
    fn malformed_requirements_say_where() {
        let spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["many"]}]}]}}}});
        assert_eq!(
            parse(&spec).unwrap_err(),
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]\
             .matchExpressions[0].values: \"many\" is not an integer for Gt"
        );
        let spec = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Near"}]}]}}}});
        assert!(parse(&spec).unwrap_err().contains("\"Near\" is not In"));
    }
}

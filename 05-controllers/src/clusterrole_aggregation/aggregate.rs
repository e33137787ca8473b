//! Which rules an aggregated ClusterRole should have (pure).
//!
//! Kubernetes' `ClusterRoleAggregationController.syncClusterRole`: for each
//! of the role's `clusterRoleSelectors` in turn, the ClusterRoles it selects
//! in name order (never the role itself), and each of their rules that is
//! not already in the list. The order is stable, so an unchanged set of
//! roles gives the same list and no write.

use orc_client::selectors::labels::{self, Selector};
use orc_client::selectors::labels_of;
use serde_json::Value;

/// The selectors of a role's `aggregationRule`; `None` when it has none
/// (a plain role, left alone). A selector that does not parse selects
/// nothing, as Kubernetes skips it.
pub fn selectors(role: &Value) -> Option<Vec<Selector>> {
    let rule = role.get("aggregationRule")?;
    let selectors = rule
        .get("clusterRoleSelectors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| labels::try_from_label_selector(s).ok())
        .collect();
    Some(selectors)
}

fn name(role: &Value) -> &str {
    role.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

// ANCHOR: aggregate
/// The rules `role` should have, gathered from `all` ClusterRoles; `None`
/// when `role` is not aggregated.
pub fn aggregated_rules(role: &Value, all: &[Value]) -> Option<Vec<Value>> {
    let selectors = selectors(role)?;
    let mut sorted: Vec<&Value> = all.iter().filter(|r| name(r) != name(role)).collect();
    sorted.sort_by(|a, b| name(a).cmp(name(b)));
    let mut rules: Vec<Value> = Vec::new();
    for selector in &selectors {
        for source in sorted.iter().filter(|r| selector.matches(&labels_of(r))) {
            let theirs = source.get("rules").and_then(Value::as_array);
            for rule in theirs.into_iter().flatten() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    Some(rules)
}
// ANCHOR_END: aggregate

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(name: &str, labels: Value, rules: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "rules": rules})
    }

    #[test]
    fn selected_roles_rules_in_name_order_without_repeats() {
        let to_view = json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"});
        let view = json!({"metadata": {"name": "view"}, "aggregationRule": {"clusterRoleSelectors": [
            {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}}]}});
        let pods = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]});
        let leases = json!({"verbs": ["get"], "apiGroups": ["coordination.k8s.io"], "resources": ["leases"]});
        let all = [
            role("z-extra", to_view.clone(), json!([leases, pods])),
            role("a-base", to_view.clone(), json!([pods])),
            role("unrelated", json!({}), json!([{"verbs": ["*"]}])),
            view.clone(),
        ];
        assert_eq!(aggregated_rules(&view, &all).unwrap(), [pods, leases]);
        assert_eq!(aggregated_rules(&all[1], &all), None, "not aggregated");
    }
}

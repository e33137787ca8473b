//! PodDisruptionBudgets' admission (`policy/v1`): what a budget may say.
//!
//! A budget names a set of pods (`spec.selector`) and how many of them a
//! *voluntary* disruption (an eviction: `kubectl drain`, an autoscaler
//! removing a node) must leave running: at least `minAvailable`, or at
//! most `maxUnavailable` gone, never both. Either is a count or a
//! percentage of the pods' owner's scale. `unhealthyPodEvictionPolicy`
//! says whether a pod that is not ready may be evicted regardless
//! (`AlwaysAllow`) or only while the budget is met (`IfHealthyBudget`, the
//! behaviour when unset). The disruption controller (chapter 05) writes
//! `status`; the eviction subresource (`handlers/eviction.rs`) spends it.
//!
//! The rules and messages are Kubernetes' `ValidatePodDisruptionBudget`
//! and `ValidatePodDisruptionBudgetStatusUpdate`. One difference: a bad
//! count or percentage is shown as its JSON (`"5x"`), where Kubernetes
//! prints the Go struct that holds it (`intstr.IntOrString{...}`).

use serde_json::Value;

use crate::status::FieldCause;
use orc_client::selectors::labels::try_from_label_selector;

/// `spec.unhealthyPodEvictionPolicy`'s values, in Kubernetes' sorted order.
pub const UNHEALTHY_POD_EVICTION_POLICIES: &[&str] = &["AlwaysAllow", "IfHealthyBudget"];

/// Kubernetes' `IsValidPercent` message (its double space included).
const PERCENT: &str = "a valid percent string must be a numeric string followed by an ending '%' \
                       (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

/// The status counters the controller writes, none of which may be negative.
const COUNTERS: &[&str] = &[
    "disruptionsAllowed",
    "currentHealthy",
    "desiredHealthy",
    "expectedPods",
];

// ANCHOR: validate
/// Checks a PodDisruptionBudget's spec and status counters.
pub fn validate(obj: &Value, causes: &mut Vec<FieldCause>) {
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let min = spec.get("minAvailable").filter(|v| !v.is_null());
    let max = spec.get("maxUnavailable").filter(|v| !v.is_null());
    if min.is_some() && max.is_some() {
        causes.push(FieldCause::invalid(
            "spec",
            spec,
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for (field, value) in [("minAvailable", min), ("maxUnavailable", max)] {
        if let Some(value) = value {
            int_or_percent(&format!("spec.{field}"), value, causes);
        }
    }
    if let Some(selector) = spec.get("selector").filter(|s| !s.is_null())
        && let Err(why) = try_from_label_selector(selector)
    {
        causes.push(FieldCause::invalid("spec.selector", selector, why));
    }
    if let Some(policy) = spec
        .get("unhealthyPodEvictionPolicy")
        .filter(|p| !p.is_null())
    {
        let text = policy.as_str().unwrap_or_default();
        if !UNHEALTHY_POD_EVICTION_POLICIES.contains(&text) {
            causes.push(FieldCause::not_supported(
                "spec.unhealthyPodEvictionPolicy",
                text,
                UNHEALTHY_POD_EVICTION_POLICIES,
            ));
        }
    }
    let status = obj.get("status").unwrap_or(&Value::Null);
    for field in COUNTERS {
        if let Some(n) = status.get(*field).filter(|n| !n.is_null())
            && n.as_i64().is_none_or(|n| n < 0)
        {
            causes.push(FieldCause::invalid(
                format!("status.{field}"),
                n,
                "must be greater than or equal to 0",
            ));
        }
    }
}
// ANCHOR_END: validate

/// Kubernetes' `ValidatePositiveIntOrPercent` and
/// `IsNotMoreThan100Percent`: a count of 0 or more, or `N%` up to 100%.
fn int_or_percent(field: &str, value: &Value, causes: &mut Vec<FieldCause>) {
    match value {
        Value::Number(n) => {
            if n.as_i64().is_none_or(|n| n < 0) {
                causes.push(FieldCause::invalid(
                    field,
                    value,
                    "must be greater than or equal to 0",
                ));
            }
        }
        Value::String(s) => match percent(s) {
            None => causes.push(FieldCause::invalid(field, value, PERCENT)),
            Some(p) if p > 100 => causes.push(FieldCause::invalid(
                field,
                value,
                "must not be greater than 100%",
            )),
            Some(_) => {}
        },
        _ => causes.push(FieldCause::invalid(
            field,
            value,
            "must be an integer or percentage (e.g '5%')",
        )),
    }
}

/// `N` of `N%`, when the text is digits followed by `%`.
fn percent(text: &str) -> Option<u64> {
    let digits = text.strip_suffix('%')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More digits than fit: certainly more than 100%.
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(obj: Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate(&obj, &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn spec(spec: Value) -> Value {
        json!({"spec": spec})
    }

    #[test]
    fn one_of_min_available_and_max_unavailable() {
        assert!(messages(spec(json!({"minAvailable": 2}))).is_empty());
        assert!(messages(spec(json!({"maxUnavailable": "25%"}))).is_empty());
        let both = messages(spec(json!({"minAvailable": 1, "maxUnavailable": 1})));
        assert_eq!(both.len(), 1);
        assert!(
            both[0].ends_with("minAvailable and maxUnavailable cannot be both set"),
            "{both:?}"
        );
        // Neither is allowed: a budget that only watches.
        assert!(messages(spec(json!({"selector": {}}))).is_empty());
    }

    #[test]
    fn counts_and_percentages() {
        assert_eq!(
            messages(spec(json!({"minAvailable": -1}))),
            ["spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"]
        );
        assert_eq!(
            messages(spec(json!({"maxUnavailable": "150%"}))),
            [r#"spec.maxUnavailable: Invalid value: "150%": must not be greater than 100%"#]
        );
        let bad = messages(spec(json!({"minAvailable": "half"})));
        assert!(bad[0].contains("a valid percent string"), "{bad:?}");
        assert!(messages(spec(json!({"minAvailable": "100%"}))).is_empty());
        let wrong = messages(spec(json!({"minAvailable": true})));
        assert!(
            wrong[0].contains("must be an integer or percentage"),
            "{wrong:?}"
        );
    }

    #[test]
    fn policy_selector_and_status() {
        assert_eq!(
            messages(spec(json!({"unhealthyPodEvictionPolicy": "Sometimes"}))),
            [
                r#"spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget""#
            ]
        );
        let selector = json!({"matchExpressions": [{"key": "app", "operator": "Near"}]});
        let bad = messages(spec(json!({"selector": selector})));
        assert!(
            bad[0].starts_with("spec.selector: Invalid value"),
            "{bad:?}"
        );
        let status = json!({"spec": {}, "status": {"disruptionsAllowed": -1}});
        assert_eq!(
            messages(status),
            ["status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0"]
        );
    }
}

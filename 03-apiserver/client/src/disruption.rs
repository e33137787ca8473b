//! PodDisruptionBudgets as three components read them, pure: the API
//! server's eviction subresource spends a budget, the disruption
//! controller (chapter 05) computes it, and the scheduler's preemption
//! (chapter 04) avoids breaking it. What they must agree on lives here:
//! which pods a budget guards, what "healthy" means, and how the
//! `DisruptionAllowed` condition is worded.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::selectors::labels::try_from_label_selector;

// ANCHOR: guards
/// Whether the budget `pdb` guards a pod with `labels`, as the eviction
/// and preemption ask it: a selector that is missing, empty or unreadable
/// guards nothing. (The disruption controller counts an empty selector's
/// pods as every pod of the namespace; Kubernetes keeps both readings.)
pub fn guards(pdb: &Value, labels: &BTreeMap<String, String>) -> bool {
    pdb.pointer("/spec/selector")
        .filter(|s| !s.is_null())
        .and_then(|s| try_from_label_selector(s).ok())
        .is_some_and(|s| !s.is_empty() && s.matches(labels))
}
// ANCHOR_END: guards

/// An integer of the budget's status, 0 when missing (Go's zero value).
pub fn status_int(pdb: &Value, field: &str) -> i64 {
    pdb.get("status")
        .and_then(|s| s.get(field))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Sets the `DisruptionAllowed` condition from `status.disruptionsAllowed`
/// (Kubernetes' `UpdateDisruptionAllowedCondition`): `True` with
/// `SufficientPods` while a disruption is allowed, `False` with
/// `InsufficientPods` otherwise.
pub fn set_disruption_allowed(pdb: &mut Value, now: Timestamp) {
    let (status, reason) = if status_int(pdb, "disruptionsAllowed") > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    set_condition(pdb, status, reason, "", now);
}

/// Sets the budget's `DisruptionAllowed` condition (a `metav1.Condition`,
/// `observedGeneration` included); its `lastTransitionTime` moves only
/// when its status does, as `meta.SetStatusCondition` keeps it.
pub fn set_condition(pdb: &mut Value, status: &str, reason: &str, message: &str, now: Timestamp) {
    let observed = json!(status_int(pdb, "observedGeneration"));
    if !pdb["status"]["conditions"].is_array() {
        pdb["status"]["conditions"] = json!([]);
    }
    let Some(conditions) = pdb["status"]["conditions"].as_array_mut() else {
        return;
    };
    let old = conditions
        .iter()
        .position(|c| c["type"] == "DisruptionAllowed");
    let since = match old.map(|i| &conditions[i]) {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => json!(crate::time::format(now)),
    };
    let condition = json!({"type": "DisruptionAllowed", "status": status, "reason": reason,
        "message": message, "observedGeneration": observed, "lastTransitionTime": since});
    match old {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    #[test]
    fn empty_and_missing_selectors_guard_nothing() {
        let labels: BTreeMap<String, String> = [("app".into(), "web".into())].into();
        let pdb = |selector: Value| json!({"spec": {"selector": selector}});
        assert!(guards(
            &pdb(json!({"matchLabels": {"app": "web"}})),
            &labels
        ));
        assert!(!guards(
            &pdb(json!({"matchLabels": {"app": "db"}})),
            &labels
        ));
        assert!(!guards(&pdb(json!({})), &labels));
        assert!(!guards(&json!({"spec": {}}), &labels));
        let broken = json!({"matchExpressions": [{"key": "app", "operator": "Near"}]});
        assert!(!guards(&pdb(broken), &labels));
    }

    #[test]
    fn the_condition_keeps_its_time_until_it_flips() {
        let mut pdb = json!({"status": {"disruptionsAllowed": 1, "observedGeneration": 3}});
        set_disruption_allowed(&mut pdb, at(0));
        set_disruption_allowed(&mut pdb, at(5));
        let condition = &pdb["status"]["conditions"][0];
        assert_eq!(condition["reason"], "SufficientPods");
        assert_eq!(condition["observedGeneration"], 3);
        assert_eq!(condition["lastTransitionTime"], crate::time::format(at(0)));
        pdb["status"]["disruptionsAllowed"] = json!(0);
        set_disruption_allowed(&mut pdb, at(9));
        let condition = &pdb["status"]["conditions"][0];
        assert_eq!(condition["reason"], "InsufficientPods");
        assert_eq!(condition["lastTransitionTime"], crate::time::format(at(9)));
        assert_eq!(pdb["status"]["conditions"].as_array().unwrap().len(), 1);
    }
}

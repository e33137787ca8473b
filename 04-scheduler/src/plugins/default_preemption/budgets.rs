//! The PodDisruptionBudgets preemption weighs, pure.
//!
//! Preemption deletes its victims outright (it does not go through the
//! eviction subresource, which would refuse), but it prefers victims no
//! budget protects: Kubernetes splits the potential victims into those
//! whose eviction would take a budget below zero allowed disruptions
//! (*violating*) and the rest, reprieves the violating ones first, and
//! ranks candidate nodes by how many budgets they break before anything
//! else (`filterPodsWithPDBViolation`, `pickOneNodeForPreemption`).
//!
//! The budgets come from an informer the scheduler starts
//! (`lib.rs`), as kube-scheduler's plugin reads its `pdbLister`.

use std::collections::HashSet;
use std::sync::Arc;

use orc_client::disruption::status_int;
use orc_client::selectors::labels::{Selector, try_from_label_selector};
use serde_json::Value;

use crate::objects::PodInfo;

/// One budget, as preemption needs it.
#[derive(Debug, Clone)]
pub struct Budget {
    pub namespace: String,
    /// Never empty: a budget with an empty (or missing, or unreadable)
    /// selector protects nothing here.
    pub selector: Selector,
    /// `status.disruptionsAllowed`.
    pub allowed: i64,
    /// `status.disruptedPods`' names: evictions already granted, which
    /// are not counted against the budget again.
    pub disrupted: HashSet<String>,
}

impl Budget {
    /// The budget `pdb`, or `None` when it protects nothing.
    pub fn parse(pdb: &Value) -> Option<Budget> {
        let selector = pdb
            .pointer("/spec/selector")
            .filter(|s| !s.is_null())
            .and_then(|s| try_from_label_selector(s).ok())
            .filter(|s| !s.is_empty())?;
        let disrupted = pdb
            .pointer("/status/disruptedPods")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        Some(Budget {
            namespace: pdb
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            selector,
            allowed: status_int(pdb, "disruptionsAllowed"),
            disrupted,
        })
    }

    /// Every budget of `pdbs` that protects something.
    pub fn all(pdbs: &[Value]) -> Vec<Budget> {
        pdbs.iter().filter_map(Budget::parse).collect()
    }
}

// ANCHOR: split
/// `pods` (most important first) split into those whose eviction would
/// break a budget and the others, each in the order given. Each budget's
/// allowance is spent as pods are counted against it, so with one
/// disruption allowed the first matching pod is fine and the second
/// violates.
pub fn split_by_budgets(
    pods: Vec<Arc<PodInfo>>,
    budgets: &[Budget],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i64> = budgets.iter().map(|b| b.allowed).collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for pod in pods {
        let mut violates = false;
        // A pod without labels matches no (non-empty) selector.
        if !pod.labels.is_empty() {
            for (budget, left) in budgets.iter().zip(allowed.iter_mut()) {
                if budget.namespace != pod.namespace
                    || !budget.selector.matches(&pod.labels)
                    || budget.disrupted.contains(&pod.name)
                {
                    continue;
                }
                *left -= 1;
                if *left < 0 {
                    violates = true;
                }
            }
        }
        if violates {
            violating.push(pod);
        } else {
            fine.push(pod);
        }
    }
    (violating, fine)
}
// ANCHOR_END: split

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, app: &str) -> Arc<PodInfo> {
        Arc::new(PodInfo::parse(&json!({
            "metadata": {"namespace": "d", "name": name, "uid": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "c"}]},
        })))
    }

    fn budget(allowed: i64, disrupted: Value) -> Value {
        json!({"metadata": {"namespace": "d", "name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": allowed, "disruptedPods": disrupted}})
    }

    fn names(pods: &[Arc<PodInfo>]) -> Vec<&str> {
        pods.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn pods_past_the_allowance_violate() {
        let pods = vec![pod("w1", "web"), pod("w2", "web"), pod("db", "db")];
        let (violating, fine) =
            split_by_budgets(pods.clone(), &Budget::all(&[budget(1, json!({}))]));
        assert_eq!(names(&violating), ["w2"]);
        assert_eq!(names(&fine), ["w1", "db"]);
        // An eviction already granted is not counted again.
        let granted = Budget::all(&[budget(0, json!({"w1": "2026-01-01T00:00:00Z"}))]);
        let (violating, _) = split_by_budgets(pods, &granted);
        assert_eq!(names(&violating), ["w2"]);
    }

    #[test]
    fn empty_selectors_and_other_namespaces_protect_nothing() {
        let empty = json!({"metadata": {"namespace": "d"}, "spec": {"selector": {}},
            "status": {"disruptionsAllowed": 0}});
        assert!(Budget::all(&[empty]).is_empty());
        let mut elsewhere = budget(0, json!({}));
        elsewhere["metadata"]["namespace"] = json!("other");
        let (violating, _) = split_by_budgets(vec![pod("w1", "web")], &Budget::all(&[elsewhere]));
        assert!(violating.is_empty());
    }
}

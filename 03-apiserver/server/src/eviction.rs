//! The eviction subresource's decisions, pure: which budgets guard a pod,
//! whether one lets it go, and the budget's status after it did.
//!
//! An eviction is a DELETE that asks first. `POST pods/{name}/eviction`
//! (a `policy/v1 Eviction`) finds the PodDisruptionBudgets whose selector
//! matches the pod and, if one does, spends one of its
//! `status.disruptionsAllowed` with a compare-and-swap on the budget
//! before the pod is deleted: two evictions racing for the last allowed
//! disruption cannot both win. When none is left the answer is 429, which
//! tells a client such as `kubectl drain` to try again later, when the
//! pod's replacement is ready. The rules are those of Kubernetes'
//! `EvictionREST` (`pkg/registry/core/pod/storage/eviction.go`); the
//! effects are in `handlers/eviction.rs`.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::status::ApiError;
use orc_client::conditions::is_ready;
use orc_client::disruption::{guards, set_disruption_allowed, status_int};
use orc_client::selectors::labels_of;

/// The message of every refusal a budget gives (Kubernetes' words).
pub const REFUSED: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

/// The answer, as a 500, for a pod guarded by more than one budget:
/// Kubernetes cannot tell which to spend, and refuses.
pub const MANY_BUDGETS: &str = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

/// The `reason` of the cause a refusal carries (`policy/v1`'s
/// `DisruptionBudgetCause`).
pub const CAUSE: &str = "DisruptionBudget";

/// Past this many evictions the controller has not yet seen, a budget
/// refuses more (Kubernetes' `MaxDisruptedPodSize`).
pub const MAX_DISRUPTED_PODS: usize = 2000;

/// The pod condition an eviction sets before it deletes, so that the
/// pod's owner (a Job's failure policy) can tell why it went.
pub fn disruption_condition(now: Timestamp) -> Value {
    json!({
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting",
        "lastTransitionTime": orc_client::time::format(now),
    })
}

/// Whether `pod` may be deleted without asking any budget: it has
/// finished (`Succeeded`, `Failed`), never started (`Pending`), or is
/// already being deleted. Its disruption happened, or will not count.
pub fn ignores_budgets(pod: &Value) -> bool {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    matches!(phase, "Succeeded" | "Failed" | "Pending")
        || pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
}

/// Whether the delete of a pod that [`ignores_budgets`] should still be
/// pinned to the pod's resourceVersion: unless it is over or going, a
/// pod that becomes ready meanwhile would escape its budget.
pub fn pins_resource_version(pod: &Value) -> bool {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    !(matches!(phase, "Succeeded" | "Failed")
        || pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null()))
}

// ANCHOR: budgets_for
/// The budgets among `budgets` (one namespace's) that guard `pod`
/// ([`guards`]: an empty selector guards nothing here).
pub fn budgets_for<'a>(pod: &Value, budgets: &'a [Value]) -> Vec<&'a Value> {
    let labels = labels_of(pod);
    budgets.iter().filter(|pdb| guards(pdb, &labels)).collect()
}
// ANCHOR_END: budgets_for

/// Whether a pod that is *not ready* may go without spending the budget:
/// always under `unhealthyPodEvictionPolicy: AlwaysAllow`; otherwise
/// (`IfHealthyBudget`, or unset) only while the budget has all the
/// healthy pods it wants, since evicting a pod that is not healthy then
/// cannot take it below.
pub fn unready_may_go(pod: &Value, pdb: &Value) -> bool {
    if is_ready(pod) {
        return false;
    }
    if pdb.pointer("/spec/unhealthyPodEvictionPolicy") == Some(&json!("AlwaysAllow")) {
        return true;
    }
    let desired = status_int(pdb, "desiredHealthy");
    status_int(pdb, "currentHealthy") >= desired && desired > 0
}

/// The 429 a budget answers while the controller has not yet looked at
/// its latest spec, or when a pinned delete lost a race: retry in 10 s.
pub fn still_processing(pdb_name: &str) -> ApiError {
    ApiError::TooManyRequests {
        message: REFUSED.into(),
        causes: vec![(
            CAUSE.into(),
            format!("The disruption budget {pdb_name} is still being processed by the server."),
        )],
        retry_after: 10,
    }
}

// ANCHOR: spend
/// Spends one disruption of `pdb` on the pod `pod_name` at `now`: the
/// budget's status as it must be stored, or why not (Kubernetes'
/// `checkAndDecrement`). A dry run changes only the count, which is never
/// stored.
pub fn spend(
    pdb: &Value,
    pod_name: &str,
    now: Timestamp,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let name = pdb
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let int = |pointer: &str| pdb.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    if int("/status/observedGeneration") < int("/metadata/generation") {
        return Err(still_processing(name));
    }
    let allowed = int("/status/disruptionsAllowed");
    let forbidden = |why: &str| {
        ApiError::Forbidden(format!(
            "poddisruptionbudget.policy \"{name}\" is forbidden: {why}"
        ))
    };
    if allowed < 0 {
        return Err(forbidden("pdb disruptions allowed is negative"));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(forbidden(
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(ApiError::TooManyRequests {
            message: REFUSED.into(),
            causes: vec![(
                CAUSE.into(),
                format!(
                    "The disruption budget {name} needs {} healthy pods and has {} currently",
                    int("/status/desiredHealthy"),
                    int("/status/currentHealthy")
                ),
            )],
            retry_after: 0,
        });
    }
    let mut next = pdb.clone();
    next["status"]["disruptionsAllowed"] = json!(allowed - 1);
    if allowed == 1 {
        set_disruption_allowed(&mut next, now);
    }
    if !dry_run {
        // Tells the controller the pod is on its way out, so it does not
        // count it as healthy until it is gone (or 2 minutes pass).
        if !next["status"]["disruptedPods"].is_object() {
            next["status"]["disruptedPods"] = json!({});
        }
        next["status"]["disruptedPods"][pod_name] = json!(orc_client::time::format(now));
    }
    Ok(next)
}
// ANCHOR_END: spend

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn pdb(allowed: i64, current: i64, desired: i64) -> Value {
        json!({"metadata": {"name": "web", "generation": 1},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"observedGeneration": 1, "disruptionsAllowed": allowed,
                "currentHealthy": current, "desiredHealthy": desired}})
    }

    fn pod(phase: &str, ready: bool) -> Value {
        json!({"metadata": {"name": "web-1", "labels": {"app": "web"}},
            "status": {"phase": phase, "conditions": [
                {"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn spending_decrements_and_records_the_pod() {
        let next = spend(&pdb(1, 3, 2), "web-1", at(0), false).unwrap();
        assert_eq!(next["status"]["disruptionsAllowed"], 0);
        assert_eq!(
            next["status"]["disruptedPods"]["web-1"],
            orc_client::time::format(at(0))
        );
        let condition = &next["status"]["conditions"][0];
        assert_eq!(
            (&condition["status"], &condition["reason"]),
            (&json!("False"), &json!("InsufficientPods"))
        );
        // A dry run spends nothing it would store.
        let dry = spend(&pdb(2, 4, 2), "web-1", at(0), true).unwrap();
        assert_eq!(dry["status"]["disruptionsAllowed"], 1);
        assert!(dry["status"]["disruptedPods"].is_null());
    }

    #[test]
    fn an_empty_budget_refuses_with_kubernetes_words() {
        let error = spend(&pdb(0, 2, 2), "web-1", at(0), false).unwrap_err();
        assert_eq!(error.code(), 429);
        let status = error.to_status();
        assert_eq!(status["message"], REFUSED);
        assert_eq!(status["reason"], "TooManyRequests");
        assert_eq!(status["details"]["causes"][0]["reason"], "DisruptionBudget");
        assert_eq!(
            status["details"]["causes"][0]["message"],
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
        // A spec the controller has not seen yet: come back in 10 s.
        let mut newer = pdb(1, 3, 2);
        newer["metadata"]["generation"] = json!(2);
        let status = spend(&newer, "web-1", at(0), false)
            .unwrap_err()
            .to_status();
        assert_eq!(status["details"]["retryAfterSeconds"], 10);
        let negative = spend(&pdb(-1, 0, 2), "web-1", at(0), false).unwrap_err();
        assert_eq!(negative.code(), 403);
    }

    #[test]
    fn which_pods_and_budgets_are_asked() {
        assert!(ignores_budgets(&pod("Pending", false)));
        assert!(ignores_budgets(&pod("Succeeded", false)));
        assert!(!ignores_budgets(&pod("Running", true)));
        assert!(pins_resource_version(&pod("Pending", false)));
        assert!(!pins_resource_version(&pod("Failed", false)));
        let budgets = [
            pdb(1, 3, 2),
            json!({"spec": {"selector": {}}}),
            json!({"spec": {}}),
            json!({"spec": {"selector": {"matchLabels": {"app": "db"}}}}),
        ];
        let found = budgets_for(&pod("Running", true), &budgets);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["metadata"]["name"], "web");
    }

    #[test]
    fn unready_pods_follow_the_unhealthy_policy() {
        // Ready pods always spend.
        assert!(!unready_may_go(&pod("Running", true), &pdb(0, 3, 2)));
        // IfHealthyBudget: only while the budget is met.
        assert!(unready_may_go(&pod("Running", false), &pdb(0, 2, 2)));
        assert!(!unready_may_go(&pod("Running", false), &pdb(0, 1, 2)));
        let mut always = pdb(0, 1, 2);
        always["spec"]["unhealthyPodEvictionPolicy"] = json!("AlwaysAllow");
        assert!(unready_may_go(&pod("Running", false), &always));
    }
}

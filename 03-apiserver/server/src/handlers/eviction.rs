//! `POST pods/{name}/eviction`: a delete that asks the pod's
//! PodDisruptionBudget first (the decisions are [`crate::eviction`]'s).
//!
//! 1. A pod no budget counts (finished, pending, already going) is
//!    deleted at once.
//! 2. Otherwise the budgets of its namespace whose selector matches it
//!    are found: none, and it is deleted; more than one, and the answer
//!    is a 500, as Kubernetes gives.
//! 3. With one, a pod that is not ready may go without spending it
//!    (`unhealthyPodEvictionPolicy`); else one of the budget's
//!    `disruptionsAllowed` is spent by a guaranteed update of its status,
//!    which re-reads and re-checks on every lost race, so two evictions
//!    never spend the same disruption. None left: 429.
//! 4. The pod is marked `DisruptionTarget` and deleted gracefully with
//!    the Eviction's `deleteOptions` (grace period, preconditions,
//!    `dryRun`): on a node, the agent stops it and finishes the delete.
//!
//! Success is `201` with a `Success` Status, as Kubernetes answers.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::delete::{self, Options};
use super::dry_run::DryRun;
use super::read::storage_error;
use super::write::{Part, Rules, guaranteed_update};
use super::{ApiRequest, Reply, target};
use crate::codec::{Format, decode};
use crate::eviction::{
    MANY_BUDGETS, budgets_for, disruption_condition, ignores_budgets, pins_resource_version, spend,
    still_processing, unready_may_go,
};
use crate::server::AppState;
use crate::status::ApiError;
use crate::storage;
use orc_client::resources::{Resource, lookup};

/// How often a lost race is retried before the conflict is answered
/// (Kubernetes' `EvictionsRetry` has 20 steps).
const RETRIES: usize = 20;

// ANCHOR: evict
/// Evicts the pod `name` of `ns` as the Eviction in `request` asks.
pub async fn evict(
    state: &AppState,
    pods: &Resource,
    ns: &str,
    name: &str,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    let eviction = read_eviction(request, name)?;
    let no_options = json!({});
    let asked = eviction.get("deleteOptions").filter(|o| o.is_object());
    let original = Options::of_value(request, asked.unwrap_or(&no_options))?;
    // Step 1: a pod no budget counts goes at once.
    let Some(pod) = delete_if_uncounted(state, pods, ns, name, &original).await? else {
        return Ok(evicted());
    };
    // Step 2: the budgets that guard it.
    let budgets = budgets_in(state, ns).await?;
    let guarding = budgets_for(&pod, &budgets);
    if guarding.len() > 1 {
        return Ok(many_budgets());
    }
    // Step 3: spend one disruption, or let an unready pod go unspent but
    // pinned to the version judged (it must not turn ready meanwhile).
    let mut pinned_by = None;
    if let Some(pdb) = guarding.first() {
        let pdb_name = pdb["metadata"]["name"].as_str().unwrap_or_default();
        if unready_may_go(&pod, pdb) {
            pinned_by = Some(pdb_name.to_string());
        } else {
            spend_one(state, ns, pdb_name, name, original.dry_run).await?;
        }
    }
    // Step 4: mark and delete.
    let mut options = original.clone();
    if pinned_by.is_some() && options.precondition == 0 {
        options.precondition = resource_version(&pod);
    }
    match mark_and_delete(state, pods, ns, name, options).await {
        // The pin lost a race (the pod changed): let the client retry.
        Err(ApiError::Conflict(..)) if original.precondition == 0 && pinned_by.is_some() => {
            Err(still_processing(pinned_by.as_deref().unwrap_or_default()))
        }
        Err(e) => Err(e),
        Ok(()) => Ok(evicted()),
    }
}
// ANCHOR_END: evict

/// The Eviction body, checked: its kind, and the pod it names is the URL's.
fn read_eviction(request: &ApiRequest, name: &str) -> Result<Value, ApiError> {
    let eviction = decode(&request.body, Format::of_body(request.content_type())?)?;
    if eviction
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k != "Eviction")
    {
        return Err(ApiError::BadRequest(
            "the body of an eviction must be a policy/v1 Eviction".into(),
        ));
    }
    if eviction.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
        return Err(ApiError::BadRequest(
            "name in URL does not match name in Eviction object".into(),
        ));
    }
    Ok(eviction)
}

/// Deletes the pod if no budget counts it (step 1), retrying lost races
/// unless the client pinned a version; answers the pod when budgets must
/// be asked, `None` once it is deleted.
async fn delete_if_uncounted(
    state: &AppState,
    pods: &Resource,
    ns: &str,
    name: &str,
    original: &Options,
) -> Result<Option<Value>, ApiError> {
    let key = storage::key(pods, Some(ns), name);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let pod = state
            .store
            .get(&key)
            .await
            .map_err(|e| storage_error(e, pods, name))?;
        if !ignores_budgets(&pod) {
            return Ok(Some(pod));
        }
        let mut options = original.clone();
        if pins_resource_version(&pod) && options.precondition == 0 {
            options.precondition = resource_version(&pod);
        }
        match mark_and_delete(state, pods, ns, name, options).await {
            Err(ApiError::Conflict(..)) if original.precondition == 0 && attempt < RETRIES => {}
            other => return other.map(|()| None),
        }
    }
}

/// Every PodDisruptionBudget of `ns`, read from etcd: the eviction must
/// see the budget as it is now, not as a cache last heard.
async fn budgets_in(state: &AppState, ns: &str) -> Result<Vec<Value>, ApiError> {
    let resource = budgets()?;
    let page = state
        .store
        .list(&storage::prefix(resource, Some(ns)), "", 0, 0)
        .await
        .map_err(ApiError::storage)?;
    Ok(page.items.into_iter().map(|(_, pdb)| pdb).collect())
}

fn budgets() -> Result<&'static Resource, ApiError> {
    lookup("policy", "v1", "poddisruptionbudgets")
        .ok_or_else(|| ApiError::Internal("no poddisruptionbudgets resource".into()))
}

// ANCHOR: spend_one
/// Spends one disruption of the budget `pdb_name` on the pod `pod_name`:
/// a guaranteed update of its status, [`spend`] applied afresh to the
/// newest budget after every lost race. A dry run writes nothing.
async fn spend_one(
    state: &AppState,
    ns: &str,
    pdb_name: &str,
    pod_name: &str,
    dry_run: DryRun,
) -> Result<(), ApiError> {
    let now = jiff::Timestamp::now();
    let rules = Rules {
        precondition: 0,
        part: Part::Status,
        directive: "Ignore",
        duplicates: &[],
        dry_run,
    };
    guaranteed_update(state, budgets()?, Some(ns), pdb_name, rules, |pdb| {
        spend(pdb, pod_name, now, dry_run.is_dry())
    })
    .await
    .map(|_| ())
}
// ANCHOR_END: spend_one

/// Marks the pod `DisruptionTarget` (not on a dry run) and deletes it
/// with `options`. The mark honours the options' preconditions, and a
/// pinned resourceVersion moves to the marked pod's, since this write
/// changed it (Kubernetes' `addConditionAndDeletePod`).
async fn mark_and_delete(
    state: &AppState,
    pods: &Resource,
    ns: &str,
    name: &str,
    mut options: Options,
) -> Result<(), ApiError> {
    if !options.dry_run.is_dry() {
        let rules = Rules {
            precondition: options.precondition,
            part: Part::Status,
            directive: "Ignore",
            duplicates: &[],
            dry_run: DryRun::Off,
        };
        let uid = options.uid.clone();
        let marked = guaranteed_update(state, pods, Some(ns), name, rules, |pod| {
            if let Some(uid) = uid.as_deref()
                && pod.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid)
            {
                return Err(ApiError::Conflict(
                    target(pods, name),
                    format!("Precondition failed: UID in precondition: {uid}"),
                ));
            }
            let mut next = pod.clone();
            mark(&mut next);
            Ok(next)
        })
        .await?;
        if options.precondition != 0 {
            options.precondition = resource_version(&marked.body);
        }
    }
    delete::delete_with(state, pods, Some(ns), name, &options)
        .await
        .map(|_| ())
}

/// Sets the pod's `DisruptionTarget` condition (replacing an older one).
fn mark(pod: &mut Value) {
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    if !pod["status"]["conditions"].is_array() {
        pod["status"]["conditions"] = json!([]);
    }
    if let Some(conditions) = pod["status"]["conditions"].as_array_mut() {
        conditions.retain(|c| c["type"] != "DisruptionTarget");
        conditions.push(disruption_condition(jiff::Timestamp::now()));
    }
}

/// An object's resourceVersion as the number etcd gave it (0: none).
fn resource_version(obj: &Value) -> i64 {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// The answer to an eviction carried out: `201` and a `Success` Status.
fn evicted() -> Reply {
    Reply {
        code: StatusCode::CREATED,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success", "code": 201}),
        warnings: Vec::new(),
    }
}

/// The answer for a pod two budgets guard: a `Failure` Status with code
/// 500 and no reason, as Kubernetes returns it.
fn many_budgets() -> Reply {
    Reply {
        code: StatusCode::INTERNAL_SERVER_ERROR,
        body: json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": MANY_BUDGETS, "code": 500}),
        warnings: Vec::new(),
    }
}

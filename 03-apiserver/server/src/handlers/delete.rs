//! DELETE on one object: at once, or marked and left to whoever must
//! finish it (a node for a running pod, a controller for a finalizer).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::dry_run::DryRun;
use super::graceful::{self, Deletion};
use super::propagation;
use super::read::{conflict, storage_error};
use super::write::{expiry, read_current, store_delete};
use super::{ApiRequest, Reply, target};
use crate::codec::{Format, decode};
use crate::meta::ObjectMeta;
use crate::server::AppState;
use crate::status::ApiError;
use crate::storage::{self, StorageError};
use orc_client::resources::Resource;

/// DeleteOptions as far as a delete reads them.
#[derive(Clone)]
pub struct Options {
    /// `preconditions.resourceVersion`, 0 for none.
    pub(super) precondition: i64,
    /// `preconditions.uid`.
    pub(super) uid: Option<String>,
    /// `gracePeriodSeconds`, from the query or the body.
    pub(super) grace: Option<i64>,
    /// `propagationPolicy`, checked.
    pub(super) policy: Option<orc_client::propagation::Propagation>,
    /// `dryRun`.
    pub(super) dry_run: DryRun,
    /// `ignoreStoreReadErrorWithClusterBreakingPotential`: delete the
    /// object even if it cannot be read (see [`delete_unreadable`]).
    pub(super) ignore_read_error: bool,
}

impl Options {
    /// The query's and the body's options, checked.
    pub fn of(request: &ApiRequest) -> Result<Options, ApiError> {
        let options = if request.body.is_empty() {
            json!({})
        } else {
            decode(&request.body, Format::of_body(request.content_type())?)?
        };
        Options::of_value(request, &options)
    }

    /// The query's options and those of the DeleteOptions `options` (the
    /// body of a DELETE, or an Eviction's `deleteOptions`), checked.
    pub fn of_value(request: &ApiRequest, options: &Value) -> Result<Options, ApiError> {
        let precondition = options
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(|rv| rv.parse::<i64>().unwrap_or(-1))
            .unwrap_or(0);
        let uid = options
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from);
        let ignore_read_error = match request
            .param("ignoreStoreReadErrorWithClusterBreakingPotential")
        {
            "" => options
                .get("ignoreStoreReadErrorWithClusterBreakingPotential")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            "true" => true,
            "false" => false,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "ignoreStoreReadErrorWithClusterBreakingPotential must be true or false, not {other:?}"
                )));
            }
        };
        Ok(Options {
            ignore_read_error,
            precondition,
            uid,
            grace: grace_option(request, options)?,
            policy: propagation::requested(request.param("propagationPolicy"), options)?,
            dry_run: DryRun::of_delete(request, options)?,
        })
    }
}

// ANCHOR: delete
/// DELETE on an object. A pod bound to a node is only *marked*
/// (`deletionTimestamp` = now + its grace period) and the node deletes it
/// once its containers have stopped; an object with finalizers is marked
/// too, and the update that removes the last finalizer deletes it (see
/// [`graceful`]). `propagationPolicy` adds the garbage collector's
/// finalizer for Foreground and Orphan (see [`propagation`]). DeleteOptions' `preconditions` (`uid`,
/// `resourceVersion`) must match, or the answer is 409. With `dryRun=All`
/// the answer is the same and nothing is written.
pub async fn delete(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    let options = Options::of(request)?;
    if options.ignore_read_error {
        let key = storage::key(resource, ns, name);
        if let Err(error) = state.store.get(&key).await
            && error.is_unreadable()
        {
            return delete_unreadable(state, resource, ns, name, request, &options).await;
        }
    }
    // A node deletes only pods bound to it (`NodeRestriction`), which only
    // the stored pod can tell.
    if crate::authz::node::node_name(&request.user).is_some() {
        let key = storage::key(resource, ns, name);
        let (current, _) = read_current(state, resource, &key, name, 0).await?;
        crate::node_restriction::admit_delete(&request.user, resource, &current)?;
    }
    delete_with(state, resource, ns, name, &options).await
}

// ANCHOR: delete_unreadable
/// The unsafe delete of an object that cannot be read (Kubernetes 1.32's
/// `AllowUnsafeMalformedObjectDeletion`): its finalizers and
/// preconditions cannot be checked, so it is removed from etcd at once.
/// Only for a caller allowed the extra verb
/// `unsafe-delete-ignore-read-errors` on the resource, as kube-apiserver
/// asks, and never on a dry run (the option's whole point is the write).
async fn delete_unreadable(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    request: &ApiRequest,
    options: &Options,
) -> Result<Reply, ApiError> {
    const VERB: &str = "unsafe-delete-ignore-read-errors";
    if options.dry_run.is_dry() {
        return Err(ApiError::BadRequest(
            "ignoreStoreReadErrorWithClusterBreakingPotential cannot be used with dryRun: \
             the unsafe delete writes at once"
                .into(),
        ));
    }
    let info = crate::authz::request_info::RequestInfo {
        is_resource_request: true,
        verb: VERB.into(),
        api_group: resource.group.into(),
        api_version: resource.version.into(),
        namespace: ns.unwrap_or("").into(),
        resource: resource.plural.into(),
        name: name.into(),
        ..crate::authz::request_info::RequestInfo::default()
    };
    if let crate::authz::rbac::Decision::Deny(reason) = state
        .authorizer
        .authorize_request(&request.user, &info)
        .await
    {
        // Kubernetes' words (`authorizeUnsafeDelete`, an admission
        // refusal): the object, then the verb and the authorizers' reason,
        // which RBAC leaves empty.
        let qualified = match resource.group {
            "" => resource.plural.to_string(),
            group => format!("{}.{group}", resource.plural),
        };
        return Err(ApiError::Forbidden(format!(
            "{qualified} {name:?} is forbidden: not permitted to do {VERB:?}, reason: {reason}"
        )));
    }
    let key = storage::key(resource, ns, name);
    tracing::warn!(%key, user = %request.user.name, "unsafe delete of an unreadable object");
    state
        .store
        .delete_unreadable(&key)
        .await
        .map_err(|e| storage_error(e, resource, name))?;
    let mut details = json!({"name": name, "kind": resource.plural});
    if !resource.group.is_empty() {
        details["group"] = json!(resource.group);
    }
    Ok(Reply::ok(json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })))
}
// ANCHOR_END: delete_unreadable

/// [`delete`] with DeleteOptions already read: a DELETE on a collection
/// (`delete_collection.rs`) deletes each object it lists with this.
pub async fn delete_with(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    options: &Options,
) -> Result<Reply, ApiError> {
    let key = storage::key(resource, ns, name);
    // Without a resourceVersion precondition a lost race is retried until
    // the delete applies, as Kubernetes' GuaranteedUpdate does.
    loop {
        let (current, revision) =
            read_current(state, resource, &key, name, options.precondition).await?;
        let mut meta = ObjectMeta::of(&current)?;
        if let Some(uid) = options.uid.as_deref().filter(|uid| *uid != meta.uid) {
            return Err(ApiError::Conflict(
                target(resource, name),
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta.uid
                ),
            ));
        }
        let grace =
            (resource.kind == "Pod").then(|| graceful::pod_grace_seconds(&current, options.grace));
        // The garbage collector's finalizer for the propagation asked for:
        // a reason to keep the object, which `decide` weighs like any other.
        let finalizers = orc_client::propagation::finalizers(&meta.finalizers, options.policy);
        let recorded = finalizers != meta.finalizers;
        meta.finalizers = finalizers;
        let deletion = match graceful::decide(&meta, grace, Timestamp::now()) {
            Deletion::Pending if recorded => Deletion::Mark(Box::new(meta)),
            deletion => deletion,
        };
        let outcome = match deletion {
            Deletion::Pending => return Ok(Reply::ok(current)),
            Deletion::Mark(marked_meta) => {
                let mut marked = current.clone();
                marked_meta.store(&mut marked);
                if options.dry_run.is_dry() {
                    return Ok(Reply::ok(marked));
                }
                // An Event marked for deletion (it has finalizers) keeps
                // expiring: a put without a lease would take it off its
                // lease and keep it for as long as its finalizers stay.
                let expiry = expiry(state, resource);
                state.store.update(&key, &marked, revision, expiry).await
            }
            Deletion::Now if options.dry_run.is_dry() => return Ok(Reply::ok(current)),
            Deletion::Now => store_delete(state, resource, &key, &current, revision)
                .await
                .map(|_| current),
        };
        match outcome {
            Ok(answer) => return Ok(Reply::ok(answer)),
            Err(StorageError::Conflict) if options.precondition == 0 => continue,
            Err(StorageError::Conflict) => return Err(conflict(resource, name)),
            Err(e) => return Err(storage_error(e, resource, name)),
        }
    }
}
// ANCHOR_END: delete

/// DeleteOptions' `gracePeriodSeconds`, from the query (`?gracePeriodSeconds=`)
/// or the body; the query wins, as in Kubernetes' parameter decoding.
fn grace_option(request: &ApiRequest, options: &Value) -> Result<Option<i64>, ApiError> {
    let query = request.param("gracePeriodSeconds");
    if !query.is_empty() {
        return query.parse().map(Some).map_err(|_| {
            ApiError::BadRequest(format!(
                "gracePeriodSeconds: {query:?} is not a whole number of seconds"
            ))
        });
    }
    match options.get("gracePeriodSeconds") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "DeleteOptions.gracePeriodSeconds: {v} is not a whole number of seconds"
            ))
        }),
    }
}

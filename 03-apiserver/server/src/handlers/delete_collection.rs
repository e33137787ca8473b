//! DELETE on a collection (the `deletecollection` verb): delete everything
//! a LIST would return.
//!
//! Kubernetes' `Store.DeleteCollection` is no atomic operation and no
//! special storage call: it lists with the request's `ListOptions`
//! (`labelSelector`, `fieldSelector`, `limit`, `continue`,
//! `resourceVersion`), then deletes each listed object as a DELETE of it
//! with the request's DeleteOptions would (`propagationPolicy`,
//! `gracePeriodSeconds`, `preconditions`, `dryRun`), and answers the list
//! as it was read: a `PodList` of the pods, not their marked state. So a
//! pod on a node is only marked, an object with finalizers waits for
//! them, and an object someone else deleted meanwhile is skipped (a 404
//! is no failure). The first other failure ends the request with that
//! error; what was deleted before it stays deleted.
//!
//! Where Kubernetes serves it: on the namespaced path of a namespaced
//! resource (`/api/v1/namespaces/a/pods`, never `/api/v1/pods`, which only
//! lists and watches) and on the path of a cluster-scoped one, except
//! namespaces (their discovery row has no `deletecollection`). RBAC
//! authorizes it as the verb `deletecollection`, not `delete`
//! (`authz/request_info.rs`). The namespace controller (chapter 05) is
//! its main user: it empties a namespace being deleted one collection per
//! resource.

use axum::http::HeaderMap;
use serde_json::Value;

use super::delete::{Options, delete_with};
use super::{ApiRequest, Reply, read};
use crate::server::AppState;
use crate::status::ApiError;
use orc_client::resources::Resource;

// ANCHOR: delete_collection
/// DELETE on the collection of `resource` (in namespace `ns`).
pub async fn delete_collection(
    state: &AppState,
    resource: &'static Resource,
    ns: Option<&str>,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    // Served where Kubernetes serves it, or 405 as it answers.
    if !resource.deletes_collections() || (resource.namespaced && ns.is_none()) {
        return Err(ApiError::MethodNotAllowed);
    }
    // DeleteOptions first: a bad option refuses the request before any
    // object is touched.
    let options = Options::of(request)?;
    // The LIST the request describes, as JSON even when the client asked
    // for a Table: the names are read from its items.
    let listed = read::list_buffered(state, resource, ns, &as_json(request))
        .await?
        .body;
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    for item in &items {
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        delete_one(state, resource, ns, name, &options).await?;
    }
    if !request.wants_table() {
        return Ok(Reply::ok(listed));
    }
    let revision = listed
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let table = crate::tables::table(resource.kind, &items, revision, None, request.row_object());
    Ok(Reply::ok(table))
}
// ANCHOR_END: delete_collection

/// Deletes one listed object; gone already is fine.
async fn delete_one(
    state: &AppState,
    resource: &Resource,
    ns: Option<&str>,
    name: &str,
    options: &Options,
) -> Result<(), ApiError> {
    // A PriorityClass is read from the admission cache: doubt it while it
    // is being deleted, as `mod.rs` does for a DELETE of one class.
    let class_write = (resource.kind == "PriorityClass" && !options.dry_run.is_dry())
        .then(|| state.priority_classes.begin_write(Some(name)));
    let outcome = delete_with(state, resource, ns, name, options).await;
    if let Some(write) = class_write {
        let deleted = outcome.as_ref().ok().map(|reply| &reply.body);
        state.priority_classes.end_write(write, deleted, true);
    }
    match outcome {
        Ok(_) | Err(ApiError::NotFound(_)) => Ok(()),
        Err(error) => Err(error),
    }
}

/// `request` without its `Accept` header: the list is read as JSON.
fn as_json(request: &ApiRequest) -> ApiRequest {
    let mut headers: HeaderMap = request.headers.clone();
    headers.remove("accept");
    ApiRequest {
        method: request.method.clone(),
        query: request.query.clone(),
        headers,
        body: request.body.clone(),
        user: request.user.clone(),
    }
}

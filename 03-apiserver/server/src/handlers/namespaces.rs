//! Deleting a namespace deletes what is in it.
//!
//! In Kubernetes a namespace delete is a small saga: the namespace turns
//! `Terminating`, the namespace controller deletes every object in it
//! (honouring their finalizers), and only then removes the namespace's own
//! `kubernetes` finalizer so it disappears. orc has no controllers before
//! chapter 05, so the API server does the cleanup itself, at once: one etcd
//! range delete per namespaced resource, then the namespace. Object
//! finalizers inside the namespace are not waited for, and without the
//! `Terminating` phase a create racing with the sweep can leave an object
//! behind; the controller of chapter 05 closes both gaps.
//!
//! Three namespaces may never be deleted, as in Kubernetes: the cluster
//! would lose its defaults (`default`) and its own components
//! (`kube-system`, `kube-public`).

use super::{ApiRequest, Reply, write};
use crate::server::AppState;
use crate::status::ApiError;
use crate::storage;
use orc_client::resources::{RESOURCES, Resource};

/// Namespaces that exist for the life of the cluster.
pub const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

// ANCHOR: delete_namespace
/// DELETE on `namespaces/<name>`.
pub async fn delete(
    state: &AppState,
    namespaces: &Resource,
    name: &str,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    if IMMORTAL.contains(&name) {
        return Err(ApiError::Forbidden(format!(
            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
        )));
    }
    // The namespace must exist: a delete of a missing one is a 404, not a sweep.
    super::read::get(state, namespaces, None, name).await?;
    // From now on creates in it ask etcd, not the cache: a client that saw
    // this delete succeed must not create in the namespace afterwards.
    state.namespaces.forget(name);
    for resource in RESOURCES.iter().filter(|r| r.namespaced) {
        let prefix = storage::prefix(resource, Some(name));
        state
            .store
            .delete_prefix(&prefix)
            .await
            .map_err(|e| super::read::storage_error(e, resource, ""))?;
    }
    // The swept Services' cluster IPs and node ports are free again.
    crate::services::repair::run(&state.store, &state.allocator)
        .await
        .map_err(|e| super::read::storage_error(e, namespaces, name))?;
    write::delete(state, namespaces, None, name, request).await
}
// ANCHOR_END: delete_namespace

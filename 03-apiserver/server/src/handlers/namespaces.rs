//! A namespace's own lifecycle: `Active` from its create, `Terminating`
//! from its DELETE until the namespace controller has emptied it.
//!
//! In Kubernetes a namespace delete is a small saga, and orc follows it:
//!
//! 1. create: the server sets `status.phase: Active` and puts the
//!    `kubernetes` finalizer into `spec.finalizers` ([`prepare_create`]);
//! 2. DELETE: the namespace is only *marked*: `deletionTimestamp` set,
//!    phase `Terminating` ([`delete`]). From then on the
//!    `NamespaceLifecycle` admission (`namespace_lifecycle.rs`) refuses
//!    creates in it with 403;
//! 3. the namespace controller (chapter 05, `05-controllers/src/namespace/`)
//!    deletes every object in it, waits until they are gone (pods take
//!    their grace period), and then removes `kubernetes` from
//!    `spec.finalizers` through the `namespaces/{name}/finalize`
//!    subresource ([`finalize`]);
//! 4. the update that leaves a marked namespace with no finalizers of
//!    either kind deletes it ([`ready_to_remove`]).
//!
//! `spec.finalizers` is not `metadata.finalizers`: the first lists who
//! must empty the namespace, the second (as on any object) who must act
//! before it goes. Only `/finalize` changes the first, so a `kubectl
//! apply` of the namespace cannot drop it by accident.
//!
//! Three namespaces may never be deleted, as in Kubernetes: the cluster
//! would lose its defaults (`default`) and its own components
//! (`kube-system`, `kube-public`).

use jiff::Timestamp;
use serde_json::{Value, json};

use super::read::storage_error;
use super::write::{read_current, store_delete};
use super::{ApiRequest, Reply};
use crate::meta::ObjectMeta;
use crate::server::AppState;
use crate::status::ApiError;
use crate::storage::{self, Expiry, StorageError};
use orc_client::resources::Resource;
use orc_client::time;

/// Namespaces that exist for the life of the cluster.
pub const IMMORTAL: &[&str] = &["default", "kube-system", "kube-public"];

/// The finalizer the namespace controller removes once the namespace is
/// empty (Kubernetes' `FinalizerKubernetes`).
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// What the server owns in a new namespace: its phase, the `kubernetes`
/// finalizer that keeps it until it is empty, and the
/// `kubernetes.io/metadata.name` label (so a selector can pick
/// namespaces by name, as Kubernetes labels every one).
pub fn prepare_create(obj: &mut Value) {
    obj["status"] = json!({"phase": "Active"});
    if let Some(name) = obj.pointer("/metadata/name").cloned() {
        if !obj["metadata"].get("labels").is_some_and(Value::is_object) {
            obj["metadata"]["labels"] = json!({});
        }
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    }
    let mut finalizers = spec_finalizers(obj);
    if !finalizers.iter().any(|f| f == KUBERNETES_FINALIZER) {
        finalizers.push(KUBERNETES_FINALIZER.to_string());
    }
    set_spec_finalizers(obj, finalizers);
}

/// `spec.finalizers`, empty when absent.
pub fn spec_finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn set_spec_finalizers(obj: &mut Value, finalizers: Vec<String>) {
    if !obj.get("spec").is_some_and(Value::is_object) {
        obj["spec"] = json!({});
    }
    obj["spec"]["finalizers"] = json!(finalizers);
}

/// On an update of the namespace itself, `spec.finalizers` stays as
/// stored: only [`finalize`] changes it.
pub fn keep_spec_finalizers(current: &Value, proposed: &mut Value) {
    set_spec_finalizers(proposed, spec_finalizers(current));
}

/// The `/finalize` subresource: `current` with `spec.finalizers` taken
/// from `proposed`, and nothing else.
pub fn finalize(current: &Value, proposed: &Value) -> Value {
    let mut next = current.clone();
    set_spec_finalizers(&mut next, spec_finalizers(proposed));
    next
}

/// Whether a write of `next` (whose metadata is `meta`) should remove the
/// namespace instead: it is marked and no finalizer of either kind is left.
pub fn ready_to_remove(next: &Value, meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
        && meta.finalizers.is_empty()
        && spec_finalizers(next).is_empty()
}

/// The namespace as a first DELETE leaves it: marked now, `Terminating`.
/// An already marked namespace is answered as it is.
pub fn mark_terminating(current: &Value, now: Timestamp) -> Result<Value, ApiError> {
    let mut meta = ObjectMeta::of(current)?;
    let mut marked = current.clone();
    if meta.deletion_timestamp.is_none() {
        meta.deletion_timestamp = Some(time::format(now));
        meta.store(&mut marked);
    }
    if !marked.get("status").is_some_and(Value::is_object) {
        marked["status"] = json!({});
    }
    marked["status"]["phase"] = json!("Terminating");
    Ok(marked)
}

// ANCHOR: delete_namespace
/// DELETE on `namespaces/<name>`: marks it `Terminating` (the namespace
/// controller empties it, then finalizes it); a namespace without
/// finalizers goes at once. `dryRun=All` answers the marked namespace and
/// writes nothing.
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
    let dry_run = super::delete::Options::of(request)?.dry_run;
    let key = storage::key(namespaces, None, name);
    loop {
        let (current, revision) = read_current(state, namespaces, &key, name, 0).await?;
        let marked = mark_terminating(&current, Timestamp::now())?;
        let remove = ready_to_remove(&marked, &ObjectMeta::of(&marked)?);
        if dry_run.is_dry() {
            return Ok(Reply::ok(marked));
        }
        // From now on creates in it ask etcd, not the cache: a client that
        // saw this delete succeed must be refused a create in it at once.
        state.namespaces.forget(name);
        let outcome = if remove {
            store_delete(state, namespaces, &key, &current, revision)
                .await
                .map(|_| marked)
        } else if marked == current {
            return Ok(Reply::ok(current));
        } else {
            state
                .store
                .update(&key, &marked, revision, Expiry::Never)
                .await
        };
        match outcome {
            Ok(answer) => return Ok(Reply::ok(answer)),
            // Changed or gone since the read: read again (a 404 then).
            Err(StorageError::Conflict | StorageError::NotFound) => continue,
            Err(e) => return Err(storage_error(e, namespaces, name)),
        }
    }
}
// ANCHOR_END: delete_namespace

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_namespace_is_active_and_kept_for_its_controller() {
        let mut ns = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["example.com/x"]}});
        prepare_create(&mut ns);
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(
            ns["spec"]["finalizers"],
            json!(["example.com/x", "kubernetes"])
        );
        let mut bare = json!({"metadata": {"name": "b"}});
        prepare_create(&mut bare);
        assert_eq!(bare["spec"]["finalizers"], json!(["kubernetes"]));
    }

    #[test]
    fn a_delete_marks_and_a_second_changes_nothing() {
        let mut ns = json!({"metadata": {"name": "a"}, "status": {"phase": "Active"}});
        prepare_create(&mut ns);
        let marked = mark_terminating(&ns, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(marked["status"]["phase"], "Terminating");
        assert_eq!(
            marked["metadata"]["deletionTimestamp"],
            "1970-01-01T00:00:00Z"
        );
        assert!(!ready_to_remove(&marked, &ObjectMeta::of(&marked).unwrap()));
        let again = mark_terminating(&marked, Timestamp::now()).unwrap();
        assert_eq!(again, marked, "the first mark stands");
    }

    #[test]
    fn only_finalize_changes_spec_finalizers_and_the_last_one_removes() {
        let mut ns = json!({"metadata": {"name": "a"}});
        prepare_create(&mut ns);
        let marked = mark_terminating(&ns, Timestamp::UNIX_EPOCH).unwrap();
        let mut applied = json!({"metadata": {"name": "a"}, "spec": {}});
        keep_spec_finalizers(&marked, &mut applied);
        assert_eq!(applied["spec"]["finalizers"], json!(["kubernetes"]));
        let done = finalize(&marked, &json!({"spec": {"finalizers": []}}));
        assert_eq!(done["status"]["phase"], "Terminating");
        assert!(ready_to_remove(&done, &ObjectMeta::of(&done).unwrap()));
    }
}

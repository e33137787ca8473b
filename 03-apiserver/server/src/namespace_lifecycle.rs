//! Which namespaces exist, known from memory: Kubernetes' `NamespaceLifecycle`.
//!
//! Every create in a namespace must check that the namespace exists. Asking
//! etcd each time is correct but not free: orc's create transaction used to
//! compare the namespace's key as well as the new object's, and that second
//! comparison (and the read behind it) cost etcd about a tenth of its work
//! per create in `benches/create.rs`. Kubernetes' admission plugin
//! `NamespaceLifecycle` answers from an informer's cache of namespaces
//! instead, and asks etcd only when the cache does not know the name (a
//! namespace created a moment ago on another API server). orc does the same:
//!
//! - a task lists the namespaces, then follows the watch hub's shared feed
//!   of them (no extra etcd watch when anything already watches
//!   namespaces), and re-lists when the feed expires or it falls behind;
//! - [`NamespaceCache::exists`] is a set lookup. `true`: the create writes
//!   with one comparison, as for a cluster-scoped object. `false` (unknown,
//!   or the cache is not synced yet): the create keeps the namespace check
//!   in its transaction, which is authoritative.
//!
//! A namespace being deleted (`Terminating`) takes no new objects: the
//! namespace controller is emptying it, and an object created now would
//! outlive it. [`admit_create`] refuses such creates with Kubernetes' 403.
//!
//! A namespace this server deletes is doubted from the moment the delete
//! starts until the cache sees its DELETE event ([`NamespaceCache::forget`]):
//! events already on their way (the namespace's own ADDED, a moment old)
//! must not make it known again. One deleted through *another* API server
//! leaves a window of a few milliseconds in which a create here can still
//! land in it, the window Kubernetes has too: the namespace controller
//! lists the namespace again before it finalizes it, and deletes such
//! stragglers.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use serde_json::Value;

use crate::handlers::target;
use crate::server::AppState;
use crate::status::ApiError;
use crate::storage::{self, StorageError, Store};
use crate::watch::{Feed, FeedMessage, StoredEvent};
use orc_client::resources::Resource;

/// The names of the namespaces that exist, as far as this server knows.
pub struct NamespaceCache {
    /// std's RwLock: read on every create, written per namespace change,
    /// never held across an `.await`.
    known: Arc<RwLock<Known>>,
    /// The task that keeps `known` current, stopped with the server.
    task: tokio::task::AbortHandle,
}

#[derive(Default)]
struct Known {
    /// False until the first list arrived, and again while re-listing.
    synced: bool,
    names: HashSet<String>,
    /// Those of `names` being deleted.
    terminating: HashSet<String>,
    /// Namespaces this server is deleting, not trusted until their DELETE
    /// event arrives. A delete that failed, or one whose event fell into a
    /// re-list's gap, leaves its name here: creates in it then ask etcd,
    /// slower but still right. (Dropping a doubt because a list lacks the
    /// name would not be safe: the list may predate the namespace.)
    doubted: HashSet<String>,
}

impl Drop for NamespaceCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NamespaceCache {
    /// Starts following `feed`, the watch hub's feed of `namespaces`' keys.
    pub fn start(store: Store, namespaces: &'static Resource, feed: Arc<Feed>) -> NamespaceCache {
        let known = Arc::new(RwLock::new(Known::default()));
        let task = tokio::spawn(follow(store, namespaces, feed, Arc::clone(&known)));
        NamespaceCache {
            known,
            task: task.abort_handle(),
        }
    }

    /// Doubts a namespace this server is deleting until its DELETE event
    /// arrives: after a client's DELETE returns, its creates in that
    /// namespace are checked in etcd (read your own writes), even if an
    /// older event saying it exists is still on its way to the cache.
    pub fn forget(&self, namespace: &str) {
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        known.doubted.insert(namespace.to_string());
    }

    /// What the cache knows of the namespace. [`Lifecycle::Unknown`]
    /// means "ask etcd", not "it does not exist".
    pub fn lifecycle(&self, namespace: &str) -> Lifecycle {
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        known.lifecycle(namespace)
    }
}

/// A namespace as the cache sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// It exists and takes new objects.
    Active,
    /// It is being deleted: no new objects.
    Terminating,
    /// Not in the cache, doubted, or the cache is not synced: only etcd knows.
    Unknown,
}

/// Whether a stored namespace is being deleted.
pub fn is_terminating(namespace: &Value) -> bool {
    namespace
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
        || namespace.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
}

// ANCHOR: admit_create
/// Kubernetes' `NamespaceLifecycle` admission for a create of `name` in
/// `namespace`: 404 when the namespace does not exist, 403 when it is
/// terminating. Answers the namespace's key when the create must still
/// check it in its own transaction (the cache did not know it, so it was
/// read from etcd, and it may be deleted before the create lands).
pub async fn admit_create(
    state: &AppState,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<String>, ApiError> {
    let Some(namespace) = namespace.filter(|_| resource.namespaced) else {
        return Ok(None);
    };
    let namespaces = crate::handlers::write::namespaces()?;
    let key = storage::key(namespaces, None, namespace);
    let terminating = match state.namespaces.lifecycle(namespace) {
        Lifecycle::Active => return Ok(None),
        Lifecycle::Terminating => true,
        // A live lookup, as Kubernetes' plugin does for a namespace its
        // informer has not seen.
        Lifecycle::Unknown => match state.store.get(&key).await {
            Ok(stored) => is_terminating(&stored),
            Err(StorageError::NotFound) => {
                return Err(ApiError::NotFound(target(namespaces, namespace)));
            }
            Err(e) => return Err(ApiError::storage(e)),
        },
    };
    if terminating {
        let group = if resource.group.is_empty() {
            String::new()
        } else {
            format!(".{}", resource.group)
        };
        return Err(ApiError::Forbidden(format!(
            "{}{group} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            resource.plural
        )));
    }
    Ok(Some(key))
}
// ANCHOR_END: admit_create

// ANCHOR: follow
/// List, then apply the feed's events from the list's revision; start over
/// whenever the feed cannot continue the story without a gap.
async fn follow(
    store: Store,
    namespaces: &'static Resource,
    feed: Arc<Feed>,
    known: Arc<RwLock<Known>>,
) {
    let prefix = storage::prefix(namespaces, None);
    loop {
        let page = match store.list(&prefix, "", 0, 0).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "listing namespaces for the namespace cache");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let Ok((backlog, mut events)) = feed.subscribe(page.revision) else {
            // The feed no longer holds the list's revision: list again.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .load(&prefix, &page, &backlog);
        loop {
            match events.recv().await {
                Ok(FeedMessage::Event(event)) => {
                    let mut known = known.write().unwrap_or_else(|p| p.into_inner());
                    known.apply(&prefix, &event);
                }
                // Missed events, or history lost: what is known may be wrong.
                // Only the watch cache needs to know how far etcd is.
                Ok(FeedMessage::Progress(_)) => {}
                Ok(FeedMessage::Expired) | Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return,
            }
        }
        known.write().unwrap_or_else(|p| p.into_inner()).synced = false;
    }
}
// ANCHOR_END: follow

impl Known {
    fn lifecycle(&self, namespace: &str) -> Lifecycle {
        if !self.synced || !self.names.contains(namespace) || self.doubted.contains(namespace) {
            Lifecycle::Unknown
        } else if self.terminating.contains(namespace) {
            Lifecycle::Terminating
        } else {
            Lifecycle::Active
        }
    }

    /// A fresh list of the namespaces, and the feed's events since it:
    /// what is known from now on, complete.
    fn load(&mut self, prefix: &str, page: &storage::Page, backlog: &[Arc<StoredEvent>]) {
        self.names.clear();
        self.terminating.clear();
        for (key, namespace) in &page.items {
            if let Some(name) = key.strip_prefix(prefix) {
                self.put(name, namespace);
            }
        }
        for event in backlog {
            self.apply(prefix, event);
        }
        self.synced = true;
    }

    /// One change to a namespace's key: created or updated (it exists), or
    /// deleted (and no longer doubted: the delete has happened).
    fn apply(&mut self, prefix: &str, event: &StoredEvent) {
        let Some(name) = event.key.strip_prefix(prefix) else {
            return;
        };
        match event.object() {
            Some(namespace) => self.put(name, &namespace),
            None => {
                self.names.remove(name);
                self.terminating.remove(name);
                self.doubted.remove(name);
            }
        }
    }

    /// The namespace `name` exists as `namespace` says.
    fn put(&mut self, name: &str, namespace: &Value) {
        self.names.insert(name.to_string());
        if is_terminating(namespace) {
            self.terminating.insert(name.to_string());
        } else {
            self.terminating.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str, exists: bool) -> StoredEvent {
        StoredEvent::new(1, key, exists.then(|| serde_json::json!({})).as_ref(), None)
    }

    const PREFIX: &str = "/registry/namespaces/";

    fn synced() -> Known {
        Known {
            synced: true,
            ..Known::default()
        }
    }

    #[test]
    fn puts_add_and_deletes_remove() {
        let mut known = synced();
        known.apply(PREFIX, &event("/registry/namespaces/a", true));
        known.apply(PREFIX, &event("/registry/namespaces/b", true));
        known.apply(PREFIX, &event("/registry/namespaces/a", false));
        known.apply(PREFIX, &event("/registry/pods/x/y", true));
        assert_eq!(known.names, HashSet::from(["b".to_string()]));
        assert_eq!(known.lifecycle("b"), Lifecycle::Active);
        assert_eq!(known.lifecycle("a"), Lifecycle::Unknown);
    }

    #[test]
    fn a_terminating_namespace_is_known_as_such() {
        let mut known = synced();
        let terminating = serde_json::json!({"status": {"phase": "Terminating"}});
        let marked = StoredEvent::new(1, "/registry/namespaces/old", Some(&terminating), None);
        known.apply(PREFIX, &marked);
        assert_eq!(known.lifecycle("old"), Lifecycle::Terminating);
        known.apply(PREFIX, &event("/registry/namespaces/old", false));
        known.apply(PREFIX, &event("/registry/namespaces/old", true));
        assert_eq!(
            known.lifecycle("old"),
            Lifecycle::Active,
            "a new namespace of the name"
        );
    }

    /// CI once created a namespace, deleted it and created in it at once:
    /// the namespace's ADDED event reached the cache after the delete had
    /// begun, and the create was let through.
    #[test]
    fn a_namespace_being_deleted_is_doubted_until_its_delete_event() {
        let mut known = synced();
        known.doubted.insert("fresh".into());
        known.apply(PREFIX, &event("/registry/namespaces/fresh", true));
        assert_eq!(
            known.lifecycle("fresh"),
            Lifecycle::Unknown,
            "a late ADDED does not vouch for it"
        );
        known.apply(PREFIX, &event("/registry/namespaces/fresh", false));
        known.apply(PREFIX, &event("/registry/namespaces/fresh", true));
        assert_eq!(
            known.lifecycle("fresh"),
            Lifecycle::Active,
            "made again after the delete"
        );
    }
}

//! The RBAC objects, known from memory and kept current from etcd.
//!
//! Every request is authorized, so reading etcd for each would double the
//! API server's reads. Kubernetes' RBAC authorizer reads informers' caches
//! of the four kinds instead; orc's [`PolicyCache`] is the same idea on
//! the server's own [`WatchHub`](crate::watch::WatchHub): one feed per
//! kind (`/registry/clusterroles/`, `/registry/clusterrolebindings/`,
//! `/registry/roles/`, `/registry/rolebindings/`: Kubernetes keys objects
//! by resource, not by group), a map of those objects, and a [`Policy`]
//! rebuilt whole after each change and swapped in. A RoleBinding created a
//! moment ago applies as soon as its event arrives (milliseconds), with no
//! restart.
//!
//! If a feed loses events (history compacted, or this reader fell
//! behind), that kind is listed again; meanwhile the cache keeps deciding
//! from the last complete policy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::policy::Policy;
use crate::storage::{self, StorageError, Store};
use crate::watch::{Feed, FeedMessage, StoredEvent};
use orc_client::resources::{RBAC_GROUP, RESOURCES};

/// The four RBAC kinds, each with the etcd prefix holding its objects.
pub fn rbac_prefixes() -> Vec<(&'static str, String)> {
    RESOURCES
        .iter()
        .filter(|r| r.group == RBAC_GROUP)
        .map(|r| (r.kind, storage::prefix(r, None)))
        .collect()
}

/// The current [`Policy`], shared by every request.
pub struct PolicyCache {
    /// std's RwLock around an `Arc`: a request clones the `Arc` and lets
    /// go at once, so a decision never holds the lock, and a rebuild
    /// swaps the whole snapshot.
    current: Arc<RwLock<Arc<Policy>>>,
    /// The tasks following etcd, one per kind, stopped with the server.
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for PolicyCache {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl PolicyCache {
    /// Lists the RBAC objects (so the first request is decided on a
    /// complete policy), then follows `feeds`: for each kind, the hub's
    /// feed of its prefix from [`rbac_prefixes`].
    pub async fn start(
        store: Store,
        feeds: Vec<(&'static str, String, Arc<Feed>)>,
    ) -> Result<PolicyCache, StorageError> {
        let kinds = Arc::new(Mutex::new(Kinds::new()));
        let current = Arc::new(RwLock::new(Arc::default()));
        let mut followers = Vec::new();
        for (kind, prefix, feed) in feeds {
            let page = store.list(&prefix, "", 0, 0).await?;
            let mut mirror = PolicyMirror {
                kind,
                kinds: kinds.clone(),
                current: current.clone(),
            };
            mirror.reset(page.items, page.revision);
            followers.push((feed, prefix, mirror, page.revision));
        }
        // Publish once every kind is in, then let each follow its feed.
        if let Some((_, _, mirror, _)) = followers.first_mut() {
            mirror.publish();
        }
        let tasks = followers
            .into_iter()
            .map(|(feed, prefix, mirror, revision)| {
                let task = tokio::spawn(follow(store.clone(), feed, prefix, mirror, revision));
                task.abort_handle()
            })
            .collect();
        Ok(PolicyCache { current, tasks })
    }

    /// The policy as of the last change seen.
    pub fn policy(&self) -> Arc<Policy> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The stored objects of one kind by etcd key.
type Objects = BTreeMap<String, Value>;

/// Each RBAC kind's objects.
type Kinds = BTreeMap<&'static str, Objects>;

/// The policy of every kind's objects.
fn build(kinds: &Kinds) -> Policy {
    let mut policy = Policy::default();
    for (kind, objects) in kinds {
        for obj in objects.values() {
            policy.insert(kind, obj);
        }
    }
    policy
}

/// One change to the objects.
fn apply(objects: &mut Objects, event: &StoredEvent) {
    match event.object() {
        Some(obj) => objects.insert(event.key.clone(), obj),
        None => objects.remove(&event.key),
    };
}

/// What an authorizer keeps of the objects under one etcd prefix, fed by
/// [`follow`]: one RBAC kind here, the Node authorizer's graph of pods
/// in `node_graph.rs`.
pub trait Mirror: Send + 'static {
    /// Starts again from a complete list, `(key, object)` pairs, as of
    /// etcd revision `revision`.
    fn reset(&mut self, items: Vec<(String, Value)>, revision: i64);
    /// One change (`object` is `None` for a delete).
    fn apply(&mut self, event: &StoredEvent);
    /// A batch of changes is in: make it visible to requests.
    fn publish(&mut self);
}

/// One RBAC kind's share of the objects; publishing rebuilds the policy
/// from all four kinds. Each kind follows its own feed, so a policy may
/// hold one kind a few milliseconds ahead of another, as Kubernetes' four
/// informers do.
struct PolicyMirror {
    kind: &'static str,
    /// std's Mutex: held only to change a map or build a policy, never
    /// across an await.
    kinds: Arc<Mutex<Kinds>>,
    current: Arc<RwLock<Arc<Policy>>>,
}

impl PolicyMirror {
    fn kinds(&self) -> std::sync::MutexGuard<'_, Kinds> {
        self.kinds.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Mirror for PolicyMirror {
    fn reset(&mut self, items: Vec<(String, Value)>, _revision: i64) {
        let kind = self.kind;
        self.kinds().insert(kind, items.into_iter().collect());
    }

    fn apply(&mut self, event: &StoredEvent) {
        let kind = self.kind;
        apply(self.kinds().entry(kind).or_default(), event);
    }

    fn publish(&mut self) {
        let policy = Arc::new(build(&self.kinds()));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }
}

// ANCHOR: follow
/// Applies the feed's events after `revision` to `mirror`, publishing
/// after each batch; lists `prefix` again whenever the feed cannot
/// continue without a gap (meanwhile requests are decided from what was
/// last published).
pub async fn follow(
    store: Store,
    feed: Arc<Feed>,
    prefix: String,
    mut mirror: impl Mirror,
    mut revision: i64,
) {
    loop {
        if let Ok((backlog, mut events)) = feed.subscribe(revision) {
            for event in &backlog {
                mirror.apply(event);
            }
            mirror.publish();
            loop {
                match events.recv().await {
                    Ok(FeedMessage::Event(event)) => {
                        mirror.apply(&event);
                        // Take whatever else already arrived before publishing.
                        while let Ok(FeedMessage::Event(more)) = events.try_recv() {
                            mirror.apply(&more);
                        }
                        mirror.publish();
                    }
                    // Only the watch cache needs to know how far etcd is.
                    Ok(FeedMessage::Progress(_)) => {}
                    Ok(FeedMessage::Expired) | Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return,
                }
            }
        }
        // A gap: list again, keeping what was published until the list is in.
        match store.list(&prefix, "", 0, 0).await {
            Ok(page) => {
                mirror.reset(page.items, page.revision);
                revision = page.revision;
            }
            Err(error) => {
                tracing::warn!(%error, %prefix, "listing objects for the authorizer");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
// ANCHOR_END: follow

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_kind_has_its_own_prefix() {
        let prefixes = rbac_prefixes();
        assert_eq!(
            prefixes,
            [
                ("ClusterRole", "/registry/clusterroles/".to_string()),
                (
                    "ClusterRoleBinding",
                    "/registry/clusterrolebindings/".into()
                ),
                ("Role", "/registry/roles/".into()),
                ("RoleBinding", "/registry/rolebindings/".into()),
            ]
        );
    }

    #[test]
    fn kinds_come_from_their_feed_and_deletes_remove() {
        let mut mirror = PolicyMirror {
            kind: "ClusterRole",
            kinds: Arc::default(),
            current: Arc::default(),
        };
        let event = |object: Option<Value>| {
            StoredEvent::new(2, "/registry/clusterroles/view", object.as_ref(), None)
        };
        mirror.apply(&event(Some(
            json!({"metadata": {"name": "view"}, "rules": []}),
        )));
        mirror.publish();
        let policy = mirror.current.read().unwrap().clone();
        assert!(policy.cluster_roles.contains_key("view"));
        mirror.apply(&event(None));
        mirror.publish();
        let policy = mirror.current.read().unwrap().clone();
        assert!(policy.cluster_roles.is_empty());
    }
}

//! The RBAC objects, known from memory and kept current from etcd.
//!
//! Every request is authorized, so reading etcd for each would double the
//! API server's reads. Kubernetes' RBAC authorizer reads informers' caches
//! of the four kinds instead; orc's [`PolicyCache`] is the same idea on
//! the server's own [`WatchHub`](crate::watch::WatchHub): one feed of
//! every key under `/registry/rbac.authorization.k8s.io/`, a map of those
//! objects, and a [`Policy`] rebuilt whole after each change and swapped
//! in. A RoleBinding created a moment ago applies as soon as its event
//! arrives (milliseconds), with no restart.
//!
//! If the feed loses events (history compacted, or this reader fell
//! behind), the cache lists again; meanwhile it keeps deciding from the
//! last complete policy.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::policy::Policy;
use crate::storage::{self, StorageError, Store};
use crate::watch::{Feed, FeedMessage, StoredEvent};
use orc_client::resources::{RBAC_GROUP, RESOURCES};

/// The etcd prefix holding every Role, ClusterRole and binding.
pub fn rbac_prefix() -> String {
    let any = RESOURCES
        .iter()
        .find(|r| r.group == RBAC_GROUP)
        .expect("the resource table serves RBAC");
    let role_prefix = storage::prefix(any, None);
    // `/registry/rbac.authorization.k8s.io/clusterroles/` → its group's.
    let group_end = role_prefix.trim_end_matches('/').rfind('/').unwrap_or(0);
    role_prefix[..=group_end].to_string()
}

/// The current [`Policy`], shared by every request.
pub struct PolicyCache {
    /// std's RwLock around an `Arc`: a request clones the `Arc` and lets
    /// go at once, so a decision never holds the lock, and a rebuild
    /// swaps the whole snapshot.
    current: Arc<RwLock<Arc<Policy>>>,
    /// The task following etcd, stopped with the server.
    task: tokio::task::AbortHandle,
}

impl Drop for PolicyCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PolicyCache {
    /// Lists the RBAC objects (so the first request is decided on a
    /// complete policy), then follows `feed`, the hub's feed of
    /// [`rbac_prefix`].
    pub async fn start(store: Store, feed: Arc<Feed>) -> Result<PolicyCache, StorageError> {
        let prefix = rbac_prefix();
        let page = store.list(&prefix, "", 0, 0).await?;
        let mut mirror = PolicyMirror {
            prefix: prefix.clone(),
            objects: Objects::new(),
            current: Arc::default(),
        };
        mirror.reset(page.items, page.revision);
        mirror.publish();
        let current = mirror.current.clone();
        let task = tokio::spawn(follow(store, feed, prefix, mirror, page.revision));
        Ok(PolicyCache {
            current,
            task: task.abort_handle(),
        })
    }

    /// The policy as of the last change seen.
    pub fn policy(&self) -> Arc<Policy> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The stored RBAC objects by etcd key.
type Objects = BTreeMap<String, Value>;

/// The policy of `objects`; the kind comes from the key
/// (`<prefix><plural>/...`), as the resource table maps it.
fn build(prefix: &str, objects: &Objects) -> Policy {
    let mut policy = Policy::default();
    for (key, obj) in objects {
        let plural = key
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        if let Some(r) = RESOURCES
            .iter()
            .find(|r| r.group == RBAC_GROUP && r.plural == plural)
        {
            policy.insert(r.kind, obj);
        }
    }
    policy
}

/// One change to the objects.
fn apply(objects: &mut Objects, event: &StoredEvent) {
    match &event.object {
        Some(obj) => objects.insert(event.key.clone(), obj.clone()),
        None => objects.remove(&event.key),
    };
}

/// What an authorizer keeps of the objects under one etcd prefix, fed by
/// [`follow`]: the RBAC policy here, the Node authorizer's graph of pods
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

/// The RBAC objects, and the policy built from them after each batch.
struct PolicyMirror {
    prefix: String,
    objects: Objects,
    current: Arc<RwLock<Arc<Policy>>>,
}

impl Mirror for PolicyMirror {
    fn reset(&mut self, items: Vec<(String, Value)>, _revision: i64) {
        self.objects = items.into_iter().collect();
    }

    fn apply(&mut self, event: &StoredEvent) {
        apply(&mut self.objects, event);
    }

    fn publish(&mut self) {
        let policy = Arc::new(build(&self.prefix, &self.objects));
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
    fn kinds_come_from_keys_and_deletes_remove() {
        let prefix = rbac_prefix();
        assert_eq!(prefix, "/registry/rbac.authorization.k8s.io/");
        let mut objects = Objects::new();
        let key = format!("{prefix}clusterroles/view");
        let event = |object| StoredEvent {
            revision: 2,
            key: key.clone(),
            object,
            previous: None,
        };
        apply(
            &mut objects,
            &event(Some(json!({"metadata": {"name": "view"}, "rules": []}))),
        );
        assert!(build(&prefix, &objects).cluster_roles.contains_key("view"));
        apply(&mut objects, &event(None));
        assert!(build(&prefix, &objects).cluster_roles.is_empty());
    }
}

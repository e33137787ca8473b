//! The informer: a local, always-current copy of some objects.
//!
//! Every orc component needs "all pods bound to my node" or "all
//! ReplicaSets", constantly. Asking the API server each time would be slow
//! and load it with lists. An informer does the Kubernetes thing instead:
//!
//! 1. **list** the objects and fill a local [`Cache`];
//! 2. **watch** from the list's resourceVersion and apply each event to the
//!    cache, telling the component through a [`Notification`];
//! 3. when the watch ends (timeout, server restart), watch again from the
//!    last resourceVersion seen: no event is missed or repeated;
//! 4. when the server answers **410 Gone** (history compacted, or we fell
//!    behind), list again: the new list is compared with the cache, and the
//!    differences are notified as if they had been events.
//!
//! Components read the cache, never the API, for their decisions; they
//! write through the [`super::Client`].

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::Client;
use crate::field::field;
use crate::resources::Resource;
use crate::selectors::{labels, labels_of};

/// What changed in the cache.
///
/// The objects are the cache's own, shared (`Arc`), not copies: an event
/// costs one decode, and the cache and every handler read the same object.
/// A pod of a few kilobytes copied for every notification, and its old
/// state again for every update, was most of what an informer spent per
/// event. A handler that must change an object takes its own copy
/// (`Value::clone(&obj)`, or `Arc::unwrap_or_clone`) where it does so.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// A new object.
    Added(Arc<Value>),
    /// An object changed.
    Updated {
        /// Before.
        old: Arc<Value>,
        /// After.
        new: Arc<Value>,
    },
    /// An object is gone (its last known state).
    Deleted(Arc<Value>),
    /// A list has been applied: the cache is complete as of that list.
    Synced,
}

/// The cache key of an object: `namespace/name`, or `name` when cluster-scoped.
pub fn key_of(obj: &Value) -> String {
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    match meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
    {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

// ANCHOR: relist_changes
/// What a re-list tells an informer: the notifications that turn `cached`
/// into `fresh` (both keyed by [`key_of`]). Objects only cached were deleted
/// while we were not watching, objects only listed were added, objects in
/// both but different were updated; deletions come first, then the rest in
/// key order. Pure, so lab 03 can ask students for it. The objects are
/// shared, so each `clone` here copies a pointer, not the object.
pub fn relist_changes(
    cached: &BTreeMap<String, Arc<Value>>,
    fresh: &BTreeMap<String, Arc<Value>>,
) -> Vec<Notification> {
    let mut changes = Vec::new();
    for (key, old) in cached {
        if !fresh.contains_key(key) {
            changes.push(Notification::Deleted(old.clone()));
        }
    }
    for (key, new) in fresh {
        match cached.get(key) {
            None => changes.push(Notification::Added(new.clone())),
            Some(old) if old != new => changes.push(Notification::Updated {
                old: old.clone(),
                new: new.clone(),
            }),
            Some(_) => {}
        }
    }
    changes
}
// ANCHOR_END: relist_changes

/// The objects of a cache by key; each one shared with the notifications
/// that told of it.
type Objects = BTreeMap<String, Arc<Value>>;

/// The informer's local copy, shared with readers.
#[derive(Debug, Default)]
pub struct Cache {
    /// std's RwLock: readers are many, writes are one event at a time,
    /// and no lock is held across an `.await`.
    objects: RwLock<Objects>,
}

impl Cache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects> {
        self.objects.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        self.objects.write().unwrap_or_else(|p| p.into_inner())
    }

    /// One object by key (`namespace/name`): a copy, the caller's to keep
    /// or change.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).map(|o| Value::clone(o))
    }

    /// What `read` answers about the object at `key`, read in place: for
    /// a reader that needs a field or two of it, not a copy of it all.
    pub fn get_with<T>(&self, key: &str, read: impl FnOnce(&Value) -> T) -> Option<T> {
        self.read().get(key).map(|o| read(o))
    }

    /// Every cached object, in key order.
    pub fn list(&self) -> Vec<Value> {
        self.read().values().map(|o| Value::clone(o)).collect()
    }

    /// The objects of one namespace. Keys sort by namespace first, so this
    /// is a range scan, the same trick as etcd's key layout.
    pub fn in_namespace(&self, ns: &str) -> Vec<Value> {
        let from = format!("{ns}/");
        self.read()
            .range(from.clone()..)
            .take_while(|(k, _)| k.starts_with(&from))
            .map(|(_, v)| Value::clone(v))
            .collect()
    }

    /// The objects matching a label selector.
    pub fn matching(&self, selector: &labels::Selector) -> Vec<Value> {
        self.read()
            .values()
            .filter(|o| selector.matches(&labels_of(o)))
            .map(|o| Value::clone(o))
            .collect()
    }

    /// How many objects are cached.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ANCHOR: replace
    /// Replaces everything with a fresh list, answering the differences as
    /// notifications (what the missed events would have been).
    pub fn replace(&self, items: Vec<Value>) -> Vec<Notification> {
        let fresh: Objects = items
            .into_iter()
            .map(|o| (key_of(&o), Arc::new(o)))
            .collect();
        let mut cache = self.write();
        let changes = relist_changes(&cache, &fresh);
        *cache = fresh;
        changes
    }
    // ANCHOR_END: replace

    // ANCHOR: apply
    /// Applies one watch event. The object is stored once and shared with
    /// the notification; the replaced one moves into it as `old`.
    pub fn apply(&self, kind: &str, obj: Value) -> Option<Notification> {
        let key = key_of(&obj);
        let obj = Arc::new(obj);
        let mut cache = self.write();
        match kind {
            "ADDED" | "MODIFIED" => match cache.insert(key, obj.clone()) {
                None => Some(Notification::Added(obj)),
                Some(old) => Some(Notification::Updated { old, new: obj }),
            },
            "DELETED" => cache.remove(&key).map(|_| Notification::Deleted(obj)),
            _ => None,
        }
    }
    // ANCHOR_END: apply
}

/// How one watch ended.
/// The `timeoutSeconds` of one watch: from `shortest` to twice as long,
/// by `random` in [0, 1) (client-go's reflector), and at least a second.
pub fn watch_timeout_seconds(shortest: Duration, random: f64) -> u64 {
    let seconds = shortest.as_secs_f64() * (1.0 + random.clamp(0.0, 1.0));
    (seconds as u64).max(1)
}

enum WatchEnd {
    /// The server ended it (its timeout): watch again from the last version.
    Ended,
    /// The version is gone (410) or the watch failed: list again.
    Relist,
    /// Nobody listens to the notifications any more: stop.
    Closed,
}

/// Follows one resource (optionally one namespace, one label selector).
pub struct Informer {
    client: Client,
    resource: &'static Resource,
    namespace: Option<String>,
    labels: String,
    /// A field selector (`spec.nodeName=node-1`), empty for none.
    fields: String,
    cache: Arc<Cache>,
    /// Each watch asks the server to end after this long to twice as long,
    /// at random (client-go's reflector: 5 to 10 minutes, so informers
    /// started together do not all re-watch together); re-watching is
    /// cheap and keeps connections from living forever.
    pub watch_timeout: Duration,
}

impl Informer {
    /// An informer for `resource` objects in `namespace` (None: all)
    /// matching `labels` (empty: all).
    pub fn new(
        client: Client,
        resource: &'static Resource,
        namespace: Option<&str>,
        labels: &str,
    ) -> Informer {
        Informer {
            client,
            resource,
            namespace: namespace.map(String::from),
            labels: labels.to_string(),
            fields: String::new(),
            cache: Arc::new(Cache::default()),
            watch_timeout: Duration::from_secs(300),
        }
    }

    /// Follows only the objects matching field selector `fields` as well:
    /// how a node agent follows the pods bound to its node.
    pub fn with_field_selector(mut self, fields: &str) -> Informer {
        self.fields = fields.to_string();
        self
    }

    /// The cache, for readers.
    pub fn cache(&self) -> Arc<Cache> {
        self.cache.clone()
    }

    // ANCHOR: run
    /// Lists and watches until `notify`'s receiver is dropped.
    pub async fn run(self, notify: mpsc::Sender<Notification>) {
        loop {
            let Some(mut version) = self.list(&notify).await else {
                return;
            };
            loop {
                match self.watch(&mut version, &notify).await {
                    // The watch ended normally: watch again from where we are.
                    WatchEnd::Ended => continue,
                    WatchEnd::Relist => break,
                    WatchEnd::Closed => return,
                }
            }
        }
    }
    // ANCHOR_END: run

    // ANCHOR: list
    /// Lists (retrying every second until the server answers), replaces the
    /// cache, and notifies what changed, then [`Notification::Synced`].
    /// Answers the list's resourceVersion, where the watch starts; `None`
    /// when nobody listens any more.
    async fn list(&self, notify: &mpsc::Sender<Notification>) -> Option<String> {
        let ns = self.namespace.as_deref();
        let mut list = loop {
            match self
                .client
                .list_selected(self.resource, ns, &self.labels, &self.fields)
                .await
            {
                Ok(list) => break list,
                Err(error) => {
                    tracing::warn!(%error, resource = self.resource.plural, "informer list failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let version = field(&list, &["metadata", "resourceVersion"])
            .and_then(Value::as_str)
            .unwrap_or("0")
            .to_string();
        // The items move out of the list: the cache keeps them, uncopied.
        let items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for change in self
            .cache
            .replace(items)
            .into_iter()
            .chain([Notification::Synced])
        {
            notify.send(change).await.ok()?;
        }
        Some(version)
    }
    // ANCHOR_END: list

    /// One watch from `version`: each event updates the cache, moves
    /// `version` on and is notified. A 410 Gone, or any error event, asks
    /// for a fresh list; so does a watch that cannot be opened, after a
    /// second.
    // ANCHOR: watch
    async fn watch(&self, version: &mut String, notify: &mpsc::Sender<Notification>) -> WatchEnd {
        let timeout = watch_timeout_seconds(self.watch_timeout, fastrand::f64());
        let ns = self.namespace.as_deref();
        let mut stream = match self
            .client
            .watch_selected(
                self.resource,
                ns,
                &self.labels,
                &self.fields,
                version,
                timeout,
            )
            .await
        {
            Ok(stream) => stream,
            Err(e) if e.is_gone() => return WatchEnd::Relist,
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                return WatchEnd::Relist;
            }
        };
        while let Some(event) = stream.next().await {
            let Ok((kind, obj)) = event else { break };
            if kind == "ERROR" {
                // 410 Expired (or any error): the only safe move is a fresh list.
                return WatchEnd::Relist;
            }
            if let Some(rv) = field(&obj, &["metadata", "resourceVersion"]).and_then(Value::as_str)
            {
                *version = rv.to_string();
            }
            if let Some(change) = self.cache.apply(&kind, obj) {
                if notify.send(change).await.is_err() {
                    return WatchEnd::Closed;
                }
            }
        }
        WatchEnd::Ended
    }
    // ANCHOR_END: watch
}

// Following informers from a component: a task per informer, a handler
// per notification, and a signal once each has its first list. A
// component must not judge before its caches hold the whole picture
// (client-go calls this `WaitForCacheSync`): a ReplicaSet controller that
// starts before its pod list arrived would count zero pods and create a
// full set again; a scheduler would see empty nodes and over-commit them.

/// Runs `informer` in `tasks`, and a task that calls `handle` for each of
/// its notifications; answers the signal of its first list. Both tasks
/// stop when `tasks` is dropped. Read the informer's cache (take it with
/// `Informer::cache` first): it is updated before `handle` is called.
pub fn follow(
    tasks: &mut JoinSet<()>,
    informer: Informer,
    mut handle: impl FnMut(Notification) + Send + 'static,
) -> oneshot::Receiver<()> {
    let (notify, mut notifications) = mpsc::channel(256);
    let (synced, synced_rx) = oneshot::channel();
    tasks.spawn(informer.run(notify));
    tasks.spawn(async move {
        let mut synced = Some(synced);
        while let Some(notification) = notifications.recv().await {
            if matches!(notification, Notification::Synced) {
                if let Some(synced) = synced.take() {
                    let _ = synced.send(());
                }
                continue;
            }
            handle(notification);
        }
    });
    synced_rx
}

/// An informer on every `resource` object, in all namespaces.
pub fn everything(client: &Client, resource: &'static Resource) -> Informer {
    Informer::new(client.clone(), resource, None, "")
}

/// Waits for every `synced` signal; false if an informer stopped first.
pub async fn wait_for_sync(synced: Vec<oneshot::Receiver<()>>) -> bool {
    for signal in synced {
        if signal.await.is_err() {
            return false;
        }
    }
    true
}

/// Runs `informers` in `tasks` and wakes `changed` at every change any of
/// them sees; returns once all have their first list (false if one
/// stopped first). For a component that recomputes everything from its
/// caches on any change (a proxy, a route syncer) rather than
/// reconciling one key at a time: a `Notify` holds at most one wake-up,
/// so a burst of changes costs one recomputation.
pub async fn follow_changes(
    tasks: &mut JoinSet<()>,
    informers: Vec<Informer>,
    changed: &Arc<tokio::sync::Notify>,
) -> bool {
    let mut synced = Vec::new();
    for informer in informers {
        let changed = changed.clone();
        synced.push(follow(tasks, informer, move |_| changed.notify_one()));
    }
    wait_for_sync(synced).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn watches_end_after_five_to_ten_minutes_at_random() {
        use super::watch_timeout_seconds;
        let five = Duration::from_secs(300);
        assert_eq!(watch_timeout_seconds(five, 0.0), 300);
        assert_eq!(watch_timeout_seconds(five, 0.5), 450);
        assert_eq!(watch_timeout_seconds(five, 0.999_999), 599);
        assert_eq!(watch_timeout_seconds(Duration::from_millis(100), 0.0), 1);
    }

    use super::*;
    use serde_json::json;

    fn obj(ns: &str, name: &str, v: &str) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "labels": {"v": v}}})
    }

    #[test]
    fn replace_reports_what_was_missed() {
        let cache = Cache::default();
        cache.replace(vec![obj("a", "x", "1"), obj("a", "y", "1")]);
        let changes = cache.replace(vec![obj("a", "x", "2"), obj("b", "z", "1")]);
        assert_eq!(
            changes,
            vec![
                Notification::Deleted(obj("a", "y", "1").into()),
                Notification::Updated {
                    old: obj("a", "x", "1").into(),
                    new: obj("a", "x", "2").into()
                },
                Notification::Added(obj("b", "z", "1").into()),
            ]
        );
        assert_eq!(cache.in_namespace("a").len(), 1);
        assert_eq!(
            cache.get_with("a/x", |o| o["metadata"]["labels"]["v"].clone()),
            Some(json!("2"))
        );
        assert_eq!(cache.get_with("a/y", |_| ()), None, "deleted");
        assert_eq!(cache.matching(&labels::parse("v=1").unwrap()).len(), 1);
    }

    #[test]
    fn notifications_share_the_cached_object() {
        let cache = Cache::default();
        let Some(Notification::Added(added)) = cache.apply("ADDED", obj("a", "x", "1")) else {
            panic!("added");
        };
        // The update's `old` is the object the cache held since the add:
        // the very one the add notified, not a copy of it.
        let Some(Notification::Updated { old, new }) = cache.apply("MODIFIED", obj("a", "x", "2"))
        else {
            panic!("updated");
        };
        assert!(Arc::ptr_eq(&added, &old));
        // A re-list's notifications are the cache's objects too.
        let relisted = cache.replace(vec![obj("a", "x", "3")]);
        let [
            Notification::Updated {
                old: before,
                new: after,
            },
        ] = &relisted[..]
        else {
            panic!("{relisted:?}");
        };
        assert!(Arc::ptr_eq(&new, before));
        let Some(Notification::Deleted(gone)) = cache.apply("DELETED", obj("a", "x", "3")) else {
            panic!("deleted");
        };
        assert_eq!(gone, *after);
    }

    #[test]
    fn events_update_the_cache() {
        let cache = Cache::default();
        assert!(matches!(
            cache.apply("ADDED", obj("a", "x", "1")),
            Some(Notification::Added(_))
        ));
        assert!(matches!(
            cache.apply("MODIFIED", obj("a", "x", "2")),
            Some(Notification::Updated { .. })
        ));
        assert!(matches!(
            cache.apply("DELETED", obj("a", "x", "2")),
            Some(Notification::Deleted(_))
        ));
        assert_eq!(
            cache.apply("DELETED", obj("a", "x", "2")),
            None,
            "already gone"
        );
        assert!(cache.is_empty());
    }
}

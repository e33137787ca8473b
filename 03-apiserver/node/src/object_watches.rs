//! One watch per Secret or ConfigMap this node's pods name: the kubelet's
//! watch-based Secret and ConfigMap managers.
//!
//! The API server's Node authorizer lets a node read a Secret only when a
//! pod bound to it names that Secret, and never list them all. So the
//! agent cannot keep one informer over every Secret of the cluster (which
//! would also hold every Secret in its memory). Like the kubelet, it
//! *registers* a pod's objects before the pod's volumes are set up: one
//! informer each, narrowed to the one name
//! (`fieldSelector=metadata.name=<name>`, which the authorizer reads as a
//! request for that name), and waits for their first lists. When no pod
//! of the node names an object any more, its watch stops
//! ([`ObjectWatches::follow_only`], run at every change to the node's
//! pods).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use orc_client::Client;
use orc_client::informer::{Cache, Informer, follow};
use orc_client::resources::Resource;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a pod's first setup waits for one object's first list. An
/// object that cannot be listed by then (the API server away) is missing
/// for this sync; the agent's next sync tries again.
const FIRST_LIST: Duration = Duration::from_secs(10);

/// One followed object.
struct Watched {
    cache: std::sync::Arc<Cache>,
    /// True once its first list is in.
    synced: watch::Receiver<bool>,
    /// The informer and its notifications' drain, stopped when dropped.
    _tasks: JoinSet<()>,
}

/// The followed objects of one kind, by `namespace/name`.
pub struct ObjectWatches {
    client: Client,
    resource: &'static Resource,
    /// A std `Mutex`: held to look up or insert, never across an await.
    watched: Mutex<HashMap<String, Watched>>,
}

impl ObjectWatches {
    /// No object followed yet.
    pub fn new(client: Client, resource: &'static Resource) -> ObjectWatches {
        ObjectWatches {
            client,
            resource,
            watched: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watched>> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ANCHOR: ensure
    /// Follows each of `names` in `namespace` not followed yet, and waits
    /// until each has been listed once.
    pub async fn ensure(&self, namespace: &str, names: &BTreeSet<String>) {
        let mut waits = Vec::new();
        for name in names {
            let key = format!("{namespace}/{name}");
            let mut watched = self.lock();
            let entry = watched
                .entry(key)
                .or_insert_with(|| self.start(namespace, name));
            waits.push(entry.synced.clone());
        }
        for mut synced in waits {
            let listed = synced.wait_for(|done| *done);
            let _ = tokio::time::timeout(FIRST_LIST, listed).await;
        }
    }
    // ANCHOR_END: ensure

    /// An informer on the one object `namespace/name`.
    fn start(&self, namespace: &str, name: &str) -> Watched {
        let informer = Informer::new(self.client.clone(), self.resource, Some(namespace), "")
            .with_field_selector(&format!("metadata.name={name}"));
        let cache = informer.cache();
        let mut tasks = JoinSet::new();
        let first_list = follow(&mut tasks, informer, |_| {});
        let (done, synced) = watch::channel(false);
        tasks.spawn(async move {
            if first_list.await.is_ok() {
                done.send_replace(true);
            }
        });
        Watched {
            cache,
            synced,
            _tasks: tasks,
        }
    }

    /// The object `namespace/name`, if followed and there.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lock().get(key).and_then(|w| w.cache.get(key))
    }

    // ANCHOR: follow_only
    /// Follows exactly the objects `wanted` (keys `namespace/name`): stops
    /// the others' watches and starts the missing ones without waiting
    /// for them (a pod found running after a restart gets its objects back
    /// before its next volume refresh).
    pub fn follow_only(&self, wanted: &BTreeSet<String>) {
        let mut watched = self.lock();
        watched.retain(|key, _| wanted.contains(key));
        for key in wanted {
            if let Some((namespace, name)) = key.split_once('/') {
                if !watched.contains_key(key) {
                    let started = self.start(namespace, name);
                    watched.insert(key.clone(), started);
                }
            }
        }
    }
    // ANCHOR_END: follow_only

    /// The same, already holding `objects` as if listed (unit tests).
    #[cfg(test)]
    pub fn holding(self, objects: Vec<Value>) -> ObjectWatches {
        for object in objects {
            let cache = std::sync::Arc::new(Cache::default());
            let key = orc_client::informer::key_of(&object);
            cache.replace(vec![object]);
            let (_, synced) = watch::channel(true);
            let watched = Watched {
                cache,
                synced,
                _tasks: JoinSet::new(),
            };
            self.lock().insert(key, watched);
        }
        self
    }
}

//! Informers → cache and queue: what each watch event means to the
//! scheduler (kube-scheduler's `eventhandlers.go`).
//!
//! - A pod without a node, for this scheduler, not being deleted: the
//!   queue (added, or updated in place); if its `status.nominatedNodeName`
//!   names a node, the cache holds room for it there.
//! - A pod with a node: the cache, on that node. Its arrival confirms a
//!   pod the scheduler assumed; its deletion frees room, so parked pods
//!   waiting for that may move back.
//! - Nodes: the cache; an added node, or changed labels, taints or
//!   allocatable, wake the parked pods waiting for that.
//! - Namespaces, Services, ReplicaSets: what affinity's namespace
//!   selectors and the default topology spreading read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use orc_client::Client;
use orc_client::informer::{Cache as InformerCache, Notification, everything, follow};
use orc_client::resources::by_kind;
use orc_client::selectors::labels::try_from_label_selector;
use orc_client::selectors::labels_of;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::cache::Cache;
use crate::framework::Events;
use crate::objects::{Node, PodInfo};
use crate::queue::SchedulingQueue;

/// What the handlers write to.
#[derive(Clone)]
pub struct Feed {
    pub cache: Arc<Mutex<Cache>>,
    pub queue: Arc<SchedulingQueue>,
}

/// The informers' signals of their first lists, and the pods informer's
/// cache (the scheduler checks a pod is still pending before trying it).
pub struct Following {
    pub synced: Vec<oneshot::Receiver<()>>,
    pub pods: Arc<InformerCache>,
}

impl Feed {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the informers in `tasks`.
    pub fn follow(&self, client: &Client, tasks: &mut JoinSet<()>) -> Following {
        let mut synced = Vec::new();
        let mut pods = None;
        for kind in ["Pod", "Node", "Namespace", "Service"] {
            let Some(resource) = by_kind("v1", kind) else {
                continue;
            };
            let informer = everything(client, resource);
            if kind == "Pod" {
                pods = Some(informer.cache());
            }
            let feed = self.clone();
            synced.push(follow(tasks, informer, move |n| feed.handle(kind, n)));
        }
        for (api_version, kind) in [
            ("v1", "PersistentVolumeClaim"),
            ("v1", "PersistentVolume"),
            ("storage.k8s.io/v1", "StorageClass"),
        ] {
            if let Some(resource) = by_kind(api_version, kind) {
                let feed = self.clone();
                let informer = everything(client, resource);
                synced.push(follow(tasks, informer, move |n| feed.volume(kind, n)));
            }
        }
        if let Some(resource) = by_kind("apps/v1", "ReplicaSet") {
            let feed = self.clone();
            let informer = everything(client, resource);
            synced.push(follow(tasks, informer, move |n| {
                feed.handle("ReplicaSet", n)
            }));
        }
        Following {
            synced,
            pods: pods.unwrap_or_default(),
        }
    }

    /// A claim, volume or class changed: kept for `VolumeBinding`, and a
    /// reason to try the pods it refused again.
    fn volume(&self, kind: &str, notification: Notification) {
        let (key, object) = match notification {
            Notification::Added(o) | Notification::Updated { new: o, .. } => {
                (orc_client::informer::key_of(&o), Some(o))
            }
            Notification::Deleted(o) => (orc_client::informer::key_of(&o), None),
            Notification::Synced => return,
        };
        self.cache().set_volume_object(kind, key, object);
        self.queue.on_event(Events::VOLUMES);
    }

    /// One notification about an object of `kind`.
    pub fn handle(&self, kind: &str, notification: Notification) {
        let (old, new) = match notification {
            Notification::Added(new) => (None, Some(new)),
            Notification::Updated { old, new } => (Some(old), Some(new)),
            Notification::Deleted(old) => (Some(old), None),
            Notification::Synced => return,
        };
        let (old, new) = (old.as_deref(), new.as_deref());
        let event = match kind {
            "Pod" => self.pod(old, new),
            "Node" => self.node(old, new),
            "Namespace" => self.namespace(old, new),
            _ => self.workload(kind, new.or(old), new.is_some()),
        };
        self.queue.on_event(event);
    }

    // ANCHOR: pod_event
    /// A pod changed; answers the event it is for parked pods.
    fn pod(&self, old: Option<&Value>, new: Option<&Value>) -> Events {
        let placed = |p: Option<&Value>| {
            p.and_then(|p| p.pointer("/spec/nodeName"))
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty())
        };
        let Some(new) = new else {
            // Deleted: gone from the queue, and from its node.
            let info = PodInfo::parse(old.unwrap_or(&Value::Null));
            self.queue.delete(&info.uid);
            let was_counted = self.cache().remove_pod(&info.uid);
            return if was_counted {
                Events::POD_DELETED
            } else {
                Events::NONE
            };
        };
        let info = Arc::new(PodInfo::parse(new));
        if placed(Some(new)) {
            self.queue.delete(&info.uid);
            let labels_changed = old.is_some_and(|o| labels_of(o) != info.labels);
            self.cache().set_pod(info);
            return match (placed(old), labels_changed) {
                (false, _) => Events::POD_ADDED,
                (true, true) => Events::POD_LABELS,
                (true, false) => Events::NONE,
            };
        }
        if !info.needs_scheduling() {
            self.queue.delete(&info.uid);
            self.cache().unnominate(&info.uid);
        } else if !self.cache().is_placed(&info.uid) {
            // (A pod this scheduler assumed is on its way to being bound:
            // its own status update is not a reason to try it again, and
            // its nomination is over.)
            let spec_changed =
                old.is_some_and(|o| o["spec"] != new["spec"] || labels_of(o) != info.labels);
            // `status.nominatedNodeName` holds its room there. An update
            // without one clears a nomination only if the old object had
            // one: the scheduler nominates in memory before its status
            // write lands, and updates written meanwhile (its own
            // `PodScheduled` condition) do not carry it yet (as
            // Kubernetes' `UpdateNominatedPod`).
            let was_nominated = old
                .and_then(|o| o.pointer("/status/nominatedNodeName"))
                .and_then(Value::as_str)
                .is_some_and(|n| !n.is_empty());
            let mut cache = self.cache();
            if !info.nominated_node.is_empty() {
                cache.nominate(info.clone(), &info.nominated_node.clone());
            } else if was_nominated {
                cache.unnominate(&info.uid);
            }
            drop(cache);
            self.queue.add_or_update(info, spec_changed);
        }
        Events::NONE
    }
    // ANCHOR_END: pod_event

    /// A node changed; answers the event.
    fn node(&self, old: Option<&Value>, new: Option<&Value>) -> Events {
        let Some(new) = new else {
            let name = old
                .and_then(|o| o.pointer("/metadata/name"))
                .and_then(Value::as_str);
            self.cache().remove_node(name.unwrap_or(""));
            return Events::NODE_DELETED;
        };
        let change = self.cache().set_node(Node::parse(new));
        [
            (change.added, Events::NODE_ADDED),
            (change.labels, Events::NODE_LABELS),
            (change.taints, Events::NODE_TAINTS),
            (change.allocatable, Events::NODE_ALLOCATABLE),
        ]
        .into_iter()
        .filter(|(changed, _)| *changed)
        .fold(Events::NONE, |all, (_, e)| all.or(e))
    }

    fn namespace(&self, old: Option<&Value>, new: Option<&Value>) -> Events {
        let object = new.or(old).unwrap_or(&Value::Null);
        let name = object["metadata"]["name"].as_str().unwrap_or("");
        let labels = new.map(labels_of);
        if old.map(labels_of) == labels {
            return Events::NONE;
        }
        self.cache().set_namespace(name, labels);
        Events::NAMESPACE_LABELS
    }

    /// A Service or ReplicaSet, present or gone.
    fn workload(&self, kind: &str, object: Option<&Value>, present: bool) -> Events {
        let object = object.unwrap_or(&Value::Null);
        let ns = object["metadata"]["namespace"].as_str().unwrap_or("");
        let name = object["metadata"]["name"].as_str().unwrap_or("");
        let selector = object.pointer("/spec/selector").filter(|_| present);
        if kind == "Service" {
            let selector = selector.and_then(Value::as_object).map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect::<BTreeMap<_, _>>()
            });
            self.cache().set_service(ns, name, selector);
        } else {
            let selector = selector.and_then(|s| try_from_label_selector(s).ok());
            self.cache().set_replica_set(ns, name, selector);
        }
        Events::WORKLOADS
    }
}

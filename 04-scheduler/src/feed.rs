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
use crate::scheduler::Decisions;

/// What the handlers write to.
#[derive(Clone)]
pub struct Feed {
    pub cache: Arc<Mutex<Cache>>,
    pub queue: Arc<SchedulingQueue>,
    /// What `orc explain` reads: a deleted pod's decision is let go.
    pub decisions: Arc<Decisions>,
}

/// The informers' signals of their first lists, and the pods informer's
/// cache (the scheduler checks a pod is still pending before trying it).
pub struct Following {
    pub synced: Vec<oneshot::Receiver<()>>,
    pub pods: Arc<InformerCache>,
}

/// Whether `new` is `old` bound to a node and nothing more: what a
/// binding changes is `spec.nodeName`, the `PodScheduled` condition and
/// the object's version. Everything else a [`PodInfo`] reads (metadata,
/// the rest of the spec, `status.startTime`, `status.nominatedNodeName`)
/// is the same. A watch shows each version, but a relist after a 410
/// compares the cached object with the listed one, which may be several
/// changes later; this is what tells the two apart.
fn binding_only(old: &Value, new: &Value) -> bool {
    let node = |p: &Value| {
        p.pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    };
    let status = |p: &'static str| old.pointer(p) == new.pointer(p);
    !node(old)
        && node(new)
        && same_but(
            &old["metadata"],
            &new["metadata"],
            &["resourceVersion", "managedFields"],
        )
        && same_but(&old["spec"], &new["spec"], &["nodeName"])
        && status("/status/startTime")
        && status("/status/nominatedNodeName")
}

/// Whether two JSON objects hold the same fields, apart from `except`.
fn same_but(a: &Value, b: &Value, except: &[&str]) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return false;
    };
    let kept = |(k, _): &(&String, &Value)| !except.contains(&k.as_str());
    a.iter().filter(kept).count() == b.iter().filter(kept).count()
        && a.iter().filter(kept).all(|(k, v)| b.get(k) == Some(v))
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
            self.decisions.forget(&info.key());
            let was_counted = self.cache().remove_pod(&info.uid);
            return if was_counted {
                Events::POD_DELETED
            } else {
                Events::NONE
            };
        };
        // The event of a binding this scheduler assumed, and of nothing
        // else: the pod the cache counts is this one already, so it is
        // neither read again nor set again on its node.
        if let Some(old) = old
            && binding_only(old, new)
        {
            fn text<'a>(v: &'a Value, at: &str) -> &'a str {
                v.pointer(at).and_then(Value::as_str).unwrap_or("")
            }
            let uid = text(new, "/metadata/uid");
            let (node, replaced) = (
                text(new, "/spec/nodeName"),
                text(old, "/metadata/resourceVersion"),
            );
            if self.cache().confirm(uid, node, replaced) {
                self.queue.delete(uid);
                return Events::POD_ADDED;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pending() -> Value {
        json!({
            "metadata": {"uid": "u", "name": "p", "namespace": "d",
                "resourceVersion": "7", "labels": {"app": "web"}},
            "spec": {"schedulerName": "default-scheduler", "containers": [{"name": "c"}]},
            "status": {"phase": "Pending"},
        })
    }

    /// `pending()` as the API server's binding leaves it.
    fn bound() -> Value {
        let mut pod = pending();
        pod["metadata"]["resourceVersion"] = json!("8");
        pod["spec"]["nodeName"] = json!("n1");
        pod["status"]["conditions"] = json!([{"type": "PodScheduled", "status": "True"}]);
        pod
    }

    #[test]
    fn a_binding_alone_is_told_from_other_changes() {
        assert!(binding_only(&pending(), &bound()));
        // A relist may show the binding together with later changes.
        let mut relabelled = bound();
        relabelled["metadata"]["labels"]["app"] = json!("db");
        assert!(!binding_only(&pending(), &relabelled));
        let mut resized = bound();
        resized["spec"]["containers"][0]["image"] = json!("nginx");
        assert!(!binding_only(&pending(), &resized));
        let mut deleting = bound();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:00Z");
        assert!(!binding_only(&pending(), &deleting));
        let mut started = bound();
        started["status"]["startTime"] = json!("2026-12-07T00:00:00Z");
        assert!(!binding_only(&pending(), &started));
        // Not a binding at all: still pending, or moved from a node.
        assert!(!binding_only(&pending(), &pending()));
        assert!(!binding_only(&bound(), &bound()));
    }
}

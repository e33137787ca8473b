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
use crate::objects::{Node, PodInfo, field};
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

// ANCHOR: binding_only
/// Whether `new` is `old` bound to a node and nothing more. A binding
/// (`pods/<name>/binding` in the API server) sets `spec.nodeName`, sets
/// the `PodScheduled` condition to `True`, and so writes a new
/// `resourceVersion` and, because the spec changed, a new
/// `metadata.generation`. Everything else is the same, down to the order
/// of the other conditions. A watch shows each version, but a relist
/// after a 410 compares the cached object with the listed one, which may
/// be several changes later (a label, the kubelet's status); this is what
/// tells the two apart, and anything more than the binding takes the
/// slow path. `generation` may be left out because the spec is compared
/// apart, and the spec is the only thing that moves it.
fn binding_only(old: &Value, new: &Value) -> bool {
    let node = |p: &Value| {
        field(p, &["spec", "nodeName"])
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    };
    !node(old)
        && node(new)
        && same_but(old, new, &["metadata", "spec", "status"])
        && same_but(
            &old["metadata"],
            &new["metadata"],
            &["resourceVersion", "generation"],
        )
        && same_but(&old["spec"], &new["spec"], &["nodeName"])
        && same_but(&old["status"], &new["status"], &["conditions"])
        && scheduled_only(&old["status"]["conditions"], &new["status"]["conditions"])
}
// ANCHOR_END: binding_only

/// Whether two lists of pod conditions are the same but for
/// `PodScheduled`, which `new` holds as `True`.
fn scheduled_only(old: &Value, new: &Value) -> bool {
    fn all(v: &Value) -> &[Value] {
        v.as_array().map(Vec::as_slice).unwrap_or_default()
    }
    let others = |v| all(v).iter().filter(|c| c["type"] != "PodScheduled");
    all(new)
        .iter()
        .any(|c| c["type"] == "PodScheduled" && c["status"] == "True")
        && others(old).eq(others(new))
}

/// Whether two JSON objects hold the same fields, apart from `except`.
/// A missing object counts as an empty one (a pod without a status);
/// anything else that is not an object is never the same.
fn same_but(a: &Value, b: &Value, except: &[&str]) -> bool {
    let empty = serde_json::Map::new();
    let (Some(a), Some(b)) = (object_or_empty(a, &empty), object_or_empty(b, &empty)) else {
        return false;
    };
    let kept = |(k, _): &(&String, &Value)| !except.contains(&k.as_str());
    a.iter().filter(kept).count() == b.iter().filter(kept).count()
        && a.iter().filter(kept).all(|(k, v)| b.get(k) == Some(v))
}

/// `v` as a map, an empty one if `v` is missing (`null`).
fn object_or_empty<'a>(
    v: &'a Value,
    empty: &'a serde_json::Map<String, Value>,
) -> Option<&'a serde_json::Map<String, Value>> {
    match v {
        Value::Null => Some(empty),
        v => v.as_object(),
    }
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
            p.and_then(|p| field(p, &["spec", "nodeName"]))
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
            fn text<'a>(v: &'a Value, at: &[&str]) -> &'a str {
                field(v, at).and_then(Value::as_str).unwrap_or("")
            }
            let uid = text(new, &["metadata", "uid"]);
            let (node, replaced) = (
                text(new, &["spec", "nodeName"]),
                text(old, &["metadata", "resourceVersion"]),
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
                .and_then(|o| field(o, &["status", "nominatedNodeName"]))
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
                .and_then(|o| field(o, &["metadata", "name"]))
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
    use std::time::Duration;
    use tokio::sync::mpsc;

    fn pending() -> Value {
        json!({
            "metadata": {"uid": "u", "name": "p", "namespace": "d",
                "resourceVersion": "7", "generation": 1, "labels": {"app": "web"}},
            "spec": {"schedulerName": "default-scheduler", "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort",
                "conditions": [{"type": "Initialized", "status": "True"}]},
        })
    }

    /// `pending()` as the API server's binding leaves it (the real one is
    /// checked against a real API server below).
    fn bound() -> Value {
        let mut pod = pending();
        pod["metadata"]["resourceVersion"] = json!("8");
        pod["metadata"]["generation"] = json!(2);
        pod["spec"]["nodeName"] = json!("n1");
        pod["status"]["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "PodScheduled", "status": "True"}));
        pod
    }

    /// Every change riding along with a binding that must take the slow
    /// path: the cache would otherwise keep a pod it read before it.
    fn more_than_a_binding(bound: &Value) -> Vec<(&'static str, Value)> {
        let changed = |what, change: fn(&mut Value)| {
            let mut pod = bound.clone();
            change(&mut pod);
            (what, pod)
        };
        vec![
            changed("a label", |p| p["metadata"]["labels"]["app"] = json!("db")),
            changed("an annotation", |p| {
                p["metadata"]["annotations"] = json!({"note": "x"})
            }),
            changed("deletion", |p| {
                p["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:00Z")
            }),
            changed("an image", |p| {
                p["spec"]["containers"][0]["image"] = json!("busybox")
            }),
            changed("a toleration", |p| {
                p["spec"]["tolerations"] = json!([{"operator": "Exists"}])
            }),
            changed("the start time", |p| {
                p["status"]["startTime"] = json!("2026-12-07T00:00:00Z")
            }),
            changed("the phase", |p| p["status"]["phase"] = json!("Running")),
            changed("a nomination", |p| {
                p["status"]["nominatedNodeName"] = json!("n2")
            }),
            changed("another condition", |p| {
                p["status"]["conditions"][0]["status"] = json!("False")
            }),
            changed("a condition added", |p| {
                p["status"]["conditions"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "Ready", "status": "False"}))
            }),
            changed("a field beside the three", |p| p["kind"] = json!("NotAPod")),
            changed("PodScheduled not True", |p| {
                for c in p["status"]["conditions"].as_array_mut().unwrap() {
                    if c["type"] == "PodScheduled" {
                        c["status"] = json!("False");
                    }
                }
            }),
        ]
    }

    #[test]
    fn a_binding_alone_is_told_from_other_changes() {
        assert!(binding_only(&pending(), &bound()));
        // A relist may show the binding together with later changes.
        for (what, pod) in more_than_a_binding(&bound()) {
            assert!(!binding_only(&pending(), &pod), "{what} went unnoticed");
        }
        // Not a binding at all: still pending, or moved from a node.
        assert!(!binding_only(&pending(), &pending()));
        assert!(!binding_only(&bound(), &bound()));
    }

    #[test]
    fn a_pod_without_a_status_or_conditions_is_bound_all_the_same() {
        let mut pending = pending();
        pending.as_object_mut().unwrap().remove("status");
        let mut bound = pending.clone();
        bound["metadata"]["resourceVersion"] = json!("8");
        bound["spec"]["nodeName"] = json!("n1");
        bound["status"] = json!({"conditions": [{"type": "PodScheduled", "status": "True"}]});
        assert!(binding_only(&pending, &bound));
        // An earlier `PodScheduled: False` (the pod was unschedulable once)
        // turned `True` is the binding too.
        let mut refused = bound.clone();
        refused["metadata"]["resourceVersion"] = json!("7");
        refused["spec"].as_object_mut().unwrap().remove("nodeName");
        refused["status"]["conditions"][0]["status"] = json!("False");
        assert!(binding_only(&refused, &bound));
    }

    /// The pair the pods informer hands the feed for a binding made by the
    /// scheduler's own `binding::bind` against orc's own API server: the
    /// shortcut takes it, and the assumed pod is confirmed. If the server
    /// starts changing anything else on a binding, this fails (and the
    /// shortcut would silently stop firing, as it did while nobody had
    /// noticed the server's `metadata.generation`).
    #[tokio::test]
    async fn the_api_servers_binding_is_taken_by_the_shortcut() {
        const LIMIT: Duration = Duration::from_secs(30);
        let etcd = orc_testkit::Etcd::start();
        let config = orc_apiserver::Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let server = orc_apiserver::Server::bind(config).await.expect("binds");
        let addr = server.local_addr().unwrap();
        let serving = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        let client = Client::new(format!("http://{addr}"));
        let pods = by_kind("v1", "Pod").unwrap();

        // Every notification about pods, in order.
        let mut tasks = JoinSet::new();
        let (tx, mut seen) = mpsc::unbounded_channel();
        let synced = follow(&mut tasks, everything(&client, pods), move |n| {
            let _ = tx.send(n);
        });
        tokio::time::timeout(LIMIT, synced).await.unwrap().unwrap();
        let mut next = async || {
            tokio::time::timeout(LIMIT, seen.recv())
                .await
                .expect("a notification in time")
                .expect("the informer runs")
        };

        let pod = json!({"metadata": {"name": "p", "labels": {"app": "web"},
                "annotations": {"note": "kept"}},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}});
        client.create(pods, Some("default"), &pod).await.unwrap();
        let Notification::Added(added) = next().await else {
            panic!("the pod's creation first");
        };
        let mut cache = Cache::new();
        let info = PodInfo::parse(&added);
        cache.assume(&info, "n1");
        crate::binding::bind(&client, &info, "n1").await.unwrap();
        let Notification::Updated { old, new } = next().await else {
            panic!("the binding's update next");
        };

        assert!(
            binding_only(&old, &new),
            "the binding changed more than binding_only allows:\n{old:#}\n{new:#}"
        );
        for (what, pod) in more_than_a_binding(&new) {
            assert!(!binding_only(&old, &pod), "{what} went unnoticed");
        }
        let replaced = old["metadata"]["resourceVersion"].as_str().unwrap();
        assert!(cache.confirm(&info.uid, "n1", replaced));
        assert!(cache.is_placed(&info.uid) && !cache.is_assumed(&info.uid));
        serving.abort();
    }
}

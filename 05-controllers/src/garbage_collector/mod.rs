//! The garbage collector: deletes objects whose owners are gone, and
//! carries out the cascading a DELETE asked for.
//!
//! A Deployment owns ReplicaSets, which own Pods: each dependent names its
//! owner in `metadata.ownerReferences`. Nothing in the API server follows
//! those references. When a client deletes an owner, the API server only
//! records how the deletion should cascade (`propagationPolicy`, see
//! `orc_client::propagation`), and this controller, like
//! Kubernetes' garbage collector in kube-controller-manager, does the rest:
//!
//! 1. an informer per served resource feeds one [`Graph`] of every
//!    object, indexed by the uids their owner references name;
//! 2. each change queues the uids whose verdict it may change, on a
//!    [`WorkQueue`] (de-duplicated, retried with back-off);
//! 3. a worker judges one object at a time from the state *now*
//!    ([`decide`]), checks with the API server before it believes an
//!    owner is gone (the cache may be behind a create), and acts through
//!    the API: a DELETE with a uid precondition (never a newer object of
//!    the same name), or a patch pinned to the resourceVersion it judged.
//!
//! The chapter's section is "The garbage collector" in
//! `chapters/src/05-controllers.md`.

pub mod decide;
pub mod graph;

use std::sync::{Arc, Mutex};

use orc_client::events::{Note, Recorder};
use orc_client::informer::Notification;
use orc_client::propagation::{FOREGROUND, ORPHAN, Propagation};
use orc_client::resources::{RESOURCES, Resource};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::worker::{self, Action};
use orc_client::informer as informers;

use crate::owners::{self, OwnerRef};
use decide::{OwnerState, OwnerVerdict, Verdict};
pub use graph::{Graph, Node};

/// The controller. Share it in an `Arc`; [`GarbageCollector::run`] drives it.
pub struct GarbageCollector {
    client: Client,
    /// std's Mutex: held for a lookup or an insert, never across an
    /// `.await` (workers clone what they need out of it).
    graph: Mutex<Graph>,
    queue: Arc<WorkQueue>,
    /// Warnings about references that cannot be right
    /// (`OwnerRefInvalidNamespace`), as `garbage-collector-controller`.
    recorder: Recorder,
}

impl GarbageCollector {
    /// A collector that talks to the API through `client`.
    pub fn new(client: Client) -> Arc<GarbageCollector> {
        Arc::new(GarbageCollector {
            recorder: Recorder::new(client.clone(), "garbage-collector-controller"),
            client,
            graph: Mutex::new(Graph::default()),
            queue: Arc::new(WorkQueue::new()),
        })
    }

    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ANCHOR: run
    /// Follows every served resource, and once all have been listed, judges
    /// queued objects with `workers` workers. Runs until dropped (its
    /// informers and workers stop with it).
    pub async fn run(self: Arc<Self>, workers: usize) {
        let mut tasks = JoinSet::new();
        let mut synced = Vec::new();
        // Access reviews are questions, never stored: nothing to follow.
        for resource in RESOURCES.iter().filter(|r| !r.is_review() && r.is_stored()) {
            let gc = self.clone();
            let informer = informers::everything(&self.client, resource);
            synced.push(informers::follow(&mut tasks, informer, move |n| {
                gc.observe(resource, n)
            }));
        }
        // Judging before every resource is listed would take a missing
        // owner for a deleted one more often (the live check would still
        // catch it, at the cost of a request per dependent).
        let gc = self.clone();
        // A verdict never waits on the clock: every change that may alter it
        // arrives as a notification.
        let reconcile = move |uid: String| {
            let gc = gc.clone();
            async move { gc.reconcile(&uid).await.map(|()| Action::await_change()) }
        };
        let queue = ("garbage_collector_attempt_to_delete", self.queue.clone());
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }
    // ANCHOR_END: run

    /// Applies one notification to the graph and queues what it may have
    /// changed.
    fn observe(&self, resource: &'static Resource, notification: Notification) {
        let work = match notification {
            Notification::Added(obj) | Notification::Updated { new: obj, .. } => {
                match Node::of(resource, &obj) {
                    Some(node) => self.graph().upsert(node),
                    None => Vec::new(),
                }
            }
            Notification::Deleted(obj) => match uid_of(&obj) {
                Some(uid) => self.graph().remove(uid),
                None => Vec::new(),
            },
            Notification::Synced => Vec::new(),
        };
        for uid in work {
            self.queue.add(&uid);
        }
    }

    // ANCHOR: reconcile
    /// Judges the object with `uid` as it is now.
    pub async fn reconcile(&self, uid: &str) -> Result<(), ClientError> {
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(()); // gone already
        };
        if node.awaits_collector() {
            let dependents: Vec<Node> = self.graph().dependents(uid).into_iter().cloned().collect();
            let refs: Vec<&Node> = dependents.iter().collect();
            return match decide::deleting_owner(&node, &refs) {
                OwnerVerdict::Wait => Ok(()),
                OwnerVerdict::Orphan(uids) => {
                    for dependent in dependents.iter().filter(|d| uids.contains(&d.uid)) {
                        self.remove_references(dependent, std::slice::from_ref(&node.uid))
                            .await?;
                    }
                    self.remove_finalizer(&node, ORPHAN).await
                }
                OwnerVerdict::RemoveFinalizer(finalizer) => {
                    self.remove_finalizer(&node, finalizer).await
                }
            };
        }
        if node.deleting || node.owners.is_empty() {
            return Ok(()); // on its way out already, or nobody's dependent
        }
        let mut states = Vec::new();
        for owner in &node.owners {
            states.push((owner.uid.clone(), self.owner_state(&node, owner).await?));
        }
        match decide::dependent(&node.finalizers, &states) {
            Verdict::Keep => Ok(()),
            Verdict::RemoveReferences(uids) => self.remove_references(&node, &uids).await,
            Verdict::Delete(policy) => self.delete(&node, policy).await,
        }
    }
    // ANCHOR_END: reconcile

    /// Whether `owner`, referenced by `node`, is there: from the graph when
    /// it knows the uid, else from the API server, because the graph may
    /// not have seen an owner created a moment ago.
    ///
    /// An owner the graph has seen in another namespace is not this
    /// dependent's owner: a warning says so, and the owner is looked for
    /// where it should be (the dependent's namespace), as Kubernetes does.
    async fn owner_state(&self, node: &Node, owner: &OwnerRef) -> Result<OwnerState, ClientError> {
        let dependent_ns = node.namespace.as_deref();
        let known = self.graph().get(&owner.uid).cloned();
        let misplaced = known
            .as_ref()
            .is_some_and(|k| decide::invalid_namespace(dependent_ns, k.namespace.as_deref()));
        if misplaced {
            self.report_invalid_namespace(node, owner).await;
        }
        let Some((resource, ns)) = owners::locate(owner, dependent_ns) else {
            return Ok(OwnerState::Unresolvable);
        };
        if let Some(known) = known.filter(|_| !misplaced) {
            return Ok(state_of(known.deleting, &known.finalizers));
        }
        match self.client.get(resource, ns.as_deref(), &owner.name).await {
            Ok(obj) if uid_of(&obj) == Some(owner.uid.as_str()) => {
                let Some(found) = Node::of(resource, &obj) else {
                    return Ok(OwnerState::Dangling);
                };
                Ok(state_of(found.deleting, &found.finalizers))
            }
            // Another object now has that name: the referenced one is gone.
            Ok(_) => Ok(OwnerState::Dangling),
            Err(e) if e.is_not_found() => Ok(OwnerState::Dangling),
            Err(e) => Err(e),
        }
    }

    /// Records Kubernetes' `OwnerRefInvalidNamespace` warning on `node`,
    /// whose reference `owner` names an object of another namespace (a
    /// repeat only counts up the event).
    async fn report_invalid_namespace(&self, node: &Node, owner: &OwnerRef) {
        let dependent_ns = node.namespace.as_deref();
        tracing::warn!(object = %node.display(), owner = %owner.name,
            "owner reference names an object of another namespace");
        let object = json!({"metadata": {"name": node.name, "namespace": dependent_ns,
            "uid": node.uid}});
        let message = decide::invalid_namespace_message(owner, dependent_ns);
        let note = Note::warning("OwnerRefInvalidNamespace", message);
        let api_version = node.resource.api_version();
        self.recorder
            .record(&object, (&api_version, node.resource.kind), note)
            .await;
    }

    /// Deletes `node` (and only that incarnation of it) with `policy`.
    async fn delete(&self, node: &Node, policy: Propagation) -> Result<(), ClientError> {
        tracing::info!(object = %node.display(), ?policy, "deleting: its owners are gone");
        let options = json!({
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": format!("{policy:?}"),
            "preconditions": {"uid": node.uid},
        });
        let ns = node.namespace.as_deref();
        match self
            .client
            .delete_with(node.resource, ns, &node.name, &options)
            .await
        {
            Ok(_) => Ok(()),
            // Gone already, or the name now belongs to a newer object.
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Drops `node`'s references to the owners with `uids`.
    async fn remove_references(&self, node: &Node, uids: &[String]) -> Result<(), ClientError> {
        self.patch_metadata(node, |meta| {
            let stays = |r: &Value| !uids.iter().any(|u| r.get("uid") == Some(&json!(u)));
            json!({"ownerReferences": kept(meta, "ownerReferences", stays)})
        })
        .await
    }

    /// Removes the collector's `finalizer` from `node`; the API server
    /// deletes an object being deleted once its last finalizer is gone.
    async fn remove_finalizer(&self, node: &Node, finalizer: &str) -> Result<(), ClientError> {
        tracing::info!(object = %node.display(), finalizer, "dependents done; removing finalizer");
        self.patch_metadata(node, |meta| {
            let stays = |f: &Value| f.as_str() != Some(finalizer);
            json!({"finalizers": kept(meta, "finalizers", stays)})
        })
        .await
    }

    /// Reads `node` fresh, and merge-patches the metadata fields `change`
    /// computes from it, pinned to the resourceVersion read: a write in
    /// between answers 409, and the worker retries with a fresh read.
    async fn patch_metadata(
        &self,
        node: &Node,
        change: impl FnOnce(&Value) -> Value,
    ) -> Result<(), ClientError> {
        let ns = node.namespace.as_deref();
        let current = match self.client.get(node.resource, ns, &node.name).await {
            Ok(obj) if uid_of(&obj) == Some(node.uid.as_str()) => obj,
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let meta = current.get("metadata").cloned().unwrap_or(Value::Null);
        let mut patch = change(&meta);
        patch["resourceVersion"] = meta.get("resourceVersion").cloned().unwrap_or(Value::Null);
        let body = json!({"metadata": patch});
        match self
            .client
            .merge_patch(node.resource, ns, &node.name, None, &body)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The entries of the list `meta[field]` for which `stays` holds.
fn kept(meta: &Value, field: &str, stays: impl Fn(&Value) -> bool) -> Vec<Value> {
    meta.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| stays(v))
        .cloned()
        .collect()
}

/// An owner's state from its deletion mark and finalizers.
fn state_of(deleting: bool, finalizers: &[String]) -> OwnerState {
    if deleting && finalizers.iter().any(|f| f == FOREGROUND) {
        OwnerState::Waiting
    } else {
        OwnerState::Solid
    }
}

fn uid_of(obj: &Value) -> Option<&str> {
    Some(crate::object::uid(obj)).filter(|u| !u.is_empty())
}

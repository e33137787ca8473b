//! The disruption controller: keeps every PodDisruptionBudget's status
//! (how many pods are expected, healthy, wanted healthy, and how many
//! disruptions that allows now) for the eviction subresource to spend
//! (Kubernetes' `disruption` controller in kube-controller-manager).
//!
//! Informers on budgets and pods queue a budget when it changes and when
//! a pod it selects does; ReplicaSets, Deployments and StatefulSets are
//! only read, for the scale a pod's controller asks for. A worker
//! computes the status ([`decide`]) and writes it with a
//! compare-and-swap on the budget's resourceVersion: an eviction may
//! have spent a disruption since the cache saw the budget, and the
//! controller must not write back the older allowance. A budget with
//! pending evictions is looked at again when the oldest expires, on the
//! injected clock.
//!
//! Not built: finding the scale of other controllers through their
//! `/scale` subresource (orc serves no other scalable kind), and the
//! clean-up of a `DisruptionTarget` condition left on a pod that was not
//! deleted after all.
//!
//! Layout: `decide.rs` (the counts and the status, pure).

pub mod decide;

use std::sync::Arc;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::selectors::labels::try_from_label_selector;
use orc_client::selectors::labels_of;
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::claims::is_deleting;
use crate::clock::{self, SharedClock};
use crate::object::{key_of, namespace_and_name};
use crate::owners::{OwnerRef, controller_of};
use crate::worker::{self, Action};
use orc_client::informer as informers;

/// The controller. [`DisruptionController::run`] starts it.
pub struct DisruptionController {
    client: Client,
    budgets: Arc<Cache>,
    pods: Arc<Cache>,
    replica_sets: Arc<Cache>,
    deployments: Arc<Cache>,
    stateful_sets: Arc<Cache>,
    queue: Arc<WorkQueue>,
    clock: SharedClock,
    recorder: Recorder,
}

fn resource(group: &str, plural: &str) -> &'static Resource {
    lookup(group, "v1", plural).expect("the resource table serves it")
}

fn budgets() -> &'static Resource {
    resource("policy", "poddisruptionbudgets")
}

impl DisruptionController {
    /// Follows budgets, pods and the scalable workloads through `client`,
    /// and once all are listed, keeps budgets' status with `workers`
    /// workers on `clock` until dropped.
    pub async fn run(client: Client, workers: usize, clock: SharedClock) {
        let budget_informer = informers::everything(&client, budgets());
        let pod_informer = informers::everything(&client, resource("", "pods"));
        let rs_informer = informers::everything(&client, resource("apps", "replicasets"));
        let deploy_informer = informers::everything(&client, resource("apps", "deployments"));
        let sts_informer = informers::everything(&client, resource("apps", "statefulsets"));
        let controller = Arc::new(DisruptionController {
            budgets: budget_informer.cache(),
            pods: pod_informer.cache(),
            replica_sets: rs_informer.cache(),
            deployments: deploy_informer.cache(),
            stateful_sets: sts_informer.cache(),
            recorder: Recorder::new(client.clone(), "controllermanager"),
            queue: Arc::new(WorkQueue::new()),
            client,
            clock,
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let mut synced = vec![informers::follow(&mut tasks, budget_informer, move |n| {
            c.budget_changed(n)
        })];
        let c = controller.clone();
        synced.push(informers::follow(&mut tasks, pod_informer, move |n| {
            c.pod_changed(n)
        }));
        for informer in [rs_informer, deploy_informer, sts_informer] {
            synced.push(informers::follow(&mut tasks, informer, |_| {}));
        }
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("disruption", controller.queue.clone());
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }

    fn budget_changed(&self, notification: Notification) {
        if let Notification::Added(pdb) | Notification::Updated { new: pdb, .. } = notification {
            self.queue.add(&key_of(&pdb));
        }
    }

    /// A pod changed: the budgets of its namespace that select it (before
    /// or after the change) are computed again.
    fn pod_changed(&self, notification: Notification) {
        let (old, new) = match notification {
            Notification::Added(new) => (None, Some(new)),
            Notification::Updated { old, new } => (Some(old), Some(new)),
            Notification::Deleted(old) => (Some(old), None),
            Notification::Synced => return,
        };
        for pod in old.iter().chain(new.iter()) {
            let labels = labels_of(pod);
            let ns = namespace_and_name(pod).0;
            for pdb in self.budgets.in_namespace(ns) {
                if selects(&pdb).is_some_and(|s| s.matches(&labels)) {
                    self.queue.add(&key_of(&pdb));
                }
            }
        }
    }

    // ANCHOR: reconcile
    /// Computes and writes the status of the budget `key`.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(pdb) = self.budgets.get(key).filter(|p| !is_deleting(p)) else {
            return Ok(Action::await_change());
        };
        let (ns, name) = namespace_and_name(&pdb);
        let pods: Vec<Value> = match selects(&pdb) {
            Some(selector) => self
                .pods
                .in_namespace(ns)
                .into_iter()
                .filter(|p| selector.matches(&labels_of(p)))
                .collect(),
            None => Vec::new(),
        };
        if pods.is_empty() {
            let note = Note::normal("NoPods", "No matching pods found".into());
            self.recorder
                .record(&pdb, ("policy/v1", "PodDisruptionBudget"), note)
                .await;
        }
        let now = self.clock.now();
        let find = |owner: &OwnerRef, ns: &str| self.scale_of(owner, ns);
        let status = match decide::counts(&pdb, &pods, &find, now) {
            Ok((counts, pending)) => {
                self.report_expired(&pdb, &pending.expired).await;
                if let Some(due) = pending.recheck {
                    let after = due.duration_since(now).unsigned_abs();
                    clock::requeue_after(&self.clock, &self.queue, key, after);
                }
                decide::status(&pdb, counts, &pending, now)
            }
            Err(why) => {
                tracing::warn!(namespace = ns, budget = name, %why, "cannot count pods");
                let note = Note::warning(
                    "CalculateExpectedPodCountFailed",
                    format!("Failed to calculate the number of expected pods: {why}"),
                );
                self.recorder
                    .record(&pdb, ("policy/v1", "PodDisruptionBudget"), note)
                    .await;
                decide::failed_status(&pdb, &why, now)
            }
        };
        if !decide::changes(&pdb, &status) {
            return Ok(Action::await_change());
        }
        // The resourceVersion makes the write a compare-and-swap: a 409
        // (an eviction spent a disruption meanwhile) retries from the
        // newer budget.
        let patch = json!({"metadata": {"resourceVersion": pdb["metadata"]["resourceVersion"]},
            "status": status});
        match self
            .client
            .merge_patch(budgets(), Some(ns), name, Some("status"), &patch)
            .await
        {
            Err(e) if e.is_not_found() => Ok(Action::await_change()),
            Err(e) => Err(e),
            Ok(_) => Ok(Action::await_change()),
        }
    }
    // ANCHOR_END: reconcile

    /// The controller deciding how many pods an owner reference's
    /// controller wants, and that number: a Deployment through its
    /// ReplicaSet, a ReplicaSet no Deployment owns, a StatefulSet
    /// (Kubernetes' finders; the uids must match, or the owner is gone).
    fn scale_of(&self, owner: &OwnerRef, ns: &str) -> Option<(String, i64)> {
        let replicas = |obj: &Value| obj.pointer("/spec/replicas").and_then(Value::as_i64);
        let matching = |cache: &Cache, name: &str, uid: &str| {
            cache
                .get(&format!("{ns}/{name}"))
                .filter(|o| crate::object::uid(o) == uid)
        };
        let group = owner.api_version.split('/').next().unwrap_or("");
        match (group, owner.kind.as_str()) {
            ("apps", "ReplicaSet") => {
                let rs = matching(&self.replica_sets, &owner.name, &owner.uid)?;
                match controller_of(&rs).filter(|c| c.kind == "Deployment") {
                    Some(d) => {
                        let deployment = matching(&self.deployments, &d.name, &d.uid)?;
                        Some((d.uid, replicas(&deployment).unwrap_or(1)))
                    }
                    None => Some((owner.uid.clone(), replicas(&rs).unwrap_or(1))),
                }
            }
            ("apps", "StatefulSet") => {
                let sts = matching(&self.stateful_sets, &owner.name, &owner.uid)?;
                Some((owner.uid.clone(), replicas(&sts).unwrap_or(1)))
            }
            _ => None,
        }
    }

    /// Says on each pod whose eviction expired that it was not deleted.
    async fn report_expired(&self, pdb: &Value, expired: &[String]) {
        let (ns, name) = namespace_and_name(pdb);
        for pod in expired {
            let Some(pod) = self.pods.get(&format!("{ns}/{pod}")) else {
                continue;
            };
            let note = Note::warning(
                "NotDeleted",
                format!("Pod was expected by PDB {ns}/{name} to be deleted but it wasn't"),
            );
            self.recorder.record(&pod, ("v1", "Pod"), note).await;
        }
    }
}

/// The selector of the budget as the controller reads it: an empty one
/// selects every pod of the namespace, a missing or unreadable one none.
fn selects(pdb: &Value) -> Option<orc_client::selectors::labels::Selector> {
    pdb.pointer("/spec/selector")
        .filter(|s| !s.is_null())
        .and_then(|s| try_from_label_selector(s).ok())
}

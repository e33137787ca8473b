//! The DaemonSet controller: one pod on every eligible node.
//!
//! Kubernetes' `DaemonSetsController`, step by step:
//!
//! 1. informers on DaemonSets, Pods, Nodes and ControllerRevisions; a
//!    change queues the DaemonSets it concerns (a node change: all of
//!    them, since any may now want or refuse that node);
//! 2. a worker reconciles one DaemonSet: it finds or makes the
//!    ControllerRevision of its current template ([`revisions`]), claims
//!    its pods, groups them by the node each is for, judges every node
//!    ([`placement`]), and then, unless creates or deletes are still on
//!    their way ([`Expectations`]), carries out [`decide::manage`] and,
//!    for `RollingUpdate`, [`decide::rolling_update`];
//! 3. old revisions beyond `revisionHistoryLimit` are deleted and the
//!    status observed is written.
//!
//! The pods it creates are not bound: each names its node through
//! required node affinity, and chapter 04's scheduler binds it there
//! (checking resources and ports as for any pod). Deleting a DaemonSet
//! is the garbage collector's business.
//!
//! Layout: `object.rs` (the DaemonSet's fields, its labels),
//! `placement.rs` (which nodes, default tolerations, pinning; lab 05),
//! `pods.rs` (a new pod), `revisions.rs` (ControllerRevisions),
//! `decide.rs` (per-node actions, rolling update, status; pure),
//! `backoff.rs` (the delay between replacements of a failing daemon pod).

pub mod backoff;
pub mod decide;
pub mod object;
pub mod placement;
pub mod pods;
pub mod revisions;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use orc_client::events::{Note, Recorder};
use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, by_kind};
use orc_client::selectors::labels_of;
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::claims::{self, is_deleting};
use crate::clock::SharedClock;
use crate::object::{key_of, namespace_and_name, uid};
use crate::replicaset::Expectations;
use crate::worker::{self, Action};
use backoff::{FailedPodBackoff, Gate};
use decide::{NodePods, Plan, Why};
use object::{DaemonSet, UpdateStrategy};
use orc_client::informer as informers;
use placement::{Placement, target_node};
use revisions::Current;

/// The kind, for events and owner references.
const KIND: (&str, &str) = ("apps/v1", "DaemonSet");

/// The controller. [`DaemonSetController::run`] starts it.
pub struct DaemonSetController {
    client: Client,
    daemonsets: Arc<Cache>,
    pods: Arc<Cache>,
    nodes: Arc<Cache>,
    revisions: Arc<Cache>,
    queue: Arc<WorkQueue>,
    /// Creates and deletes not yet seen in the pod cache: without them a
    /// second reconcile before the informer catches up would give a node
    /// two pods.
    expectations: Expectations,
    /// Events, repeats folded.
    recorder: Recorder,
    /// The time `minReadySeconds` and the failed-pod back-off are
    /// measured on (a test's `ManualClock` jumps over the back-off).
    clock: SharedClock,
    /// The delay per (DaemonSet, node) before a failed pod is replaced.
    failed_backoff: FailedPodBackoff,
}

fn resource(api_version: &str, kind: &str) -> &'static Resource {
    by_kind(api_version, kind).expect("the resource table serves this kind")
}

fn daemonsets() -> &'static Resource {
    resource("apps/v1", "DaemonSet")
}

fn pods_resource() -> &'static Resource {
    resource("v1", "Pod")
}

fn revisions_resource() -> &'static Resource {
    resource("apps/v1", "ControllerRevision")
}

impl DaemonSetController {
    // ANCHOR: run
    /// Follows DaemonSets, Pods, Nodes and ControllerRevisions through
    /// `client`, and once all are listed, reconciles with `workers`
    /// workers until dropped.
    pub async fn run(client: Client, workers: usize, clock: SharedClock) {
        let ds_informer = informers::everything(&client, daemonsets());
        let pod_informer = informers::everything(&client, pods_resource());
        let node_informer = informers::everything(&client, resource("v1", "Node"));
        let rev_informer = informers::everything(&client, revisions_resource());
        let controller = Arc::new(DaemonSetController {
            daemonsets: ds_informer.cache(),
            pods: pod_informer.cache(),
            nodes: node_informer.cache(),
            revisions: rev_informer.cache(),
            recorder: Recorder::new(client.clone(), "daemonset-controller"),
            client,
            queue: Arc::new(WorkQueue::new()),
            expectations: Expectations::default(),
            clock,
            failed_backoff: FailedPodBackoff::default(),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let synced = vec![
            informers::follow(&mut tasks, ds_informer, move |n| c.daemonset_changed(n)),
            {
                let c = controller.clone();
                informers::follow(&mut tasks, pod_informer, move |n| c.pod_changed(n))
            },
            {
                let c = controller.clone();
                informers::follow(&mut tasks, node_informer, move |n| c.node_changed(n))
            },
            {
                let c = controller.clone();
                informers::follow(&mut tasks, rev_informer, move |n| c.revision_changed(n))
            },
        ];
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("daemonset", controller.queue.clone());
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }
    // ANCHOR_END: run

    fn daemonset_changed(&self, notification: Notification) {
        match notification {
            Notification::Added(ds) | Notification::Updated { new: ds, .. } => {
                self.queue.add(&key_of(&ds))
            }
            Notification::Deleted(ds) => {
                let key = key_of(&ds);
                self.expectations.forget(&key);
                self.queue.add(&key);
            }
            Notification::Synced => {}
        }
    }

    /// Queues the DaemonSet a pod change concerns, and counts it against
    /// its expectations; an orphan queues the DaemonSets that may adopt it.
    fn pod_changed(&self, notification: Notification) {
        let key_of_pod = |pod: &Value| claims::controller_key(&self.daemonsets, pod, "DaemonSet");
        match notification {
            Notification::Added(pod) => match key_of_pod(&pod) {
                Some(key) => {
                    self.expectations.creation_observed(&key);
                    self.queue.add(&key);
                }
                None => self.queue_selecting(&pod),
            },
            Notification::Updated { old, new } => {
                let (was, is) = (key_of_pod(&old), key_of_pod(&new));
                if let Some(key) = &is {
                    if is_deleting(&new) && !is_deleting(&old) {
                        self.expectations.deletion_observed(key, uid(&new));
                    }
                    self.queue.add(key);
                }
                if let Some(key) = was.filter(|w| Some(w) != is.as_ref()) {
                    self.queue.add(&key);
                }
                if is.is_none() && labels_of(&old) != labels_of(&new) {
                    self.queue_selecting(&new);
                }
            }
            Notification::Deleted(pod) => {
                if let Some(key) = key_of_pod(&pod) {
                    self.expectations.deletion_observed(&key, uid(&pod));
                    self.queue.add(&key);
                }
            }
            Notification::Synced => {}
        }
    }

    fn queue_selecting(&self, pod: &Value) {
        for key in claims::selecting(&self.daemonsets, pod) {
            self.queue.add(&key);
        }
    }

    /// A node that came, went, or changed its labels, taints or
    /// schedulability may now want, or refuse, any DaemonSet's pod.
    /// Heartbeats (status only) change none of that and queue nothing.
    fn node_changed(&self, notification: Notification) {
        let relevant = match &notification {
            Notification::Added(_) | Notification::Deleted(_) => true,
            Notification::Updated { old, new } => {
                labels_of(old) != labels_of(new) || old.get("spec") != new.get("spec")
            }
            Notification::Synced => false,
        };
        if relevant {
            for ds in self.daemonsets.list() {
                self.queue.add(&key_of(&ds));
            }
        }
    }

    /// A revision changed or went: its DaemonSet looks again.
    fn revision_changed(&self, notification: Notification) {
        if let Notification::Added(rev)
        | Notification::Updated { new: rev, .. }
        | Notification::Deleted(rev) = notification
        {
            if let Some(key) = claims::controller_key(&self.daemonsets, &rev, "DaemonSet") {
                self.queue.add(&key);
            }
        }
    }

    // ANCHOR: reconcile
    /// Brings the DaemonSet `key` towards one pod of its current revision
    /// on each eligible node, and writes what it observed to its status.
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(ds) = self.daemonsets.get(key) else {
            self.expectations.forget(key);
            return Ok(Action::await_change()); // deleted: its pods are the garbage collector's
        };
        if is_deleting(&ds) {
            return Ok(Action::await_change());
        }
        let revisions = self.revisions_of(&ds);
        let Some(current) = self.ensure_current_revision(&ds, &revisions).await? else {
            // A name collision: the status now counts it, and its update
            // queues the DaemonSet again under a new hash.
            return Ok(Action::await_change());
        };
        let hash = current.hash().to_string();
        let (may_act, owned) = self.claim_pods(key, &ds).await?;
        let nodes = self.nodes_and_pods(&ds, &owned).await;
        let now = self.clock.now();
        let counts = decide::count(&nodes, &ds, &hash, now);
        if may_act {
            let plan = plan(&nodes, &ds, &hash, counts.desired, now);
            let plan = self.hold_failed(key, &ds, plan, now);
            self.carry_out(key, &ds, &hash, plan).await?;
            self.clean_up_history(&ds, &revisions, current.name(), &owned)
                .await?;
        }
        self.write_status(&ds, &decide::status(&ds, &counts))
            .await?;
        Ok(match decide::next_availability(&nodes, &ds, now) {
            Some(seconds) => Action::requeue(Duration::from_secs(seconds as u64)),
            None => Action::await_change(),
        })
    }
    // ANCHOR_END: reconcile

    // ANCHOR: hold_failed
    /// Takes out of `plan` the failed pods whose node's back-off has not
    /// passed, and looks at `key` again when the first of them has (on
    /// the controller's clock). The others go, each with a
    /// `FailedDaemonPod` event (`delete_pod`).
    fn hold_failed<'a>(
        &self,
        key: &str,
        ds: &Value,
        mut plan: Plan<'a>,
        now: Timestamp,
    ) -> Plan<'a> {
        let mut again: Option<Duration> = None;
        plan.delete.retain(|(pod, why)| {
            if *why != Why::Failed {
                return true;
            }
            let pair = backoff::key(uid(ds), target_node(pod).unwrap_or(""));
            match self.failed_backoff.gate(&pair, now) {
                Gate::Delete => true,
                Gate::Wait(after) => {
                    again = Some(again.map_or(after, |a| a.min(after)));
                    false
                }
            }
        });
        if let Some(after) = again {
            crate::clock::requeue_after(&self.clock, &self.queue, key, after);
        }
        plan
    }
    // ANCHOR_END: hold_failed

    /// The ControllerRevisions `ds` controls.
    fn revisions_of(&self, ds: &Value) -> Vec<Value> {
        let (ns, _) = namespace_and_name(ds);
        self.revisions
            .in_namespace(ns)
            .into_iter()
            .filter(|r| crate::owners::controller_of(r).is_some_and(|c| c.uid == uid(ds)))
            .collect()
    }

    // ANCHOR: ensure_current_revision
    /// Makes sure the revision of `ds`'s template exists and is the
    /// newest. `None` after a name collision (another template's revision
    /// has this hash's name): `status.collisionCount` is raised so the
    /// next hash differs, as in Kubernetes.
    async fn ensure_current_revision(
        &self,
        ds: &Value,
        revisions: &[Value],
    ) -> Result<Option<Current>, ClientError> {
        let current = revisions::current(ds, revisions);
        let (ns, _) = namespace_and_name(ds);
        match &current {
            Current::Exists { .. } => {}
            Current::Renumber { name, number, .. } => {
                let patch = json!({"revision": number});
                self.client
                    .merge_patch(revisions_resource(), Some(ns), name, None, &patch)
                    .await?;
            }
            Current::Create { revision, .. } => {
                match self
                    .client
                    .create(revisions_resource(), Some(ns), revision)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if e.is_conflict() => {
                        // Taken: by this very revision (the cache lags), or
                        // by another one.
                        let name = current.name();
                        let theirs = self
                            .client
                            .get(revisions_resource(), Some(ns), name)
                            .await?;
                        let ours =
                            crate::owners::controller_of(&theirs).is_some_and(|c| c.uid == uid(ds));
                        if !(ours && theirs.get("data") == revision.get("data")) {
                            let count = DaemonSet(ds).collision_count() + 1;
                            let patch = json!({"status": {"collisionCount": count}});
                            let ds_name = namespace_and_name(ds).1;
                            self.client
                                .merge_patch(
                                    daemonsets(),
                                    Some(ns),
                                    ds_name,
                                    Some("status"),
                                    &patch,
                                )
                                .await?;
                            return Ok(None);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Some(current))
    }
    // ANCHOR_END: ensure_current_revision

    /// Whether the DaemonSet `key` may create and delete pods (its
    /// expectations, read first: see `satisfied_before`), and the pods
    /// `ds` owns after adopting and releasing, finished ones included
    /// (they are replaced, and must be counted to be).
    async fn claim_pods(&self, key: &str, ds: &Value) -> Result<(bool, Vec<Value>), ClientError> {
        let (ns, _) = namespace_and_name(ds);
        let (may_act, candidates) = self
            .expectations
            .satisfied_before(key, Instant::now(), || self.pods.in_namespace(ns));
        let owned =
            claims::claim_all(&self.client, pods_resource(), (ds, "DaemonSet"), candidates).await?;
        Ok((may_act, owned))
    }

    /// Every node with what it means for `ds` and the pods meant for it,
    /// then the nodes that are gone but still have pods. A template whose
    /// node affinity cannot be read fits no node, and says so in an event.
    async fn nodes_and_pods<'a>(&self, ds: &Value, owned: &'a [Value]) -> Vec<NodePods<'a>> {
        let mut by_node: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        for pod in owned {
            if let Some(node) = target_node(pod) {
                by_node.entry(node).or_default().push(pod);
            }
        }
        let spec = pods::daemon_spec(ds);
        let mut nodes = Vec::new();
        let mut problem = None;
        let mut listed = self.nodes.list();
        listed.sort_by(|a, b| namespace_and_name(a).1.cmp(namespace_and_name(b).1));
        for node in &listed {
            let name = namespace_and_name(node).1;
            let placement = placement::placement(&spec, node).unwrap_or_else(|e| {
                problem = Some(e);
                Placement {
                    should_run: false,
                    should_continue_running: false,
                }
            });
            nodes.push(NodePods {
                node: name.to_string(),
                placement: Some(placement),
                pods: by_node.remove(name).unwrap_or_default(),
            });
        }
        for (node, pods) in by_node {
            nodes.push(NodePods {
                node: node.to_string(),
                placement: None,
                pods,
            });
        }
        if let Some(problem) = problem {
            let message = format!("the pod template's node affinity cannot be read: {problem}");
            self.recorder
                .record(ds, KIND, Note::warning("FailedPlacement", message))
                .await;
        }
        nodes
    }

    // ANCHOR: carry_out
    /// Creates and deletes what `plan` says, counting each against the
    /// expectations of `key` before the API sees it.
    async fn carry_out(
        &self,
        key: &str,
        ds: &Value,
        hash: &str,
        plan: Plan<'_>,
    ) -> Result<(), ClientError> {
        if plan.create_on.is_empty() && plan.delete.is_empty() {
            return Ok(());
        }
        let uids: Vec<String> = plan
            .delete
            .iter()
            .map(|(p, _)| uid(p).to_string())
            .collect();
        let creates = plan.create_on.len() as i64;
        self.expectations
            .expect(key, creates, &uids, Instant::now());
        let (ns, _) = namespace_and_name(ds);
        let mut first_error = None;
        for (pod, why) in plan.delete {
            if let Err(e) = self.delete_pod(ds, pod, why).await {
                // No event will say it went: count it now.
                self.expectations.deletion_observed(key, uid(pod));
                if !(e.is_not_found() || e.is_conflict()) {
                    first_error.get_or_insert(e);
                }
            }
        }
        let made = plan
            .create_on
            .iter()
            .map(|node| pods::new_pod(ds, node, hash))
            .collect::<Vec<_>>();
        let results = futures::future::join_all(
            made.iter()
                .map(|pod| self.client.create(pods_resource(), Some(ns), pod)),
        )
        .await;
        for result in results {
            match result {
                Ok(pod) => {
                    let message = format!("Created pod: {}", namespace_and_name(&pod).1);
                    self.recorder
                        .record(ds, KIND, Note::normal("SuccessfulCreate", message))
                        .await;
                }
                Err(e) => {
                    // A failed create will not arrive either.
                    self.expectations.creation_observed(key);
                    let message = format!("Error creating: {e}");
                    self.recorder
                        .record(ds, KIND, Note::warning("FailedCreate", message))
                        .await;
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
    // ANCHOR_END: carry_out

    /// Deletes one pod, pinned to its uid; the pod of a vanished node at
    /// once (grace 0), since no agent is left to stop it.
    async fn delete_pod(&self, ds: &Value, pod: &Value, why: Why) -> Result<(), ClientError> {
        let (ns, name) = namespace_and_name(pod);
        if why == Why::Failed {
            let node = target_node(pod).unwrap_or("");
            let message =
                format!("Found failed daemon pod {ns}/{name} on node {node}, will try to kill it");
            self.recorder
                .record(ds, KIND, Note::warning("FailedDaemonPod", message))
                .await;
        }
        let mut options = json!({"preconditions": {"uid": uid(pod)}});
        if why == Why::NodeGone {
            options["gracePeriodSeconds"] = json!(0);
        }
        self.client
            .delete_with(pods_resource(), Some(ns), name, &options)
            .await?;
        let message = format!("Deleted pod: {name}");
        self.recorder
            .record(ds, KIND, Note::normal("SuccessfulDelete", message))
            .await;
        Ok(())
    }

    /// Deletes the revisions of `ds` beyond its history limit.
    async fn clean_up_history(
        &self,
        ds: &Value,
        revisions: &[Value],
        current: &str,
        owned: &[Value],
    ) -> Result<(), ClientError> {
        let live: BTreeSet<String> = owned
            .iter()
            .filter_map(|p| revisions::hash_label(p).map(String::from))
            .collect();
        for old in revisions::history_to_delete(ds, revisions, current, &live) {
            let (ns, name) = namespace_and_name(old);
            match self
                .client
                .delete(revisions_resource(), Some(ns), name)
                .await
            {
                Err(e) if !e.is_not_found() => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    async fn write_status(&self, ds: &Value, wanted: &Value) -> Result<(), ClientError> {
        let Some(patch) = decide::status_patch(ds.get("status"), wanted) else {
            return Ok(());
        };
        let (ns, name) = namespace_and_name(ds);
        match self
            .client
            .merge_patch(daemonsets(), Some(ns), name, Some("status"), &patch)
            .await
        {
            Err(e) if !e.is_not_found() => Err(e),
            _ => Ok(()),
        }
    }
}

// ANCHOR: plan
/// What to do for `ds` over `nodes`, for `desired` eligible nodes: pass 1,
/// and only when it has nothing to do, pass 2. As in Kubernetes, which
/// checks its expectations again between the two: a node whose old pod
/// just went has no pod at all for a moment, and the rolling update would
/// count it as available and take a second node's pod.
fn plan<'a>(
    nodes: &[NodePods<'a>],
    ds: &Value,
    hash: &str,
    desired: i64,
    now: Timestamp,
) -> Plan<'a> {
    let strategy = DaemonSet(ds).strategy(desired);
    let surge =
        matches!(strategy, UpdateStrategy::RollingUpdate { max_surge, .. } if max_surge > 0);
    let plan = decide::manage(nodes, ds, hash, surge, now);
    match strategy {
        UpdateStrategy::RollingUpdate {
            max_unavailable,
            max_surge,
        } if plan == Plan::default() => {
            decide::rolling_update(nodes, ds, hash, (max_unavailable, max_surge), now)
        }
        _ => plan,
    }
}
// ANCHOR_END: plan

//! The endpoint controllers: which pods are behind each Service, written
//! as EndpointSlices and as the older Endpoints object.
//!
//! Kubernetes runs these two controllers in kube-controller-manager. orc
//! keeps them here, in chapter 06's crate, because the book teaches them
//! with Services: a Service means nothing until its endpoints exist, and
//! the proxy on each node reads exactly what these controllers write.
//! They are controllers like chapter 05's (informers, a work queue, a
//! level-triggered reconcile per Service, built from `orc-controllers`'
//! worker and informer parts) and reach the cluster only through the API;
//! `orc server` starts them beside chapter 05's.
//!
//! Per Service key (`namespace/name`) there are two reconciles, each
//! deciding in pure functions and acting in a few API calls:
//!
//! - **EndpointSlices** ([`slices`]): the Service's [`backends`] cut into
//!   slices of at most 100, written as the smallest set of creates,
//!   updates and deletes;
//! - **Endpoints** ([`subsets`]): the same backends as one object.
//!
//! A Service without a selector is left alone: its endpoints are written
//! by hand (or, for `kubernetes`, by the API server). The slices name the
//! Service as their controlling owner, so deleting the Service deletes
//! them through the garbage collector; this controller deletes them too,
//! so a cluster without chapter 05's collector is not left with them.

pub mod backends;
pub mod slices;
pub mod subsets;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orc_client::informer as informers;
use orc_client::informer::{Cache, Notification, key_of};
use orc_client::resources::{Resource, by_kind};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use orc_controllers::metrics::ControllerMetrics;
use orc_controllers::worker::{self, Action};
use serde_json::Value;
use tokio::task::JoinSet;

use slices::{MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL};

/// How soon a Service is looked at again when the cache has not yet seen
/// the slices this controller created for it.
const STALE_RETRY: Duration = Duration::from_millis(200);

fn resource(api_version: &str, kind: &str) -> &'static Resource {
    by_kind(api_version, kind).expect("the resource table serves every kind the controllers use")
}

/// Both controllers, sharing their informers.
pub struct EndpointControllers {
    client: Client,
    services: Arc<Cache>,
    pods: Arc<Cache>,
    /// Only the slices this controller manages (a label selector).
    slices: Arc<Cache>,
    endpoints: Arc<Cache>,
    slice_queue: Arc<WorkQueue>,
    endpoints_queue: Arc<WorkQueue>,
    /// Slices created per Service that the cache has not shown yet.
    /// Kubernetes' `EndpointSliceTracker` does this: a reconcile from a
    /// cache without them would create them a second time (a create by
    /// `generateName` never conflicts). A std `Mutex`: held for a lookup,
    /// never across an `.await`.
    created: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl EndpointControllers {
    // ANCHOR: run
    /// Follows Services, Pods, EndpointSlices and Endpoints through
    /// `client`, and once all are listed reconciles each Service's slices
    /// and Endpoints with `workers` workers each, until dropped.
    pub async fn run(client: Client, workers: usize) {
        let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
        let service_informer = informers::everything(&client, resource("v1", "Service"));
        let pod_informer = informers::everything(&client, resource("v1", "Pod"));
        let slice_informer = orc_client::informer::Informer::new(
            client.clone(),
            resource("discovery.k8s.io/v1", "EndpointSlice"),
            None,
            &selector,
        );
        let endpoints_informer = informers::everything(&client, resource("v1", "Endpoints"));
        let controllers = Arc::new(EndpointControllers {
            client,
            services: service_informer.cache(),
            pods: pod_informer.cache(),
            slices: slice_informer.cache(),
            endpoints: endpoints_informer.cache(),
            slice_queue: Arc::new(WorkQueue::new()),
            endpoints_queue: Arc::new(WorkQueue::new()),
            created: Mutex::default(),
        });
        // On the manager's /metrics under Kubernetes' queue names, when a
        // manager runs them (`orc server`).
        ControllerMetrics::register_queue("endpoint_slice", &controllers.slice_queue);
        ControllerMetrics::register_queue("endpoint", &controllers.endpoints_queue);
        let mut tasks = JoinSet::new();
        let c = controllers.clone();
        let mut synced = vec![informers::follow(&mut tasks, service_informer, move |n| {
            c.service_changed(n)
        })];
        let c = controllers.clone();
        synced.push(informers::follow(&mut tasks, pod_informer, move |n| {
            c.pod_changed(n)
        }));
        let c = controllers.clone();
        synced.push(informers::follow(&mut tasks, slice_informer, move |n| {
            c.slice_changed(n)
        }));
        let c = controllers.clone();
        synced.push(informers::follow(
            &mut tasks,
            endpoints_informer,
            move |n| c.endpoints_changed(n),
        ));
        if !informers::wait_for_sync(synced).await {
            return;
        }
        for _ in 0..workers.max(1) {
            let c = controllers.clone();
            tasks.spawn(worker::work(
                "endpointslice",
                controllers.slice_queue.clone(),
                move |key| {
                    let c = c.clone();
                    async move { c.reconcile_slices(&key).await }
                },
            ));
            let c = controllers.clone();
            tasks.spawn(worker::work(
                "endpoints",
                controllers.endpoints_queue.clone(),
                move |key| {
                    let c = c.clone();
                    async move { c.reconcile_endpoints(&key).await }
                },
            ));
        }
        while tasks.join_next().await.is_some() {}
    }
    // ANCHOR_END: run

    /// Queues `key` for both reconciles.
    fn queue(&self, key: &str) {
        self.slice_queue.add(key);
        self.endpoints_queue.add(key);
    }

    fn service_changed(&self, notification: Notification) {
        match notification {
            Notification::Added(svc)
            | Notification::Updated { new: svc, .. }
            | Notification::Deleted(svc) => self.queue(&key_of(&svc)),
            Notification::Synced => {}
        }
    }

    // ANCHOR: pod_changed
    /// Queues every Service that selected the pod before or selects it
    /// now: a pod whose labels change may move from one to another.
    fn pod_changed(&self, notification: Notification) {
        let pods: Vec<Arc<Value>> = match notification {
            Notification::Added(pod) | Notification::Deleted(pod) => vec![pod],
            Notification::Updated { old, new } => vec![old, new],
            Notification::Synced => return,
        };
        let ns = pods[0]["metadata"]["namespace"].as_str().unwrap_or("");
        for svc in self.services.in_namespace(ns) {
            if pods.iter().any(|pod| backends::selects(&svc, pod)) {
                self.queue(&key_of(&svc));
            }
        }
    }
    // ANCHOR_END: pod_changed

    /// A slice changed (perhaps by hand): its Service is looked at again.
    fn slice_changed(&self, notification: Notification) {
        let slice = match notification {
            Notification::Added(s)
            | Notification::Updated { new: s, .. }
            | Notification::Deleted(s) => s,
            Notification::Synced => return,
        };
        if let Some(key) = service_key_of_slice(&slice) {
            self.slice_queue.add(&key);
        }
    }

    /// An Endpoints object changed: its Service, if there is one, is
    /// looked at again. (One without a Service is someone else's.)
    fn endpoints_changed(&self, notification: Notification) {
        let endpoints = match notification {
            Notification::Added(e)
            | Notification::Updated { new: e, .. }
            | Notification::Deleted(e) => e,
            Notification::Synced => return,
        };
        let key = key_of(&endpoints);
        if self.services.get(&key).is_some() {
            self.endpoints_queue.add(&key);
        }
    }

    /// The slices this controller manages for the Service `key`.
    fn managed_slices(&self, key: &str) -> Vec<Value> {
        let (ns, name) = key.split_once('/').unwrap_or(("", key));
        self.slices
            .in_namespace(ns)
            .into_iter()
            .filter(|s| s["metadata"]["labels"][SERVICE_NAME_LABEL] == name)
            .collect()
    }

    /// Whether slices created for `key` are still missing from the cache
    /// (forgetting those that have arrived).
    fn cache_is_behind(&self, key: &str, cached: &[Value]) -> bool {
        let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        let Some(names) = created.get_mut(key) else {
            return false;
        };
        names.retain(|name| !cached.iter().any(|s| s["metadata"]["name"] == *name));
        if names.is_empty() {
            created.remove(key);
            return false;
        }
        true
    }

    // ANCHOR: reconcile_slices
    /// Makes the Service `key`'s slices hold its backends.
    async fn reconcile_slices(&self, key: &str) -> Result<Action, ClientError> {
        let existing = self.managed_slices(key);
        let Some(svc) = self.services.get(key) else {
            // The Service is gone; so are its slices (the garbage
            // collector would delete them too: they name it as owner).
            for slice in &existing {
                self.delete(resource("discovery.k8s.io/v1", "EndpointSlice"), slice)
                    .await?;
            }
            return Ok(Action::await_change());
        };
        if backends::selector(&svc).is_none() {
            return Ok(Action::await_change());
        }
        if self.cache_is_behind(key, &existing) {
            return Ok(Action::requeue(STALE_RETRY));
        }
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or("");
        let backends = backends::backends(&svc, &self.pods.in_namespace(ns));
        let plan = slices::without_unchanged(slices::plan(&svc, &backends, &existing), &existing);
        let kind = resource("discovery.k8s.io/v1", "EndpointSlice");
        for slice in &plan.delete {
            self.delete(kind, slice).await?;
        }
        for slice in &plan.update {
            self.client.update(kind, Some(ns), slice).await?;
        }
        for slice in &plan.create {
            let created = self.client.create(kind, Some(ns), slice).await?;
            let name = created["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let mut tracked = self.created.lock().unwrap_or_else(|p| p.into_inner());
            tracked.entry(key.to_string()).or_default().insert(name);
        }
        if !plan.is_empty() {
            tracing::debug!(
                service = key,
                created = plan.create.len(),
                updated = plan.update.len(),
                deleted = plan.delete.len(),
                "endpoint slices written"
            );
        }
        Ok(Action::await_change())
    }
    // ANCHOR_END: reconcile_slices

    /// Makes the Service `key`'s Endpoints hold its backends.
    async fn reconcile_endpoints(&self, key: &str) -> Result<Action, ClientError> {
        let kind = resource("v1", "Endpoints");
        let stored = self.endpoints.get(key);
        let Some(svc) = self.services.get(key) else {
            if let Some(stored) = stored {
                self.delete(kind, &stored).await?;
            }
            return Ok(Action::await_change());
        };
        if backends::selector(&svc).is_none() {
            return Ok(Action::await_change());
        }
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or("");
        let backends = backends::backends(&svc, &self.pods.in_namespace(ns));
        let desired = subsets::desired(&svc, &backends);
        match stored {
            None => {
                self.client.create(kind, Some(ns), &desired).await?;
            }
            Some(stored) => {
                if let Some(next) = subsets::updated(&stored, &desired) {
                    self.client.update(kind, Some(ns), &next).await?;
                }
            }
        }
        Ok(Action::await_change())
    }

    /// Deletes `obj`; already gone is fine.
    async fn delete(&self, kind: &Resource, obj: &Value) -> Result<(), ClientError> {
        let ns = obj["metadata"]["namespace"].as_str();
        let name = obj["metadata"]["name"].as_str().unwrap_or("");
        match self.client.delete(kind, ns, name).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The key of the Service a slice belongs to, from its label.
fn service_key_of_slice(slice: &Value) -> Option<String> {
    let ns = slice.pointer("/metadata/namespace")?.as_str()?;
    let name = slice
        .pointer("/metadata/labels")?
        .get(SERVICE_NAME_LABEL)?
        .as_str()?;
    Some(format!("{ns}/{name}"))
}

//! The root CA publisher: every namespace has a ConfigMap
//! `kube-root-ca.crt` holding the cluster's CA bundle.
//!
//! A pod that calls the API server with its token must check the server's
//! certificate, so it needs the CA that signed it. The API server's
//! `ServiceAccount` admission step mounts `ca.crt` from this ConfigMap
//! into every pod (beside the token and the namespace); this controller
//! makes sure the ConfigMap is there, in every namespace, and says what
//! it should. Kubernetes' `root-ca-cert-publisher` (in
//! kube-controller-manager, given `--root-ca-file`) does the same with
//! the same two informers: a namespace added or changed, or the ConfigMap
//! changed or deleted, queues the namespace; a reconcile creates or
//! repairs the ConfigMap when `decide.rs` says so. An edit by hand is
//! undone at once; a new CA reaches every namespace when the controller
//! is restarted with it.

pub mod decide;

use std::sync::Arc;

use orc_client::informer::{Cache, Informer, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use tokio::task::JoinSet;

use crate::worker::{self, Action};
use decide::Verdict;
use orc_client::informer as informers;

fn namespaces() -> &'static Resource {
    lookup("", "v1", "namespaces").expect("the resource table serves Namespaces")
}

fn config_maps() -> &'static Resource {
    lookup("", "v1", "configmaps").expect("the resource table serves ConfigMaps")
}

/// The controller. [`RootCaPublisher::run`] starts it.
pub struct RootCaPublisher {
    client: Client,
    /// The CA bundle (PEM) every namespace's ConfigMap holds.
    ca: String,
    /// Every namespace: only namespaces that exist get a ConfigMap.
    namespaces: Arc<Cache>,
    /// Every `kube-root-ca.crt` ConfigMap (keys `namespace/name`); the
    /// informer asks for that name only, as Kubernetes' does, so the
    /// cluster's other ConfigMaps are never held here.
    config_maps: Arc<Cache>,
    /// Namespaces to look at.
    queue: Arc<WorkQueue>,
}

impl RootCaPublisher {
    /// Publishes `ca` (PEM) in every namespace through `client` until
    /// dropped, with `workers` namespaces reconciled at once.
    pub async fn run(client: Client, ca: String, workers: usize) {
        let ns_informer = informers::everything(&client, namespaces());
        let cm_informer = Informer::new(client.clone(), config_maps(), None, "")
            .with_field_selector(&format!("metadata.name={}", decide::NAME));
        let controller = Arc::new(RootCaPublisher {
            namespaces: ns_informer.cache(),
            config_maps: cm_informer.cache(),
            client,
            ca,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let ns_synced = informers::follow(&mut tasks, ns_informer, move |n| c.namespace_changed(n));
        let c = controller.clone();
        let cm_synced =
            informers::follow(&mut tasks, cm_informer, move |n| c.config_map_changed(n));
        let c = controller.clone();
        let reconcile = move |ns: String| {
            let c = c.clone();
            async move { c.reconcile(&ns).await }
        };
        let queue = ("root_ca_cert_publisher", controller.queue.clone());
        let synced = vec![ns_synced, cm_synced];
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }

    /// A namespace added or changed may need its ConfigMap.
    fn namespace_changed(&self, notification: Notification) {
        if let Notification::Added(ns) | Notification::Updated { new: ns, .. } = notification {
            self.queue.add(&informers::key_of(&ns));
        }
    }

    /// The ConfigMap made, edited or deleted by someone else is checked
    /// and put back.
    fn config_map_changed(&self, notification: Notification) {
        let cm = match notification {
            Notification::Added(cm) | Notification::Deleted(cm) => cm,
            Notification::Updated { new, .. } => new,
            _ => return,
        };
        if let Some(ns) = cm.pointer("/metadata/namespace").and_then(|n| n.as_str()) {
            self.queue.add(ns);
        }
    }

    // ANCHOR: reconcile
    /// Creates or repairs namespace `ns`'s `kube-root-ca.crt`.
    pub async fn reconcile(&self, ns: &str) -> Result<Action, ClientError> {
        let Some(namespace) = self.namespaces.get(ns) else {
            return Ok(Action::await_change());
        };
        if namespace.pointer("/metadata/deletionTimestamp").is_some() {
            // Being emptied: the API server refuses creates in it.
            return Ok(Action::await_change());
        }
        let current = self.config_maps.get(&format!("{ns}/{}", decide::NAME));
        let written = match decide::decide(current.as_ref(), &self.ca) {
            Verdict::InSync => return Ok(Action::await_change()),
            Verdict::Create(cm) => self.client.create(config_maps(), Some(ns), &cm).await,
            Verdict::Update(cm) => self.client.update(config_maps(), Some(ns), &cm).await,
        };
        match written {
            // 409: the cache lagged behind a write; the watch event that
            // catches it up queues the namespace again. 403/404: the
            // namespace is going or gone.
            Ok(_) => Ok(Action::await_change()),
            Err(e) if matches!(e.code(), Some(409 | 403 | 404)) => Ok(Action::await_change()),
            Err(e) => Err(e),
        }
    }
    // ANCHOR_END: reconcile
}

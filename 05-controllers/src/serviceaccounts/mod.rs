//! The ServiceAccounts controller: every namespace has a `default`
//! ServiceAccount.
//!
//! A pod that names no ServiceAccount runs as `default`, so every
//! namespace needs one, including namespaces made after the cluster
//! started and namespaces whose `default` someone deleted. Kubernetes'
//! `serviceaccounts-controller` (in kube-controller-manager) does this
//! with two informers, and so does this one: a namespace added, or a
//! `default` ServiceAccount deleted, queues the namespace; a reconcile
//! creates the account when `decide.rs` says it is missing.

pub mod decide;

use std::sync::Arc;

use orc_client::informer::{Cache, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use tokio::task::JoinSet;

use crate::worker::{self, Action};
use orc_client::informer as informers;

fn namespaces() -> &'static Resource {
    lookup("", "v1", "namespaces").expect("the resource table serves Namespaces")
}

fn service_accounts() -> &'static Resource {
    lookup("", "v1", "serviceaccounts").expect("the resource table serves ServiceAccounts")
}

/// The controller. [`ServiceAccountsController::run`] starts it.
pub struct ServiceAccountsController {
    client: Client,
    /// Every namespace.
    namespaces: Arc<Cache>,
    /// Every ServiceAccount (keys `namespace/name`).
    accounts: Arc<Cache>,
    /// Namespaces to look at.
    queue: Arc<WorkQueue>,
}

impl ServiceAccountsController {
    /// Follows namespaces and ServiceAccounts through `client` until
    /// dropped, with `workers` namespaces reconciled at once.
    pub async fn run(client: Client, workers: usize) {
        let ns_informer = informers::everything(&client, namespaces());
        let sa_informer = informers::everything(&client, service_accounts());
        let controller = Arc::new(ServiceAccountsController {
            namespaces: ns_informer.cache(),
            accounts: sa_informer.cache(),
            client,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let ns_synced = informers::follow(&mut tasks, ns_informer, move |n| c.namespace_changed(n));
        let c = controller.clone();
        let sa_synced = informers::follow(&mut tasks, sa_informer, move |n| c.account_changed(n));
        let c = controller.clone();
        let reconcile = move |ns: String| {
            let c = c.clone();
            async move { c.reconcile(&ns).await }
        };
        let queue = ("serviceaccount", controller.queue.clone());
        let synced = vec![ns_synced, sa_synced];
        worker::run_after_sync(tasks, synced, queue, workers, reconcile).await;
    }

    /// A namespace added or changed may need its account.
    fn namespace_changed(&self, notification: Notification) {
        if let Notification::Added(ns) | Notification::Updated { new: ns, .. } = notification {
            self.queue.add(&informers::key_of(&ns));
        }
    }

    /// A `default` ServiceAccount deleted is made again.
    fn account_changed(&self, notification: Notification) {
        if let Notification::Deleted(sa) = notification {
            let name = sa.pointer("/metadata/name").and_then(|n| n.as_str());
            let ns = sa.pointer("/metadata/namespace").and_then(|n| n.as_str());
            if let (Some(decide::DEFAULT), Some(ns)) = (name, ns) {
                self.queue.add(ns);
            }
        }
    }

    // ANCHOR: reconcile
    /// Creates namespace `ns`'s `default` ServiceAccount if it is missing.
    pub async fn reconcile(&self, ns: &str) -> Result<Action, ClientError> {
        let has_default = self
            .accounts
            .get(&format!("{ns}/{}", decide::DEFAULT))
            .is_some();
        if !decide::needs_default(self.namespaces.get(ns).as_ref(), has_default) {
            return Ok(Action::await_change());
        }
        match self
            .client
            .create(service_accounts(), Some(ns), &decide::default_account(ns))
            .await
        {
            // 409: the cache lagged, it exists. 403/404: the namespace is
            // going or gone; its informer's event says so soon.
            Ok(_) => Ok(Action::await_change()),
            Err(e) if matches!(e.code(), Some(409 | 403 | 404)) => Ok(Action::await_change()),
            Err(e) => Err(e),
        }
    }
    // ANCHOR_END: reconcile
}

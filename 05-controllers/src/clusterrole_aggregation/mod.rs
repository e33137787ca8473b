//! The ClusterRole aggregation controller: `admin`, `edit` and `view`
//! gather the rules of every ClusterRole labelled to join them.
//!
//! A ClusterRole with an `aggregationRule` owns no rules of its own: its
//! `rules` are the union of the rules of the ClusterRoles its label
//! selectors pick. That is how a new kind's author extends the default
//! roles without editing them: a ClusterRole labelled
//! `rbac.authorization.k8s.io/aggregate-to-view: "true"` adds its rules to
//! `view` (and, because `view` is itself labelled to join `edit`, and
//! `edit` to join `admin`, to those too, one reconcile after another).
//!
//! Kubernetes' `ClusterRoleAggregationController`, in orc's shape: an
//! informer on ClusterRoles; any change queues every aggregated role (a
//! label change anywhere may add or remove rules); a reconcile computes
//! the rules (`aggregate.rs`, pure) and writes them only when they differ.

pub mod aggregate;

use std::sync::Arc;

use orc_client::informer::{Cache, Notification};
use orc_client::resources::{RBAC_GROUP, Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use tokio::task::JoinSet;

use crate::worker::{self, Action};
use orc_client::informer as informers;

fn cluster_roles() -> &'static Resource {
    lookup(RBAC_GROUP, "v1", "clusterroles").expect("the resource table serves ClusterRoles")
}

/// The controller. [`ClusterRoleAggregationController::run`] starts it.
pub struct ClusterRoleAggregationController {
    client: Client,
    /// Every ClusterRole, as the informer last saw it.
    roles: Arc<Cache>,
    /// Names of aggregated roles to recompute.
    queue: Arc<WorkQueue>,
}

impl ClusterRoleAggregationController {
    /// Follows ClusterRoles through `client` and keeps aggregated roles'
    /// rules current until dropped. One worker: aggregation is rare and
    /// cheap, and one writer per role avoids needless conflicts.
    pub async fn run(client: Client) {
        let informer = informers::everything(&client, cluster_roles());
        let controller = Arc::new(ClusterRoleAggregationController {
            roles: informer.cache(),
            client,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let synced = informers::follow(&mut tasks, informer, move |n| c.role_changed(n));
        let c = controller.clone();
        let reconcile = move |name: String| {
            let c = c.clone();
            async move { c.reconcile(&name).await }
        };
        let queue = ("ClusterRoleAggregator", controller.queue.clone());
        worker::run_after_sync(tasks, vec![synced], queue, 1, reconcile).await;
    }

    /// Any change may matter to any aggregated role: queue them all.
    fn role_changed(&self, notification: Notification) {
        if matches!(notification, Notification::Synced) {
            return;
        }
        for role in self.roles.list() {
            if aggregate::selectors(&role).is_some() {
                self.queue.add(&orc_client::informer::key_of(&role));
            }
        }
    }

    // ANCHOR: reconcile
    /// Writes the aggregated role `name`'s rules if they changed.
    pub async fn reconcile(&self, name: &str) -> Result<Action, ClientError> {
        let Some(mut role) = self.roles.get(name) else {
            return Ok(Action::await_change()); // deleted
        };
        let Some(rules) = aggregate::aggregated_rules(&role, &self.roles.list()) else {
            return Ok(Action::await_change()); // no longer aggregated
        };
        let current = role
            .get("rules")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        if current == rules {
            return Ok(Action::await_change());
        }
        // The cached object carries its resourceVersion: a role changed
        // since is a conflict, and the retry reads it fresh.
        role["rules"] = rules.into();
        self.client.update(cluster_roles(), None, &role).await?;
        Ok(Action::await_change())
    }
    // ANCHOR_END: reconcile
}

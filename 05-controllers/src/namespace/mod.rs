//! The namespace controller: empties a namespace being deleted, then lets
//! it go.
//!
//! A DELETE of a namespace only marks it (`Terminating`, chapter 03's
//! `handlers/namespaces.rs`), and the API server refuses new objects in
//! it from then on. This controller, Kubernetes' `NamespaceController`,
//! does the rest:
//!
//! 1. an informer on namespaces queues each one that changes;
//! 2. a reconcile reads the namespace fresh; one that is not marked, or
//!    whose `spec.finalizers` no longer holds `kubernetes`, is left alone;
//! 3. it lists every namespaced resource the API serves in it. Empty
//!    everywhere: it removes `kubernetes` from `spec.finalizers` through
//!    the `finalize` subresource, and the API server removes the
//!    namespace when no finalizer is left;
//! 4. otherwise, for each resource holding an object not already being
//!    deleted, it deletes the whole collection with one DELETE (the
//!    `deletecollection` verb; a pod takes its grace period, an object
//!    with finalizers waits for them),
//!    writes `NamespaceContentRemaining`-style conditions into the
//!    namespace's status, and looks again shortly.
//!
//! Deciding on a list in which nothing was deleted is what closes the
//! race with a create that was admitted just before the namespace turned
//! `Terminating`: that object shows up in a later list and is deleted
//! before the namespace goes, instead of outliving it.
//!
//! The decisions are pure ([`decide`]); this file makes the API calls.

pub mod decide;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use orc_client::informer::Notification;
use orc_client::resources::{RESOURCES, Resource, by_kind};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError, Method, path};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::worker::{self, Action};
use decide::{Content, Verdict};
use orc_client::informer as informers;

/// How soon a namespace that still holds objects is looked at again.
/// Their deletions announce nothing to this controller's informer (it
/// watches namespaces only), so it polls, as Kubernetes' does with its
/// estimate of the longest grace period left.
const RECHECK: Duration = Duration::from_millis(500);

/// The controller. [`NamespaceController::run`] starts it.
pub struct NamespaceController {
    client: Client,
    queue: Arc<WorkQueue>,
}

fn namespaces() -> &'static Resource {
    by_kind("v1", "Namespace").expect("the resource table serves Namespaces")
}

impl NamespaceController {
    // ANCHOR: run
    /// Follows namespaces through `client`, and once they are listed,
    /// reconciles with `workers` workers until dropped.
    pub async fn run(client: Client, workers: usize) {
        let informer = informers::everything(&client, namespaces());
        let controller = Arc::new(NamespaceController {
            client,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let synced = informers::follow(&mut tasks, informer, move |n| c.changed(n));
        let c = controller.clone();
        let reconcile = move |name: String| {
            let c = c.clone();
            async move { c.reconcile(&name).await }
        };
        let queue = ("namespace", controller.queue.clone());
        worker::run_after_sync(tasks, vec![synced], queue, workers, reconcile).await;
    }
    // ANCHOR_END: run

    fn changed(&self, notification: Notification) {
        let object = match &notification {
            Notification::Added(obj) | Notification::Updated { new: obj, .. } => obj,
            _ => return,
        };
        if decide::is_being_emptied(object) {
            if let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) {
                self.queue.add(name);
            }
        }
    }

    // ANCHOR: reconcile
    /// One look at the namespace `name`.
    async fn reconcile(&self, name: &str) -> Result<Action, ClientError> {
        let namespace = match self.client.get(namespaces(), None, name).await {
            Err(e) if e.is_not_found() => return Ok(Action::await_change()),
            other => other?,
        };
        if !decide::is_being_emptied(&namespace) {
            return Ok(Action::await_change());
        }
        let (contents, mut failures) = self.list_content(name).await;
        match decide::verdict(&namespace, &contents, &failures, Timestamp::now()) {
            Verdict::Ignore => Ok(Action::await_change()),
            Verdict::Finalize(rest) => {
                self.finalize(namespace, rest).await?;
                Ok(Action::await_change())
            }
            Verdict::Wait(_) => {
                failures.extend(self.delete_content(name, &contents).await);
                // The conditions say what this pass failed to delete too.
                let now = Timestamp::now();
                if let Verdict::Wait(conditions) =
                    decide::verdict(&namespace, &contents, &failures, now)
                {
                    self.write_conditions(namespace, conditions).await?;
                }
                Ok(Action::requeue(RECHECK))
            }
        }
    }
    // ANCHOR_END: reconcile

    /// Lists every namespaced resource in `namespace`; a list that fails
    /// is named in the failures, not taken for an empty one.
    async fn list_content(&self, namespace: &str) -> (Vec<Content>, Vec<String>) {
        let mut contents = Vec::new();
        let mut failures = Vec::new();
        for resource in RESOURCES.iter().filter(|r| r.namespaced && r.is_stored()) {
            let label = format!("{}.{}", resource.plural, resource.group);
            match self.client.list(resource, Some(namespace), "").await {
                Ok(list) => contents.push(Content {
                    resource: label,
                    items: list["items"].as_array().cloned().unwrap_or_default(),
                }),
                Err(error) => failures.push(format!("{label}: {error}")),
            }
        }
        (contents, failures)
    }

    /// Deletes the content of every resource that still holds something
    /// not being deleted yet, with one DELETE of its collection, as
    /// Kubernetes' `namespacedResourcesDeleter` does (Background
    /// propagation: dependents elsewhere are the garbage collector's).
    /// The collection DELETE takes what was created since the list too.
    /// Answers the failures.
    async fn delete_content(&self, namespace: &str, contents: &[Content]) -> Vec<String> {
        let mut failures = Vec::new();
        let background = json!({"propagationPolicy": "Background"});
        for content in contents {
            let Some(resource) = RESOURCES
                .iter()
                .find(|r| format!("{}.{}", r.plural, r.group) == content.resource)
            else {
                continue;
            };
            if decide::to_delete(&content.items).is_empty() {
                continue;
            }
            let deleted = self
                .client
                .delete_collection(resource, Some(namespace), "", "", &background)
                .await;
            if let Err(error) = deleted {
                failures.push(format!("{}: {error}", content.resource));
            }
        }
        failures
    }

    /// Removes `kubernetes` from `spec.finalizers` through `/finalize`.
    async fn finalize(&self, mut namespace: Value, rest: Vec<String>) -> Result<(), ClientError> {
        namespace["spec"]["finalizers"] = json!(rest);
        let name = namespace["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let url = format!("{}/finalize", path(namespaces(), None, Some(&name)));
        let body = ("application/json", namespace.to_string());
        match self
            .client
            .send_path(Method::PUT, &url, None, Some(body))
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Writes `conditions` into the namespace's status when they differ
    /// from what it says.
    async fn write_conditions(
        &self,
        mut namespace: Value,
        conditions: Vec<Value>,
    ) -> Result<(), ClientError> {
        if namespace.pointer("/status/conditions") == Some(&json!(conditions)) {
            return Ok(());
        }
        namespace["status"]["conditions"] = json!(conditions);
        let name = namespace["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let url = format!("{}/status", path(namespaces(), None, Some(&name)));
        let body = ("application/json", namespace.to_string());
        self.client
            .send_path(Method::PUT, &url, None, Some(body))
            .await
            .map(|_| ())
    }
}

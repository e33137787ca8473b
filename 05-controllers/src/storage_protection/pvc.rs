//! The pvc-protection controller: takes `kubernetes.io/pvc-protection` off
//! a deleted claim once no pod uses it (see `decide.rs` for what "uses"
//! means).
//!
//! The pod cache may lag behind the API: a pod created a moment ago that
//! mounts the claim may not be in it yet. So, as Kubernetes does, "in use"
//! found in the cache is believed at once, but "unused" is confirmed with
//! a live list of the namespace's pods before the finalizer comes off:
//! removing it too early loses data, keeping it a little longer costs
//! one request.

use std::sync::Arc;

use orc_client::informer::{self as informers, Cache, Notification};
use orc_client::resources::{Resource, lookup};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use serde_json::Value;
use tokio::task::JoinSet;

use super::decide::{self, PVC_PROTECTION, Verdict};
use crate::persistentvolume::claims;
use crate::worker::{self, Action};

fn pods() -> &'static Resource {
    lookup("", "v1", "pods").expect("the resource table serves Pods")
}

/// The controller. [`PvcProtectionController::run`] starts it.
pub struct PvcProtectionController {
    client: Client,
    /// Every claim (keys `namespace/name`).
    claims: Arc<Cache>,
    /// Every pod: the first, cheap answer to "does a pod use this claim?".
    pods: Arc<Cache>,
    /// `namespace/name` keys of claims to look at.
    queue: Arc<WorkQueue>,
}

impl PvcProtectionController {
    /// Follows claims and pods through `client` until dropped. Kubernetes
    /// runs one worker; so does orc (the work per claim is small).
    pub async fn run(client: Client) {
        let pvc_informer = informers::everything(&client, claims());
        let pod_informer = informers::everything(&client, pods());
        let controller = Arc::new(PvcProtectionController {
            claims: pvc_informer.cache(),
            pods: pod_informer.cache(),
            client,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let pvc_synced = informers::follow(&mut tasks, pvc_informer, move |n| c.claim_changed(n));
        let c = controller.clone();
        let pod_synced = informers::follow(&mut tasks, pod_informer, move |n| c.pod_changed(n));
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("pvcprotection", controller.queue.clone());
        worker::run_after_sync(tasks, vec![pvc_synced, pod_synced], queue, 1, reconcile).await;
    }

    fn claim_changed(&self, notification: Notification) {
        if let Notification::Added(c) | Notification::Updated { new: c, .. } = notification {
            self.queue.add(&informers::key_of(&c));
        }
    }

    /// A pod changed: a claim it names may be waiting for it to go (or to
    /// finish, or be replaced by a pod of the same name that does not use
    /// it). Looking again at a claim nobody deletes is cheap (`Nothing`).
    fn pod_changed(&self, notification: Notification) {
        let mut pods = Vec::new();
        match notification {
            Notification::Added(p) | Notification::Deleted(p) => pods.push(p),
            Notification::Updated { old, new } => pods.extend([old, new]),
            _ => {}
        }
        for pod in &pods {
            let ns = pod
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            for claim in decide::claims_of(pod) {
                self.queue.add(&format!("{ns}/{claim}"));
            }
        }
    }

    // ANCHOR: reconcile
    /// Acts on the verdict for the claim `key` (`namespace/name`).
    pub async fn reconcile(&self, key: &str) -> Result<Action, ClientError> {
        let Some(claim) = self.claims.get(key) else {
            return Ok(Action::await_change());
        };
        let (ns, name) = key.split_once('/').unwrap_or(("", key));
        // The cache first: a pod found there keeps the claim for sure.
        let cached = self.pods.in_namespace(ns);
        let in_cache = cached.iter().any(|p| decide::pod_uses_claim(p, name));
        let verdict = decide::verdict(&claim, PVC_PROTECTION, || in_cache);
        let verdict = match verdict {
            // "Unused" in the cache: confirm with the API itself.
            Verdict::RemoveFinalizer if self.used_live(ns, name).await? => Verdict::Keep,
            other => other,
        };
        let update = match verdict {
            Verdict::Nothing | Verdict::Keep => return Ok(Action::await_change()),
            Verdict::AddFinalizer => decide::with(&claim, PVC_PROTECTION),
            Verdict::RemoveFinalizer => decide::without(&claim, PVC_PROTECTION),
        };
        // An update on the cached resourceVersion: a claim changed since
        // answers 409, and the worker looks again with the new one.
        match self.client.update(claims(), Some(ns), &update).await {
            Err(e) if e.is_not_found() => Ok(Action::await_change()),
            Err(e) => Err(e),
            Ok(_) => Ok(Action::await_change()),
        }
    }
    // ANCHOR_END: reconcile

    /// Whether a pod of a live list of namespace `ns` uses claim `name`.
    async fn used_live(&self, ns: &str, name: &str) -> Result<bool, ClientError> {
        let list = self.client.list(pods(), Some(ns), "").await?;
        let items = list.get("items").and_then(Value::as_array);
        Ok(items
            .into_iter()
            .flatten()
            .any(|p| decide::pod_uses_claim(p, name)))
    }
}

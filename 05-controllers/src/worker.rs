//! The worker loop every controller shares: take a key off the work queue,
//! reconcile it, and put it back (after a back-off on failure, or after the
//! delay the reconcile's [`Action`] asked for).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use orc_client::ClientError;
use orc_client::workqueue::WorkQueue;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use orc_client::informer as informers;

/// What a successful reconcile asks of the worker, in the manner of
/// kube-runtime's `controller::Action`: wait for the next change, or look
/// again after a while even if nothing changes. The second is for what no
/// event announces: a pod becomes *available* `minReadySeconds` after it
/// became ready, and a stuck rollout passes its progress deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// `None`: only a change (a watch event) queues the key again.
    requeue_after: Option<Duration>,
}

impl Action {
    /// Reconcile again after `after`, changes or not (client-go's
    /// `AddAfter`).
    pub fn requeue(after: Duration) -> Action {
        Action {
            requeue_after: Some(after),
        }
    }

    /// Reconcile again only when something changes: the state is as wanted,
    /// or what is missing will announce itself through an informer.
    pub fn await_change() -> Action {
        Action {
            requeue_after: None,
        }
    }

    /// The delay before the next reconcile, if one is asked for.
    pub fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}

// ANCHOR: work
/// Reconciles keys from `queue` until it shuts down. `controller` names
/// the controller in logs.
pub async fn work<F, Fut>(controller: &'static str, queue: Arc<WorkQueue>, reconcile: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Action, ClientError>>,
{
    while let Some(key) = queue.next().await {
        match reconcile(key.clone()).await {
            Ok(action) => {
                queue.forget(&key);
                if let Some(after) = action.requeue_after() {
                    queue.add_after(&key, after);
                }
            }
            Err(error) => {
                // A conflict is routine: someone wrote the object since the
                // cache saw it, and the retry reads it fresh.
                if error.is_conflict() {
                    tracing::debug!(controller, %key, %error, "conflict; retrying");
                } else {
                    tracing::warn!(controller, %key, %error, "reconcile failed; retrying");
                }
                queue.add_rate_limited(&key);
            }
        }
        queue.done(&key);
    }
}
// ANCHOR_END: work

/// The rest of every controller's `run`: registers `queue` for
/// `/metrics` under `controller` (the queue's name in Kubernetes), then,
/// once every informer in `synced` has its first list, starts `workers`
/// workers on it, and runs until `tasks` (the informers, then the
/// workers) is dropped.
pub async fn run_after_sync<F, Fut>(
    mut tasks: JoinSet<()>,
    synced: Vec<oneshot::Receiver<()>>,
    (controller, queue): (&'static str, Arc<WorkQueue>),
    workers: usize,
    reconcile: F,
) where
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Action, ClientError>> + Send + 'static,
{
    crate::metrics::ControllerMetrics::register_queue(controller, &queue);
    if !informers::wait_for_sync(synced).await {
        return;
    }
    for _ in 0..workers.max(1) {
        tasks.spawn(work(controller, queue.clone(), reconcile.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

//! The worker loop every controller shares: take a key off the work queue,
//! reconcile it, and put it back (after a back-off on failure, or after the
//! delay the reconcile asked for).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use orc_apiserver::client::ClientError;
use orc_apiserver::client::workqueue::WorkQueue;

/// What a reconcile may ask for besides success: look again after a while
/// (a pod becomes *available* `minReadySeconds` after it became ready, and
/// no event says so).
pub type Requeue = Option<Duration>;

// ANCHOR: work
/// Reconciles keys from `queue` until it shuts down. `controller` names
/// the controller in logs.
pub async fn work<F, Fut>(controller: &'static str, queue: Arc<WorkQueue>, reconcile: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Requeue, ClientError>>,
{
    while let Some(key) = queue.next().await {
        match reconcile(key.clone()).await {
            Ok(requeue) => {
                queue.forget(&key);
                if let Some(after) = requeue {
                    let (queue, key) = (queue.clone(), key.clone());
                    tokio::spawn(async move {
                        tokio::time::sleep(after).await;
                        queue.add(&key);
                    });
                }
            }
            Err(error) => {
                tracing::warn!(controller, %key, %error, "reconcile failed; retrying");
                queue.add_rate_limited(&key);
            }
        }
        queue.done(&key);
    }
}
// ANCHOR_END: work

//! The pv-protection controller: takes `kubernetes.io/pv-protection` off a
//! deleted volume once it is no longer `Bound`. The binder turns a volume
//! `Released` when its claim has gone, so a bound volume deleted by
//! mistake stays, `Terminating`, for as long as its claim does.

use std::sync::Arc;

use orc_client::informer::{self as informers, Cache, Notification};
use orc_client::workqueue::WorkQueue;
use orc_client::{Client, ClientError};
use tokio::task::JoinSet;

use super::decide::{self, PV_PROTECTION, Verdict};
use crate::persistentvolume::volumes;
use crate::worker::{self, Action};

/// The controller. [`PvProtectionController::run`] starts it.
pub struct PvProtectionController {
    client: Client,
    /// Every volume (keys: names).
    volumes: Arc<Cache>,
    /// Names of volumes to look at.
    queue: Arc<WorkQueue>,
}

impl PvProtectionController {
    /// Follows volumes through `client` until dropped, with one worker
    /// (as Kubernetes runs it).
    pub async fn run(client: Client) {
        let informer = informers::everything(&client, volumes());
        let controller = Arc::new(PvProtectionController {
            volumes: informer.cache(),
            client,
            queue: Arc::new(WorkQueue::new()),
        });
        let mut tasks = JoinSet::new();
        let c = controller.clone();
        let synced = informers::follow(&mut tasks, informer, move |n| {
            if let Notification::Added(v) | Notification::Updated { new: v, .. } = n {
                c.queue.add(&informers::key_of(&v));
            }
        });
        let c = controller.clone();
        let reconcile = move |key: String| {
            let c = c.clone();
            async move { c.reconcile(&key).await }
        };
        let queue = ("pvprotection", controller.queue.clone());
        worker::run_after_sync(tasks, vec![synced], queue, 1, reconcile).await;
    }

    /// Acts on the verdict for the volume `name`.
    pub async fn reconcile(&self, name: &str) -> Result<Action, ClientError> {
        let Some(volume) = self.volumes.get(name) else {
            return Ok(Action::await_change());
        };
        let update =
            match decide::verdict(&volume, PV_PROTECTION, || decide::volume_in_use(&volume)) {
                Verdict::Nothing | Verdict::Keep => return Ok(Action::await_change()),
                Verdict::AddFinalizer => decide::with(&volume, PV_PROTECTION),
                Verdict::RemoveFinalizer => decide::without(&volume, PV_PROTECTION),
            };
        match self.client.update(volumes(), None, &update).await {
            Err(e) if e.is_not_found() => Ok(Action::await_change()),
            Err(e) => Err(e),
            Ok(_) => Ok(Action::await_change()),
        }
    }
}

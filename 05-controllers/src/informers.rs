//! Informers for controllers: each runs in the controller's task set, hands
//! every notification to a handler, and says once when its first list is
//! in.
//!
//! A controller must not judge before its caches hold the whole picture
//! (client-go calls this `WaitForCacheSync`): a ReplicaSet controller that
//! starts before its pod list arrived would count zero pods and create a
//! full set again.

use std::sync::Arc;

use orc_apiserver::client::Client;
use orc_apiserver::client::informer::{Cache, Informer, Notification};
use orc_apiserver::resources::Resource;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// One resource, followed: its cache and the signal of its first list.
pub struct Followed {
    /// Every object of the resource, as of the latest event.
    pub cache: Arc<Cache>,
    /// Fires once the first list has been applied.
    pub synced: oneshot::Receiver<()>,
}

/// Starts an informer on every `resource` object (all namespaces) in
/// `tasks`, and a task that calls `handle` for each notification. Both
/// stop when `tasks` is dropped.
pub fn follow(
    tasks: &mut JoinSet<()>,
    client: &Client,
    resource: &'static Resource,
    mut handle: impl FnMut(Notification) + Send + 'static,
) -> Followed {
    let informer = Informer::new(client.clone(), resource, None, "");
    let cache = informer.cache();
    let (notify, mut notifications) = mpsc::channel(256);
    let (synced, synced_rx) = oneshot::channel();
    tasks.spawn(informer.run(notify));
    tasks.spawn(async move {
        let mut synced = Some(synced);
        while let Some(notification) = notifications.recv().await {
            if matches!(notification, Notification::Synced) {
                if let Some(synced) = synced.take() {
                    let _ = synced.send(());
                }
                continue;
            }
            handle(notification);
        }
    });
    Followed {
        cache,
        synced: synced_rx,
    }
}

/// Waits for every `synced` signal; false if an informer stopped first.
pub async fn wait_for_sync(synced: Vec<oneshot::Receiver<()>>) -> bool {
    for signal in synced {
        if signal.await.is_err() {
            return false;
        }
    }
    true
}

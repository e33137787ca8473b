//! Informers for controllers: each runs in the controller's task set, hands
//! every notification to a handler, and says once when its first list is
//! in.
//!
//! A controller must not judge before its caches hold the whole picture
//! (client-go calls this `WaitForCacheSync`): a ReplicaSet controller that
//! starts before its pod list arrived would count zero pods and create a
//! full set again.

use orc_client::Client;
use orc_client::informer::{Informer, Notification};
use orc_client::resources::Resource;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Runs `informer` in `tasks`, and a task that calls `handle` for each of
/// its notifications; answers the signal of its first list. Both tasks
/// stop when `tasks` is dropped. Read the informer's cache (take it with
/// `Informer::cache` first): it is updated before `handle` is called.
pub fn follow(
    tasks: &mut JoinSet<()>,
    informer: Informer,
    mut handle: impl FnMut(Notification) + Send + 'static,
) -> oneshot::Receiver<()> {
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
    synced_rx
}

/// An informer on every `resource` object, in all namespaces.
pub fn everything(client: &Client, resource: &'static Resource) -> Informer {
    Informer::new(client.clone(), resource, None, "")
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

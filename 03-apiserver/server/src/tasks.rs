//! Background tasks that end with their owner: the watch hub's feeds and
//! the watch cache's followers stop when the server that started them is
//! dropped (a server restarted in the same process, as the tests do, must
//! not leave etcd watches running behind it).

use std::sync::Mutex;

use tokio::task::AbortHandle;

/// Tasks aborted when this is dropped.
#[derive(Debug, Default)]
pub struct AbortOnDrop {
    /// std's Mutex: held for a push, never across an `.await`.
    tasks: Mutex<Vec<AbortHandle>>,
}

impl AbortOnDrop {
    /// Spawns `task`, to be aborted with this.
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task).abort_handle();
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(|p| p.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_aborts_every_task() {
        let tasks = AbortOnDrop::default();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        for _ in 0..3 {
            let tx = tx.clone();
            tasks.spawn(async move {
                let _keep = tx;
                std::future::pending::<()>().await;
            });
        }
        drop(tx);
        drop(tasks);
        // Each aborted task drops its sender: the channel closes.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv()).await;
        assert_eq!(closed, Ok(None), "every task was aborted");
    }
}

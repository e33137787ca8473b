//! [`EventQueue`]: the scheduler's events, written in the background, one
//! at a time.
//!
//! Every pod the scheduler places gets a `Scheduled` event, and every
//! failed attempt a `FailedScheduling` one: as many event writes as
//! decisions. Written by the task that binds the pod, they would compete
//! with the bindings for the API server and etcd, and a burst of pods
//! would keep hundreds of event writes in flight. kube-scheduler does not
//! wait for its events either: client-go's event broadcaster puts each on
//! a queue of at most 1,000 (`maxQueuedEvents`) and one goroutine writes
//! them to the API server in turn; when the queue is full, new events are
//! dropped. Events are best effort in Kubernetes, and here too: the pod's
//! binding and its `PodScheduled` condition are the record that counts.
//!
//! orc does the same with a bounded channel and one writer task. A
//! dropped event is never silent: it is logged, and counted on
//! `/metrics` as `scheduler_events_dropped_total`.

use std::sync::Arc;

use orc_client::events::{Note, Recorder};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::metrics::Metrics;

/// Events waiting to be written at most (client-go's `maxQueuedEvents`).
pub const MAX_QUEUED_EVENTS: usize = 1000;

/// One event to write: the object it is about (`involvedObject`'s
/// namespace, name and uid), its kind, and what happened.
struct Queued {
    object: Value,
    kind: (&'static str, &'static str),
    note: Note,
}

/// The queue the scheduler hands its events to; a task writes them.
pub struct EventQueue {
    sender: mpsc::Sender<Queued>,
    /// Where dropped events are counted.
    metrics: Arc<Metrics>,
}

impl EventQueue {
    /// A queue of at most `capacity` events, and its writer in `tasks`:
    /// it writes them one at a time through `recorder` (which folds
    /// repeats into one event with a count), until the tasks stop.
    pub fn start(
        recorder: Arc<Recorder>,
        metrics: Arc<Metrics>,
        capacity: usize,
        tasks: &mut JoinSet<()>,
    ) -> EventQueue {
        let (sender, mut receiver) = mpsc::channel::<Queued>(capacity.max(1));
        tasks.spawn(async move {
            while let Some(queued) = receiver.recv().await {
                recorder
                    .record(&queued.object, queued.kind, queued.note)
                    .await;
            }
        });
        EventQueue { sender, metrics }
    }

    /// Queues `note` about `object` (of `kind`); never waits. When the
    /// queue is full the event is dropped, logged and counted.
    pub fn record(&self, object: Value, kind: (&'static str, &'static str), note: Note) {
        let queued = Queued { object, kind, note };
        if let Err(error) = self.sender.try_send(queued) {
            let queued = match error {
                mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q,
            };
            self.metrics.event_dropped();
            tracing::warn!(
                reason = %queued.note.reason,
                object = %queued.object["metadata"]["name"],
                "event dropped: the event queue is full (or its writer stopped)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::Client;
    use orc_client::events::Note;
    use serde_json::json;
    use tokio::net::TcpListener;

    /// An API server that accepts connections and never answers: the
    /// writer stays on its first event for as long as the test runs.
    async fn silent_server() -> (std::net::SocketAddr, tokio::sync::mpsc::Receiver<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (connected, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
                let _ = connected.send(()).await;
            }
        });
        (addr, rx)
    }

    fn pod(name: &str) -> Value {
        json!({"metadata": {"namespace": "default", "name": name, "uid": name}})
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_never_waits() {
        let (addr, mut connected) = silent_server().await;
        let recorder = Arc::new(Recorder::new(Client::new(format!("http://{addr}")), "t"));
        let metrics = Arc::new(Metrics::new("default-scheduler"));
        let mut tasks = JoinSet::new();
        let queue = EventQueue::start(recorder, metrics.clone(), 2, &mut tasks);
        let note = || Note::normal("Scheduled", "Successfully assigned".into());
        // The writer takes the first event and waits on the server.
        queue.record(pod("a"), ("v1", "Pod"), note());
        connected.recv().await.expect("the writer connects");
        // Two more fill the queue; the next two are dropped at once.
        for name in ["b", "c", "d", "e"] {
            queue.record(pod(name), ("v1", "Pod"), note());
        }
        assert_eq!(metrics.events_dropped(), 2);
        let text = metrics.render(Default::default());
        assert!(
            text.contains("scheduler_events_dropped_total 2\n"),
            "{text}"
        );
    }
}

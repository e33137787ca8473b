//! [`EventQueue`]: the scheduler's events, written in the background.
//!
//! Every pod the scheduler places gets a `Scheduled` event, and every
//! failed attempt a `FailedScheduling` one: as many event writes as
//! decisions. kube-scheduler does not wait for its events: it hands them
//! to client-go's event broadcaster (`k8s.io/client-go/tools/events`,
//! the `events.k8s.io/v1` one), which queues at most 1,000
//! (`maxQueuedEvents`) and drops new ones while that queue is full, and
//! writes each event it takes off the queue in a goroutine of its own:
//! the writes overlap, as the bindings do.
//!
//! orc does the same with a bounded channel and a writer task that starts
//! a write per event, at most [`MAX_WRITES_IN_FLIGHT`] at once. Written
//! one at a time, events fell behind the bindings: with 64 bindings in
//! flight each write waited behind them, the queue filled within a second
//! of a burst, and most `Scheduled` events of `cargo bench -p
//! orc-scheduler --bench scheduling` were dropped. A dropped event is
//! never silent: it is logged, and counted on `/metrics` as
//! `scheduler_events_dropped_total`.

use std::sync::Arc;

use orc_client::events::{Note, Recorder};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::metrics::Metrics;

/// Events waiting to be written at most (client-go's `maxQueuedEvents`).
pub const MAX_QUEUED_EVENTS: usize = 1000;

/// Event writes in flight at most: as many as bindings, so events keep up
/// with the pods placed; with the bindings, well under the API server's
/// 200 writes in flight.
pub const MAX_WRITES_IN_FLIGHT: usize = crate::binding::MAX_IN_FLIGHT;

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
    /// it writes them through `recorder` (which folds repeats into one
    /// event with a count), at most `in_flight` at once, until the tasks
    /// stop.
    pub fn start(
        recorder: Arc<Recorder>,
        metrics: Arc<Metrics>,
        capacity: usize,
        in_flight: usize,
        tasks: &mut JoinSet<()>,
    ) -> EventQueue {
        let (sender, mut receiver) = mpsc::channel::<Queued>(capacity.max(1));
        let slots = Arc::new(Semaphore::new(in_flight.max(1)));
        tasks.spawn(async move {
            // The writes run in tasks of this one's own, so they stop
            // with it.
            let mut writes = JoinSet::new();
            loop {
                // A slot first: while every slot is taken, events wait in
                // the bounded queue, not in tasks.
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let Some(queued) = receiver.recv().await else {
                    return;
                };
                let recorder = recorder.clone();
                writes.spawn(async move {
                    recorder
                        .record(&queued.object, queued.kind, queued.note)
                        .await;
                    drop(slot);
                });
                // Reap the writes that ended.
                while writes.try_join_next().is_some() {}
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
        let queue = EventQueue::start(recorder, metrics.clone(), 2, 1, &mut tasks);
        let note = || Note::normal("Scheduled", "Successfully assigned".into());
        // The writer takes the first event and waits on the server.
        queue.record(pod("a"), ("v1", "Pod"), note());
        connected.recv().await.expect("the writer connects");
        // Two more fill the queue; the next two are dropped at once.
        for name in ["b", "c", "d", "e"] {
            queue.record(pod(name), ("v1", "Pod"), note());
        }
        assert_eq!(metrics.events_dropped(), 2);
        // Nothing more reached the server while its one slot was taken.
        assert!(connected.try_recv().is_err(), "a second write was started");
        let text = metrics.render(Default::default());
        assert!(
            text.contains("scheduler_events_dropped_total 2\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn writes_overlap_up_to_the_bound() {
        let (addr, mut connected) = silent_server().await;
        let recorder = Arc::new(Recorder::new(Client::new(format!("http://{addr}")), "t"));
        let metrics = Arc::new(Metrics::new("default-scheduler"));
        let mut tasks = JoinSet::new();
        let queue = EventQueue::start(recorder, metrics.clone(), 10, 3, &mut tasks);
        let note = || Note::normal("Scheduled", "Successfully assigned".into());
        for name in ["a", "b", "c", "d"] {
            queue.record(pod(name), ("v1", "Pod"), note());
        }
        // Three writes are in flight at once, each on its own connection,
        // though the server answers none of them.
        for _ in 0..3 {
            connected.recv().await.expect("a write connects");
        }
        assert_eq!(metrics.events_dropped(), 0);
    }
}

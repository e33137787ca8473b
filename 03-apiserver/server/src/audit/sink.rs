//! Where events go: a bounded queue to a writer (a thread for the log,
//! which encodes each event as one line of JSON and appends it to the
//! rotated file or stdout; a task for the webhook, `webhook.rs`), in one
//! of kube-apiserver's three modes (`--audit-log-mode`,
//! `--audit-webhook-mode`). What each costs:
//!
//! - `blocking` (the log's default, as kube-apiserver's): the request
//!   waits until its event is written (the log flushed, the webhook
//!   answered). Nothing is lost while the writer keeps up; when the disk
//!   stalls, every audited request stalls with it, including the ones an
//!   operator sends to free the disk. A failed write is counted and the
//!   request goes on.
//! - `blocking-strict`: as `blocking`, and a failure to write the
//!   `RequestReceived` event fails the request (500, "failed to store
//!   audit event"): no change is made that the log does not record, at the
//!   price of an API that refuses everything while the log is unwritable.
//! - `batch` (the webhook's default): events are queued and the request
//!   goes on at once. A request never waits for the writer; when the queue
//!   (10,000 events) is full the event is dropped, counted in
//!   `apiserver_audit_error_total{plugin=...}` and warned about: the loss
//!   is never silent, but it is a loss.
//!
//! Kubernetes runs a blocking backend's write in the request's goroutine;
//! orc hands it to the writer and waits for its answer, which keeps one
//! writer for the file (lines never interleave) and the same result.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::event::Event;
use super::log_file::{LogFile, Rotation};

/// Events the queue holds: kube-apiserver's default buffer size for its
/// buffered backends (`--audit-log-batch-buffer-size`).
pub const CAPACITY: usize = 10_000;

/// How a request and its events wait for each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Queued; dropped and counted when the queue is full.
    Batch,
    /// The request waits until its event is written.
    #[default]
    Blocking,
    /// As blocking, and a failed `RequestReceived` write fails the request.
    #[value(name = "blocking-strict")]
    BlockingStrict,
}

/// Where the log is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `--audit-log-path -`.
    Stdout,
    /// A file, rotated.
    File(PathBuf, Rotation),
}

/// Counters for `/metrics`, shared with the writer.
#[derive(Debug, Default)]
pub struct Counts {
    /// Events handed to the sink (`apiserver_audit_event_total`).
    pub events: AtomicU64,
    /// Events lost: queue full or a failed write
    /// (`apiserver_audit_error_total{plugin=...}`).
    pub errors: AtomicU64,
}

/// One queued event, and, in the blocking modes, where the writer says
/// whether it was written.
pub struct Item {
    pub event: Event,
    pub written: Option<oneshot::Sender<bool>>,
}

impl Item {
    /// Tells a waiting request whether its event was written.
    pub fn done(self, ok: bool) {
        if let Some(written) = self.written {
            let _ = written.send(ok);
        }
    }
}

/// The sending end; the writer ends when it is dropped, after writing
/// what is queued.
pub struct Sink {
    /// `log` or `webhook`: the metrics' `plugin` label.
    pub plugin: &'static str,
    mode: Mode,
    sender: mpsc::Sender<Item>,
    pub counts: Arc<Counts>,
}

/// A line-oriented output: the rotated file, stdout, or a test's.
pub trait Output: Send {
    fn line(&mut self, line: &[u8]) -> std::io::Result<()>;
    fn flush_all(&mut self) -> std::io::Result<()>;
}

impl Sink {
    /// A sink for `plugin` in `mode`, and the queue its writer reads.
    pub fn new(
        plugin: &'static str,
        mode: Mode,
        capacity: usize,
    ) -> (Sink, mpsc::Receiver<Item>, Arc<Counts>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let counts = Arc::new(Counts::default());
        let sink = Sink {
            plugin,
            mode,
            sender,
            counts: counts.clone(),
        };
        (sink, receiver, counts)
    }

    /// Opens the log (so a bad path fails at start, not at the first
    /// request) and starts its writer thread.
    pub fn start(destination: &Destination, mode: Mode, capacity: usize) -> std::io::Result<Sink> {
        let output: Box<dyn Output> = match destination {
            Destination::Stdout => Box::new(std::io::stdout()),
            Destination::File(path, rotation) => Box::new(LogFile::open(path, *rotation)?),
        };
        Sink::with_output(output, mode, capacity)
    }

    /// The log's sink writing to `output`.
    pub fn with_output(
        output: Box<dyn Output>,
        mode: Mode,
        capacity: usize,
    ) -> std::io::Result<Sink> {
        let (sink, receiver, counts) = Sink::new("log", mode, capacity);
        // A thread of its own, not a tokio task: writes block on the disk,
        // and a plain thread never holds up the runtime's workers.
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_all(receiver, output, &counts))?;
        Ok(sink)
    }

    // ANCHOR: process
    /// Hands `event` to the writer as the mode says. `false` only in
    /// `blocking-strict` mode, when the event could not be written.
    pub async fn process(&self, event: Event) -> bool {
        self.counts.events.fetch_add(1, Ordering::Relaxed);
        if self.mode == Mode::Batch {
            let item = Item {
                event,
                written: None,
            };
            if self.sender.try_send(item).is_err() {
                let lost = self.counts.errors.fetch_add(1, Ordering::Relaxed) + 1;
                // The first loss and every thousandth: loud, not a flood.
                if lost == 1 || lost % 1000 == 0 {
                    tracing::error!(
                        lost,
                        plugin = self.plugin,
                        "audit events dropped: the audit queue is full (is the log's disk, or the webhook, slow?)"
                    );
                }
            }
            return true;
        }
        let (tx, rx) = oneshot::channel();
        let item = Item {
            event,
            written: Some(tx),
        };
        let written = match self.sender.send(item).await {
            // The writer counts what it fails to write.
            Ok(()) => rx.await.unwrap_or(false),
            Err(_) => {
                self.counts.errors.fetch_add(1, Ordering::Relaxed);
                false
            }
        };
        written || self.mode != Mode::BlockingStrict
    }
    // ANCHOR_END: process

    /// The counters in Prometheus' text format, Kubernetes' names.
    pub fn render_metrics(sinks: &[Sink]) -> String {
        let mut out = String::new();
        orc_client::prometheus::header(
            &mut out,
            "apiserver_audit_event_total",
            "Audit events generated and sent to the audit backends.",
            "counter",
        );
        // Each request's event goes to every backend: counted once.
        let events = sinks
            .iter()
            .map(|s| s.counts.events.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        out.push_str(&format!("apiserver_audit_event_total {events}\n"));
        orc_client::prometheus::header(
            &mut out,
            "apiserver_audit_error_total",
            "Audit events lost: the queue was full or the write failed.",
            "counter",
        );
        for sink in sinks {
            let errors = sink.counts.errors.load(Ordering::Relaxed);
            out.push_str(&format!(
                "apiserver_audit_error_total{{plugin=\"{}\"}} {errors}\n",
                sink.plugin
            ));
        }
        out
    }
}

impl Output for LogFile {
    fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
        self.write_line(line, jiff::Timestamp::now())
    }
    fn flush_all(&mut self) -> std::io::Result<()> {
        self.flush()
    }
}

impl Output for std::io::Stdout {
    fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let mut out = self.lock();
        out.write_all(line)?;
        out.write_all(b"\n")
    }
    fn flush_all(&mut self) -> std::io::Result<()> {
        self.flush()
    }
}

/// The writer thread: one line per event, flushed whenever the queue is
/// empty (so a quiet server's log is always complete on disk); a waiting
/// request hears of its event once it is flushed.
fn write_all(mut receiver: mpsc::Receiver<Item>, mut output: Box<dyn Output>, counts: &Counts) {
    while let Some(item) = receiver.blocking_recv() {
        let mut round = vec![(write_one(&mut *output, &item.event), item)];
        while let Ok(item) = receiver.try_recv() {
            round.push((write_one(&mut *output, &item.event), item));
        }
        let flushed = match output.flush_all() {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, "flushing the audit log");
                false
            }
        };
        for (written, item) in round {
            let ok = written && flushed;
            if !ok {
                counts.errors.fetch_add(1, Ordering::Relaxed);
            }
            item.done(ok);
        }
    }
}

fn write_one(output: &mut dyn Output, event: &Event) -> bool {
    let line = serde_json::to_vec(event).expect("an event is plain JSON");
    match output.line(&line) {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, audit_id = event.audit_id, "writing the audit log");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc as std_mpsc;

    /// An output that tells the test each line it is given, then writes
    /// it only when the test lets it.
    struct Gated {
        got: std_mpsc::Sender<Vec<u8>>,
        go: std_mpsc::Receiver<()>,
    }

    impl Output for Gated {
        fn line(&mut self, line: &[u8]) -> std::io::Result<()> {
            let _ = self.got.send(line.to_vec());
            self.go
                .recv()
                .map_err(|_| std::io::Error::other("the test is gone"))
        }
        fn flush_all(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn gated(
        mode: Mode,
        capacity: usize,
    ) -> (Sink, std_mpsc::Receiver<Vec<u8>>, std_mpsc::Sender<()>) {
        let (got, lines) = std_mpsc::channel();
        let (go, gate) = std_mpsc::channel();
        let sink = Sink::with_output(Box::new(Gated { got, go: gate }), mode, capacity).unwrap();
        (sink, lines, go)
    }

    fn event(id: &str) -> Event {
        let mut event = super::super::event::sample();
        event.audit_id = id.into();
        event
    }

    /// Waits for the writer thread to take a line, off the runtime.
    async fn taken(lines: &std_mpsc::Receiver<Vec<u8>>) -> Value {
        let line = tokio::task::block_in_place(|| lines.recv().unwrap());
        serde_json::from_slice(&line).unwrap()
    }

    use serde_json::Value;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_waits_until_the_writer_has_written() {
        let (sink, lines, go) = gated(Mode::Blocking, CAPACITY);
        let processing = sink.process(event("a"));
        tokio::pin!(processing);
        // Not done while the writer holds the line.
        assert!(futures::poll!(&mut processing).is_pending());
        assert_eq!(taken(&lines).await["auditID"], "a");
        assert!(futures::poll!(&mut processing).is_pending());
        go.send(()).unwrap();
        assert!(processing.await);
        assert_eq!(sink.counts.errors.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_returns_at_once_and_drops_and_counts_when_full() {
        let (sink, lines, go) = gated(Mode::Batch, 1);
        assert!(sink.process(event("held")).await, "batch never waits");
        // The writer holds the first; the queue's one place takes the
        // second; the third is dropped.
        assert_eq!(taken(&lines).await["auditID"], "held");
        assert!(sink.process(event("queued")).await);
        assert!(sink.process(event("dropped")).await);
        assert_eq!(sink.counts.errors.load(Ordering::Relaxed), 1);
        let metrics = Sink::render_metrics(std::slice::from_ref(&sink));
        assert!(metrics.contains("apiserver_audit_error_total{plugin=\"log\"} 1\n"));
        assert!(metrics.contains("apiserver_audit_event_total 3\n"));
        go.send(()).unwrap();
        assert_eq!(taken(&lines).await["auditID"], "queued");
        go.send(()).unwrap();
    }

    #[tokio::test]
    async fn blocking_strict_reports_an_unwritable_log_and_blocking_does_not() {
        // /dev/full takes the open, and fails every write: a full disk.
        let full = Destination::File("/dev/full".into(), Rotation::default());
        let strict = Sink::start(&full, Mode::BlockingStrict, CAPACITY).unwrap();
        assert!(!strict.process(event("a")).await);
        assert_eq!(strict.counts.errors.load(Ordering::Relaxed), 1);
        let blocking = Sink::start(&full, Mode::Blocking, CAPACITY).unwrap();
        assert!(blocking.process(event("b")).await);
        assert_eq!(blocking.counts.errors.load(Ordering::Relaxed), 1);
    }
}

//! Where events go: a bounded channel to one writer thread, which encodes
//! each event as one line of JSON and appends it to the log (rotated,
//! `log_file.rs`) or to stdout.
//!
//! A request never waits for the disk. When the channel is full (the disk
//! stalls, or the log is written faster than it drains) the event is
//! dropped, counted in `apiserver_audit_error_total{plugin="log"}` and
//! warned about; kube-apiserver's log backend blocks instead by default
//! (`--audit-log-mode=blocking`), and its buffered mode drops as orc does.
//! orc chooses dropping: a blocked audit log would stop every request,
//! including the ones an operator needs to free the disk, and the loss is
//! never silent (chapter 03, "The audit log").

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::event::Event;
use super::log_file::{LogFile, Rotation};

/// Events the channel holds before new ones are dropped: kube-apiserver's
/// default buffer size for its buffered backends.
pub const CAPACITY: usize = 10_000;

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
    /// Events handed to the writer (`apiserver_audit_event_total`).
    pub events: AtomicU64,
    /// Events lost: channel full or a failed write
    /// (`apiserver_audit_error_total{plugin="log"}`).
    pub errors: AtomicU64,
}

/// The sending end; the writer thread ends when it is dropped, after
/// writing what is queued.
pub struct Sink {
    sender: mpsc::Sender<Event>,
    pub counts: Arc<Counts>,
}

impl Sink {
    /// Opens the destination (so a bad path fails at start, not at the
    /// first request) and starts the writer thread.
    pub fn start(destination: &Destination, capacity: usize) -> std::io::Result<Sink> {
        let output: Box<dyn Output> = match destination {
            Destination::Stdout => Box::new(std::io::stdout()),
            Destination::File(path, rotation) => Box::new(LogFile::open(path, *rotation)?),
        };
        let (sender, receiver) = mpsc::channel(capacity);
        let counts = Arc::new(Counts::default());
        let writer_counts = counts.clone();
        // A thread of its own, not a tokio task: writes block on the disk,
        // and a plain thread never holds up the runtime's workers.
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_all(receiver, output, &writer_counts))?;
        Ok(Sink { sender, counts })
    }

    /// Queues an event, or drops and counts it when the queue is full.
    pub fn send(&self, event: Event) {
        self.counts.events.fetch_add(1, Ordering::Relaxed);
        if self.sender.try_send(event).is_err() {
            let lost = self.counts.errors.fetch_add(1, Ordering::Relaxed) + 1;
            // The first loss and every thousandth: loud, not a flood.
            if lost == 1 || lost % 1000 == 0 {
                tracing::error!(
                    lost,
                    "audit events dropped: the audit log's queue is full (is its disk slow or full?)"
                );
            }
        }
    }
}

impl Sink {
    /// The counters in Prometheus' text format, Kubernetes' names.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        let events = self.counts.events.load(Ordering::Relaxed);
        let errors = self.counts.errors.load(Ordering::Relaxed);
        orc_client::prometheus::header(
            &mut out,
            "apiserver_audit_event_total",
            "Audit events generated and sent to the audit log.",
            "counter",
        );
        out.push_str(&format!("apiserver_audit_event_total {events}\n"));
        orc_client::prometheus::header(
            &mut out,
            "apiserver_audit_error_total",
            "Audit events lost: the queue was full or the write failed.",
            "counter",
        );
        out.push_str(&format!(
            "apiserver_audit_error_total{{plugin=\"log\"}} {errors}\n"
        ));
        out
    }
}

/// A line-oriented output: the rotated file, or stdout.
trait Output: Send {
    fn line(&mut self, line: &[u8]) -> std::io::Result<()>;
    fn flush_all(&mut self) -> std::io::Result<()>;
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
/// empty (so a quiet server's log is always complete on disk).
fn write_all(mut receiver: mpsc::Receiver<Event>, mut output: Box<dyn Output>, counts: &Counts) {
    while let Some(event) = receiver.blocking_recv() {
        write_one(&mut *output, &event, counts);
        while let Ok(event) = receiver.try_recv() {
            write_one(&mut *output, &event, counts);
        }
        if let Err(error) = output.flush_all() {
            tracing::error!(%error, "flushing the audit log");
        }
    }
}

fn write_one(output: &mut dyn Output, event: &Event, counts: &Counts) {
    let line = serde_json::to_vec(event).expect("an event is plain JSON");
    if let Err(error) = output.line(&line) {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%error, audit_id = event.audit_id, "writing the audit log");
    }
}

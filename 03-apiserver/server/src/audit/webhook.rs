//! The audit webhook: events POSTed to a remote service as an
//! `audit.k8s.io/v1` `EventList`, as kube-apiserver's
//! `--audit-webhook-config-file` sends them.
//!
//! The file is a kubeconfig: its current context's cluster is the remote
//! (`server` is the full URL events are POSTed to, with the CA to trust)
//! and its user the credentials orc presents (a client certificate or a
//! bearer token). In `batch` mode (the default) events are queued and
//! sent in batches of up to `--audit-webhook-batch-max-size` (400), or
//! fewer once the first of them has waited `--audit-webhook-batch-max-wait`
//! (30 s); in the blocking modes each request waits until the remote
//! accepted its event (`sink.rs` says what each mode costs).
//!
//! A batch the remote cannot take now (no connection, a 429, a 5xx) is
//! sent again after a back-off: `--audit-webhook-initial-backoff` (10 s),
//! then half as long again each time, five tries in all, as Kubernetes'
//! webhook client does (without its jitter). Then it is dropped and
//! counted in `apiserver_audit_error_total{plugin="webhook"}`.
//!
//! Batches go out one at a time, in order; Kubernetes sends each in a
//! goroutine of its own, throttled (10 a second). orc has no throttle.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use super::event::Event;
use super::sink::{CAPACITY, Counts, Item, Mode, Sink};

/// Kubernetes' defaults.
pub const DEFAULT_MAX_SIZE: usize = 400;
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(10);
/// Tries of one batch, the first included (Kubernetes' `Steps`).
const TRIES: u32 = 5;
/// How long one POST may take (client-go's default).
const TIMEOUT: Duration = Duration::from_secs(30);

/// The webhook's settings, from its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// A kubeconfig naming the remote.
    pub config_file: PathBuf,
    pub mode: Mode,
    /// A batch goes when it holds this many events...
    pub max_size: usize,
    /// ...or when its first event has waited this long (batch mode).
    pub max_wait: Duration,
    /// The wait before the first retry of a failed batch.
    pub initial_backoff: Duration,
}

/// Why the webhook could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "the audit webhook config file: {0} (--audit-webhook-config-file names a kubeconfig whose current context's cluster is the remote)"
    )]
    Config(#[from] orc_client::kubeconfig::KubeconfigError),
    #[error("the audit webhook's HTTP client: {0}")]
    Client(String),
}

/// Where and how batches are POSTed.
struct Remote {
    url: String,
    token: Option<String>,
    http: reqwest::Client,
    initial_backoff: Duration,
}

/// Reads the kubeconfig and starts the task sending batches.
pub fn start(config: &WebhookConfig) -> Result<Sink, WebhookError> {
    let connection = orc_client::kubeconfig::load(&config.config_file)?;
    orc_client::tls::install_crypto_provider();
    let mut builder = reqwest::Client::builder().timeout(TIMEOUT);
    if let Some(tls) = &connection.tls {
        builder = builder.tls_backend_preconfigured((*tls.config()).clone());
    }
    let http = builder
        .build()
        .map_err(|e| WebhookError::Client(e.to_string()))?;
    let remote = Remote {
        url: connection.server,
        token: connection.token,
        http,
        initial_backoff: config.initial_backoff,
    };
    let (sink, receiver, counts) = Sink::new("webhook", config.mode, CAPACITY);
    tokio::spawn(send_all(
        receiver,
        remote,
        config.mode,
        config.max_size.max(1),
        config.max_wait,
        counts,
    ));
    Ok(sink)
}

// ANCHOR: send_all
/// Collects batches from the queue and sends them, until the sink is
/// dropped (what is queued then is sent first).
async fn send_all(
    mut receiver: mpsc::Receiver<Item>,
    remote: Remote,
    mode: Mode,
    max_size: usize,
    max_wait: Duration,
    counts: Arc<Counts>,
) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        if mode == Mode::Batch {
            let deadline = tokio::time::Instant::now() + max_wait;
            while batch.len() < max_size {
                match tokio::time::timeout_at(deadline, receiver.recv()).await {
                    Ok(Some(item)) => batch.push(item),
                    // Closed, or waited long enough: send what there is.
                    Ok(None) | Err(_) => break,
                }
            }
        } else {
            // Requests are waiting: what is queued goes now.
            while batch.len() < max_size {
                match receiver.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(_) => break,
                }
            }
        }
        let events: Vec<&Event> = batch.iter().map(|item| &item.event).collect();
        let sent = match remote.send(&events).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, events = events.len(), url = remote.url, "audit events lost: the webhook did not take them");
                counts
                    .errors
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                false
            }
        };
        for item in batch {
            item.done(sent);
        }
    }
}
// ANCHOR_END: send_all

/// The `EventList` of `events`.
pub fn event_list(events: &[&Event]) -> serde_json::Value {
    json!({
        "kind": "EventList",
        "apiVersion": super::policy::API_VERSION,
        "metadata": {},
        "items": events,
    })
}

/// One POST's failure, and whether trying again may help.
struct Failure {
    message: String,
    retry: bool,
}

impl Remote {
    /// POSTs `events`, retrying after a back-off while the remote cannot
    /// take them now.
    async fn send(&self, events: &[&Event]) -> Result<(), String> {
        let body = serde_json::to_vec(&event_list(events)).expect("events are plain JSON");
        let mut wait = self.initial_backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            match self.post(body.clone()).await {
                Ok(()) => return Ok(()),
                Err(failure) if failure.retry && tries < TRIES => {
                    tracing::warn!(
                        error = failure.message,
                        ?wait,
                        "the audit webhook failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    wait = wait.mul_f64(1.5);
                }
                Err(failure) => {
                    return Err(format!("{} (after {tries} tries)", failure.message));
                }
            }
        }
    }

    async fn post(&self, body: Vec<u8>) -> Result<(), Failure> {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| Failure {
            message: format!("POST {}: {e}", self.url),
            // Not connected, or no answer: the remote may be back soon.
            retry: e.is_connect() || e.is_timeout() || e.is_request(),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry = status.as_u16() == 429
            || status.is_server_error()
            || response.headers().contains_key("retry-after");
        let text = response.text().await.unwrap_or_default();
        Err(Failure {
            message: format!(
                "POST {} answered {status}: {}",
                self.url,
                text.chars().take(200).collect::<String>()
            ),
            retry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::Value;
    use std::sync::atomic::AtomicUsize;

    /// A loopback receiver: each `EventList` posted to it, in order; it
    /// answers `fail_first` 500s before taking any.
    async fn receiver(
        fail_first: usize,
    ) -> (
        String,
        mpsc::UnboundedReceiver<Value>,
        tokio::task::JoinHandle<()>,
    ) {
        let (tx, rx) = mpsc::unbounded_channel();
        let failures = Arc::new(AtomicUsize::new(fail_first));
        let app = axum::Router::new().route(
            "/audit",
            axum::routing::post(move |body: axum::body::Bytes| {
                let (tx, failures) = (tx.clone(), failures.clone());
                async move {
                    let left = failures.load(Ordering::SeqCst);
                    if left > 0 {
                        failures.store(left - 1, Ordering::SeqCst);
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let _ = tx.send(serde_json::from_slice(&body).unwrap());
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (format!("http://{addr}/audit"), rx, server)
    }

    /// A kubeconfig naming `url`, in `dir`.
    fn kubeconfig(dir: &std::path::Path, url: &str) -> PathBuf {
        let path = dir.join("webhook.kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: audit\n  cluster:\n    server: {url}\n\
             users:\n- name: apiserver\n  user:\n    token: audit-token\n\
             contexts:\n- name: audit\n  context:\n    cluster: audit\n    user: apiserver\n\
             current-context: audit\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    fn event(id: &str) -> Event {
        let mut event = super::super::event::sample();
        event.audit_id = id.into();
        event
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Value>) -> Value {
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the webhook posts within ten seconds")
            .expect("the receiver runs")
    }

    #[tokio::test]
    async fn a_full_batch_goes_at_once_without_waiting_for_max_wait() {
        let dir = tempfile::tempdir().unwrap();
        let (url, mut rx, server) = receiver(0).await;
        let sink = start(&WebhookConfig {
            config_file: kubeconfig(dir.path(), &url),
            mode: Mode::Batch,
            max_size: 2,
            // Never reached in this test: a full batch does not wait.
            max_wait: Duration::from_secs(3600),
            initial_backoff: Duration::from_millis(1),
        })
        .unwrap();
        assert!(sink.process(event("a")).await);
        assert!(sink.process(event("b")).await);
        let list = next(&mut rx).await;
        assert_eq!(list["kind"], "EventList");
        assert_eq!(list["apiVersion"], "audit.k8s.io/v1");
        let ids: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["auditID"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        let item = &list["items"][0];
        assert_eq!(item["user"]["username"], "alice");
        assert_eq!(item["verb"], "get");
        assert_eq!(item["objectRef"]["resource"], "pods");
        assert_eq!(item["responseStatus"]["code"], 200);
        server.abort();
    }

    #[tokio::test]
    async fn blocking_waits_for_the_remote_and_a_failed_batch_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        // Two 500s, then the batch is taken: the third try.
        let (url, mut rx, server) = receiver(2).await;
        let sink = start(&WebhookConfig {
            config_file: kubeconfig(dir.path(), &url),
            mode: Mode::BlockingStrict,
            max_size: DEFAULT_MAX_SIZE,
            max_wait: DEFAULT_MAX_WAIT,
            initial_backoff: Duration::from_millis(1),
        })
        .unwrap();
        assert!(sink.process(event("a")).await, "taken on the third try");
        // Blocking: the remote has it by the time the request goes on.
        let list = rx.try_recv().expect("posted before process returned");
        assert_eq!(list["items"][0]["auditID"], "a");
        assert_eq!(sink.counts.errors.load(Ordering::Relaxed), 0);
        server.abort();
        // A remote that never answers 2xx: strict reports it, counted.
        let (url, _rx, server) = receiver(usize::MAX).await;
        let sink = start(&WebhookConfig {
            config_file: kubeconfig(dir.path(), &url),
            mode: Mode::BlockingStrict,
            max_size: DEFAULT_MAX_SIZE,
            max_wait: DEFAULT_MAX_WAIT,
            initial_backoff: Duration::from_millis(1),
        })
        .unwrap();
        assert!(!sink.process(event("b")).await);
        assert_eq!(sink.counts.errors.load(Ordering::Relaxed), 1);
        server.abort();
    }
}

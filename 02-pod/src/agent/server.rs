//! The agent's HTTP server: what the kubelet serves on port 10250.
//!
//! The API server never reads a node's files. For `kubectl logs` it looks up
//! the pod's node, finds the node's agent from the Node object
//! (`status.addresses`, `status.daemonEndpoints.kubeletEndpoint.Port`) and
//! forwards the request here; this server reads the log files the shim
//! wrote ([`crate::logs`]) and streams them back.
//!
//! - `GET /healthz`: `ok`.
//! - `GET /metrics`: how many log responses are being streamed now, in
//!   Prometheus' text format (a follow that outlives its client would show
//!   here).
//! - `GET|POST /exec/{namespace}/{pod}/{container}?command=..`: a command
//!   in the container, its streams over a WebSocket or SPDY
//!   ([`super::exec`], [`super::streams`]).
//! - `GET|POST /attach/{namespace}/{pod}/{container}`: the container's
//!   output as it is written, and its stdin or terminal when it holds
//!   one, on exec's channels ([`super::attach`]).
//! - `GET|POST /portForward/{namespace}/{pod}`: `kubectl port-forward`'s
//!   SPDY session, tunnelled in a WebSocket or on a SPDY upgrade
//!   ([`super::portforward`]).
//! - `GET /containerLogs/{namespace}/{pod}/{container}`: the log, with the
//!   query parameters of [`LogOptions::from_query`]. Errors are plain text,
//!   with the kubelet's status codes and wording: 404 for a pod or
//!   container the node does not have, 400 for a log that does not exist
//!   (yet), 422 for an out-of-range option.
//!
//! A followed log is a stream that polls the file; it ends when the
//! container's run ends (the shim's exit record appears), when the server
//! shuts down, or when the client goes away: hyper then drops the response
//! body, and with it the stream and its file. No task is left behind,
//! because there is no task: the stream is only polled while hyper writes it.
//!
//! `orc agent` serves all of this over TLS ([`serve_tls`], [`super::tls`]),
//! each request authorized first ([`super::auth`]): by asking the API
//! server, as the kubelet does (chapter 03, "The API server → node hop").
//! Plain HTTP
//! without authentication ([`serve`]) is left for chapter 02's stand-alone
//! `orc-agent run --listen` and for tests, on loopback.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::exec::{self, ExecRuntime};
use super::layout::StateLayout;
use crate::logs::{self, LogLimit, LogOptions, LogOptionsError};
use crate::pod_spec::Pod;
use crate::shim;
use crate::status::{ContainerState, PodStatus};

/// How often a followed log is checked for new output (the kubelet's CRI
/// log reader waits on inotify, with a poll as fallback; polling is enough).
const FOLLOW_POLL: Duration = Duration::from_millis(100);

/// What every request shares.
#[derive(Clone)]
struct AgentServer {
    layout: StateLayout,
    /// The runtime binary `exec` runs.
    runtime: ExecRuntime,
    /// Log responses being streamed now: the `/metrics` gauge.
    open_streams: Arc<AtomicUsize>,
    /// Set to `true` when the server shuts down, so that followed logs end
    /// and the graceful shutdown does not wait for them forever.
    stopping: Arc<watch::Sender<bool>>,
}

// ANCHOR: router
/// The agent's routes, for a state directory laid out as
/// [`StateLayout`] says, exec running `runtime` (the `orc-container`
/// binary). Served by [`serve`], or merged into another router.
pub fn router(layout: StateLayout, runtime: &std::path::Path) -> Router {
    routes(AgentServer::new(layout, runtime))
}

fn routes(server: AgentServer) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route(
            "/stats/summary",
            get(|State(s): State<AgentServer>| super::stats::summary(s.layout)),
        )
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        // GET: a WebSocket; POST: the legacy SPDY upgrade.
        .route(
            "/exec/{namespace}/{pod}/{container}",
            get(exec_stream).post(exec_stream),
        )
        .route(
            "/attach/{namespace}/{pod}/{container}",
            get(attach_stream).post(attach_stream),
        )
        // GET: SPDY tunnelled in WebSocket; POST: the SPDY upgrade.
        .route(
            "/portForward/{namespace}/{pod}",
            get(port_forward).post(port_forward),
        )
        .with_state(server)
}
// ANCHOR_END: router

/// How the agent's port is served.
#[derive(Clone)]
pub enum Listening {
    /// HTTPS, every request but `/healthz` judged by `authorizer` first.
    Tls {
        tls: super::tls::AgentTls,
        authorizer: Arc<dyn super::auth::PortAuthorizer>,
    },
    /// Plain HTTP, no authentication: anyone who reaches the port may exec
    /// into every pod. For chapter 02's stand-alone agent and tests, on
    /// loopback only.
    PlainHttp,
}

impl AgentServer {
    fn new(layout: StateLayout, runtime: &std::path::Path) -> AgentServer {
        AgentServer {
            runtime: ExecRuntime::new(runtime, &layout),
            layout,
            open_streams: Arc::default(),
            stopping: Arc::new(watch::channel(false).0),
        }
    }

    /// Completes when `shutdown` does, after ending followed logs.
    fn until(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send + 'static {
        let stopping = Arc::clone(&self.stopping);
        async move {
            shutdown.await;
            stopping.send_replace(true);
        }
    }
}

/// Serves [`router`] over plain HTTP on `listener` until `shutdown`
/// completes; followed logs are then ended, and open requests allowed to
/// finish. No authentication: for loopback (see [`Listening::PlainHttp`]).
pub async fn serve(
    listener: TcpListener,
    layout: StateLayout,
    runtime: std::path::PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = AgentServer::new(layout, &runtime);
    let stop = server.until(shutdown);
    axum::serve(listener, routes(server))
        .with_graceful_shutdown(stop)
        .await
}

// ANCHOR: serve_tls
/// Serves [`router`] over TLS on `listener` until `shutdown` completes,
/// every request judged first by `authorizer` ([`super::auth`]), given
/// the client certificate its connection presented and its bearer token.
pub async fn serve_tls(
    listener: TcpListener,
    tls: super::tls::AgentTls,
    authorizer: Arc<dyn super::auth::PortAuthorizer>,
    layout: StateLayout,
    runtime: std::path::PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = AgentServer::new(layout, &runtime);
    let stop = server.until(shutdown);
    let app = routes(server).layer(axum::middleware::from_fn_with_state(
        authorizer,
        super::auth::require_authorized,
    ));
    let listener = super::tls::TlsListener::new(listener, &tls);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<super::tls::Client>(),
    )
    .with_graceful_shutdown(stop)
    .await
}
// ANCHOR_END: serve_tls

/// Binds `addr` and serves [`router`] there as `listening` says, in a task
/// of its own until `shutdown` completes: how `orc-agent run --listen` and
/// `orc agent` start it. Answers the address actually bound (port 0 picks
/// one).
pub async fn spawn(
    addr: std::net::SocketAddr,
    listening: Listening,
    layout: StateLayout,
    runtime: std::path::PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let scheme = match &listening {
        Listening::Tls { .. } => "https",
        Listening::PlainHttp => "http",
    };
    tracing::info!(
        "serving /containerLogs, /exec, /attach, /portForward and /healthz at {scheme}://{bound}"
    );
    let task = tokio::spawn(async move {
        let served = match listening {
            Listening::Tls { tls, authorizer } => {
                serve_tls(listener, tls, authorizer, layout, runtime, shutdown).await
            }
            Listening::PlainHttp => serve(listener, layout, runtime, shutdown).await,
        };
        if let Err(e) = served {
            tracing::error!("the agent's server on {bound} stopped: {e}");
        }
    });
    Ok((bound, task))
}

async fn metrics(State(server): State<AgentServer>) -> String {
    format!(
        "# HELP orc_agent_log_streams Container log responses being streamed now.\n\
         # TYPE orc_agent_log_streams gauge\n\
         orc_agent_log_streams {}\n",
        server.open_streams.load(Ordering::Relaxed)
    )
}

async fn exec_stream(
    State(server): State<AgentServer>,
    Path(target): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    request: axum::extract::Request,
) -> Response {
    let query = query.unwrap_or_default();
    exec::handle(server.layout, server.runtime, target, &query, request).await
}

async fn attach_stream(
    State(server): State<AgentServer>,
    Path(target): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    request: axum::extract::Request,
) -> Response {
    let query = query.unwrap_or_default();
    super::attach::handle(server.layout, target, &query, request).await
}

async fn port_forward(
    State(server): State<AgentServer>,
    Path(target): Path<(String, String)>,
    request: axum::extract::Request,
) -> Response {
    super::portforward::handle(server.layout, target, request).await
}

/// A refusal, as the kubelet words it: a status code and a line of text.
pub type Refusal = (StatusCode, String);

// ANCHOR: container_logs
async fn container_logs(
    State(server): State<AgentServer>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let options = match LogOptions::from_query(&query) {
        Ok(options) => options,
        Err(e) => {
            let code = match e {
                LogOptionsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                LogOptionsError::Malformed(_) | LogOptionsError::Unsupported(_) => {
                    StatusCode::BAD_REQUEST
                }
            };
            return (code, e.to_string()).into_response();
        }
    };
    // Directory scans and a backwards read for the tail: off the runtime.
    let layout = server.layout.clone();
    let choice = {
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            choose_log(&layout, &namespace, &pod, &container, &options)
        })
    };
    let chosen = match choice.await {
        Ok(Ok(chosen)) => chosen,
        Ok(Err(refusal)) => return refusal.into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let mut file = match tokio::fs::File::open(&chosen.path).await {
        Ok(file) => file,
        Err(e) => return (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    };
    if let Err(e) = file.seek(std::io::SeekFrom::Start(chosen.start)).await {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    let stream = LogStream {
        file,
        limit: LogLimit::new(options.limit_bytes),
        follow: options.follow,
        run_ended: chosen.run_ended,
        stopping: server.stopping.subscribe(),
        _open: OpenStream::new(&server.open_streams),
        buf: vec![0; 64 * 1024],
    };
    let body = futures::stream::unfold(stream, LogStream::next_chunk);
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(body),
    )
        .into_response()
}
// ANCHOR_END: container_logs

/// Which file to send, from where, and how to tell that its run is over.
#[derive(Debug, Clone)]
pub struct ChosenLog {
    /// The run's log file.
    pub path: PathBuf,
    /// Where to start reading (after `tailLines`).
    pub start: u64,
    /// The shim's exit record of the run that writes this file: once it
    /// exists, nothing more will be appended.
    pub run_ended: PathBuf,
}

/// The kubelet's checks, in its order: the pod, the container, then the
/// run (current or previous) whose log exists. The refusal is a status
/// code and the kubelet's sentence; `orc-agent logs` prints the sentence.
pub fn choose_log(
    layout: &StateLayout,
    namespace: &str,
    pod_name: &str,
    container: &str,
    options: &LogOptions,
) -> Result<ChosenLog, Refusal> {
    let Some(pod) = find_pod(layout, namespace, pod_name) else {
        return Err((
            StatusCode::NOT_FOUND,
            format!("pod {pod_name:?} does not exist"),
        ));
    };
    if pod.container(container).is_none() {
        return Err((
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {pod_name:?}"),
        ));
    }
    let uid = &pod.metadata.uid;
    let dir = layout.log_dir(uid, container);
    let run = if options.previous {
        logs::previous_log(&dir).ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!(
                    "previous terminated container {container:?} in pod {pod_name:?} not found"
                ),
            )
        })?
    } else {
        logs::runs(&dir).pop().ok_or_else(|| {
            let reason = waiting_reason(layout, uid, container);
            (
                StatusCode::BAD_REQUEST,
                format!(
                    "container {container:?} in pod {pod_name:?} is waiting to start: {reason}"
                ),
            )
        })?
    };
    let (attempt, path) = run;
    let read_error = |e: std::io::Error| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reading {}: {e}", path.display()),
        )
    };
    let start = match options.tail_lines {
        None => 0,
        Some(lines) => {
            let mut file = std::fs::File::open(&path).map_err(read_error)?;
            logs::tail_offset(&mut file, lines).map_err(read_error)?
        }
    };
    Ok(ChosenLog {
        start,
        run_ended: shim::exit_file(&layout.bundle(uid, container, attempt)),
        path,
    })
}

/// The pod named `namespace/name` among those whose `pod.json` the agent
/// wrote. A pod deleted and created again under the same name has two
/// directories for a while; the newer one is the pod the name means now.
pub fn find_pod(layout: &StateLayout, namespace: &str, name: &str) -> Option<Pod> {
    std::fs::read_dir(layout.pods())
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let uid = entry.file_name().into_string().ok()?;
            let path = layout.pod_spec(&uid);
            let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
            let pod: Pod = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            (pod.metadata.namespace == namespace && pod.metadata.name == name)
                .then_some((written, pod))
        })
        .max_by_key(|(written, _)| *written)
        .map(|(_, pod)| pod)
}

/// Why a container has no log yet, from the status the agent last wrote
/// (`ErrImagePull`, ...); `ContainerCreating` when it wrote none.
fn waiting_reason(layout: &StateLayout, uid: &str, container: &str) -> String {
    std::fs::read(layout.pod_status(uid))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<PodStatus>(&bytes).ok())
        .and_then(|status| {
            status
                .init_container_statuses
                .into_iter()
                .chain(status.container_statuses)
                .find(|c| c.name == container)
        })
        .and_then(|c| match c.state {
            ContainerState::Waiting { reason, .. } => Some(reason),
            _ => None,
        })
        .unwrap_or_else(|| "ContainerCreating".into())
}

/// Counts itself in the `/metrics` gauge while it lives.
struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    fn new(count: &Arc<AtomicUsize>) -> OpenStream {
        count.fetch_add(1, Ordering::Relaxed);
        OpenStream(Arc::clone(count))
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One log response being streamed: the state of a `stream::unfold`.
struct LogStream {
    file: tokio::fs::File,
    limit: LogLimit,
    follow: bool,
    run_ended: PathBuf,
    stopping: watch::Receiver<bool>,
    _open: OpenStream,
    buf: Vec<u8>,
}

impl LogStream {
    // ANCHOR: next_chunk
    /// The next chunk of the log; `None` ends the response.
    async fn next_chunk(mut self) -> Option<(std::io::Result<Bytes>, LogStream)> {
        loop {
            if self.limit.exhausted() {
                return None;
            }
            // Looked at before reading: the shim writes the exit record
            // after the container's last byte, so an empty read after it
            // was seen means the log is complete.
            let ended = self.follow
                && tokio::fs::try_exists(&self.run_ended)
                    .await
                    .unwrap_or(false);
            let n = match self.file.read(&mut self.buf).await {
                Ok(n) => n,
                Err(e) => {
                    // Ends the response early: the client sees a cut stream.
                    self.follow = false;
                    self.limit = LogLimit::new(Some(0));
                    return Some((Err(e), self));
                }
            };
            if n > 0 {
                let n = self.limit.take(n);
                let chunk = Bytes::copy_from_slice(&self.buf[..n]);
                return Some((Ok(chunk), self));
            }
            if !self.follow || ended {
                return None;
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_POLL) => {}
                _ = self.stopping.wait_for(|stop| *stop) => return None,
            }
            // A truncated file starts over, as `tail -f` does.
            let at = self.file.stream_position().await;
            let len = self.file.metadata().await.map(|m| m.len());
            if let (Ok(at), Ok(len)) = (at, len) {
                if at > len {
                    let _ = self.file.seek(std::io::SeekFrom::Start(0)).await;
                }
            }
        }
    }
    // ANCHOR_END: next_chunk
}

//! Backpressure: how many requests the server works on at once, and for
//! how long.
//!
//! Without limits, a burst of expensive requests (16 concurrent LISTs of
//! every pod) is all accepted, every one holds its memory, and the server
//! slows for everyone, or runs out of memory. kube-apiserver bounds the
//! work instead and tells clients to come back:
//!
//! - `--max-requests-inflight` (400) read-only and
//!   `--max-mutating-requests-inflight` (200) writing requests at once; one
//!   more is answered at once with 429 `TooManyRequests` and
//!   `Retry-After: 1`, which client-go retries after, and so does orc's
//!   own client (`orc_client::client::MAX_RETRIES` times);
//! - `--request-timeout` (1 minute): a request still running then is
//!   answered 504 `Timeout`, and a streamed LIST still sending its body
//!   then is cut (its status line is already gone);
//! - long-running requests (watches, `exec`, `attach`, `portforward`,
//!   `log`, `proxy`) are exempt from both: they are meant to last, and
//!   they are bounded instead by a watch timeout the server picks when the
//!   client names none, spread at random over `[min, 2 × min)` of
//!   `--min-request-timeout` (1800 s) so that the watches of a thousand
//!   clients do not all end, and re-list, at the same moment.
//!
//! The classification ([`classify`]) and the watch timeout
//! ([`watch_timeout`]) are pure; [`limit`] is the middleware.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::server::AppState;

/// The limits, named and defaulted as kube-apiserver's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Read-only requests served at once.
    pub max_requests_inflight: usize,
    /// Writing requests served at once.
    pub max_mutating_requests_inflight: usize,
    /// How long a request that is not long-running may take.
    pub request_timeout: Duration,
    /// The shortest timeout the server gives a watch that names none.
    pub min_request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_requests_inflight: 400,
            max_mutating_requests_inflight: 200,
            request_timeout: Duration::from_secs(60),
            min_request_timeout: Duration::from_secs(1800),
        }
    }
}

/// The limits as command-line flags (`orc-apiserver`, `orc server`).
#[derive(Debug, Clone, clap::Args)]
pub struct LimitFlags {
    /// Read-only requests served at once; more are answered 429.
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,
    /// Writing requests served at once; more are answered 429.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,
    /// How long a request other than a watch may take (e.g. `60s`, `1m`);
    /// then it is answered 504.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Seconds: the shortest timeout given to a watch that names none
    /// (the server picks at random in [this, twice this)).
    #[arg(long, default_value_t = 1800)]
    pub min_request_timeout: u64,
}

impl LimitFlags {
    /// The limits these flags set.
    pub fn limits(&self) -> Limits {
        Limits {
            max_requests_inflight: self.max_requests_inflight,
            max_mutating_requests_inflight: self.max_mutating_requests_inflight,
            request_timeout: self.request_timeout,
            min_request_timeout: Duration::from_secs(self.min_request_timeout),
        }
    }
}

/// `60s`, `1m`, `1m30s`, `PT1M`: a duration as Kubernetes' flags take it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed: jiff::SignedDuration = text
        .parse()
        .map_err(|e| format!("{text:?} is not a duration such as 60s or 1m: {e}"))?;
    Duration::try_from(parsed).map_err(|_| format!("{text:?} is negative"))
}

/// How a request counts against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestClass {
    /// Watches and streams: exempt.
    LongRunning,
    /// GET, HEAD, OPTIONS.
    ReadOnly,
    /// Everything that may write.
    Mutating,
}

/// The subresources Kubernetes treats as long-running.
const LONG_RUNNING_SUBRESOURCES: &[&str] = &["exec", "attach", "portforward", "log", "proxy"];

/// Classifies a request by method, path and query, as kube-apiserver's
/// `BasicLongRunningRequestCheck` does.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> RequestClass {
    let watching = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // The subresource as the API's own path parser reads it, so that a
    // pod named `log` is an object, not a stream.
    let (core, rest) = match segments.split_first() {
        Some((&"api", rest)) => (true, rest),
        Some((&"apis", rest)) => (false, rest),
        _ => (true, &[][..]),
    };
    // `/api/v1/watch/...`, `/apis/<group>/<version>/watch/...`.
    let version_at = if core { 0 } else { 1 };
    let streaming = rest.get(version_at + 1) == Some(&"watch")
        || matches!(
            crate::handlers::path::parse(core, rest),
            Ok(crate::handlers::path::ApiPath::Subresource { ref subresource, .. })
                if LONG_RUNNING_SUBRESOURCES.contains(&subresource.as_str())
        );
    if watching || streaming {
        return RequestClass::LongRunning;
    }
    match *method {
        Method::GET | Method::HEAD | Method::OPTIONS => RequestClass::ReadOnly,
        _ => RequestClass::Mutating,
    }
}

/// A watch's timeout: the client's `timeoutSeconds` when it gave one
/// above zero; else the server's choice, `min × (1 + random)` with
/// `random` in [0, 1). (`timeoutSeconds=0` means "the server's choice",
/// as in Kubernetes, not "end at once".)
pub fn watch_timeout(requested: Option<u64>, min: Duration, random: f64) -> Duration {
    match requested {
        Some(seconds) if seconds > 0 => Duration::from_secs(seconds),
        // Capped below twice `min`: float rounding could reach it.
        _ => min
            .mul_f64(1.0 + random.clamp(0.0, 1.0))
            .min((min * 2).saturating_sub(Duration::from_millis(1))),
    }
}

/// The in-flight counters the middleware shares.
pub struct InFlight {
    limits: Limits,
    read_only: Arc<Semaphore>,
    mutating: Arc<Semaphore>,
}

impl InFlight {
    pub fn new(limits: Limits) -> InFlight {
        InFlight {
            limits,
            read_only: Arc::new(Semaphore::new(limits.max_requests_inflight)),
            mutating: Arc::new(Semaphore::new(limits.max_mutating_requests_inflight)),
        }
    }

    /// The limits these counters enforce.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

// ANCHOR: limit
/// The middleware: long-running requests pass; others take a slot of
/// their class (or get 429 at once) and are cut at the request timeout
/// (504).
pub async fn limit(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let class = classify(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    );
    let slots = match class {
        RequestClass::LongRunning => return next.run(request).await,
        RequestClass::ReadOnly => &state.in_flight.read_only,
        RequestClass::Mutating => &state.in_flight.mutating,
    };
    // Held until the answer is sent: the slot is the work, not the wait.
    let Ok(slot) = slots.clone().try_acquire_owned() else {
        return too_many_requests();
    };
    let deadline = tokio::time::Instant::now() + state.in_flight.limits.request_timeout;
    let abort = request.extensions().get::<ConnectionAbort>().cloned();
    match tokio::time::timeout_at(deadline, next.run(request)).await {
        Ok(response) => bound_streaming(response, slot, deadline, abort),
        Err(_) => timed_out(),
    }
}
// ANCHOR_END: limit

/// How long past `--request-timeout` a streamed answer whose client
/// stopped reading may hold its connection before the server closes it.
pub const STALLED_CLIENT_GRACE: Duration = Duration::from_secs(1);

/// Closes the connection a request came on: the way to stop a response
/// whose client stopped reading (hyper then never asks the body for
/// more, so the body cannot end itself). `connection.rs` inserts one in
/// every request.
#[derive(Debug, Clone, Default)]
pub struct ConnectionAbort(pub Arc<tokio::sync::Notify>);

// ANCHOR: bound_streaming
/// A streamed body (a big LIST, `handlers/list_body.rs`) is still being
/// read from etcd after the handler returned. It keeps the slot until its
/// last byte is sent, so `--max-requests-inflight` bounds the LISTs in
/// progress and the memory they hold, not only their first chunks; and
/// the request timeout covers it to its last byte, as kube-apiserver's
/// covers a whole request: past the deadline the body ends with an error
/// (the client sees a cut transfer, never a list that looks complete).
/// A client that stopped reading is never asked for more bytes, so a
/// watchdog closes its connection [`STALLED_CLIENT_GRACE`] later if the
/// body is still alive. A body of known size (every other answer) is
/// already complete: the slot goes with the handler.
fn bound_streaming(
    response: Response,
    slot: OwnedSemaphorePermit,
    deadline: tokio::time::Instant,
    abort: Option<ConnectionAbort>,
) -> Response {
    if response.body().size_hint().exact().is_some() {
        return response;
    }
    // Dropped with the body, however it ends.
    let (alive, ended) = tokio::sync::oneshot::channel::<()>();
    if let Some(ConnectionAbort(abort)) = abort {
        tokio::spawn(async move {
            tokio::select! {
                _ = ended => {}
                () = tokio::time::sleep_until(deadline + STALLED_CLIENT_GRACE) => {
                    tracing::warn!(
                        "closing a connection whose client stopped reading a response \
                         past --request-timeout"
                    );
                    abort.notify_one();
                }
            }
        });
    }
    response.map(|body| {
        Body::from_stream(Deadlined {
            body: body.into_data_stream(),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            expired: false,
            _slot: slot,
            _alive: alive,
        })
    })
}
// ANCHOR_END: bound_streaming

/// A body stream cut at a deadline.
struct Deadlined<S> {
    body: S,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// The deadline passed and the error was handed out: the end.
    expired: bool,
    _slot: OwnedSemaphorePermit,
    _alive: tokio::sync::oneshot::Sender<()>,
}

impl<S> futures::Stream for Deadlined<S>
where
    S: futures::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin,
{
    type Item = Result<axum::body::Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::task::Poll;
        if self.expired {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.expired = true;
            let why = "response cut: still streaming at --request-timeout";
            tracing::warn!("{why}");
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                why,
            ))));
        }
        self.body
            .poll_next_unpin(cx)
            .map(|item| item.map(|chunk| chunk.map_err(std::io::Error::other)))
    }
}

/// 429 with `Retry-After: 1`, in kube-apiserver's words.
fn too_many_requests() -> Response {
    let mut response = status(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests, please try again later.",
    );
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}

/// 504: the request took longer than `--request-timeout`.
fn timed_out() -> Response {
    status(
        StatusCode::GATEWAY_TIMEOUT,
        "Timeout",
        "Timeout: request did not complete within the allotted timeout",
    )
}

/// A `metav1.Status` failure.
fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"retryAfterSeconds": 1},
        "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_and_streams_are_long_running() {
        let get = Method::GET;
        let long = RequestClass::LongRunning;
        assert_eq!(classify(&get, "/api/v1/pods", Some("watch=true")), long);
        assert_eq!(
            classify(&get, "/api/v1/pods", Some("watch=1&limit=5")),
            long
        );
        assert_eq!(classify(&get, "/api/v1/watch/pods", None), long);
        assert_eq!(
            classify(&Method::POST, "/api/v1/namespaces/d/pods/p/exec", None),
            long
        );
        assert_eq!(
            classify(&get, "/api/v1/namespaces/d/pods/p/log", None),
            long
        );
        // A proxied request, whatever path follows `proxy`: the pod's
        // answer may stream for as long as the app likes.
        for path in [
            "/api/v1/namespaces/d/pods/p:80/proxy",
            "/api/v1/namespaces/d/services/s:http/proxy/a/b/",
        ] {
            assert_eq!(classify(&Method::POST, path, None), long, "{path}");
        }
    }

    #[test]
    fn other_requests_count_by_method() {
        assert_eq!(
            classify(&Method::GET, "/api/v1/pods", Some("watch=false")),
            RequestClass::ReadOnly
        );
        assert_eq!(
            classify(&Method::PATCH, "/api/v1/namespaces/d/pods/p", None),
            RequestClass::Mutating
        );
        // A pod named `log` is an object, not the log subresource.
        assert_eq!(
            classify(&Method::DELETE, "/api/v1/namespaces/d/pods/log", None),
            RequestClass::Mutating
        );
    }

    #[test]
    fn a_watch_without_a_timeout_or_with_zero_gets_the_servers_choice() {
        let min = Duration::from_secs(1800);
        assert_eq!(watch_timeout(Some(5), min, 0.5), Duration::from_secs(5));
        assert_eq!(watch_timeout(None, min, 0.0), min);
        assert_eq!(watch_timeout(Some(0), min, 0.5), Duration::from_secs(2700));
        assert!(watch_timeout(None, min, 1.0) < min * 2);
    }

    #[test]
    fn flags_take_kubernetes_durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
    }
}

//! One request through the proxy: route, take the body (streamed, or
//! whole when small enough to resend), pick, forward, retry once if the
//! request is idempotent and its body can be sent again, hand a protocol
//! upgrade (WebSocket) to `upgrade.rs`, log.
//!
//! The statuses a proxy adds of its own: 404 (no rule and no default
//! backend), 503 (a rule, but no ready endpoint), 413 (a body over the
//! limit, declared or streamed), 502 (no endpoint answered), 504 (the
//! chosen endpoint did not answer in time), 308 (plain HTTP for a host
//! served over TLS), 501 (an HTTP/2 extended CONNECT for a protocol other
//! than WebSocket).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Either, Empty, Full, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, HOST, HeaderValue};
use hyper::http::uri::PathAndQuery;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use tokio::time::Instant;

use super::backends::{BackendHandle, Resolved, Route};
use super::headers::{self, Scheme};
use super::health::{self, EndpointState, InFlight};
use super::upgrade::{self, Requested};
use super::upstream::{Lease, Returning};
use super::{Peer, Pool, Proxy};
use crate::routes::{RouteTable, normalize_host};

/// A response body: a backend's, streamed (`Left`), or one of the proxy's
/// own (`Right`). An `Either` rather than one boxed type: nearly every
/// response is a backend's, and boxing its body was an allocation per
/// request.
pub type ProxyBody = Either<Returning, BoxBody<Bytes, hyper::Error>>;

/// Any error a body passes on.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way to a backend: the client's, streamed, or
/// one kept whole for a retry.
pub type UpstreamBody = BoxBody<Bytes, BoxError>;

/// Bodies up to this size, declared by `Content-Length`, are read whole
/// before an idempotent request is sent, so a retry can send them again.
/// Larger ones, and bodies of unknown length, stream through and are
/// never retried: no copy of what was sent is kept.
pub const RETRY_BUFFER: usize = 64 * 1024;

/// Endpoints a request is sent to at most: the first, and one retry.
const MAX_TRIES: usize = 2;

/// Sends of one request at most, counting those on kept connections the
/// backend had closed (which do not count as tries).
const MAX_SENDS: usize = 4;

/// How long a refused body is read and thrown away (nginx's
/// `lingering_time`: 30 s).
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// Reads a refused request's body to its end and throws it away, beside
/// the 413 that is already on its way, for at most [`LINGER_TIME`]. A
/// client is usually still writing when the answer comes: were the
/// connection closed with its bytes unread, the kernel would answer them
/// with a reset, and the client would see a broken pipe instead of the
/// 413 (nginx's "lingering close" does the same reading). Once the body
/// is read the connection is kept alive as any other.
fn linger(mut body: Incoming) {
    tokio::spawn(async move {
        let read = async { while let Some(Ok(_)) = body.frame().await {} };
        let _ = tokio::time::timeout(LINGER_TIME, read).await;
    });
}

/// What one request came to, for the access log and the metrics.
struct Outcome<'t> {
    response: Response<ProxyBody>,
    /// The route that matched, if one did, in the table the request
    /// started with: its Ingress and Service label the request, and its
    /// counters count it.
    route: Option<&'t Route>,
    /// The endpoint that answered, if any.
    upstream: Option<SocketAddr>,
}

impl Outcome<'_> {
    /// An answer of the proxy's own.
    fn own(status: StatusCode, text: &str) -> Self {
        Outcome {
            response: plain(status, text),
            route: None,
            upstream: None,
        }
    }
}

/// A request body as the forwarding loop holds it.
enum RequestBody {
    /// Known to be whole: sent again on a retry.
    Replayable(Bytes),
    /// The client's own stream, capped at the body limit; sent once.
    Streamed(Option<UpstreamBody>),
}

impl RequestBody {
    /// The body for the next attempt; `None` when a streamed body has
    /// already gone to an endpoint.
    fn next(&mut self) -> Option<UpstreamBody> {
        match self {
            // No body (a GET, most often): `Empty` has no size, so boxing
            // it allocates nothing.
            RequestBody::Replayable(bytes) if bytes.is_empty() => {
                Some(Empty::new().map_err(|never| match never {}).boxed())
            }
            RequestBody::Replayable(bytes) => Some(
                Full::new(bytes.clone())
                    .map_err(|never| match never {})
                    .boxed(),
            ),
            RequestBody::Streamed(body) => body.take(),
        }
    }

    /// Whether it can be sent more than once.
    fn replayable(&self) -> bool {
        matches!(self, RequestBody::Replayable(_))
    }
}

impl Proxy {
    // ANCHOR: handle
    /// Answers one client request, forwarding over the worker's `pool`,
    /// and counts and logs it.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        pool: Pool,
        peer: Arc<Peer>,
        scheme: Scheme,
    ) -> Result<Response<ProxyBody>, Infallible> {
        // What only the access log reads is taken only when something
        // takes the log: a clock read and two clones per request otherwise.
        let logged = tracing::enabled!(target: "orc_ingress::access", tracing::Level::INFO);
        let log = logged.then(|| (Instant::now(), req.method().clone(), req.uri().clone()));
        // The `Host` header's value shares the request's buffer: no copy.
        let host = host_of(&req);
        let routes = self.registry.current();
        let outcome = self
            .respond(&routes, req, &pool, &peer, scheme, &host)
            .await;
        let status = outcome.response.status().as_u16();
        let (ingress, service) = match outcome.route {
            Some(route) => {
                route.requests.count(status);
                (&*route.ingress, &*route.backend.service)
            }
            None => {
                self.metrics.unrouted().count(status);
                ("-", "-")
            }
        };
        // The fields are formatted only when a subscriber takes the event.
        if let Some((started, method, uri)) = log {
            tracing::info!(
                target: "orc_ingress::access",
                client = %peer.address.ip(), %method, host = host.to_str().unwrap_or_default(),
                path = %uri.path(), status,
                ingress, service,
                upstream = %outcome.upstream.map_or("-".to_string(), |a| a.to_string()),
                micros = started.elapsed().as_micros() as u64,
            );
        }
        Ok(outcome.response)
    }
    // ANCHOR_END: handle

    /// Route by `routes`, then forward, or the proxy's own answer.
    async fn respond<'t>(
        &self,
        routes: &'t Resolved,
        mut req: Request<Incoming>,
        pool: &Pool,
        peer: &Peer,
        scheme: Scheme,
        host_value: &HeaderValue,
    ) -> Outcome<'t> {
        let own = Outcome::own;
        // `host_of` took only a value that is text.
        let host = host_value.to_str().unwrap_or_default();
        if let Some(location) = https_redirect(&routes.table, scheme, host, req.uri()) {
            let mut outcome = own(
                StatusCode::PERMANENT_REDIRECT,
                &format!("moved to {location}"),
            );
            if let Ok(location) = location.parse() {
                outcome
                    .response
                    .headers_mut()
                    .insert(hyper::header::LOCATION, location);
            }
            return outcome;
        }
        let Some(route) = routes.route(host, req.uri().path()) else {
            return own(
                StatusCode::NOT_FOUND,
                "no Ingress rule matches this host and path",
            );
        };
        let backend = &route.backend;
        let labelled = |outcome: Outcome<'t>| Outcome {
            route: Some(route),
            ..outcome
        };
        if backend.states.is_empty() {
            let text = format!("service {} has no ready endpoint", backend.service);
            return labelled(own(StatusCode::SERVICE_UNAVAILABLE, &text));
        }
        // Taken before the request is torn apart: the client's side of a
        // WebSocket (or other) upgrade, once the backend agrees to it.
        let upgrade = match upgrade::requested(&mut req) {
            Ok(upgrade) => upgrade,
            Err(refused) => {
                return labelled(Outcome {
                    response: *refused,
                    route: None,
                    upstream: None,
                });
            }
        };
        let (mut parts, body) = req.into_parts();
        let body = match self.request_body(&parts, body).await {
            Ok(body) => body,
            Err(status) => {
                let text = format!("request body larger than {} bytes", self.config.max_body);
                return labelled(own(status, &text));
            }
        };
        headers::forwarded(&mut parts.headers, &peer.forwarded, scheme, host_value);
        if let Some(upgrade) = &upgrade {
            upgrade.to_backend(&mut parts);
        }
        labelled(self.forward(pool, backend, parts, body, upgrade).await)
    }

    // ANCHOR: body
    /// The request body as it will be forwarded: 413 at once for a
    /// declared length over the limit; kept whole when small, known and
    /// idempotent (so a retry can resend it); otherwise streamed, the
    /// limit enforced as the bytes pass.
    async fn request_body(
        &self,
        parts: &hyper::http::request::Parts,
        body: Incoming,
    ) -> Result<RequestBody, StatusCode> {
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.config.max_body) {
            linger(body);
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        if body.is_end_stream() {
            return Ok(RequestBody::Replayable(Bytes::new()));
        }
        let small = declared.is_some_and(|n| n <= RETRY_BUFFER);
        if small && is_idempotent(&parts.method) {
            return match Limited::new(body, RETRY_BUFFER).collect().await {
                Ok(collected) => Ok(RequestBody::Replayable(collected.to_bytes())),
                Err(_) => Err(StatusCode::BAD_REQUEST),
            };
        }
        let limited = Limited::new(body, self.config.max_body).boxed();
        Ok(RequestBody::Streamed(Some(limited)))
    }
    // ANCHOR_END: body

    // ANCHOR: forward
    /// Sends the request to an endpoint. A request that failed before any
    /// of it was written is sent to another endpoint, whatever its method;
    /// an idempotent one that failed after, too, if its body can be sent
    /// again. A pooled connection that the backend had closed is no fault
    /// of the endpoint's: the request is sent again (to any endpoint, this
    /// one included), as nginx does for its cached connections.
    async fn forward(
        &self,
        pool: &Pool,
        backend: &BackendHandle,
        mut parts: hyper::http::request::Parts,
        mut body: RequestBody,
        mut upgrade: Option<Requested>,
    ) -> Outcome<'static> {
        let idempotent = is_idempotent(&parts.method);
        // The endpoints already tried: at most `MAX_TRIES`, on the stack.
        let mut tried = [SocketAddr::from(([0, 0, 0, 0], 0)); MAX_TRIES];
        let (mut tries, mut sends) = (0, 0);
        // A request the pool handed back with none of it written.
        let mut unsent: Option<Request<UpstreamBody>> = None;
        let mut status = StatusCode::BAD_GATEWAY;
        while tries < MAX_TRIES && sends < MAX_SENDS {
            let Some((address, state)) = pick(backend, &tried[..tries]) else {
                break;
            };
            let request = match unsent.take() {
                Some(request) => request,
                None => {
                    let Some(attempt_body) = body.next() else {
                        break; // A streamed body is gone: it cannot be sent twice.
                    };
                    // The headers are copied only when a sent request may
                    // be sent again: idempotent, with a body kept whole.
                    let headers = match idempotent && body.replayable() {
                        true => parts.headers.clone(),
                        false => std::mem::take(&mut parts.headers),
                    };
                    upstream_request(&parts, headers, address, attempt_body)
                }
            };
            tried[tries] = address;
            tries += 1;
            sends += 1;
            let in_flight = state.start();
            // One clock read for both the latency and the 504's deadline.
            let sent = Instant::now();
            let deadline = sent + self.config.response_timeout;
            let answer = tokio::time::timeout_at(deadline, pool.send(address, request)).await;
            let failed = match answer {
                Ok(Ok((response, lease))) => {
                    backend.latency.observe(sent.elapsed());
                    let response = match upgrade.take() {
                        Some(upgrade) => upgrade.answer(response, in_flight, lease),
                        None => passed_on(response, in_flight, Some(lease)),
                    };
                    return Outcome {
                        response,
                        route: None,
                        upstream: Some(address),
                    };
                }
                Ok(Err(failed)) => failed,
                Err(_) => {
                    status = StatusCode::GATEWAY_TIMEOUT;
                    break; // A slow backend may still be working on it: never send it twice.
                }
            };
            if over_limit(&failed.failure) {
                status = StatusCode::PAYLOAD_TOO_LARGE;
                break;
            }
            if failed.reused && failed.unsent.is_none() {
                // The backend closed a kept connection as the request
                // went out on it: not this endpoint's failure.
                tries -= 1;
                tracing::debug!(%address, "kept connection closed: {}", failed.failure);
            } else {
                tracing::warn!(service = %backend.service, %address, "backend failed: {}", failed.failure);
            }
            if failed.failure.is_connect() {
                state.eject(Instant::now(), self.config.eject_for);
            }
            unsent = failed.unsent;
            if unsent.is_none() && !idempotent {
                break; // Written: the backend may have acted on it.
            }
        }
        let text = match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                format!("request body larger than {} bytes", self.config.max_body)
            }
            _ => format!("no endpoint of service {} answered", backend.service),
        };
        Outcome::own(status, &text)
    }
    // ANCHOR_END: forward
}

// ANCHOR: pick
/// An endpoint of `backend` from its balancer, skipping `tried` ones:
/// the endpoints' states and the picker are the handle's, resolved with
/// the table, so nothing is looked up and no lock is taken.
fn pick(backend: &BackendHandle, tried: &[SocketAddr]) -> Option<(SocketAddr, Arc<EndpointState>)> {
    let endpoints = &backend.backend.endpoints;
    let candidates = health::candidates(endpoints, &backend.states, tried, Instant::now());
    let i = backend.picker.pick(&candidates)?;
    Some((endpoints[i].address, backend.states[i].clone()))
}
// ANCHOR_END: pick

/// The request as the backend gets it: same method, path, query and
/// headers, over HTTP/1.1. The URI is the origin form (`/path?query`) an
/// HTTP/1.1 request line carries to a server that is not itself a proxy.
fn upstream_request(
    parts: &hyper::http::request::Parts,
    headers: hyper::HeaderMap,
    address: SocketAddr,
    body: UpstreamBody,
) -> Request<UpstreamBody> {
    // The client's path and query, shared, not copied.
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut request = Request::new(body);
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = Uri::from(path);
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    if !request.headers().contains_key(HOST) {
        // HTTP/2 clients send `:authority`, not `Host`; HTTP/1.1 needs
        // one: the authority, else (an HTTP/1.0 client) the endpoint's.
        let host = match parts.uri.authority() {
            Some(authority) => authority.as_str().parse().ok(),
            None => HeaderValue::try_from(address.to_string()).ok(),
        };
        if let Some(host) = host {
            request.headers_mut().insert(HOST, host);
        }
    }
    request
}

/// The backend's response as the client gets it: hop-by-hop headers
/// gone, the body streamed. Its connection goes back to the pool when the
/// body has ended, and the in-flight guard lives as long as the body:
/// least connections counts a request until its last byte is sent.
pub(super) fn passed_on(
    mut response: Response<Incoming>,
    in_flight: InFlight,
    lease: Option<Lease>,
) -> Response<ProxyBody> {
    headers::remove_hop_by_hop(response.headers_mut());
    response.map(|b| Either::Left(Returning::new(b, lease, in_flight)))
}

/// Whether a failed request failed because its streamed body passed the
/// size limit on the way.
fn over_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Where to send a plain-HTTP request for a host that has a certificate:
/// the same URL over HTTPS (308 keeps the method and body, unlike 301).
fn https_redirect(table: &RouteTable, scheme: Scheme, host: &str, uri: &Uri) -> Option<String> {
    if scheme != Scheme::Http || table.certificates.is_empty() {
        return None;
    }
    let name = normalize_host(host);
    table.certificates.lookup(&name)?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Some(format!("https://{name}{path}"))
}

/// Methods that mean the same when sent twice (RFC 9110 §9.2.2), so a
/// failed attempt may be retried.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// The host a request asked for: `Host` (HTTP/1.1) or the URI's authority
/// (HTTP/2); empty when it has neither. The header's value is cloned, which
/// shares its bytes with the request rather than copying them.
fn host_of(req: &Request<Incoming>) -> HeaderValue {
    if let Some(header) = req.headers().get(HOST).filter(|h| h.to_str().is_ok()) {
        return header.clone();
    }
    req.uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        .unwrap_or_else(|| HeaderValue::from_static(""))
}

/// A short text answer of the proxy's own.
pub fn plain(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(format!("{text}\n")))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(Either::Right(body));
    *response.status_mut() = status;
    response
}

//! One request through the proxy: route, read the body, pick, forward,
//! retry once if the request is idempotent, log.
//!
//! The statuses a proxy adds of its own: 404 (no rule and no default
//! backend), 503 (a rule, but no ready endpoint), 413 (a body over the
//! limit), 502 (no endpoint answered), 504 (the chosen endpoint did not
//! answer in time), 308 (plain HTTP for a host served over TLS), 501 (a protocol upgrade, which orc's proxy does not
//! relay yet).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, HOST, UPGRADE};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use tokio::time::Instant;

use super::headers::{self, Scheme};
use super::health::{self, EndpointState};
use super::{Proxy, authority};
use crate::balance::Balancer;
use crate::routes::{Backend, RouteTable, Verdict, normalize_host};

/// A response body: a backend's, streamed, or one of the proxy's own.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// What one request came to, for the access log and the metrics.
struct Outcome {
    response: Response<ProxyBody>,
    /// `namespace/name` of the backend Service, `-` when none was chosen.
    service: String,
    /// The endpoint that answered, if any.
    upstream: Option<SocketAddr>,
}

impl Proxy {
    // ANCHOR: handle
    /// Answers one client request, and logs it.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
        scheme: Scheme,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let host = host_of(&req);
        let outcome = self.respond(req, peer, scheme, &host).await;
        let status = outcome.response.status().as_u16();
        self.metrics.request(&outcome.service, status);
        let upstream = outcome.upstream.map_or("-".to_string(), |a| a.to_string());
        tracing::info!(
            target: "orc_ingress::access",
            client = %peer.ip(), %method, %host, %path, status,
            service = %outcome.service, %upstream,
            micros = started.elapsed().as_micros() as u64,
        );
        Ok(outcome.response)
    }
    // ANCHOR_END: handle

    /// Route, then forward, or the proxy's own answer.
    async fn respond(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        scheme: Scheme,
        host: &str,
    ) -> Outcome {
        let table = self.table.borrow().clone();
        let own = |status, text: &str| Outcome {
            response: plain(status, text),
            service: "-".into(),
            upstream: None,
        };
        if req.headers().contains_key(UPGRADE) {
            return own(
                StatusCode::NOT_IMPLEMENTED,
                "orc-ingress does not relay protocol upgrades (WebSocket) yet",
            );
        }
        if let Some(location) = https_redirect(&table, scheme, host, req.uri()) {
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
        let backend = match table.route(host, req.uri().path()) {
            Verdict::NotFound => {
                return own(
                    StatusCode::NOT_FOUND,
                    "no Ingress rule matches this host and path",
                );
            }
            Verdict::Unavailable(b) => {
                let text = format!("service {} has no ready endpoint", b.service);
                return Outcome {
                    service: b.service.clone(),
                    ..own(StatusCode::SERVICE_UNAVAILABLE, &text)
                };
            }
            Verdict::Proxy(b) => b.clone(),
        };
        let (mut parts, body) = req.into_parts();
        let body = match self.read_body(&parts.headers, body).await {
            Ok(body) => body,
            Err(status) => {
                let text = format!("request body larger than {} bytes", self.config.max_body);
                return Outcome {
                    service: backend.service.clone(),
                    ..own(status, &text)
                };
            }
        };
        headers::forwarded(&mut parts.headers, peer.ip(), scheme);
        self.forward(&backend, parts, body).await
    }

    /// The whole request body, up to the limit: 413 beyond it. Read whole
    /// so that a retry can send it again.
    async fn read_body(
        &self,
        headers: &hyper::HeaderMap,
        body: Incoming,
    ) -> Result<Bytes, StatusCode> {
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.config.max_body) {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        match Limited::new(body, self.config.max_body).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                Err(StatusCode::PAYLOAD_TOO_LARGE)
            }
            Err(_) => Err(StatusCode::BAD_REQUEST),
        }
    }

    // ANCHOR: forward
    /// Sends the request to an endpoint; an idempotent request whose
    /// endpoint failed before answering is sent once more, to another.
    async fn forward(
        &self,
        backend: &Backend,
        parts: hyper::http::request::Parts,
        body: Bytes,
    ) -> Outcome {
        let attempts = if is_idempotent(&parts.method) { 2 } else { 1 };
        let mut tried = Vec::new();
        let mut status = StatusCode::BAD_GATEWAY;
        while tried.len() < attempts {
            let Some((address, state)) = self.pick(backend, &tried) else {
                break;
            };
            tried.push(address);
            let in_flight = state.start();
            let request = upstream_request(&parts, address, body.clone());
            let sent = Instant::now();
            let answer =
                tokio::time::timeout(self.config.response_timeout, self.client.request(request))
                    .await;
            match answer {
                Ok(Ok(mut response)) => {
                    self.metrics
                        .upstream(&backend.service, sent.elapsed().as_secs_f64());
                    headers::remove_hop_by_hop(response.headers_mut());
                    // The guard lives as long as the body: least-connections
                    // counts a request until its last byte is sent.
                    let response = response.map(|b| {
                        b.map_frame(move |f| {
                            let _ = &in_flight;
                            f
                        })
                        .boxed()
                    });
                    return Outcome {
                        response,
                        service: backend.service.clone(),
                        upstream: Some(address),
                    };
                }
                Ok(Err(e)) => {
                    tracing::warn!(service = %backend.service, %address, "backend failed: {e}");
                    if e.is_connect() {
                        state.eject(Instant::now(), self.config.eject_for);
                    }
                }
                Err(_) => {
                    status = StatusCode::GATEWAY_TIMEOUT;
                    break; // A slow backend may still be working on it: never send it twice.
                }
            }
        }
        let text = format!("no endpoint of service {} answered", backend.service);
        Outcome {
            response: plain(status, &text),
            service: backend.service.clone(),
            upstream: None,
        }
    }
    // ANCHOR_END: forward

    /// An endpoint of `backend` from its balancer, skipping `tried` ones.
    fn pick(
        &self,
        backend: &Backend,
        tried: &[SocketAddr],
    ) -> Option<(SocketAddr, Arc<EndpointState>)> {
        let states: Vec<_> = backend
            .endpoints
            .iter()
            .map(|e| self.endpoints.state(e.address))
            .collect();
        let candidates = health::candidates(&backend.endpoints, &states, tried, Instant::now());
        let key = (
            backend.service.clone(),
            backend.port.clone(),
            backend.algorithm,
        );
        let mut balancers = self.balancers.lock().unwrap();
        let balancer = balancers
            .entry(key)
            .or_insert_with(|| Balancer::new(backend.algorithm));
        let i = balancer.pick(&candidates)?;
        Some((backend.endpoints[i].address, states[i].clone()))
    }
}

/// The request as the backend gets it: same method, path, query and
/// headers, over HTTP/1.1 to the endpoint's address.
fn upstream_request(
    parts: &hyper::http::request::Parts,
    address: SocketAddr,
    body: Bytes,
) -> Request<Full<Bytes>> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = format!("http://{}{path}", authority(address))
        .parse()
        .unwrap_or_default();
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = parts.headers.clone();
    if !request.headers().contains_key(HOST)
        && let Some(Ok(host)) = parts.uri.authority().map(|a| a.as_str().parse())
    {
        // HTTP/2 clients send `:authority`, not `Host`; HTTP/1.1 needs one.
        request.headers_mut().insert(HOST, host);
    }
    request
}

/// Where to send a plain-HTTP request for a host that has a certificate:
/// the same URL over HTTPS (308 keeps the method and body, unlike 301).
fn https_redirect(table: &RouteTable, scheme: Scheme, host: &str, uri: &Uri) -> Option<String> {
    let name = normalize_host(host);
    if scheme != Scheme::Http || table.certificates.lookup(&name).is_none() {
        return None;
    }
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

/// The host a request asked for: `Host` (HTTP/1.1) or the URI's authority (HTTP/2).
fn host_of(req: &Request<Incoming>) -> String {
    let header = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    header
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_string()
}

/// A short text answer of the proxy's own.
pub fn plain(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(format!("{text}\n")))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

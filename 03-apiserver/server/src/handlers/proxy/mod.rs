//! `pods/{name}/proxy` and `services/{name}/proxy`: any HTTP request,
//! passed on by the API server to a pod and its answer streamed back.
//!
//! ```text
//! GET /api/v1/namespaces/default/pods/web:8080/proxy/metrics?x=1
//!   ──▶ API server: authenticate, authorize `get pods/proxy "web:8080"`,
//!       read pod web: status.podIPs[0] = 10.244.1.7
//!   ──▶ GET /metrics?x=1 to 10.244.1.7:8080, dialled by the API server itself
//! GET /api/v1/namespaces/default/services/web:http/proxy/
//!   ──▶ read Service web (port `http`) and its EndpointSlices
//!   ──▶ GET / to a ready endpoint, 10.244.2.4:8080 (the port's targetPort)
//! ```
//!
//! This is how `kubectl proxy` and dashboards reach an app inside the
//! cluster without a Service of type NodePort: through the one address
//! everyone can reach, the API server, which checks who asks like any
//! other request (the RBAC resource is `pods/proxy` or `services/proxy`,
//! the verb follows the HTTP method: GET `get`, POST `create`, PUT
//! `update`, PATCH `patch`, DELETE `delete`). Kubernetes' `ProxyREST`
//! (`pkg/registry/core/pod/rest/subresources.go`,
//! `pkg/registry/core/service/proxy.go`) does the same with its
//! `UpgradeAwareHandler`; like it, orc's API server dials the pod itself
//! (never through the node's agent), so the API server must be able to
//! route to pod addresses (`orc server` runs on a node that can).
//!
//! The steps, each written once:
//! 1. [`ProxyTarget::of_path`]: the route (server.rs hands the request over
//!    before reading a body, which is streamed on, never buffered);
//! 2. [`location`]: the address, from the store only (why that is the
//!    whole defence against server-side request forgery is said there);
//! 3. [`forward`]: the request with its hop-by-hop headers and the
//!    client's credentials dropped, over a connection of its own
//!    (`agent_client::dial`, `hop.rs`), and the answer streamed back;
//!    a `101 Switching Protocols` (a WebSocket) splices both connections;
//! 4. [`relay_answer`]: a `Location` and the links of an HTML page that mean
//!    the app itself rewritten to go through the proxy again
//!    (`rewrite.rs` says which and why); every other answer streamed as
//!    it comes.

pub mod location;
pub mod rewrite;
mod tls;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hyper::body::Incoming;
use serde_json::Value;

use super::hop;
use super::logs::{error_chain, resource};
use super::read;
use crate::connection::RemoteAddr;
use crate::server::AppState;
use crate::status::ApiError;
use location::{Location, ProxyId, Scheme};
use rewrite::Links;

/// Which object a proxy path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Pod,
    Service,
}

impl ProxyKind {
    /// The plural, as in the path and the metrics.
    pub fn plural(self) -> &'static str {
        match self {
            ProxyKind::Pod => "pods",
            ProxyKind::Service => "services",
        }
    }

    /// The singular, as in Kubernetes' `invalid pod request "..."`.
    fn singular(self) -> &'static str {
        match self {
            ProxyKind::Pod => "pod",
            ProxyKind::Service => "service",
        }
    }
}

// ANCHOR: proxy_target
/// A request path that names a proxy subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTarget {
    pub kind: ProxyKind,
    pub namespace: String,
    /// `[scheme:]name[:port]`, as sent ([`ProxyId::parse`] reads it).
    pub id: String,
    /// The path after `/proxy`, as sent (still percent-encoded): `""`,
    /// `"/"`, `"/metrics"`. It becomes the target's request path as is.
    pub rest: String,
}

impl ProxyTarget {
    /// The proxy target of the path of a request under `/api`, if it is
    /// one: `/api/v1/namespaces/{ns}/{pods|services}/{id}/proxy[/{rest}]`.
    pub fn of_path(path: &str) -> Option<ProxyTarget> {
        let after = path.strip_prefix("/api/v1/namespaces/")?;
        let mut parts = after.splitn(5, '/');
        let (namespace, plural, id) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next()? != "proxy" || namespace.is_empty() || id.is_empty() {
            return None;
        }
        let kind = match plural {
            "pods" => ProxyKind::Pod,
            "services" => ProxyKind::Service,
            _ => return None,
        };
        Some(ProxyTarget {
            kind,
            namespace: namespace.to_string(),
            id: id.to_string(),
            rest: parts
                .next()
                .map(|rest| format!("/{rest}"))
                .unwrap_or_default(),
        })
    }
}
// ANCHOR_END: proxy_target

/// Serves a proxy request; counted in the metrics as Kubernetes counts
/// its connect requests (verb `CONNECT`), when its answer has ended.
pub async fn serve(state: Arc<AppState>, target: ProxyTarget, request: Request) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_string();
    let response = match forward(&state, &target, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    super::observed(
        state,
        "CONNECT",
        target.kind.plural(),
        path,
        started,
        response,
    )
}

// ANCHOR: forward
/// Finds the address, sends the request there and answers with what
/// comes back.
async fn forward(
    state: &AppState,
    target: &ProxyTarget,
    mut request: Request,
) -> Result<Response, ApiError> {
    let id = ProxyId::parse(&target.id).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "invalid {} request {:?}",
            target.kind.singular(),
            target.id
        ))
    })?;
    // Kubernetes' answer to `.../proxy` itself, with no path: go to
    // `.../proxy/`, so that the app's relative links resolve under it.
    if target.rest.is_empty() && matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(redirect_to_slash(request.uri()));
    }
    let location = match target.kind {
        ProxyKind::Pod => pod_location(state, target, &id).await?,
        ProxyKind::Service => service_location(state, target, &id).await?,
    };
    let upgrade = is_upgrade(request.headers());
    let body = std::mem::replace(request.body_mut(), Body::empty());
    let upstream = upstream_request(&request, target, location, body, upgrade)?;
    let unreachable = |e: &dyn std::error::Error| {
        ApiError::BackendUnavailable(format!("error trying to reach service: {}", error_chain(e)))
    };
    let io = connect(location).await.map_err(|e| unreachable(&e))?;
    let mut answer = hop::send(io, upstream).await.map_err(|e| unreachable(&e))?;
    if upgrade && answer.status() == StatusCode::SWITCHING_PROTOCOLS {
        // A WebSocket (or any upgrade) the target accepted: one pipe.
        hop::splice(&mut request, &mut answer);
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *response.headers_mut() = answer.headers().clone();
        return Ok(response);
    }
    let path = request.uri().path();
    let links = Links {
        // The request path is the prefix and `rest`, as sent.
        prefix: &path[..path.len() - target.rest.len()],
        target: location.address,
        // HTTP/2 (kubectl's) has no `Host`: its `:authority` instead.
        request_host: request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(request.uri().authority().map(|a| a.as_str())),
    };
    let has_body = request.method() != Method::HEAD;
    Ok(relay_answer(answer, &links, has_body).await)
}
// ANCHOR_END: forward

// ANCHOR: relay_answer
/// The target's answer as the client gets it, without hop-by-hop headers.
/// A `Location` (a redirect's, a `201 Created`'s) that means the app is
/// rewritten, and then the body is left alone, as kube-apiserver does; an
/// HTML page (`text/html`) has its links rewritten ([`html_body`]);
/// anything else streams through as it comes, chunk by chunk.
async fn relay_answer(
    answer: hyper::Response<Incoming>,
    links: &Links<'_>,
    has_body: bool,
) -> Response {
    let (parts, body) = answer.into_parts();
    let mut headers = end_to_end(&parts.headers);
    let location = headers.get(header::LOCATION).and_then(|l| l.to_str().ok());
    let body = if let Some(location) = location {
        let new = links.rewrite(location);
        if let Some(value) = new.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, value);
        }
        Body::new(body)
    } else {
        let html = headers
            .get(header::CONTENT_TYPE)
            .and_then(|t| t.to_str().ok())
            .is_some_and(|t| rewrite::media_type(t).0 == "text/html");
        let empty = parts.status.is_informational()
            || parts.status == StatusCode::NO_CONTENT
            || parts.status == StatusCode::NOT_MODIFIED;
        if html && has_body && !empty {
            html_body(links, &mut headers, body).await
        } else {
            Body::new(body)
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = parts.status;
    *response.headers_mut() = headers;
    response
}
// ANCHOR_END: relay_answer

// ANCHOR: html_body
/// An HTML page's body with its links rewritten (`rewrite.rs`), decoded
/// from gzip or deflate on the way: `headers` lose `Content-Encoding` and
/// `Content-Length` (the new length is the rewritten page's). The page is
/// read whole first, up to [`rewrite::LIMIT`] bytes: a bigger one, a
/// coding or charset that cannot be read, or a body that breaks off is
/// passed on as received (what was read, then the rest as it comes), its
/// links as they were, and a warning says why.
async fn html_body(links: &Links<'_>, headers: &mut HeaderMap, body: Incoming) -> Body {
    let mut stream = Body::new(body).into_data_stream();
    let mut read = Vec::new();
    let mut size = 0;
    let why = loop {
        match stream.next().await {
            None => break None,
            Some(Ok(chunk)) => {
                size += chunk.len();
                read.push(Ok(chunk));
                if size > rewrite::LIMIT {
                    break Some(format!("over {} bytes", rewrite::LIMIT));
                }
            }
            Some(Err(error)) => {
                let why = format!("the body broke off: {error}");
                read.push(Err(error));
                break Some(why);
            }
        }
    };
    let why = match why {
        Some(why) => why,
        None => {
            let page: Vec<u8> = read
                .iter()
                .flatten()
                .flat_map(|c| c.iter().copied())
                .collect();
            let coding = headers.get(header::CONTENT_ENCODING);
            let coding = coding.and_then(|c| c.to_str().ok()).unwrap_or("");
            let content_type = headers.get(header::CONTENT_TYPE);
            let content_type = content_type.and_then(|t| t.to_str().ok()).unwrap_or("");
            let charset = rewrite::media_type(content_type).1;
            let rewritten = links.html(&page, coding, charset);
            match rewritten {
                Ok(rewritten) => {
                    headers.remove(header::CONTENT_ENCODING);
                    headers.remove(header::CONTENT_LENGTH);
                    return Body::from(rewritten);
                }
                Err(why) => why,
            }
        }
    };
    tracing::warn!(
        proxy = links.prefix,
        "an HTML page passed on with its links not rewritten: {why}"
    );
    Body::from_stream(futures::stream::iter(read).chain(stream))
}
// ANCHOR_END: html_body

/// The pod's address (`location::pod_location`).
async fn pod_location(
    state: &AppState,
    target: &ProxyTarget,
    id: &ProxyId<'_>,
) -> Result<Location, ApiError> {
    let pods = resource("pods")?;
    let pod = read::get(state, pods, Some(&target.namespace), id.name).await?;
    location::pod_location(&pod.body, id, &target.id)
}

/// An endpoint of the Service (`location::service_location`), read from
/// its EndpointSlices, picked at random.
async fn service_location(
    state: &AppState,
    target: &ProxyTarget,
    id: &ProxyId<'_>,
) -> Result<Location, ApiError> {
    let services = resource("services")?;
    let service = read::get(state, services, Some(&target.namespace), id.name).await?;
    let port_name = location::service_port_name(&service.body, id)?;
    let slices = service_slices(state, &target.namespace, id.name).await?;
    let pick = fastrand::usize(..);
    location::service_location(id, &target.id, &port_name, &slices, pick)
}

/// The EndpointSlices of Service `name`: those of its namespace labelled
/// `kubernetes.io/service-name: <name>`, as the endpoint slice controller
/// writes them (and as anyone writes them for a Service without selector).
async fn service_slices(
    state: &AppState,
    namespace: &str,
    name: &str,
) -> Result<Vec<Value>, ApiError> {
    let slices = orc_client::resources::lookup("discovery.k8s.io", "v1", "endpointslices")
        .ok_or_else(|| ApiError::Internal("no endpointslices resource".into()))?;
    let prefix = crate::storage::prefix(slices, Some(namespace));
    let page = state
        .store
        .list(&prefix, "", 0, 0)
        .await
        .map_err(ApiError::storage)?;
    let named = |slice: &Value| {
        slice["metadata"]["labels"]["kubernetes.io/service-name"].as_str() == Some(name)
    };
    Ok(page
        .items
        .into_iter()
        .map(|(_, slice)| slice)
        .filter(named)
        .collect())
}

/// A connection to `location`: TCP, then TLS for `https:`, checking no
/// certificate (`tls.rs`).
async fn connect(location: Location) -> std::io::Result<Box<dyn crate::agent_client::AgentIo>> {
    let tcp = crate::agent_client::dial(location.address).await?;
    match location.scheme {
        Scheme::Http => Ok(Box::new(tcp)),
        Scheme::Https => Ok(Box::new(tls::connect(location.address, tcp).await?)),
    }
}

// ANCHOR: upstream_request
/// The request the target gets: the client's method, the path after
/// `/proxy` and the query, as sent; the client's headers without the
/// hop-by-hop ones (kept for an upgrade, which needs `Connection` and
/// `Upgrade`) and without the client's credentials, which are for the API
/// server (kube-apiserver's authentication filter deletes `Authorization`
/// once it has authenticated, and impersonation removes its headers).
///
/// Two headers tell the app how it was reached, the two kube-apiserver
/// sets: `X-Forwarded-For`, the client's address added to the list the
/// client sent (Go's reverse proxy does that), and `X-Forwarded-Uri`, the
/// path the client asked the API server for (its proxy transport). Not
/// `X-Forwarded-Host` nor `X-Forwarded-Proto`: kube-apiserver leaves them
/// unset (its transport takes them from the request's URL, which on a
/// server has neither), and they would name the API server, not what the
/// browser talks to (`kubectl proxy` on 127.0.0.1:8001, over HTTP). Those
/// a client sent pass on as its other headers do.
fn upstream_request(
    request: &Request,
    target: &ProxyTarget,
    location: Location,
    body: Body,
    upgrade: bool,
) -> Result<hyper::Request<Body>, ApiError> {
    let path = if target.rest.is_empty() {
        "/"
    } else {
        &target.rest
    };
    let uri = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_string(),
    };
    let mut upstream = hyper::Request::builder()
        .method(request.method().clone())
        .uri(&uri)
        .body(body)
        .map_err(|e| ApiError::BadRequest(format!("the proxied path {uri:?}: {e}")))?;
    let headers = if upgrade {
        request.headers().clone()
    } else {
        end_to_end(request.headers())
    };
    let headers = headers.into_iter().filter_map(|(name, value)| {
        let name = name?;
        let credential = name == header::AUTHORIZATION
            || name.as_str().starts_with("impersonate-")
            || name == header::PROXY_AUTHORIZATION;
        (!credential).then_some((name, value))
    });
    for (name, value) in headers {
        upstream.headers_mut().append(name, value);
    }
    // HTTP/1.1 needs a `Host`; a client speaking HTTP/2 sent none (its
    // `:authority` is not a header), so the target's address stands in.
    if !upstream.headers().contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(&location.address.to_string())
    {
        upstream.headers_mut().insert(header::HOST, host);
    }
    if let Some(RemoteAddr(peer)) = request.extensions().get::<RemoteAddr>() {
        let sent = request.headers().get_all(X_FORWARDED_FOR).iter();
        let mut list: Vec<&str> = sent.filter_map(|v| v.to_str().ok()).collect();
        let ip = peer.ip().to_string();
        list.push(&ip);
        if let Ok(value) = HeaderValue::from_str(&list.join(", ")) {
            upstream.headers_mut().insert(X_FORWARDED_FOR, value);
        }
    }
    if let Ok(value) = HeaderValue::from_str(request.uri().path()) {
        upstream.headers_mut().insert("x-forwarded-uri", value);
    }
    Ok(upstream)
}
// ANCHOR_END: upstream_request

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// HTTP/1.1's hop-by-hop headers (RFC 9110 §7.6.1, and the list Go's
/// reverse proxy drops): they describe one connection, not the message.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `headers` without the hop-by-hop ones, nor those the `Connection`
/// header names as such.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut kept = HeaderMap::new();
    for (name, value) in headers {
        let hop = HOP_BY_HOP.contains(&name.as_str()) || named.iter().any(|n| n == name.as_str());
        if !hop {
            kept.append(HeaderName::clone(name), HeaderValue::clone(value));
        }
    }
    kept
}

/// Whether the client asks to switch protocols (`Connection: Upgrade`
/// and an `Upgrade` header), as a WebSocket does.
fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// `301 Moved Permanently` to the same path with a `/` added, the query
/// kept (Kubernetes' `proxyRedirectsforRootPath`).
fn redirect_to_slash(uri: &axum::http::Uri) -> Response {
    let location = match uri.query() {
        Some(query) => format!("{}/?{query}", uri.path()),
        None => format!("{}/", uri.path()),
    };
    let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_paths_are_recognised_and_nothing_else() {
        let target = ProxyTarget::of_path("/api/v1/namespaces/default/pods/web:80/proxy/a/b/");
        assert_eq!(
            target,
            Some(ProxyTarget {
                kind: ProxyKind::Pod,
                namespace: "default".into(),
                id: "web:80".into(),
                rest: "/a/b/".into(),
            })
        );
        let bare = ProxyTarget::of_path("/api/v1/namespaces/x/services/https:web:443/proxy");
        let bare = bare.unwrap();
        assert_eq!((bare.kind, bare.rest.as_str()), (ProxyKind::Service, ""));
        for other in [
            "/api/v1/namespaces/default/pods/web/log",
            "/api/v1/namespaces/default/pods/web",
            "/api/v1/namespaces/default/configmaps/web/proxy",
            "/api/v1/nodes/n1/proxy",
            "/api/v1/namespaces//pods/web/proxy",
            "/apis/apps/v1/namespaces/default/pods/web/proxy",
        ] {
            assert_eq!(ProxyTarget::of_path(other), None, "{other}");
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_stay_behind() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("x-private", "1"),
            ("content-type", "text/plain"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ] {
            headers.append(name, value.parse().unwrap());
        }
        let kept = end_to_end(&headers);
        let names: Vec<&str> = kept.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["content-type", "set-cookie"]);
        assert_eq!(kept.get_all("set-cookie").iter().count(), 2);
    }
}

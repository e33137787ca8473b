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
//!    a `101 Switching Protocols` (a WebSocket) splices both connections.
//!
//! Not done (Kubernetes does them): rewriting an HTML answer's links and
//! a redirect's `Location` to go through the proxy again.

pub mod location;
mod tls;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::hop;
use super::logs::{error_chain, resource};
use super::read;
use crate::server::AppState;
use crate::status::ApiError;
use location::{Location, ProxyId, Scheme};

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
    // Streamed as it comes: the body is the target's, chunk by chunk.
    let (parts, body) = answer.into_parts();
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = parts.status;
    *response.headers_mut() = end_to_end(&parts.headers);
    Ok(response)
}
// ANCHOR_END: forward

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
/// once it has authenticated, and impersonation removes its headers). The
/// `X-Forwarded-*` headers tell the app where it was reached, as
/// Kubernetes' proxy transport sets them.
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
    let forwarded = [
        ("x-forwarded-uri", Some(request.uri().path())),
        (
            "x-forwarded-host",
            request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or(request.uri().authority().map(|a| a.as_str())),
        ),
    ];
    for (name, value) in forwarded {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            upstream.headers_mut().insert(name, value);
        }
    }
    Ok(upstream)
}
// ANCHOR_END: upstream_request

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

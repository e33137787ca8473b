//! `pods/{name}/exec` and `pods/{name}/portforward`: a stream from kubectl
//! to the pod's node, relayed.
//!
//! kubectl asks for exec with an HTTP upgrade (to WebSocket, subprotocol
//! `v5.channel.k8s.io`), and for port-forward with an upgrade to WebSocket
//! carrying SPDY (`SPDY/3.1+portforward.k8s.io`) or, as a fallback, to
//! SPDY itself. The API server speaks none of these protocols: like
//! Kubernetes' `UpgradeAwareHandler`, it
//! 1. checks the request as any other (authentication ran before),
//! 2. reads the pod, picks the container ([`logs::choose_container`]) and
//!    finds the node's agent ([`logs::agent_address`]),
//! 3. sends the same upgrade request, headers and query unchanged (over
//!    TLS with the API server's client certificate: `agent_client.rs`), to the
//!    agent's `/exec/{namespace}/{pod}/{container}` or
//!    `/portForward/{namespace}/{pod}`,
//! 4. answers kubectl with the agent's `101 Switching Protocols` (its
//!    `Sec-WebSocket-Accept` was computed from kubectl's own key), and
//! 5. from then on copies bytes both ways between the two connections
//!    until either side closes.
//!
//! So the WebSocket is kubectl's and the agent's, end to end; the API
//! server only decided *whether* and *where* (chapter 03, "How `kubectl
//! exec` reaches a process").

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::hop::{self, copy_headers};
use super::logs::{self, agent_address, choose_container, error_chain, resource};
use super::path::ApiPath;
use super::read;
use crate::server::AppState;
use crate::status::ApiError;

/// The pod subresources that are streams rather than objects.
pub const STREAMS: [&str; 3] = ["exec", "attach", "portforward"];

/// The headers an upgrade needs on both hops. Everything else (above all
/// `Authorization`: the client's credentials are for the API server) stays
/// behind.
const UPGRADE_HEADERS: [&str; 6] = [
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];

/// The answer headers kubectl needs from the agent's 101.
const ANSWER_HEADERS: [&str; 5] = [
    "connection",
    "upgrade",
    "sec-websocket-accept",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
];

/// `(namespace, pod, subresource)` when `path` names a pod's stream.
pub fn stream_target(path: &Result<ApiPath, ApiError>) -> Option<(String, String, &'static str)> {
    match path {
        Ok(ApiPath::Subresource {
            resource,
            namespace: Some(ns),
            name,
            subresource,
        }) if resource.kind == "Pod" => STREAMS
            .iter()
            .find(|s| **s == subresource.as_str())
            .map(|s| (ns.clone(), name.clone(), *s)),
        _ => None,
    }
}

/// Relays `request` (an upgrade to `pods/{name}/{subresource}`) to the
/// pod's node.
pub async fn relay(
    state: &AppState,
    (ns, name, subresource): (String, String, &'static str),
    request: Request,
) -> Response {
    match try_relay(state, &ns, &name, subresource, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

// ANCHOR: relay
async fn try_relay(
    state: &AppState,
    ns: &str,
    name: &str,
    subresource: &str,
    mut request: Request,
) -> Result<Response, ApiError> {
    if !request.headers().contains_key(header::UPGRADE) {
        return Err(ApiError::BadRequest("Upgrade request required".into()));
    }
    let query = request.uri().query().unwrap_or("").to_string();
    let pod = read::get(state, resource("pods")?, Some(ns), name)
        .await?
        .body;
    let phase = pod["status"]["phase"].as_str().unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return Err(ApiError::BadRequest(format!(
            "cannot {subresource} into a container in a completed pod; current phase is {phase}"
        )));
    }
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node_name.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let node = read::get(state, resource("nodes")?, None, node_name)
        .await?
        .body;
    let agent = agent_address(&node)?;
    let authority = agent.authority();
    // The kubelet's paths: exec and attach name a container,
    // port-forward a pod.
    let path = if subresource == "portforward" {
        format!("/portForward/{ns}/{name}?{query}")
    } else {
        let container = choose_container(&pod, &query_container(&query))?;
        format!("/{subresource}/{ns}/{name}/{container}?{query}")
    };

    // The agent's side: the same upgrade request on a connection of its own.
    let unreachable = |e: &dyn std::error::Error| {
        ApiError::Internal(format!(
            "the agent of node {node_name:?} at {authority} cannot be reached: {}",
            error_chain(e)
        ))
    };
    let io = state
        .agents
        .connect(agent)
        .await
        .map_err(|e| unreachable(&e))?;
    let mut upstream = hyper::Request::builder()
        .method(request.method().clone())
        .uri(path)
        .header(header::HOST, &authority)
        .body(Body::empty())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    copy_headers(request.headers(), upstream.headers_mut(), &UPGRADE_HEADERS);
    let mut answer = hop::send(io, upstream).await.map_err(|e| unreachable(&e))?;
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        let code = answer.status().as_u16();
        let body = axum::body::to_bytes(Body::new(answer.into_body()), 64 * 1024)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        return Ok(logs::agent_error(code, text.trim_end(), name, subresource));
    }
    // Both connections switch protocols (`hop.rs`); kubectl gets the
    // agent's 101, whose `Sec-WebSocket-Accept` answers its own key.
    hop::splice(&mut request, &mut answer);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    copy_headers(answer.headers(), response.headers_mut(), &ANSWER_HEADERS);
    Ok(response)
}
// ANCHOR_END: relay

/// The `container` parameter of a raw query, or `""`.
fn query_container(query: &str) -> String {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "container")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

//! Who may use the agent's port: the API server, and no one else.
//!
//! The kubelet authenticates each request (a client certificate from its
//! `--client-ca-file`, else 401 `Unauthorized`) and then asks the API
//! server whether that user may use the node's subresource the path maps
//! to (`nodes/proxy` for logs, exec, attach and port-forward;
//! `nodes/metrics` for `/metrics`), answering 403 `Forbidden (user=...,
//! verb=..., resource=nodes, subresource=...)` when not. orc's chapter 02
//! agent knows nothing of the API, so it cannot ask; its rule is fixed
//! and short instead (chapter 03, "The API server → node hop"):
//!
//! - the user [`API_SERVER_CLIENT`], the certificate `orc up` issues the
//!   API server for this hop (kube-apiserver's `--kubelet-client-certificate`
//!   under kubeadm has the same CN), may do everything;
//! - so may the group `system:masters`, which Kubernetes' authorizer never
//!   refuses either;
//! - `/healthz` is open to anyone: it answers `ok` and tells nothing,
//!   as kube-apiserver's `/healthz` is open through
//!   `system:public-info-viewer`;
//! - anything else is 401 without a certificate, 403 with one.
//!
//! [`authorize`] decides, pure; [`require_api_server`] is the middleware.

use axum::extract::{ConnectInfo, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::tls::Client;

/// The user the API server presents to agents (kube-apiserver's kubelet
/// client certificate under kubeadm: CN `kube-apiserver-kubelet-client`).
pub const API_SERVER_CLIENT: &str = "kube-apiserver-kubelet-client";

/// The group whose members pass every authorizer.
pub const MASTERS: &str = "system:masters";

// ANCHOR: authorize
/// Whether `client` may `method` `path` on this agent: `Ok`, or the
/// refusal (status code and the kubelet's text).
pub fn authorize(client: &Client, method: &Method, path: &str) -> Result<(), (StatusCode, String)> {
    if path == "/healthz" {
        return Ok(());
    }
    let Some(user) = &client.0 else {
        return Err((StatusCode::UNAUTHORIZED, "Unauthorized".into()));
    };
    if user.name == API_SERVER_CLIENT || user.groups.iter().any(|g| g == MASTERS) {
        return Ok(());
    }
    Err((
        StatusCode::FORBIDDEN,
        format!(
            "Forbidden (user={}, verb={}, resource=nodes, subresource={})",
            user.name,
            verb(method),
            subresource(path)
        ),
    ))
}
// ANCHOR_END: authorize

/// The verb the kubelet names for an HTTP method.
fn verb(method: &Method) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    }
}

/// The node subresource the kubelet maps a path to.
fn subresource(path: &str) -> &'static str {
    if path == "/metrics" || path.starts_with("/metrics/") {
        "metrics"
    } else if path == "/stats" || path.starts_with("/stats/") {
        "stats"
    } else {
        "proxy"
    }
}

/// The middleware: [`authorize`] every request by the connection's
/// [`Client`] before any route sees it.
pub async fn require_api_server(
    ConnectInfo(client): ConnectInfo<Client>,
    request: Request,
    next: Next,
) -> Response {
    match authorize(&client, request.method(), request.uri().path()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::debug!(
                path = request.uri().path(),
                ?client,
                "refused: {}",
                refusal.1
            );
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tls::ClientUser;

    fn user(name: &str, groups: &[&str]) -> Client {
        Client(Some(ClientUser {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }))
    }

    #[test]
    fn only_the_api_server_and_masters_pass() {
        let exec = "/exec/default/web/app";
        assert!(authorize(&user(API_SERVER_CLIENT, &[]), &Method::GET, exec).is_ok());
        assert!(authorize(&user("kubernetes-admin", &[MASTERS]), &Method::GET, exec).is_ok());
        let (code, text) = authorize(&Client(None), &Method::GET, exec).unwrap_err();
        assert_eq!(
            (code, text.as_str()),
            (StatusCode::UNAUTHORIZED, "Unauthorized")
        );
        let node = user("system:node:n1", &["system:nodes"]);
        let (code, text) = authorize(&node, &Method::POST, "/portForward/default/web").unwrap_err();
        assert_eq!(code, StatusCode::FORBIDDEN);
        assert_eq!(
            text,
            "Forbidden (user=system:node:n1, verb=create, resource=nodes, subresource=proxy)"
        );
        let (_, text) = authorize(&node, &Method::GET, "/metrics").unwrap_err();
        assert!(text.ends_with("subresource=metrics)"), "{text}");
    }

    #[test]
    fn health_is_open() {
        assert!(authorize(&Client(None), &Method::GET, "/healthz").is_ok());
    }
}

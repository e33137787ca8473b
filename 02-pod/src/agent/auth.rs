//! Who may use the agent's port, and what a request there asks for.
//!
//! The kubelet authenticates each request on its port 10250 (a client
//! certificate from its `--client-ca-file`; with
//! `--authentication-token-webhook`, a bearer token the API server vouches
//! for; else 401 `Unauthorized`) and then, with
//! `--authorization-mode=Webhook`, asks the API server whether that user
//! may use the node's subresource the path maps to ([`NodeAttributes`]),
//! answering 403 `Forbidden (user=..., verb=..., resource=nodes,
//! subresource=...)` when not (chapter 03, "The API server → node hop").
//!
//! Chapter 02's agent knows nothing of the API, so it cannot ask. The
//! port's middleware ([`require_authorized`]) therefore asks a
//! [`PortAuthorizer`], a seam like the agent's `PodSource`:
//!
//! - [`FixedRule`], chapter 02's: a rule that needs no API. The user
//!   [`API_SERVER_CLIENT`] (the certificate `orc up` issues the API server
//!   for this hop; kube-apiserver's `--kubelet-client-certificate` under
//!   kubeadm has the same CN) may do everything, so may the group
//!   `system:masters`, which Kubernetes' authorizer never refuses either;
//!   anyone else is 401 without a certificate, 403 with one.
//! - chapter 03's node agent (`orc-node`'s `port_auth`), which knows the
//!   API, delegates as the kubelet does: TokenReview and
//!   SubjectAccessReview, cached.
//!
//! Both leave `/healthz` open: it answers `ok` and tells nothing (the
//! kubelet serves its health on a port of its own, 10248, without
//! authentication; orc has one port).
//!
//! [`NodeAttributes::of`] (the kubelet's path and verb maps) and
//! [`FixedRule::decide`] are pure; [`require_authorized`] is the shell.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;

use super::tls::Client;

/// The user the API server presents to agents (kube-apiserver's kubelet
/// client certificate under kubeadm: CN `kube-apiserver-kubelet-client`).
pub const API_SERVER_CLIENT: &str = "kube-apiserver-kubelet-client";

/// The group whose members pass every authorizer.
pub const MASTERS: &str = "system:masters";

/// The path no one is asked about.
pub const HEALTHZ: &str = "/healthz";

/// What a request on the agent's port brings to be judged by.
#[derive(Debug, Clone)]
pub struct PortRequest {
    /// Who its connection's client certificate names, if anyone.
    pub certificate: Client,
    /// The token of its `Authorization: Bearer` header, if any.
    pub bearer: Option<String>,
    pub method: Method,
    pub path: String,
}

impl PortRequest {
    /// The parts of `request` that are judged, with `certificate` the
    /// connection's.
    pub fn of(certificate: Client, request: &Request) -> PortRequest {
        let bearer = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        PortRequest {
            certificate,
            bearer,
            method: request.method().clone(),
            path: request.uri().path().to_string(),
        }
    }
}

/// A request refused: the status code and the kubelet's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub text: String,
}

impl Refusal {
    /// 401, as the kubelet answers a request it cannot authenticate.
    pub fn unauthorized() -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            text: "Unauthorized".into(),
        }
    }

    /// 403 for `user`, naming what was asked, in the kubelet's words.
    pub fn forbidden(user: &str, attributes: &NodeAttributes) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            text: format!("Forbidden ({})", attributes.describe(user)),
        }
    }

    /// 500, when the API server could not be asked (the kubelet's
    /// `Authorization error (...)`): nobody was refused, nobody allowed.
    pub fn authorization_error(user: &str, attributes: &NodeAttributes) -> Refusal {
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            text: format!("Authorization error ({})", attributes.describe(user)),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, self.text).into_response()
    }
}

// ANCHOR: attributes
/// What a request on the agent's port asks of the node, as an API
/// request would (the kubelet's `nodeAuthorizerAttributesGetter`): a verb
/// on a subresource of `nodes/<this node>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAttributes {
    /// `get`, `create`, `update`, `patch` or `delete`, from the method.
    pub verb: &'static str,
    /// `stats`, `metrics`, `log`, `spec`, or `proxy` for everything else.
    pub subresource: &'static str,
}

impl NodeAttributes {
    /// The kubelet's maps (Kubernetes v1.32): the HTTP method to a verb
    /// (GET and HEAD `get`, POST `create`, PUT `update`, PATCH `patch`,
    /// DELETE `delete`) and the path to a subresource. Exec, attach,
    /// port-forward, container logs, `/pods` and `/run` are all `proxy`:
    /// whoever may `nodes/proxy` may run commands in every pod of the node.
    pub fn of(method: &Method, path: &str) -> NodeAttributes {
        let verb = match *method {
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            // GET and HEAD; the kubelet leaves any other verb empty, which
            // no role names: orc's routes answer only GET and POST anyway.
            _ => "get",
        };
        let subresource = [
            ("/stats", "stats"),
            ("/metrics", "metrics"),
            ("/logs", "log"),
            ("/spec", "spec"),
        ]
        .into_iter()
        .find(|(prefix, _)| is_subpath(path, prefix))
        .map_or("proxy", |(_, subresource)| subresource);
        NodeAttributes { verb, subresource }
    }

    /// `user=..., verb=..., resource=nodes, subresource=...`, the middle
    /// of the kubelet's refusals.
    fn describe(&self, user: &str) -> String {
        format!(
            "user={user}, verb={}, resource=nodes, subresource={}",
            self.verb, self.subresource
        )
    }
}

/// Whether `path` is `prefix` or below it (`/stats` and `/stats/summary`,
/// not `/statsfoo`), as the kubelet's `isSubpath`.
fn is_subpath(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}
// ANCHOR_END: attributes

// ANCHOR: port_authorizer
/// Who decides whether a request may use the agent's port.
pub trait PortAuthorizer: Send + Sync + 'static {
    /// `Ok` to serve `request`, or the refusal to answer instead.
    fn authorize<'a>(&'a self, request: &'a PortRequest) -> BoxFuture<'a, Result<(), Refusal>>;
}
// ANCHOR_END: port_authorizer

/// Chapter 02's rule, for an agent that cannot ask the API server.
pub struct FixedRule;

// ANCHOR: authorize
impl FixedRule {
    /// Whether `request` may be served: the API server's certificate and
    /// `system:masters` may do everything, anyone else nothing.
    pub fn decide(request: &PortRequest) -> Result<(), Refusal> {
        if request.path == HEALTHZ {
            return Ok(());
        }
        let Some(user) = &request.certificate.0 else {
            return Err(Refusal::unauthorized());
        };
        if user.name == API_SERVER_CLIENT || user.groups.iter().any(|g| g == MASTERS) {
            return Ok(());
        }
        let attributes = NodeAttributes::of(&request.method, &request.path);
        Err(Refusal::forbidden(&user.name, &attributes))
    }
}
// ANCHOR_END: authorize

impl PortAuthorizer for FixedRule {
    fn authorize<'a>(&'a self, request: &'a PortRequest) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(std::future::ready(FixedRule::decide(request)))
    }
}

/// The middleware: every request is judged by `authorizer` before any
/// route sees it.
pub async fn require_authorized(
    State(authorizer): State<Arc<dyn PortAuthorizer>>,
    ConnectInfo(client): ConnectInfo<Client>,
    request: Request,
    next: Next,
) -> Response {
    let judged = PortRequest::of(client, &request);
    match authorizer.authorize(&judged).await {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::debug!(
                path = judged.path,
                client = ?judged.certificate,
                bearer = judged.bearer.is_some(),
                "refused: {}",
                refusal.text
            );
            refusal.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tls::ClientUser;

    fn request(certificate: Client, method: Method, path: &str) -> PortRequest {
        PortRequest {
            certificate,
            bearer: None,
            method,
            path: path.into(),
        }
    }

    fn user(name: &str, groups: &[&str]) -> Client {
        Client(Some(ClientUser {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }))
    }

    #[test]
    fn only_the_api_server_and_masters_pass_the_fixed_rule() {
        let exec = "/exec/default/web/app";
        let get = |client, path| FixedRule::decide(&request(client, Method::GET, path));
        assert!(get(user(API_SERVER_CLIENT, &[]), exec).is_ok());
        assert!(get(user("kubernetes-admin", &[MASTERS]), exec).is_ok());
        assert_eq!(get(Client(None), exec), Err(Refusal::unauthorized()));
        let node = user("system:node:n1", &["system:nodes"]);
        let refusal = FixedRule::decide(&request(
            node.clone(),
            Method::POST,
            "/portForward/default/web",
        ))
        .unwrap_err();
        assert_eq!(refusal.status, StatusCode::FORBIDDEN);
        assert_eq!(
            refusal.text,
            "Forbidden (user=system:node:n1, verb=create, resource=nodes, subresource=proxy)"
        );
        let refusal = get(node, "/metrics").unwrap_err();
        assert!(
            refusal.text.ends_with("subresource=metrics)"),
            "{refusal:?}"
        );
    }

    #[test]
    fn health_is_open() {
        assert!(FixedRule::decide(&request(Client(None), Method::GET, HEALTHZ)).is_ok());
    }

    #[test]
    fn paths_map_to_the_kubelets_subresources() {
        let of = |path| NodeAttributes::of(&Method::GET, path).subresource;
        assert_eq!(of("/stats"), "stats");
        assert_eq!(of("/stats/summary"), "stats");
        assert_eq!(of("/metrics"), "metrics");
        assert_eq!(of("/metrics/cadvisor"), "metrics");
        assert_eq!(of("/logs/"), "log");
        assert_eq!(of("/logs/syslog"), "log");
        assert_eq!(of("/spec/"), "spec");
        for proxied in [
            "/containerLogs/default/web/app",
            "/exec/default/web/app",
            "/attach/default/web/app",
            "/portForward/default/web",
            "/run/default/web/app",
            "/pods",
            "/statsfoo",
            "/",
        ] {
            assert_eq!(of(proxied), "proxy", "{proxied}");
        }
    }

    #[test]
    fn methods_map_to_the_kubelets_verbs() {
        let verb = |method| NodeAttributes::of(&method, "/pods").verb;
        assert_eq!(verb(Method::GET), "get");
        assert_eq!(verb(Method::HEAD), "get");
        assert_eq!(verb(Method::POST), "create");
        assert_eq!(verb(Method::PUT), "update");
        assert_eq!(verb(Method::PATCH), "patch");
        assert_eq!(verb(Method::DELETE), "delete");
    }

    #[test]
    fn a_bearer_token_is_read_from_its_header() {
        let request = Request::builder()
            .uri("/pods?x=1")
            .header("authorization", "Bearer abc.def")
            .body(axum::body::Body::empty())
            .unwrap();
        let judged = PortRequest::of(Client(None), &request);
        assert_eq!(judged.bearer.as_deref(), Some("abc.def"));
        assert_eq!(judged.path, "/pods");
        let basic = Request::builder()
            .header("authorization", "Basic dTpw")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(PortRequest::of(Client(None), &basic).bearer, None);
    }
}

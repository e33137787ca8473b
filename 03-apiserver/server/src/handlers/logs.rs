//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: a pod's logs, from its node.
//!
//! The API server keeps no logs. Like Kubernetes' `LogREST`, it
//! 1. checks the options (`PodLogOptions` validation: 422 for a negative
//!    `tailLines`, ...),
//! 2. reads the pod and picks the container ([`choose_container`]),
//! 3. reads the pod's Node and finds its agent there ([`agent_address`]):
//!    `status.addresses` and `status.daemonEndpoints.kubeletEndpoint.Port`,
//!    which the agent wrote when it registered,
//! 4. forwards the request to the agent's `/containerLogs/{ns}/{pod}/{container}`
//!    ([`agent_client`]: over TLS, presenting the API server's client
//!    certificate, when `--kubelet-client-certificate` is given) and streams
//!    the answer back as it comes, chunk by chunk.
//!
//! When the client goes away, axum drops the response body, which drops
//! the upstream response and closes the connection to the agent; the agent
//! then ends its side (chapter 03, "How `kubectl logs` travels").
//!
//! The agent's errors come back as Kubernetes turns a kubelet's errors into
//! `Status` objects (its `GenericHttpResponseChecker`): a 400's text becomes
//! the message (`previous terminated container "app" in pod "web" not
//! found`), a 404 becomes `the server could not find the requested resource
//! ( pods/log web)`.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiRequest, read};
use crate::agent_client::{AgentClient, AgentEndpoint};
use crate::server::AppState;
use crate::status::{ApiError, FieldCause, Target};
use orc_client::encode;
use orc_client::resources::{Resource, lookup};

/// The kubelet's default port, used when a Node does not say.
pub const DEFAULT_AGENT_PORT: u16 = 10250;

/// The annotation naming the container `kubectl logs` and `exec` use
/// when none is given.
pub const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// The query of a log request: Kubernetes' `PodLogOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodLogOptions {
    pub container: String,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub since_seconds: Option<i64>,
    pub since_time: Option<String>,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
}

impl PodLogOptions {
    /// Decodes and validates the query, as the API server does before it
    /// reads the pod: a malformed value is a 400, an out-of-range one a
    /// 422 `PodLogOptions "web" is invalid`.
    pub fn from_request(request: &ApiRequest, pod: &str) -> Result<PodLogOptions, ApiError> {
        let flag = |name: &str| match request.param(name) {
            "" | "false" | "0" => Ok(false),
            "true" | "1" => Ok(true),
            other => Err(ApiError::BadRequest(format!(
                "{name}: invalid value {other:?}: expected true or false"
            ))),
        };
        let number = |name: &str| match request.param(name) {
            "" => Ok(None),
            text => text.parse::<i64>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "{name}: invalid value {text:?}: expected an integer"
                ))
            }),
        };
        let options = PodLogOptions {
            container: request.param("container").to_string(),
            follow: flag("follow")?,
            previous: flag("previous")?,
            timestamps: flag("timestamps")?,
            since_seconds: number("sinceSeconds")?,
            since_time: Some(request.param("sinceTime"))
                .filter(|t| !t.is_empty())
                .map(String::from),
            tail_lines: number("tailLines")?,
            limit_bytes: number("limitBytes")?,
        };
        let mut causes = vec![];
        if let Some(n) = options.tail_lines.filter(|n| *n < 0) {
            causes.push(FieldCause::invalid(
                "tailLines",
                &json!(n),
                "must be greater than or equal to 0",
            ));
        }
        if let Some(n) = options.limit_bytes.filter(|n| *n < 1) {
            causes.push(FieldCause::invalid(
                "limitBytes",
                &json!(n),
                "must be greater than 0",
            ));
        }
        match (options.since_seconds, &options.since_time) {
            (Some(_), Some(_)) => causes.push(FieldCause::forbidden(
                "sinceSeconds",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            )),
            (Some(n), None) if n < 1 => causes.push(FieldCause::invalid(
                "sinceSeconds",
                &json!(n),
                "must be greater than 0",
            )),
            _ => {}
        }
        if !causes.is_empty() {
            let target = Target {
                group: String::new(),
                kind: "PodLogOptions".into(),
                name: pod.into(),
            };
            return Err(ApiError::Invalid(target, causes));
        }
        Ok(options)
    }

    /// The query forwarded to the agent: the options that are set, in the
    /// kubelet's parameter names (the container is in the path).
    pub fn agent_query(&self) -> String {
        let mut params = vec![];
        for (name, on) in [
            ("follow", self.follow),
            ("previous", self.previous),
            ("timestamps", self.timestamps),
        ] {
            if on {
                params.push(format!("{name}=true"));
            }
        }
        for (name, value) in [
            ("sinceSeconds", self.since_seconds),
            ("tailLines", self.tail_lines),
            ("limitBytes", self.limit_bytes),
        ] {
            if let Some(n) = value {
                params.push(format!("{name}={n}"));
            }
        }
        if let Some(t) = &self.since_time {
            params.push(format!("sinceTime={}", encode(t)));
        }
        params.join("&")
    }
}

/// The names of every container of a pod, init containers first (the
/// order Kubernetes lists them in its "choose one of" message).
fn container_names(pod: &Value) -> Vec<&str> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|list| pod["spec"][list].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect()
}

// ANCHOR: choose_container
/// The container whose log is wanted: the one asked for (it must exist),
/// else the only one, else the one the `default-container` annotation
/// names (kubectl reads that annotation itself; orc's server does it so
/// every client gets it), else a 400 listing the choices.
pub fn choose_container(pod: &Value, requested: &str) -> Result<String, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let names = container_names(pod);
    if !requested.is_empty() {
        return if names.contains(&requested) {
            Ok(requested.to_string())
        } else {
            Err(ApiError::BadRequest(format!(
                "container {requested} is not valid for pod {name}"
            )))
        };
    }
    let containers = pod["spec"]["containers"].as_array();
    let regular: Vec<&str> = containers
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    if let [only] = regular.as_slice() {
        return Ok(only.to_string());
    }
    let annotated = pod["metadata"]["annotations"][DEFAULT_CONTAINER].as_str();
    if let Some(default) = annotated.filter(|d| names.contains(d)) {
        return Ok(default.to_string());
    }
    if regular.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "a container name must be specified for pod {name}"
        )));
    }
    Err(ApiError::BadRequest(format!(
        "a container name must be specified for pod {name}, choose one of: [{}]",
        names.join(" ")
    )))
}
// ANCHOR_END: choose_container

// ANCHOR: agent_address
/// Where a node's agent listens, from its Node object: an IP address of
/// `status.addresses` (`InternalIP`, else `ExternalIP`; never a hostname
/// or anything else the object says, see `node_validation.rs`), and the
/// port of `status.daemonEndpoints.kubeletEndpoint` (10250 when unset,
/// the kubelet's default).
pub fn agent_address(node: &Value) -> Result<AgentEndpoint, ApiError> {
    let name = node["metadata"]["name"].as_str().unwrap_or("");
    let ip = crate::node_validation::agent_ip(node).ok_or_else(|| {
        ApiError::Internal(format!(
            "node {name:?} has no InternalIP or ExternalIP address in status.addresses: \
             its agent cannot be reached (has the agent registered the node?)"
        ))
    })?;
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_AGENT_PORT);
    Ok(AgentEndpoint { ip, port })
}
// ANCHOR_END: agent_address

// ANCHOR: agent_client
/// The agent of `node` as the API server reaches it: its base URL
/// (`https://10.0.0.5:10250`) and the one shared client that speaks to
/// agents (its client certificate, the CA it checks them by). Every
/// request the API server makes to a node goes through here.
pub fn agent_client<'a>(
    state: &'a AppState,
    node: &Value,
) -> Result<(String, &'a AgentClient), ApiError> {
    let endpoint = agent_address(node)?;
    Ok((state.agents.base_url(endpoint), &state.agents))
}
// ANCHOR_END: agent_client

/// Serves `pods/{name}/log`.
pub async fn get(state: &AppState, ns: &str, name: &str, request: &ApiRequest) -> Response {
    match forward(state, ns, name, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

// ANCHOR: pod_log
/// The pod, its container and its node, then the node agent's answer,
/// streamed back as it comes.
async fn forward(
    state: &AppState,
    ns: &str,
    name: &str,
    request: &ApiRequest,
) -> Result<Response, ApiError> {
    let options = PodLogOptions::from_request(request, name)?;
    let pods = resource("pods")?;
    let pod = read::get(state, pods, Some(ns), name).await?.body;
    let container = choose_container(&pod, &options.container)?;
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node_name.is_empty() {
        // Kubernetes' answer for a pod no node runs yet: no location, so an
        // empty 204 (kubectl prints nothing), not an error.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let node = read::get(state, resource("nodes")?, None, node_name)
        .await?
        .body;
    let (base, agents) = agent_client(state, &node)?;
    let url = log_url(&base, ns, name, &container, &options);
    let upstream = agents.http().get(&url).send().await.map_err(|e| {
        ApiError::Internal(format!(
            "the agent of node {node_name:?} at {base} cannot be reached: {}",
            error_chain(&e)
        ))
    })?;
    let code = upstream.status().as_u16();
    if !(200..=206).contains(&code) {
        let text = upstream.text().await.unwrap_or_default();
        return Ok(agent_error(code, text.trim_end(), name, "log"));
    }
    let mut response = Body::from_stream(upstream.bytes_stream()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, "text/plain".parse().expect("static"));
    Ok(response)
}
// ANCHOR_END: pod_log

/// The URL of a container's log on the agent at `base`, carrying the
/// client's options.
fn log_url(base: &str, ns: &str, name: &str, container: &str, options: &PodLogOptions) -> String {
    let url = format!("{base}/containerLogs/{ns}/{name}/{container}");
    match options.agent_query() {
        query if query.is_empty() => url,
        query => format!("{url}?{query}"),
    }
}

/// A core (`v1`) resource of the table, by plural.
pub fn resource(plural: &str) -> Result<&'static Resource, ApiError> {
    lookup("", "v1", plural).ok_or_else(|| ApiError::Internal(format!("no {plural} resource")))
}

/// An error and its causes, each once (reqwest repeats its source's text).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

// ANCHOR: agent_error
/// The agent's error as a `Status`, the way Kubernetes converts a kubelet's
/// error: 400 and 500 keep the agent's text, other codes get the generic
/// sentence for the code, followed by `( pods/log <name>)` (or the
/// subresource asked for: `exec`, `attach`).
pub fn agent_error(code: u16, text: &str, pod: &str, subresource: &str) -> Response {
    match code {
        400 => return ApiError::BadRequest(text.to_string()).into_response(),
        500 => {
            return ApiError::Internal(format!("Internal error occurred: {text}")).into_response();
        }
        _ => {}
    }
    let (reason, message) = match code {
        404 => (
            "NotFound",
            "the server could not find the requested resource".to_string(),
        ),
        422 => (
            "Invalid",
            "the server rejected our request due to an error in our request".to_string(),
        ),
        403 => ("Forbidden", text.to_string()),
        c if c >= 500 => (
            "InternalError",
            format!("an error on the server ({text:?}) has prevented the request from succeeding"),
        ),
        c => (
            "",
            format!(
                "the server responded with the status code {c} but did not return more information"
            ),
        ),
    };
    let status = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("{message} ( pods/{subresource} {pod})"),
        "reason": reason,
        "details": {"name": pod, "kind": format!("pods/{subresource}")},
        "code": code,
    });
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    (code, axum::Json(status)).into_response()
}
// ANCHOR_END: agent_error

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, Method};

    fn request(query: &[(&str, &str)]) -> ApiRequest {
        ApiRequest {
            user: crate::authn::UserInfo::anonymous(),
            method: Method::GET,
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: HeaderMap::new(),
            body: Default::default(),
        }
    }

    fn message(error: ApiError) -> String {
        error.to_string()
    }

    #[test]
    fn options_forward_what_is_set() {
        let options = PodLogOptions::from_request(
            &request(&[
                ("container", "app"),
                ("follow", "true"),
                ("tailLines", "5"),
                ("limitBytes", "10"),
                ("previous", "false"),
            ]),
            "web",
        )
        .unwrap();
        assert_eq!(options.container, "app");
        assert_eq!(
            options.agent_query(),
            "follow=true&tailLines=5&limitBytes=10"
        );
        let since =
            PodLogOptions::from_request(&request(&[("sinceTime", "2024-01-01T00:00:00Z")]), "web")
                .unwrap();
        assert_eq!(since.agent_query(), "sinceTime=2024-01-01T00%3A00%3A00Z");
        assert_eq!(PodLogOptions::default().agent_query(), "");
    }

    #[test]
    fn options_are_validated_as_kubernetes_does() {
        let invalid =
            |q: &[(&str, &str)]| PodLogOptions::from_request(&request(q), "web").unwrap_err();
        let e = invalid(&[("tailLines", "-1")]);
        assert_eq!(e.code(), 422);
        assert_eq!(
            message(e),
            "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(invalid(&[("limitBytes", "0")]).code(), 422);
        assert_eq!(invalid(&[("sinceSeconds", "0")]).code(), 422);
        assert_eq!(
            invalid(&[("sinceSeconds", "5"), ("sinceTime", "2024-01-01T00:00:00Z")]).code(),
            422
        );
        assert_eq!(invalid(&[("tailLines", "many")]).code(), 400);
        assert_eq!(invalid(&[("follow", "yes")]).code(), 400);
    }

    fn pod(containers: &[&str], init: &[&str], default: Option<&str>) -> Value {
        let list =
            |names: &[&str]| -> Vec<Value> { names.iter().map(|n| json!({"name": n})).collect() };
        let mut pod = json!({
            "metadata": {"name": "web"},
            "spec": {"containers": list(containers), "initContainers": list(init)},
        });
        if let Some(d) = default {
            pod["metadata"]["annotations"] = json!({ DEFAULT_CONTAINER: d });
        }
        pod
    }

    #[test]
    fn containers_are_chosen_like_kubernetes() {
        assert_eq!(
            choose_container(&pod(&["app"], &[], None), "").unwrap(),
            "app"
        );
        assert_eq!(
            choose_container(&pod(&["a", "b"], &[], None), "b").unwrap(),
            "b"
        );
        // Init containers have logs too.
        assert_eq!(
            choose_container(&pod(&["a", "b"], &["setup"], None), "setup").unwrap(),
            "setup"
        );
        assert_eq!(
            choose_container(&pod(&["a", "b"], &[], Some("b")), "").unwrap(),
            "b"
        );
        assert_eq!(
            message(choose_container(&pod(&["a", "b"], &[], None), "").unwrap_err()),
            "a container name must be specified for pod web, choose one of: [a b]"
        );
        assert_eq!(
            message(choose_container(&pod(&["a", "b"], &["setup"], Some("gone")), "").unwrap_err()),
            "a container name must be specified for pod web, choose one of: [setup a b]"
        );
        let e = choose_container(&pod(&["a"], &[], None), "db").unwrap_err();
        assert_eq!(e.code(), 400);
        assert_eq!(message(e), "container db is not valid for pod web");
    }

    #[test]
    fn agents_are_found_from_the_node_status() {
        let node = |addresses: Value, port: Value| {
            json!({"metadata": {"name": "n1"}, "status": {
                "addresses": addresses,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            }})
        };
        let both = json!([
            {"type": "Hostname", "address": "n1.example"},
            {"type": "InternalIP", "address": "10.0.0.5"},
        ]);
        let endpoint = agent_address(&node(both, json!(10300))).unwrap();
        assert_eq!(endpoint.authority(), "10.0.0.5:10300");
        let ip = json!([{"type": "InternalIP", "address": "fd00::6"}]);
        let endpoint = agent_address(&node(ip, Value::Null)).unwrap();
        assert_eq!(
            endpoint.authority(),
            format!("[fd00::6]:{DEFAULT_AGENT_PORT}")
        );
        let hostname = json!([{"type": "Hostname", "address": "n1.example"}]);
        assert!(
            agent_address(&node(hostname, Value::Null)).is_err(),
            "never a hostname"
        );
        let e = agent_address(&node(json!([]), json!(1))).unwrap_err();
        assert_eq!(e.code(), 500);
        assert!(message(e).contains("\"n1\""));
    }
}

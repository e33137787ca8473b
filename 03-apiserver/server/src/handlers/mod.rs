//! Request handling: from an HTTP request to a verb on a resource.
//!
//! Kubernetes routes by *path shape* (see [`path`]), then by HTTP method:
//!
//! | path         | GET          | POST   | PUT    | PATCH | DELETE |
//! |--------------|--------------|--------|--------|-------|--------|
//! | collection   | list / watch | create |        |       | deletecollection |
//! | object       | get          |        | update | patch | delete |
//! | subresource  | get          | (binding, eviction) | update | patch |     |
//!
//! The verbs live in [`read`], [`mod@write`], [`delete`],
//! [`delete_collection`], [`watch`] and [`subresources`] (with
//! [`eviction`], the delete that asks a PodDisruptionBudget first);
//! `pods/{name}/log` is [`logs`], which streams from the pod's node;
//! `pods/{name}/exec` is [`streaming`], which relays an upgraded connection
//! to it, and `pods/{name}/proxy` and `services/{name}/proxy` are
//! [`proxy`], which passes any request on to a pod (server.rs hands both
//! over before reading a body; both send through [`hop`]);
//! this module only dispatches and shapes replies.

pub mod delete;
pub mod delete_collection;
pub mod dry_run;
pub mod eviction;
pub mod graceful;
pub mod hop;
pub mod list_body;
pub mod listing;
pub mod logs;
pub mod namespaces;
pub mod path;
pub mod propagation;
pub mod proxy;
pub mod read;
pub mod streaming;
pub mod subresources;
pub mod watch;
pub mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::server::AppState;
use crate::status::{ApiError, Target};
use orc_client::resources::Resource;
use path::ApiPath;
use write::Part;

/// A request, decoded as far as every verb needs.
pub struct ApiRequest {
    /// The HTTP method.
    pub method: Method,
    /// Query parameters (`labelSelector`, `watch`, `resourceVersion`, ...).
    pub query: HashMap<String, String>,
    /// Headers (`Content-Type` picks the body and patch format).
    pub headers: HeaderMap,
    /// The body, already limited in size.
    pub body: Bytes,
    /// Who is asking, as authentication (and impersonation) found.
    pub user: crate::authn::UserInfo,
}

impl ApiRequest {
    /// The `Content-Type` header, or `""`.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Whether the client asked for a `Table` (kubectl's human output).
    pub fn wants_table(&self) -> bool {
        let accept = self
            .headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        crate::tables::wants_table(accept)
    }

    /// What a Table's rows carry (`?includeObject=`).
    pub fn row_object(&self) -> crate::tables::RowObject {
        crate::tables::RowObject::from_param(self.param("includeObject"))
    }

    /// A query parameter, or `""`.
    pub fn param(&self, name: &str) -> &str {
        self.query.get(name).map(String::as_str).unwrap_or("")
    }
}

/// A successful reply: a JSON body, its status code, and any warnings.
pub struct Reply {
    /// 200 or 201.
    pub code: StatusCode,
    /// The object, list or Status.
    pub body: Value,
    /// Each becomes one `Warning` header (unknown fields), deduplicated
    /// and truncated as Kubernetes does (`warnings.rs`).
    pub warnings: Vec<String>,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Reply {
        Reply {
            code: StatusCode::OK,
            body,
            warnings: Vec::new(),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.code, axum::Json(self.body)).into_response();
        add_warnings(&mut response, self.warnings);
        response
    }
}

/// Adds one `Warning` header per warning, deduplicated and truncated as
/// Kubernetes does (`warnings.rs`).
pub fn add_warnings(response: &mut Response, warnings: Vec<String>) {
    for warning in crate::warnings::cap(warnings) {
        if let Ok(value) = crate::schema::warning_header(&warning).parse() {
            response.headers_mut().append("warning", value);
        }
    }
}

/// The error target for a resource and name (`pods "web"`).
pub fn target(resource: &Resource, name: &str) -> Target {
    Target {
        group: resource.group.into(),
        kind: resource.plural.into(),
        name: name.into(),
    }
}

/// Handles everything under `/api` (`core`) or `/apis`.
pub async fn dispatch(
    state: Arc<AppState>,
    core: bool,
    path: &str,
    request: ApiRequest,
) -> Response {
    let started = Instant::now();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let parsed = path::parse(core, &segments);
    let (verb, resource) = describe(&parsed, &request);
    let response = match parsed.and_then(|path| check_query(&request.query).map(|_| path)) {
        _ if !core && crate::metrics_api::serves(path) => {
            crate::metrics_api::serve(&state, path, &request).await
        }
        // `/apis/<group>`: one group's versions (`kubectl` reads `/apis`
        // instead, but clients that know their group ask here).
        _ if !core && segments.len() == 1 && request.method == Method::GET => {
            crate::discovery::api_group(segments[0]).into_response()
        }
        Ok(path) => route(&state, path, request).await,
        Err(e) => e.into_response(),
    };
    observed(state, verb, resource, path.to_string(), started, response)
}

/// Counts `response` in the metrics (and logs it) once its last byte is
/// sent: at once for an answer already in memory, at the end of its
/// stream for a streamed one.
pub fn observed(
    state: Arc<AppState>,
    verb: &'static str,
    resource: &'static str,
    path: String,
    started: Instant,
    response: Response,
) -> Response {
    let code = response.status().as_u16();
    let mut observed = Observed {
        state,
        verb,
        resource,
        path,
        code,
        started,
        streamed: false,
    };
    use axum::body::HttpBody;
    use futures::StreamExt;
    if response.body().size_hint().exact().is_some() {
        drop(observed);
        return response;
    }
    observed.streamed = true;
    // A streamed answer (a big LIST, a watch) is still being read from
    // etcd and sent: its duration is counted when its last byte is, or
    // when it is cut, as kube-apiserver counts a request when its handler
    // returns. A watch is meanwhile in `apiserver_longrunning_requests`.
    if verb == "watch" {
        observed.state.metrics.started(verb, resource);
    }
    response.map(|body| {
        axum::body::Body::from_stream(body.into_data_stream().map(move |chunk| {
            let _until_the_end = &observed;
            chunk
        }))
    })
}

/// A request to count in the metrics (and log) when this is dropped:
/// when its answer is complete.
struct Observed {
    state: Arc<AppState>,
    verb: &'static str,
    resource: &'static str,
    path: String,
    code: u16,
    started: Instant,
    /// Whether the answer was streamed (a watch is then counted in
    /// `apiserver_longrunning_requests` until this drops).
    streamed: bool,
}

impl Drop for Observed {
    fn drop(&mut self) {
        let (verb, resource, code) = (self.verb, self.resource, self.code);
        let elapsed = self.started.elapsed();
        // Like the Kubernetes API server's httplog: one line per request,
        // at a level that stays quiet unless asked
        // (`RUST_LOG=orc_apiserver=debug`).
        let path = &self.path;
        tracing::debug!(verb, resource, path, code, ?elapsed, "request");
        self.state.metrics.observe(verb, resource, code, elapsed);
        if verb == "watch" && self.streamed {
            self.state.metrics.ended(verb, resource);
        }
    }
}

/// Refuses a query whose percent-encoding is not UTF-8 (`%FF`): decoded
/// lossily it became U+FFFD, and `labelSelector=%FF` selected everything,
/// `propagationPolicy=%FF` took the default. A parameter the server cannot
/// read is a 400, never a parameter ignored.
fn check_query(query: &HashMap<String, String>) -> Result<(), ApiError> {
    let garbled = |s: &String| s.contains(char::REPLACEMENT_CHARACTER);
    match query.iter().find(|(k, v)| garbled(k) || garbled(v)) {
        Some((name, _)) => Err(ApiError::BadRequest(format!(
            "the query parameter {name:?} is not valid percent-encoded UTF-8"
        ))),
        None => Ok(()),
    }
}

/// The Kubernetes verb and resource of a request, for metrics and logs.
fn describe(
    parsed: &Result<ApiPath, ApiError>,
    request: &ApiRequest,
) -> (&'static str, &'static str) {
    let (resource, collection) = match parsed {
        Ok(ApiPath::Collection { resource, .. }) => (resource.plural, true),
        Ok(ApiPath::Object { resource, .. } | ApiPath::Subresource { resource, .. }) => {
            (resource.plural, false)
        }
        _ => ("", false),
    };
    let watching = matches!(request.param("watch"), "true" | "1");
    let verb = match (&request.method, collection) {
        (&Method::GET, true) if watching => "watch",
        (&Method::GET, true) => "list",
        (&Method::GET, false) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "deletecollection",
        (&Method::DELETE, false) => "delete",
        _ => "other",
    };
    (verb, resource)
}

/// Answers an access review (`authz/reviews.rs`) posted in any body format.
fn review(state: &AppState, resource: &Resource, request: &ApiRequest) -> Result<Reply, ApiError> {
    let format = crate::codec::Format::of_body(request.content_type())?;
    let body = crate::codec::decode(&request.body, format)?;
    crate::authz::reviews::create(&state.authorizer, resource, &request.user, body)
}

/// For a write of PriorityClasses that stores something: `Some(name)`
/// (`Some(None)` for a create, whose name is in the body).
fn class_write<'a>(path: &'a ApiPath, request: &ApiRequest) -> Option<Option<&'a str>> {
    if request.method == Method::GET || !request.param("dryRun").is_empty() {
        return None;
    }
    match path {
        // A DELETE of the collection doubts each class it deletes, one by
        // one (`delete_collection.rs`).
        ApiPath::Collection { resource, .. }
            if resource.kind == "PriorityClass" && request.method == Method::POST =>
        {
            Some(None)
        }
        ApiPath::Object { resource, name, .. } if resource.kind == "PriorityClass" => {
            Some(Some(name.as_str()))
        }
        _ => None,
    }
}

async fn route(state: &Arc<AppState>, path: ApiPath, request: ApiRequest) -> Response {
    // A PriorityClass this server writes is read from etcd, not the
    // admission cache, until the cache has seen the write.
    let class_write = class_write(&path, &request);
    let converted = match &path {
        ApiPath::Collection { resource, .. }
        | ApiPath::Object { resource, .. }
        | ApiPath::Subresource { resource, .. }
            if !resource.is_stored() =>
        {
            Some(*resource)
        }
        _ => None,
    };
    let deleting = request.method == Method::DELETE;
    let class_write = class_write.map(|name| state.priority_classes.begin_write(name));
    let result = match (path, request.method.clone()) {
        // Reviews are questions, answered and never stored.
        (ApiPath::Collection { resource, .. }, Method::POST) if resource.kind == "TokenReview" => {
            crate::authn::token_request::review(state, &request).await
        }
        (ApiPath::Collection { resource, .. }, Method::POST) if resource.is_review() => {
            review(state, resource, &request)
        }
        (
            ApiPath::Collection { resource, .. }
            | ApiPath::Object { resource, .. }
            | ApiPath::Subresource { resource, .. },
            _,
        ) if resource.is_review() => Err(ApiError::MethodNotAllowed),
        (ApiPath::GroupVersion { group, version }, Method::GET) => {
            return crate::discovery::resource_list(&group, &version).into_response();
        }
        (
            ApiPath::Collection {
                resource,
                namespace,
            },
            Method::GET,
        ) => {
            if matches!(request.param("watch"), "true" | "1") {
                return watch::watch(state.clone(), resource, namespace, &request).await;
            }
            // Streamed: converted item by item (`list_body.rs`), so it
            // leaves here and not with the replies below.
            return match read::list(state, resource, namespace.as_deref(), &request).await {
                Ok(response) => response,
                Err(error) => error.into_response(),
            };
        }
        (
            ApiPath::Collection {
                resource,
                namespace,
            },
            Method::POST,
        ) => write::create(state, resource, namespace.as_deref(), &request).await,
        (
            ApiPath::Collection {
                resource,
                namespace,
            },
            Method::DELETE,
        ) => {
            let ns = namespace.as_deref();
            delete_collection::delete_collection(state, resource, ns, &request).await
        }
        (
            ApiPath::Object {
                resource,
                namespace,
                name,
            },
            method,
        ) => {
            let ns = namespace.as_deref();
            match method {
                Method::GET => read::get_shaped(state, resource, ns, &name, &request).await,
                Method::PUT => {
                    write::replace(state, resource, ns, &name, &request, Part::Main).await
                }
                Method::PATCH => {
                    write::patch_part(state, resource, ns, &name, &request, Part::Main).await
                }
                Method::DELETE if resource.kind == "Namespace" => {
                    namespaces::delete(state, resource, &name, &request).await
                }
                Method::DELETE => delete::delete(state, resource, ns, &name, &request).await,
                _ => Err(ApiError::MethodNotAllowed),
            }
        }
        // Not JSON but a stream from the pod's node: see [`logs`].
        (
            ApiPath::Subresource {
                resource,
                namespace: Some(ns),
                name,
                subresource,
            },
            Method::GET,
        ) if resource.kind == "Pod" && subresource == "log" => {
            return logs::get(state, &ns, &name, &request).await;
        }
        (
            ApiPath::Subresource {
                resource,
                namespace,
                name,
                subresource,
            },
            _,
        ) => {
            subresources::handle(
                state,
                resource,
                namespace.as_deref(),
                &name,
                &subresource,
                &request,
            )
            .await
        }
        _ => Err(ApiError::MethodNotAllowed),
    };
    if let Some(write) = class_write {
        let stored = result.as_ref().ok().map(|reply| &reply.body);
        state.priority_classes.end_write(write, stored, deleting);
    }
    match result {
        Ok(mut reply) => {
            // Objects leave in the URL's version (autoscaling/v1 and
            // events.k8s.io/v1 are converted from what etcd holds:
            // `conversion/`).
            if let Some(resource) = converted {
                reply.body = crate::conversion::served(resource, reply.body);
            }
            reply.into_response()
        }
        Err(error) => error.into_response(),
    }
}

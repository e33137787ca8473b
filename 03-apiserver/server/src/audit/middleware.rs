//! The audit layer, outermost around every route: it gives each request
//! an audit ID and a [`Context`], lets authentication and authorization
//! fill that in, and writes the request's events.
//!
//! Why a shared context and not one layer that knows everything: the
//! level depends on the user, whom only authentication (inside this
//! layer) finds, and the decision is authorization's. Kubernetes passes
//! the same "audit context" down its handler chain in Go's
//! `context.Context`; orc passes it as a request extension.
//!
//! The request body is recorded as it is read (a copy of each chunk, up
//! to [`MAX_BODY`]), so nothing here reads a body the handler has not;
//! the answer's body is read only when the event includes it (a failure's
//! `Status`, or `RequestResponse`), and never for a watch or a stream.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use serde_json::Value;
use tokio_stream::StreamExt;

use super::Auditor;
use super::event::{self, Event, ObjectRef, User};
use super::policy::{Decision, Level, Stage};
use crate::authn::UserInfo;
use crate::authz::request_info::{RequestInfo, request_info};
use crate::server::{AppState, MAX_BODY, OPEN_PATHS};

/// The header carrying a request's audit ID, both ways.
pub const AUDIT_ID: &str = "audit-id";

/// What is known of one request so far; cloned into the request's
/// extensions for the inner layers, and into the response body of a
/// long-running request (whose `ResponseComplete` comes when it ends).
#[derive(Clone)]
pub struct Context(Arc<Mutex<Record>>);

/// std's Mutex: held for a field update, never across an `.await`.
struct Record {
    auditor: Arc<Auditor>,
    /// The event as far as it is known; each stage writes a copy.
    event: Event,
    info: RequestInfo,
    /// The policy's answer, once the user is known (or known unknowable).
    decision: Option<Decision>,
    /// Why authentication failed: the 401's `responseStatus.message`.
    auth_failure: Option<String>,
    /// The request body as read so far, up to [`MAX_BODY`].
    body: Vec<u8>,
    content_type: String,
    /// Whether a stage's event has gone out with the request's object
    /// (its body is parsed once).
    request_object: Option<Option<Value>>,
    /// The `RequestReceived` event could not be stored in
    /// `blocking-strict` mode: the request was refused, and nothing more
    /// is recorded of it (as Kubernetes).
    refused: bool,
}

impl Context {
    /// The context of a request, if it is audited.
    pub fn of(extensions: &axum::http::Extensions) -> Option<Context> {
        extensions.get::<Context>().cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ANCHOR: authenticated
    /// Authentication found `user`: the policy decides the level, and the
    /// `RequestReceived` event goes out (unless omitted). `false` when a
    /// `blocking-strict` sink could not store it: the caller refuses the
    /// request with [`refusal`].
    pub async fn authenticated(&self, user: &UserInfo) -> bool {
        let (auditor, event) = {
            let mut record = self.lock();
            record.event.user = User::from(user);
            let decision = record.auditor.policy.decide(Some(user), &record.info);
            record.decision = Some(decision);
            let event = record.event_at(Stage::RequestReceived, None, None);
            (record.auditor.clone(), event)
        };
        let Some(event) = event else {
            return true;
        };
        let stored = auditor.process(event).await;
        if !stored {
            self.lock().refused = true;
        }
        stored
    }
    // ANCHOR_END: authenticated

    /// Authentication failed: no user is known, and the 401 is recorded
    /// with the credentials that were tried (Kubernetes' words).
    pub fn unauthenticated(&self, headers: &HeaderMap, certificate: bool) {
        let mut record = self.lock();
        let decision = record.auditor.policy.decide(None, &record.info);
        record.decision = Some(decision);
        record.auth_failure = Some(attempted(headers, certificate));
    }

    /// The request acts as `user` (`Impersonate-User`).
    pub fn impersonated(&self, user: &UserInfo) {
        self.lock().event.impersonated_user = Some(User::from(user));
    }

    /// The authorizers' decision and reason.
    pub fn authorized(&self, allowed: bool, reason: &str) {
        let decision = if allowed { "allow" } else { "forbid" };
        let annotations = &mut self.lock().event.annotations;
        annotations.insert("authorization.k8s.io/decision".into(), decision.into());
        annotations.insert("authorization.k8s.io/reason".into(), reason.into());
    }

    /// Keeps a copy of a chunk of the request body.
    fn capture(&self, chunk: &[u8]) {
        let mut record = self.lock();
        let room = MAX_BODY.saturating_sub(record.body.len());
        let take = chunk.len().min(room);
        record.body.extend_from_slice(&chunk[..take]);
    }

    /// The last stage's event, when the level records it.
    fn completed(
        &self,
        code: u16,
        body: Option<&Value>,
        response_object: Option<Value>,
    ) -> Option<(Arc<Auditor>, Event)> {
        let mut record = self.lock();
        if record.refused {
            return None;
        }
        let mut status = event::response_status(code, body);
        if let Some(message) = record.auth_failure.clone() {
            status["message"] = message.into();
        }
        let event = record.event_at(Stage::ResponseComplete, Some(status), response_object)?;
        Some((record.auditor.clone(), event))
    }

    /// Sends the last stage's event, waiting as the sinks' modes say.
    async fn complete(&self, code: u16, body: Option<&Value>, response_object: Option<Value>) {
        if let Some((auditor, event)) = self.completed(code, body, response_object) {
            auditor.process(event).await;
        }
    }

    /// Sends `stage`'s event, waiting as the sinks' modes say.
    async fn emit(&self, stage: Stage, status: Option<Value>) {
        let sent = {
            let mut record = self.lock();
            let event = record.event_at(stage, status, None);
            event.map(|event| (record.auditor.clone(), event))
        };
        if let Some((auditor, event)) = sent {
            auditor.process(event).await;
        }
    }
}

/// The answer to a request whose `RequestReceived` event a
/// `blocking-strict` sink could not store: Kubernetes' 500.
pub fn refusal() -> Response {
    crate::status::ApiError::Internal("Internal error occurred: failed to store audit event".into())
        .into_response()
}

impl Record {
    /// The decision, deciding now (with no user) if nothing did: a
    /// request refused before authentication, such as a 429.
    fn decision(&mut self) -> &Decision {
        if self.decision.is_none() {
            self.decision = Some(self.auditor.policy.decide(None, &self.info));
        }
        self.decision.as_ref().expect("just set")
    }

    /// A copy of the event at `stage`, if the policy records it.
    fn event_at(
        &mut self,
        stage: Stage,
        status: Option<Value>,
        response_object: Option<Value>,
    ) -> Option<Event> {
        let decision = self.decision().clone();
        if !decision.records(stage) {
            return None;
        }
        let request_object = match stage {
            // The body is not read yet when the request is received.
            Stage::RequestReceived => None,
            _ => self.request_object(&decision),
        };
        let mut event = self.event.clone();
        event.level = decision.level;
        event.stage = stage;
        event.response_status = status;
        event.request_object = request_object;
        event.response_object = response_object.map(|object| {
            if decision.omit_managed_fields {
                event::without_managed_fields(object)
            } else {
                object
            }
        });
        event.stage_timestamp = event::micro_time(jiff::Timestamp::now());
        Some(event)
    }

    /// The request's object at `Request` and above, and the names a
    /// create gives only in its body (at every level, as Kubernetes'
    /// `LogRequestObject`); parsed once.
    fn request_object(&mut self, decision: &Decision) -> Option<Value> {
        if self.request_object.is_none() {
            let naming = self.info.verb == "create" && self.info.name.is_empty();
            let wanted = decision.level >= Level::Request || naming;
            let parsed = (self.info.is_resource_request && wanted && !self.body.is_empty())
                .then(|| decode(&self.body, &self.content_type))
                .flatten();
            if let (Some(object), Some(reference)) = (&parsed, &mut self.event.object_ref) {
                reference.complete_from(object);
            }
            self.request_object = Some(parsed);
        }
        let object = self.request_object.clone().flatten()?;
        if decision.level < Level::Request {
            return None;
        }
        Some(if decision.omit_managed_fields {
            event::without_managed_fields(object)
        } else {
            object
        })
    }
}

/// A body in the format its `Content-Type` names (a patch's media types
/// are JSON); `None` when it cannot be read (then only its metadata is
/// recorded).
fn decode(body: &[u8], content_type: &str) -> Option<Value> {
    match crate::codec::Format::from_content_type(content_type) {
        Some(format) => crate::codec::decode(body, format).ok(),
        None => serde_json::from_slice(body).ok(),
    }
}

/// Kubernetes' message for a failed authentication: which kinds of
/// credential were tried.
fn attempted(headers: &HeaderMap, certificate: bool) -> String {
    let mut methods = Vec::new();
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let scheme = authorization.split_whitespace().next().unwrap_or("");
    if scheme.eq_ignore_ascii_case("basic") {
        methods.push("basic");
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        methods.push("bearer");
    }
    if certificate {
        methods.push("x509");
    }
    if methods.is_empty() {
        "Authentication failed, no credentials provided".into()
    } else {
        format!("Authentication failed, attempted: {}", methods.join(", "))
    }
}

/// Whether a request carries a body worth copying: not a read, and not
/// a connection to upgrade (`exec`, `attach`, `portforward`).
fn has_body(request: &Request) -> bool {
    !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && !request.headers().contains_key(axum::http::header::UPGRADE)
}

/// Sends `ResponseComplete` when a long-running answer's body is dropped:
/// the watch ended, or its client left. Nobody waits for that answer, so
/// the event is sent from a task of its own.
struct CompleteOnDrop {
    context: Context,
    code: u16,
}

impl Drop for CompleteOnDrop {
    fn drop(&mut self) {
        let Some((auditor, event)) = self.context.completed(self.code, None, None) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { auditor.process(event).await });
            }
            Err(_) => tracing::warn!(
                audit_id = event.audit_id,
                "a watch ended outside the runtime: its ResponseComplete audit event is lost"
            ),
        }
    }
}

// ANCHOR: audit
/// The audit layer: an ID, a context, the request's events.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(auditor) = state.auditor.clone() else {
        return next.run(request).await;
    };
    let id = audit_id(request.headers());
    let context = new_context(auditor, &id, &request);
    request.extensions_mut().insert(context.clone());
    // The fixed open endpoints serve anyone, unauthenticated: audited as
    // the anonymous user they are served to.
    if OPEN_PATHS.contains(&request.uri().path())
        && !context.authenticated(&UserInfo::anonymous()).await
    {
        return refusal();
    }
    let long_running = matches!(
        crate::limits::classify(
            request.method(),
            request.uri().path(),
            request.uri().query()
        ),
        crate::limits::RequestClass::LongRunning
    );
    if has_body(&request) {
        request = copying_body(&context, request);
    }
    // A panicking handler is recorded at the `Panic` stage and answered
    // 500, as kube-apiserver's panic recovery does.
    let mut response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => respond(&context, response, long_running).await,
        Err(panic) => panicked(&context, panic).await,
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(AUDIT_ID, value);
    }
    response
}
// ANCHOR_END: audit

/// `request` with a body that copies each chunk into `context` as the
/// handler reads it.
fn copying_body(context: &Context, request: Request) -> Request {
    let (parts, body) = request.into_parts();
    let copier = context.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            copier.capture(bytes);
        }
        chunk
    });
    Request::from_parts(parts, Body::from_stream(stream))
}

/// The client's `Audit-ID` when it sent one (a proxy in front already
/// named the request), else a new UUID.
fn audit_id(headers: &HeaderMap) -> String {
    headers
        .get(AUDIT_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 128)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The event's fields known from the request alone.
fn new_context(auditor: Arc<Auditor>, id: &str, request: &Request) -> Context {
    let uri = request.uri();
    let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let info = request_info(request.method().as_str(), uri.path(), &query);
    let remote = request
        .extensions()
        .get::<crate::connection::RemoteAddr>()
        .map(|addr| addr.0.ip());
    let headers = request.headers();
    let object_ref = info.is_resource_request.then(|| ObjectRef {
        resource: info.resource.clone(),
        namespace: info.namespace.clone(),
        name: info.name.clone(),
        api_group: info.api_group.clone(),
        api_version: info.api_version.clone(),
        subresource: info.subresource.clone(),
        ..ObjectRef::default()
    });
    let event = Event {
        kind: "Event",
        api_version: super::policy::API_VERSION,
        level: Level::None,
        audit_id: id.to_string(),
        stage: Stage::RequestReceived,
        request_uri: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| uri.path().to_string()),
        verb: info.verb.clone(),
        user: User::default(),
        impersonated_user: None,
        source_ips: event::source_ips(headers, remote),
        user_agent: event::user_agent(headers),
        object_ref,
        response_status: None,
        request_object: None,
        response_object: None,
        request_received_timestamp: event::micro_time(jiff::Timestamp::now()),
        stage_timestamp: String::new(),
        annotations: Default::default(),
    };
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Context(Arc::new(Mutex::new(Record {
        auditor,
        event,
        info,
        decision: None,
        auth_failure: None,
        body: Vec::new(),
        content_type,
        request_object: None,
        refused: false,
    })))
}

/// Records the answer: `ResponseStarted` now and `ResponseComplete` when
/// the stream ends for a long-running request; `ResponseComplete` now for
/// any other, with the bodies its level asks for.
async fn respond(context: &Context, response: Response, long_running: bool) -> Response {
    let code = response.status().as_u16();
    let (level, resource, refused) = {
        let mut record = context.lock();
        let level = record.decision().level;
        (level, record.info.is_resource_request, record.refused)
    };
    if level == Level::None || refused {
        return response;
    }
    if long_running {
        let status = event::response_status(code, None);
        context.emit(Stage::ResponseStarted, Some(status)).await;
        let guard = CompleteOnDrop {
            context: context.clone(),
            code,
        };
        let (parts, body) = response.into_parts();
        let stream = body.into_data_stream().map(move |chunk| {
            let _ = &guard;
            chunk
        });
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    let wants_object = level == Level::RequestResponse && resource;
    if !wants_object && code < 300 {
        context.complete(code, None, None).await;
        return response;
    }
    // The body is already in memory (every answer but a stream's is).
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(%error, "reading an answer to audit it");
            context.complete(code, None, None).await;
            return Response::from_parts(parts, Body::empty());
        }
    };
    let content_type = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed = decode(&bytes, content_type);
    let object = if wants_object { parsed.clone() } else { None };
    context.complete(code, parsed.as_ref(), object).await;
    Response::from_parts(parts, Body::from(bytes))
}

/// A handler panicked: the `Panic` event, and a 500.
async fn panicked(context: &Context, panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    tracing::error!(panic = what, "a request handler panicked");
    let message = format!("APIServer panic'd: {what}");
    let status = serde_json::json!({
        "metadata": {}, "status": "Failure", "message": message,
        "reason": "InternalError", "code": 500,
    });
    context.emit(Stage::Panic, Some(status)).await;
    crate::status::ApiError::Internal(message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_authentication_names_what_was_tried() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            attempted(&headers, false),
            "Authentication failed, no credentials provided"
        );
        headers.insert("authorization", "Bearer x".parse().unwrap());
        assert_eq!(
            attempted(&headers, true),
            "Authentication failed, attempted: bearer, x509"
        );
    }
}

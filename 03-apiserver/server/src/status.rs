//! Errors as Kubernetes clients expect them: `metav1.Status`.
//!
//! Every failure the API server answers is a JSON `Status` object with a
//! machine-readable `reason` and the HTTP `code`, because clients branch on
//! them: kubectl prints `Error from server (NotFound): pods "web" not found`,
//! an informer re-lists on `410 Expired`, a controller retries on `409
//! Conflict`. The `message` is for humans and follows the wording of the
//! Kubernetes API server, so what students see here is what they will see at
//! work.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One reason an object was invalid: which field, what is wrong.
///
/// Mirrors `metav1.StatusCause`; `field` is a path like
/// `spec.containers[0].image`, the form `kubectl` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCause {
    /// The path of the offending field, e.g. `metadata.name`.
    pub field: String,
    /// What is wrong with it, in Kubernetes' words ("Required value", ...).
    pub message: String,
    /// The machine-readable cause type: `FieldValueRequired`, `FieldValueInvalid`, ...
    pub reason: &'static str,
}

impl FieldCause {
    /// A required field is missing (Kubernetes: `FieldValueRequired`).
    pub fn required(field: impl Into<String>) -> FieldCause {
        FieldCause {
            field: field.into(),
            message: "Required value".into(),
            reason: "FieldValueRequired",
        }
    }

    /// A required field is missing, with why it is required
    /// (`Required value: Local volumes require node affinity`).
    pub fn required_because(field: impl Into<String>, why: impl AsRef<str>) -> FieldCause {
        FieldCause {
            field: field.into(),
            message: format!("Required value: {}", why.as_ref()),
            reason: "FieldValueRequired",
        }
    }

    /// A field has a value that breaks a rule (Kubernetes: `FieldValueInvalid`).
    pub fn invalid(field: impl Into<String>, value: &Value, why: impl AsRef<str>) -> FieldCause {
        FieldCause {
            field: field.into(),
            message: format!("Invalid value: {}: {}", value, why.as_ref()),
            reason: "FieldValueInvalid",
        }
    }

    /// A value outside a fixed set (Kubernetes: `FieldValueNotSupported`):
    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> FieldCause {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldCause {
            field: field.into(),
            message: format!(
                "Unsupported value: {value:?}: supported values: {}",
                list.join(", ")
            ),
            reason: "FieldValueNotSupported",
        }
    }

    /// A string longer than its limit (Kubernetes: `FieldValueTooLong`).
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> FieldCause {
        FieldCause {
            field: field.into(),
            message: format!("Too long: may not be more than {max_bytes} bytes"),
            reason: "FieldValueTooLong",
        }
    }

    /// A field may not be changed after creation (Kubernetes: `FieldValueForbidden`).
    pub fn forbidden(field: impl Into<String>, why: impl Into<String>) -> FieldCause {
        FieldCause {
            field: field.into(),
            message: format!("Forbidden: {}", why.into()),
            reason: "FieldValueForbidden",
        }
    }
}

/// Which object an error is about; fills `Status.details`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The API group, empty for the core group.
    pub group: String,
    /// The resource's plural name (`pods`): Kubernetes puts the resource, not
    /// the Kind, into `details.kind`, and kubectl prints it as `pods "web"`.
    pub kind: String,
    /// The object's name, if the request named one.
    pub name: String,
}

/// etcd's default `--max-request-bytes` (1.5 MiB), named in the 413 a
/// larger object gets.
pub const ETCD_REQUEST_LIMIT: usize = 1_572_864;

/// Everything the API server can answer with besides success.
///
/// Each variant maps to exactly one `reason` and HTTP code (see
/// [`ApiError::reason`] and [`ApiError::code`]).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: the object (or its namespace) does not exist.
    #[error("{} \"{}\" not found", display_kind(&.0), .0.name)]
    NotFound(Target),
    /// 409 on create: an object with this name exists.
    #[error("{} \"{}\" already exists", display_kind(&.0), .0.name)]
    AlreadyExists(Target),
    /// 409 on update: the resourceVersion the client sent is stale.
    #[error("Operation cannot be fulfilled on {} \"{}\": {}", display_kind(&.0), .0.name, .1)]
    Conflict(Target, String),
    /// 422: the object breaks validation rules, field by field.
    #[error("{} \"{}\" is invalid: {}", .0.kind_title(), .0.name, join_causes(.1))]
    Invalid(Target, Vec<FieldCause>),
    /// 422 with no field to blame: the request is well formed but cannot
    /// be carried out on the object as it is. Kubernetes answers a JSON
    /// patch that does not apply (a failed `test`, a missing path) with
    /// this generic text and empty details, and kubectl prints
    /// `The request is invalid: <this text>`.
    #[error("the server rejected our request due to an error in our request")]
    Unprocessable,
    /// 400: the request itself is malformed (bad JSON, bad selector, ...).
    #[error("{0}")]
    BadRequest(String),
    /// 400: the object does not decode as its Kubernetes type (`typed.rs`):
    /// `message` in Kubernetes' words, `field` the path of the value, which
    /// Kubernetes does not give and orc adds as the one `details.causes`.
    #[error("{message}")]
    Undecodable { message: String, field: String },
    /// 401: no or a wrong bearer token.
    #[error("Unauthorized")]
    Unauthorized,
    /// 403: the request is understood and refused (a system namespace delete).
    #[error("{0}")]
    Forbidden(String),
    /// 405: the resource does not support this verb.
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    /// 410: a watch asked for history that etcd has compacted away.
    #[error("{0}")]
    Expired(String),
    /// 413: the body is larger than the server accepts.
    #[error("the request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// 413: etcd refused the write as larger than its request limit
    /// (`--max-request-bytes`); the body itself was within the server's.
    #[error(
        "Request entity too large: the object is larger than etcd's request limit \
         (--max-request-bytes, {ETCD_REQUEST_LIMIT} bytes by default): {0}"
    )]
    TooLargeToStore(String),
    /// 415: a body (or PATCH) in a media type the server does not implement;
    /// the message lists the accepted ones.
    #[error("the body of the request was in an unknown format - accepted media types include: {0}")]
    UnsupportedMediaType(&'static str),
    /// 500: etcd or the server itself failed. Clients may retry.
    #[error("{0}")]
    Internal(String),
    /// 429: the request is refused *for now*, and may pass later (an
    /// eviction that a PodDisruptionBudget does not allow yet). `causes`
    /// are `(reason, message)` pairs; `retry_after` seconds (0: none) go
    /// in `details` and a `Retry-After` header, as Kubernetes'
    /// `NewTooManyRequests`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        causes: Vec<(String, String)>,
        retry_after: u32,
    },
    /// 504: a LIST asked for a state newer than any etcd has (Kubernetes
    /// waits a few seconds for its watch cache, then answers this).
    #[error("Too large resource version: {asked}, current: {current}")]
    TooLargeResourceVersion { asked: i64, current: i64 },
    /// 503 with `Retry-After: 1`: etcd cannot be reached right now (it is
    /// restarting, or down); nothing was read or written. Clients retry
    /// after the wait, so a restart of etcd is a pause, not an error.
    #[error("the API server's storage (etcd) is unavailable, try again later: {0}")]
    Unavailable(String),
    /// 503 without `Retry-After`: the target of a `pods/{name}/proxy` or
    /// `services/{name}/proxy` request has no endpoint or cannot be
    /// reached (Kubernetes' `NewServiceUnavailable`: `no endpoints
    /// available for service "web"`, `error trying to reach service: ...`).
    #[error("{0}")]
    BackendUnavailable(String),
    /// 507: etcd is full (its NOSPACE alarm is raised) and refuses every
    /// write until an operator frees space; reads still work. Kubernetes
    /// passes etcd's words on as a 500, which reads like a server bug and
    /// invites retries that cannot succeed; orc answers HTTP's own code
    /// for "the server cannot store this", and the message (etcd's words,
    /// then what to do) is the storage layer's.
    #[error("{0}")]
    InsufficientStorage(String),
}

impl Target {
    /// `"Pod"`-like title used in 422 messages (`Pod "x" is invalid`).
    fn kind_title(&self) -> &str {
        &self.kind
    }
}

fn display_kind(target: &Target) -> String {
    if target.group.is_empty() {
        target.kind.clone()
    } else {
        format!("{}.{}", target.kind, target.group)
    }
}

fn join_causes(causes: &[FieldCause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    if parts.len() == 1 {
        parts[0].clone()
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    /// The `reason` field: the stable, machine-readable name of the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict(..) => "Conflict",
            ApiError::Invalid(..) | ApiError::Unprocessable => "Invalid",
            ApiError::BadRequest(_) | ApiError::Undecodable { .. } => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::Expired(_) => "Expired",
            ApiError::TooLarge(_) | ApiError::TooLargeToStore(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::Internal(_) => "InternalError",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::Unavailable(_) | ApiError::BackendUnavailable(_) => "ServiceUnavailable",
            ApiError::InsufficientStorage(_) => "InsufficientStorage",
            ApiError::TooLargeResourceVersion { .. } => "Timeout",
        }
    }

    /// The HTTP status code, repeated inside the body as `code`.
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists(_) | ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::Invalid(..) | ApiError::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) | ApiError::Undecodable { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Expired(_) => StatusCode::GONE,
            ApiError::TooLarge(_) | ApiError::TooLargeToStore(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::BackendUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::TooLargeResourceVersion { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    // ANCHOR: status_json
    /// The `metav1.Status` body for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let target = match self {
            ApiError::NotFound(t) | ApiError::AlreadyExists(t) | ApiError::Conflict(t, _) => t,
            ApiError::Invalid(t, _) => t,
            ApiError::Unprocessable => {
                status["details"] = json!({});
                return status;
            }
            ApiError::TooManyRequests {
                causes,
                retry_after,
                ..
            } => {
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|(reason, message)| json!({"reason": reason, "message": message}))
                    .collect();
                status["details"] = json!({"causes": causes});
                if *retry_after > 0 {
                    status["details"]["retryAfterSeconds"] = json!(retry_after);
                }
                return status;
            }
            ApiError::Undecodable { message, field } => {
                status["details"] = json!({"causes": [
                    {"reason": "FieldValueInvalid", "message": message, "field": field}
                ]});
                return status;
            }
            ApiError::TooLargeResourceVersion { .. } => {
                status["details"] = json!({
                    "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                    "retryAfterSeconds": 1,
                });
                return status;
            }
            _ => return status,
        };
        let mut details = json!({ "name": target.name, "kind": target.kind });
        if !target.group.is_empty() {
            details["group"] = json!(target.group);
        }
        if let ApiError::Invalid(_, causes) = self {
            details["causes"] = causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
        }
        status["details"] = details;
        status
    }
    // ANCHOR_END: status_json
}

impl ApiError {
    /// A storage failure that names no object (a lookup the request
    /// depends on): 503 when etcd cannot be reached, 500 otherwise.
    pub fn storage(error: crate::storage::StorageError) -> ApiError {
        match error {
            crate::storage::StorageError::Etcd(e) => e.into(),
            full @ crate::storage::StorageError::NoSpace => {
                ApiError::InsufficientStorage(full.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<etcd_client::Error> for ApiError {
    fn from(error: etcd_client::Error) -> ApiError {
        if crate::storage::is_unavailable(&error) {
            return ApiError::Unavailable(error.to_string());
        }
        // Through StorageError, which recognises a full etcd.
        match crate::storage::StorageError::from(error) {
            full @ crate::storage::StorageError::NoSpace => {
                ApiError::InsufficientStorage(full.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code(), axum::Json(self.to_status())).into_response();
        if matches!(self, ApiError::Unauthorized) {
            // RFC 6750: tell the client which scheme to use.
            response
                .headers_mut()
                .insert("www-authenticate", "Bearer".parse().expect("static header"));
        }
        // Kubernetes' `ErrorNegotiated` turns a Status' `retryAfterSeconds`
        // into the header; these two carry 1.
        if matches!(
            self,
            ApiError::Unavailable(_) | ApiError::TooLargeResourceVersion { .. }
        ) {
            response
                .headers_mut()
                .insert("retry-after", "1".parse().expect("static header"));
        }
        if let ApiError::TooManyRequests { retry_after, .. } = self
            && retry_after > 0
        {
            response
                .headers_mut()
                .insert("retry-after", retry_after.into());
        }
        response
    }
}

/// The `Status` a successful delete of an already-gone object answers with
/// (Kubernetes answers `status: Success` when nothing is left to return).
pub fn success(target: &Target) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": { "name": target.name, "group": target.group, "kind": target.kind },
    })
}

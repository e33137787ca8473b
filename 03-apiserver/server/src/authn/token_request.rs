//! Service account tokens served: TokenRequest, TokenReview, and the
//! check that a token's ServiceAccount and pod still exist.
//!
//! - `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`
//!   (`kubectl create token <name> --duration 1h`): a TokenRequest in, the
//!   same TokenRequest out with `status.token` filled, signed by
//!   [`TokenKeys`]. With `spec.boundObjectRef` naming a pod, the token is
//!   bound to that pod and dies with it: that is how the node agent gets a
//!   pod's token. Naming a Secret binds it to the Secret: that is how the
//!   token controller (chapter 05) fills a `kubernetes.io/service-account-token`
//!   Secret with a token that lives as long as the Secret does.
//! - `POST /apis/authentication.k8s.io/v1/tokenreviews`: "who is this
//!   token?", answered by the same authenticators requests go through.
//!   Whoever receives a token (a webhook, another service) asks this
//!   rather than trusting it.
//! - [`check_bound`]: a token's signature and dates hold without a lookup,
//!   but deleting the ServiceAccount or the pod must revoke it, so every
//!   use reads both and compares their uids with the token's.

use serde_json::{Value, json};

use super::service_account::{Bound, Claims, ObjectRef, TokenError, USER_PREFIX};
use super::{Found, Unauthenticated};
use crate::handlers::{ApiRequest, Reply, read};
use crate::server::AppState;
use crate::status::{ApiError, FieldCause, Target};
use crate::storage::{self, StorageError, Store};
use orc_client::resources::lookup;

/// A token's lifetime when the request names none (Kubernetes' default).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime a TokenRequest may ask for.
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest (Kubernetes' validation: 2^32 seconds).
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// A pod being deleted keeps its token this long after its
/// `deletionTimestamp` (kube-apiserver's grace for tokens in use while
/// the pod stops).
const DELETED_POD_GRACE_SECONDS: i64 = 60;

/// Seconds since the epoch, now: the clock of token checks.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

// ANCHOR: check_bound
/// Whether what `claims` is bound to still exists: the ServiceAccount,
/// with the uid the token recorded, the pod if it names one, not
/// deleted more than a minute before `now`, and the Secret if it names one.
pub async fn check_bound(store: &Store, claims: &Claims, now: i64) -> Result<(), TokenError> {
    let bound = &claims.kubernetes;
    let ns = bound.namespace.as_str();
    let account = current(store, "serviceaccounts", ns, &bound.serviceaccount).await?;
    if account.is_none() {
        return Err(TokenError::Revoked(format!(
            "service account {ns}/{} has been deleted",
            bound.serviceaccount.name
        )));
    }
    if let Some(pod_ref) = &bound.pod {
        let Some(pod) = current(store, "pods", ns, pod_ref).await? else {
            return Err(TokenError::Revoked(format!(
                "pod {ns}/{} has been deleted",
                pod_ref.name
            )));
        };
        let deleted = pod
            .pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if deleted.is_some_and(|t| t.as_second() + DELETED_POD_GRACE_SECONDS < now) {
            return Err(TokenError::Revoked(format!(
                "pod {ns}/{} has been deleted",
                pod_ref.name
            )));
        }
    }
    if let Some(secret_ref) = &bound.secret {
        if current(store, "secrets", ns, secret_ref).await?.is_none() {
            return Err(TokenError::Revoked(format!(
                "secret {ns}/{} has been deleted",
                secret_ref.name
            )));
        }
    }
    Ok(())
}
// ANCHOR_END: check_bound

/// The object `plural/ns/name` if it exists with `object.uid`; `None` if
/// it is gone or was replaced by another of the same name.
async fn current(
    store: &Store,
    plural: &str,
    ns: &str,
    object: &ObjectRef,
) -> Result<Option<Value>, TokenError> {
    let resource = lookup("", "v1", plural).ok_or(TokenError::Malformed("resource"))?;
    match store
        .get(&storage::key(resource, Some(ns), &object.name))
        .await
    {
        Ok(found) => Ok((uid(&found) == object.uid).then_some(found)),
        Err(StorageError::NotFound) => Ok(None),
        // etcd unreachable: refuse (a 401), never let the token through.
        Err(error) => Err(TokenError::Revoked(format!(
            "checking {plural} {ns}/{}: {error}",
            object.name
        ))),
    }
}

fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn invalid(name: &str, causes: Vec<FieldCause>) -> ApiError {
    ApiError::Invalid(
        Target {
            group: "authentication.k8s.io".into(),
            kind: "TokenRequest".into(),
            name: name.into(),
        },
        causes,
    )
}

/// What a TokenRequest asks for, read and checked (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    /// Who the token is for; empty: the API server.
    pub audiences: Vec<String>,
    /// How long it lives.
    pub expiration_seconds: i64,
    /// The object to bind it to.
    pub bound: Option<BoundObject>,
}

/// The kinds a token can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    Pod,
    Secret,
}

impl BoundKind {
    /// The resource's plural.
    fn plural(self) -> &'static str {
        match self {
            BoundKind::Pod => "pods",
            BoundKind::Secret => "secrets",
        }
    }
}

/// A token's `boundObjectRef`: kind, name, and the uid if the request
/// gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundObject {
    pub kind: BoundKind,
    pub name: String,
    pub uid: Option<String>,
}

// ANCHOR: read_spec
/// Reads a TokenRequest's `spec`, with Kubernetes' defaults and limits.
pub fn read_spec(name: &str, body: &Value) -> Result<TokenSpec, ApiError> {
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let audiences = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let expiration = spec.get("expirationSeconds").filter(|v| !v.is_null());
    let expiration_seconds = match expiration {
        None => DEFAULT_EXPIRATION_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            invalid(
                name,
                vec![FieldCause::invalid(
                    "spec.expirationSeconds",
                    v,
                    "must be an integer",
                )],
            )
        })?,
    };
    let field = "spec.expirationSeconds";
    if expiration_seconds < MIN_EXPIRATION_SECONDS {
        let cause = FieldCause::invalid(
            field,
            &json!(expiration_seconds),
            "may not specify a duration less than 10 minutes",
        );
        return Err(invalid(name, vec![cause]));
    }
    if expiration_seconds > MAX_EXPIRATION_SECONDS {
        let cause = FieldCause::invalid(
            field,
            &json!(expiration_seconds),
            "may not specify a duration larger than 2^32 seconds",
        );
        return Err(invalid(name, vec![cause]));
    }
    let bound = match spec.get("boundObjectRef").filter(|v| !v.is_null()) {
        None => None,
        Some(reference) => {
            let kind = match reference.get("kind").and_then(Value::as_str).unwrap_or("") {
                "Pod" => BoundKind::Pod,
                "Secret" => BoundKind::Secret,
                // Kubernetes also binds to Nodes; orc binds to pods and
                // Secrets only, and says so rather than ignore the binding.
                other => {
                    let kinds = &["Pod", "Secret"];
                    let cause = FieldCause::not_supported("spec.boundObjectRef.kind", other, kinds);
                    return Err(invalid(name, vec![cause]));
                }
            };
            let bound_name = reference.get("name").and_then(Value::as_str).unwrap_or("");
            if bound_name.is_empty() {
                return Err(invalid(
                    name,
                    vec![FieldCause::required("spec.boundObjectRef.name")],
                ));
            }
            let uid = reference
                .get("uid")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
                .map(str::to_string);
            Some(BoundObject {
                kind,
                name: bound_name.to_string(),
                uid,
            })
        }
    };
    Ok(TokenSpec {
        audiences,
        expiration_seconds,
        bound,
    })
}
// ANCHOR_END: read_spec

/// A token for ServiceAccount `name` bound to `pod`: a node asks only for
/// its own pods' tokens, and the pod must run as that ServiceAccount.
fn check_pod_binding(
    user: &super::UserInfo,
    accounts: &orc_client::resources::Resource,
    name: &str,
    pod: &Value,
    bound: &BoundObject,
) -> Result<(), ApiError> {
    let runs_as = pod
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    crate::node_restriction::admit_token(user, accounts, name, Some((pod, bound.uid.as_deref())))?;
    if runs_as != name {
        return Err(ApiError::BadRequest(format!(
            "cannot bind token for serviceaccount \"{name}\" to pod running with \
             different serviceaccount name (\"{runs_as}\")"
        )));
    }
    Ok(())
}

/// `POST .../serviceaccounts/<name>/token`: a token for the
/// ServiceAccount `ns/name`, bound to the pod the request names.
pub async fn create_token(
    state: &AppState,
    ns: &str,
    name: &str,
    request: &ApiRequest,
) -> Result<Reply, ApiError> {
    let Some(keys) = state.authenticators.service_accounts.as_deref() else {
        return Err(ApiError::BadRequest(
            "this API server has no service account signing key, so it cannot issue tokens: \
             start it with --service-account-signing-key-file (orc up and orc server make one \
             in the cluster's PKI directory)"
                .into(),
        ));
    };
    let format = crate::codec::Format::of_body(request.content_type())?;
    let body = crate::codec::decode(&request.body, format)?;
    let spec = read_spec(name, &body)?;
    let accounts = lookup("", "v1", "serviceaccounts").ok_or(ApiError::MethodNotAllowed)?;
    let account = read::get(state, accounts, Some(ns), name).await?.body;
    let (pod, secret) = match &spec.bound {
        None => {
            crate::node_restriction::admit_token(&request.user, accounts, name, None)?;
            (None, None)
        }
        Some(bound) => {
            let resource =
                lookup("", "v1", bound.kind.plural()).ok_or(ApiError::MethodNotAllowed)?;
            let object = read::get(state, resource, Some(ns), &bound.name)
                .await?
                .body;
            if bound.uid.as_deref().is_some_and(|u| u != uid(&object)) {
                return Err(ApiError::Conflict(
                    crate::handlers::target(resource, &bound.name),
                    "the UID in the bound object reference does not match the UID in record; \
                     the object might have been deleted and then recreated"
                        .into(),
                ));
            }
            let reference = ObjectRef {
                name: bound.name.clone(),
                uid: uid(&object).into(),
            };
            match bound.kind {
                BoundKind::Pod => {
                    check_pod_binding(&request.user, accounts, name, &object, bound)?;
                    (Some(reference), None)
                }
                BoundKind::Secret => {
                    // A node asks only for tokens bound to its own pods.
                    crate::node_restriction::admit_token(&request.user, accounts, name, None)?;
                    (None, Some(reference))
                }
            }
        }
    };
    let audiences = if spec.audiences.is_empty() {
        keys.audiences().to_vec()
    } else {
        spec.audiences.clone()
    };
    let now = now();
    let claims = Claims {
        aud: audiences.clone(),
        exp: now + spec.expiration_seconds,
        iat: now,
        iss: keys.issuer().into(),
        jti: crate::meta::new_uid(),
        kubernetes: Bound {
            namespace: ns.into(),
            serviceaccount: ObjectRef {
                name: name.into(),
                uid: uid(&account).into(),
            },
            pod: pod.clone(),
            secret: secret.clone(),
        },
        nbf: now,
        sub: format!("{USER_PREFIX}{ns}:{name}"),
    };
    let token = keys.sign(&claims);
    let expires = jiff::Timestamp::from_second(claims.exp)
        .map(orc_client::time::format)
        .unwrap_or_default();
    let bound_ref = match (&pod, &secret) {
        (Some(p), _) => json!({"kind": "Pod", "apiVersion": "v1", "name": p.name, "uid": p.uid}),
        (_, Some(s)) => json!({"kind": "Secret", "apiVersion": "v1", "name": s.name, "uid": s.uid}),
        _ => Value::Null,
    };
    Ok(Reply {
        code: axum::http::StatusCode::CREATED,
        body: json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": name,
                "namespace": ns,
                "creationTimestamp": orc_client::time::format(jiff::Timestamp::now()),
            },
            "spec": {
                "audiences": audiences,
                "expirationSeconds": spec.expiration_seconds,
                "boundObjectRef": bound_ref,
            },
            "status": {"token": token, "expirationTimestamp": expires},
        }),
        warnings: Vec::new(),
    })
}

// ANCHOR: review
/// `POST /apis/authentication.k8s.io/v1/tokenreviews`: authenticates
/// `spec.token` for `spec.audiences` (default: the API server's own) and
/// answers with the user, or `authenticated: false` and why.
pub async fn review(state: &AppState, request: &ApiRequest) -> Result<Reply, ApiError> {
    let format = crate::codec::Format::of_body(request.content_type())?;
    let body = crate::codec::decode(&request.body, format)?;
    let spec = body.get("spec").cloned().unwrap_or(json!({}));
    let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
    if token.is_empty() {
        return Err(ApiError::BadRequest(
            "token is required for TokenReview in authentication".into(),
        ));
    }
    let wanted: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let authn = &state.authenticators;
    let audiences = if wanted.is_empty() {
        authn.api_audiences()
    } else {
        wanted.clone()
    };
    let now = now();
    let found = authn.authenticate_token(token, &audiences, now);
    let status = match found {
        Ok(Found::User(user)) => accepted(&user, json!({}), &audiences),
        Ok(Found::ServiceAccount(claims)) => match check_bound(&state.store, &claims, now).await {
            Ok(()) => {
                let matched: Vec<String> = claims
                    .aud
                    .iter()
                    .filter(|a| audiences.contains(a))
                    .cloned()
                    .collect();
                accepted(&claims.user(), extra(&claims), &matched)
            }
            Err(error) => refused(&Unauthenticated::ServiceAccount(error)),
        },
        Err(error) => refused(&error),
    };
    let mut echo = spec.clone();
    if let Some(map) = echo.as_object_mut() {
        map.insert("audiences".into(), json!(wanted));
    }
    Ok(Reply {
        code: axum::http::StatusCode::CREATED,
        body: json!({
            "kind": "TokenReview",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": echo,
            "status": status,
        }),
        warnings: Vec::new(),
    })
}
// ANCHOR_END: review

fn accepted(user: &super::UserInfo, extra: Value, audiences: &[String]) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if extra.as_object().is_some_and(|e| !e.is_empty()) {
        info["extra"] = extra;
    }
    json!({"authenticated": true, "user": info, "audiences": audiences})
}

fn refused(error: &Unauthenticated) -> Value {
    json!({"user": {}, "error": error.to_string()})
}

/// What Kubernetes adds to a pod-bound token's user: the pod, and the
/// token's id (for audit logs to tell two tokens of one account apart).
fn extra(claims: &Claims) -> Value {
    let mut extra = json!({
        "authentication.kubernetes.io/credential-id": [format!("JTI={}", claims.jti)],
    });
    if let Some(pod) = &claims.kubernetes.pod {
        extra["authentication.kubernetes.io/pod-name"] = json!([pod.name]);
        extra["authentication.kubernetes.io/pod-uid"] = json!([pod.uid]);
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_request_defaults_to_an_hour_and_refuses_under_ten_minutes() {
        let spec = read_spec("robot", &json!({"spec": {}})).unwrap();
        assert_eq!(spec.expiration_seconds, 3600);
        assert!(spec.audiences.is_empty() && spec.bound.is_none());
        let short = read_spec("robot", &json!({"spec": {"expirationSeconds": 60}})).unwrap_err();
        assert_eq!(
            short.to_string(),
            "TokenRequest \"robot\" is invalid: spec.expirationSeconds: Invalid value: 60: \
             may not specify a duration less than 10 minutes"
        );
        assert!(read_spec("r", &json!({"spec": {"expirationSeconds": 1i64 << 33}})).is_err());
    }

    #[test]
    fn a_token_binds_to_a_pod_or_a_secret() {
        let spec = read_spec(
            "robot",
            &json!({"spec": {"audiences": ["vault"], "boundObjectRef": {"kind": "Pod", "name": "web", "uid": "u1"}}}),
        )
        .unwrap();
        assert_eq!(spec.audiences, ["vault"]);
        let web = BoundObject {
            kind: BoundKind::Pod,
            name: "web".into(),
            uid: Some("u1".into()),
        };
        assert_eq!(spec.bound, Some(web));
        let secret = read_spec(
            "robot",
            &json!({"spec": {"boundObjectRef": {"kind": "Secret", "name": "s"}}}),
        )
        .unwrap();
        let s = BoundObject {
            kind: BoundKind::Secret,
            name: "s".into(),
            uid: None,
        };
        assert_eq!(secret.bound, Some(s));
        let node = read_spec(
            "robot",
            &json!({"spec": {"boundObjectRef": {"kind": "Node", "name": "n"}}}),
        )
        .unwrap_err();
        assert!(
            node.to_string()
                .contains("spec.boundObjectRef.kind: Unsupported value: \"Node\""),
            "{node}"
        );
    }
}

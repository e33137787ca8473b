//! One line of the audit log: Kubernetes' `audit.k8s.io/v1` `Event`, with
//! its field names and order, so that tools written for kube-apiserver's
//! log (`jq` one-liners, log shippers) read orc's unchanged.
//!
//! ```json
//! {"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",
//!  "auditID":"4b1c…","stage":"ResponseComplete",
//!  "requestURI":"/api/v1/namespaces/default/pods?limit=500","verb":"list",
//!  "user":{"username":"alice","groups":["dev","system:authenticated"]},
//!  "sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.32.0 …",
//!  "objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},
//!  "responseStatus":{"metadata":{},"code":200},
//!  "requestReceivedTimestamp":"2026-12-06T12:00:00.123456Z",
//!  "stageTimestamp":"2026-12-06T12:00:00.125001Z",
//!  "annotations":{"authorization.k8s.io/decision":"allow",
//!                 "authorization.k8s.io/reason":"RBAC: allowed by …"}}
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use super::policy::{Level, Stage};
use crate::authn::UserInfo;

/// An audit event, as kube-apiserver writes it (fields in its order;
/// empty optional fields left out, as Go's `omitempty` does).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub level: Level,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: Stage,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: String,
    /// Who asked; `{}` when authentication failed (nobody is known).
    pub user: User,
    /// Whom they acted as (`kubectl --as`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<User>,
    #[serde(rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// The object or collection of a resource request; none for a path
    /// outside the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef>,
    /// Set from ResponseStarted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<Value>,
    /// At `Request` and above: the body as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    /// At `RequestResponse`: the body answered (not for long-running
    /// requests, whose body is a stream).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    pub request_received_timestamp: String,
    pub stage_timestamp: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `authentication/v1` `UserInfo`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct User {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl From<&UserInfo> for User {
    fn from(user: &UserInfo) -> User {
        User {
            username: user.name.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
        }
    }
}

/// `audit.k8s.io/v1` `ObjectReference`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

impl ObjectRef {
    /// Fills what the path left out from the object sent (a create names
    /// its object only in the body), as Kubernetes' `LogRequestObject`.
    pub fn complete_from(&mut self, object: &Value) {
        let meta = &object["metadata"];
        let fill = |field: &mut String, key: &str| {
            if field.is_empty()
                && let Some(text) = meta[key].as_str()
            {
                *field = text.to_string();
            }
        };
        fill(&mut self.namespace, "namespace");
        fill(&mut self.name, "name");
        fill(&mut self.uid, "uid");
        fill(&mut self.resource_version, "resourceVersion");
    }
}

/// A time as Kubernetes' `MicroTime`: RFC 3339 in UTC with microseconds.
pub fn micro_time(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The request's source addresses as Kubernetes lists them: those of
/// `X-Forwarded-For`, then `X-Real-Ip` unless already named, then the
/// connection's own address unless it is the last one named. Every one
/// but the last may be made up by the client.
pub fn source_ips(headers: &HeaderMap, remote: Option<IpAddr>) -> Vec<String> {
    let mut ips: Vec<IpAddr> = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|list| {
            list.split(',')
                .filter_map(|part| part.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let real = headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    if let Some(real) = real
        && !ips.contains(&real)
    {
        ips.push(real);
    }
    if let Some(remote) = remote
        && ips.last() != Some(&remote)
    {
        ips.push(remote);
    }
    ips.iter().map(IpAddr::to_string).collect()
}

/// Kubernetes keeps at most this many bytes of a `User-Agent`.
const MAX_USER_AGENT: usize = 1024;

/// The `User-Agent`, cut after [`MAX_USER_AGENT`] bytes with `...TRUNCATED`.
pub fn user_agent(headers: &HeaderMap) -> String {
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    if agent.len() <= MAX_USER_AGENT {
        return agent;
    }
    let mut end = MAX_USER_AGENT;
    while !agent.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...TRUNCATED", &agent[..end])
}

/// `metadata.managedFields` removed from an object, or from each item of
/// a list (`omitManagedFields`).
pub fn without_managed_fields(mut value: Value) -> Value {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    if let Some(items) = value.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            if let Some(meta) = item.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
    }
    value
}

/// `responseStatus` from an answer: `{metadata: {}, code}` on success;
/// on failure the `Status` the body carries (status, message, reason,
/// details), as Kubernetes records it.
pub fn response_status(code: u16, body: Option<&Value>) -> Value {
    let mut status = serde_json::json!({"metadata": {}});
    if code >= 300
        && let Some(Value::Object(body)) = body
        && body.get("kind").and_then(Value::as_str) == Some("Status")
    {
        for key in ["status", "message", "reason", "details"] {
            if let Some(value) = body.get(key) {
                status[key] = value.clone();
            }
        }
    }
    status["code"] = code.into();
    status
}

/// A `Metadata` event at `ResponseComplete` of `alice` getting pod
/// `shop/web`, answered 200: for tests of what carries events.
#[cfg(test)]
pub fn sample() -> Event {
    Event {
        kind: "Event",
        api_version: super::policy::API_VERSION,
        level: Level::Metadata,
        audit_id: "0000".into(),
        stage: Stage::ResponseComplete,
        request_uri: "/api/v1/namespaces/shop/pods/web".into(),
        verb: "get".into(),
        user: User {
            username: "alice".into(),
            uid: String::new(),
            groups: vec!["system:authenticated".into()],
        },
        impersonated_user: None,
        source_ips: vec!["127.0.0.1".into()],
        user_agent: String::new(),
        object_ref: Some(ObjectRef {
            resource: "pods".into(),
            namespace: "shop".into(),
            name: "web".into(),
            api_version: "v1".into(),
            ..ObjectRef::default()
        }),
        response_status: Some(response_status(200, None)),
        request_object: None,
        response_object: None,
        request_received_timestamp: "2026-12-06T12:00:00.000000Z".into(),
        stage_timestamp: "2026-12-06T12:00:00.001000Z".into(),
        annotations: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_microseconds() {
        let at: jiff::Timestamp = "2026-12-06T12:00:00.1234567Z".parse().unwrap();
        assert_eq!(micro_time(at), "2026-12-06T12:00:00.123456Z");
        let whole: jiff::Timestamp = "2026-12-06T12:00:00Z".parse().unwrap();
        assert_eq!(micro_time(whole), "2026-12-06T12:00:00.000000Z");
    }

    #[test]
    fn source_ips_follow_forwarding_headers_then_the_peer() {
        let mut headers = HeaderMap::new();
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(source_ips(&headers, Some(peer)), ["10.0.0.9"]);
        headers.insert("x-forwarded-for", "1.2.3.4, 10.0.0.9".parse().unwrap());
        headers.insert("x-real-ip", "5.6.7.8".parse().unwrap());
        assert_eq!(
            source_ips(&headers, Some(peer)),
            ["1.2.3.4", "10.0.0.9", "5.6.7.8", "10.0.0.9"]
        );
        headers.remove("x-real-ip");
        assert_eq!(source_ips(&headers, Some(peer)), ["1.2.3.4", "10.0.0.9"]);
    }

    #[test]
    fn long_user_agents_are_cut() {
        let mut headers = HeaderMap::new();
        headers.insert("user-agent", "a".repeat(2000).parse().unwrap());
        let agent = user_agent(&headers);
        assert_eq!(agent.len(), 1024 + "...TRUNCATED".len());
        assert!(agent.ends_with("a...TRUNCATED"));
    }

    #[test]
    fn failures_carry_the_status_successes_only_the_code() {
        let body = serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "pods \"x\" not found", "reason": "NotFound",
            "details": {"name": "x", "kind": "pods"}, "code": 404,
        });
        assert_eq!(
            response_status(404, Some(&body)),
            serde_json::json!({"metadata": {}, "status": "Failure",
                "message": "pods \"x\" not found", "reason": "NotFound",
                "details": {"name": "x", "kind": "pods"}, "code": 404})
        );
        assert_eq!(
            response_status(200, Some(&body)),
            serde_json::json!({"metadata": {}, "code": 200})
        );
    }

    #[test]
    fn managed_fields_are_removed_from_objects_and_items() {
        let list = serde_json::json!({"metadata": {"managedFields": [1]},
            "items": [{"metadata": {"name": "a", "managedFields": [2]}}]});
        assert_eq!(
            without_managed_fields(list),
            serde_json::json!({"metadata": {}, "items": [{"metadata": {"name": "a"}}]})
        );
    }
}

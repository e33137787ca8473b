//! The few fields every controller reads from objects, which it keeps as
//! JSON values (as chapter 03's client hands them out).

use serde_json::Value;

pub use orc_client::informer::key_of;

/// `metadata.uid`; empty when missing.
pub fn uid(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.namespace` and `metadata.name`; empty when missing.
pub fn namespace_and_name(obj: &Value) -> (&str, &str) {
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    (text("/metadata/namespace"), text("/metadata/name"))
}

/// `spec.replicas` of a ReplicaSet or Deployment; 1 when unset, the API
/// server's default.
pub fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

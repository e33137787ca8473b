//! Object metadata: the part every Kubernetes object shares.
//!
//! Every object has `apiVersion`, `kind` and `metadata`; the rest (`spec`,
//! `status`, `data`, ...) depends on the kind. orc types `metadata` fully,
//! because the API server itself reads and writes it (uid, resourceVersion,
//! generation, finalizers), and keeps the rest of an object as a JSON value
//! that it validates field by field (see `validation.rs`). Fields orc does
//! not know are kept verbatim in [`ObjectMeta::extra`], never dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::status::ApiError;

/// `metav1.ObjectMeta`, the fields the API server manages or reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// Unique within a namespace (or the cluster, for cluster-scoped kinds).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// When `name` is empty, the server appends five random characters to
    /// this prefix: how ReplicaSets name their pods.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub generate_name: String,
    /// Empty for cluster-scoped objects; taken from the URL otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Set once at creation. A name can be reused after delete; a uid never
    /// is, which is how owners and caches tell two incarnations apart.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The etcd mod revision of the stored object, as a string. Never stored
    /// inside the value in etcd: it is set on every read (Kubernetes does the
    /// same), because the object cannot know the revision its own write gets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    /// Bumped when the spec changes, not when status or metadata do:
    /// controllers compare it with `status.observedGeneration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    /// RFC 3339, second precision, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    /// Set by a delete while finalizers remain; the object stays until they
    /// are gone. Once set it cannot be cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    /// How long the object may take to shut down (pods use it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Identifying key/value pairs that selectors match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Non-identifying key/value pairs for tools (kubectl's last-applied, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Who owns this object; the garbage collector (chapter 05) follows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owner_references: Vec<Value>,
    /// Names of the parties that must act before the object may go away.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finalizers: Vec<String>,
    /// Everything else the client sent (managedFields, ...), kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ObjectMeta {
    /// Reads `obj.metadata`, answering 400 when it has the wrong shape.
    pub fn of(obj: &Value) -> Result<ObjectMeta, ApiError> {
        match obj.get("metadata") {
            None | Some(Value::Null) => Ok(ObjectMeta::default()),
            Some(meta) => ObjectMeta::deserialize(meta)
                .map_err(|e| ApiError::BadRequest(format!("metadata: {e}"))),
        }
    }

    /// Writes this metadata back into `obj.metadata`.
    pub fn store(&self, obj: &mut Value) {
        if let Value::Object(map) = obj {
            let meta = serde_json::to_value(self).unwrap_or(Value::Null);
            map.insert("metadata".into(), meta);
        }
    }
}

/// A fresh random (v4) uid, as Kubernetes assigns them.
pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_round_trips_unknown_fields() {
        let obj = json!({"metadata": {"name": "a", "labels": {"x": "y"}, "managedFields": [1]}});
        let meta = ObjectMeta::of(&obj).unwrap();
        assert_eq!(meta.extra["managedFields"], json!([1]));
        let mut out = json!({});
        meta.store(&mut out);
        assert_eq!(out, obj);
    }

    #[test]
    fn bad_metadata_is_a_bad_request() {
        let err = ObjectMeta::of(&json!({"metadata": {"labels": {"x": 1}}})).unwrap_err();
        assert_eq!(err.reason(), "BadRequest");
    }
}

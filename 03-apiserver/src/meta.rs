//! Object metadata: the part every Kubernetes object shares.
//!
//! Every object has `apiVersion`, `kind` and `metadata`; the rest (`spec`,
//! `status`, `data`, ...) depends on the kind. orc types `metadata` fully,
//! because the API server itself reads and writes it (uid, resourceVersion,
//! generation, finalizers), and keeps the rest of an object as a JSON value
//! that it validates field by field (see `validation.rs`). Fields orc does
//! not know are kept verbatim in [`ObjectMeta::extra`], never dropped.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// The characters Kubernetes uses in generated names and hashes
/// (`SafeEncodeString`): no vowels, so no accidental words, and no 0, 1
/// or 3, which read like letters.
pub const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five lowercase alphanumerics for `generateName`, the alphabet Kubernetes
/// uses (no vowels, so generated names never spell words).
pub fn random_suffix() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| NAME_ALPHABET[*b as usize % NAME_ALPHABET.len()] as char)
        .collect()
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (what orc writes) back to epoch seconds:
/// Hinnant's `days_from_civil`, the inverse of the function below.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let num = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    if text.len() < 20 || !text.ends_with('Z') {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

// ANCHOR: timestamp
/// Now as RFC 3339 with second precision, e.g. `2024-05-01T12:00:00Z`: the
/// format of every Kubernetes timestamp (`metav1.Time`).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC: chapter 01's formatter (the
/// runtime's `state` timestamps), so the whole course writes one format one
/// way.
pub fn rfc3339(secs: u64) -> String {
    orc_container::state::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX))
}
// ANCHOR_END: timestamp

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
    }

    #[test]
    fn parse_inverts_format() {
        for secs in [0, 951_782_400, 1_714_564_800, 1_800_000_123] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs as i64));
        }
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

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

    #[test]
    fn suffix_has_five_chars() {
        assert_eq!(random_suffix().len(), 5);
    }
}

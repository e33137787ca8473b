//! PATCH: change part of an object without sending all of it.
//!
//! Kubernetes accepts four patch formats, named by the `Content-Type`:
//!
//! - `application/merge-patch+json` (RFC 7396): a partial object; keys
//!   replace, `null` deletes, lists are replaced whole;
//! - `application/json-patch+json` (RFC 6902): a list of operations
//!   (`add`, `remove`, `replace`, `move`, `copy`, `test`) at JSON pointers;
//! - `application/strategic-merge-patch+json`: a merge patch that merges
//!   lists by key (containers by name), Kubernetes-only;
//! - `application/apply-patch+yaml`: server-side apply.
//!
//! orc implements the two standard ones (through the `json-patch` crate)
//! and strategic merge patch (`smp.rs`, because kubectl's `apply`, `label`
//! and `edit` send it), and answers 415 for server-side apply, so clients
//! fall back or fail clearly.

use serde_json::Value;

use crate::status::ApiError;

/// The patch formats orc understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// RFC 7396 JSON merge patch.
    Merge,
    /// RFC 6902 JSON patch.
    Json,
    /// Kubernetes' strategic merge patch (see `smp.rs`).
    Strategic,
}

impl PatchKind {
    /// The kind a `Content-Type` names, or 415.
    pub fn from_content_type(content_type: &str) -> Result<PatchKind, ApiError> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            _ => Err(ApiError::UnsupportedMediaType(
                "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
            )),
        }
    }
}

// ANCHOR: apply
/// Applies `patch` (the raw body) to `current`, an object of `object_kind`
/// (strategic merge needs it to find its list keys).
pub fn apply(
    kind: PatchKind,
    object_kind: &str,
    current: &Value,
    patch: &[u8],
) -> Result<Value, ApiError> {
    let mut target = current.clone();
    match kind {
        PatchKind::Merge => {
            let patch: Value = serde_json::from_slice(patch).map_err(|e| {
                ApiError::BadRequest(format!("couldn't parse the merge patch: {e}"))
            })?;
            json_patch::merge(&mut target, &patch);
        }
        PatchKind::Strategic => {
            let patch: Value = serde_json::from_slice(patch).map_err(|e| {
                ApiError::BadRequest(format!("couldn't parse the strategic merge patch: {e}"))
            })?;
            target = crate::smp::apply(object_kind, current, &patch);
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(patch)
                .map_err(|e| ApiError::BadRequest(format!("couldn't parse the JSON patch: {e}")))?;
            // A failed `test` or a missing path rejects the whole patch:
            // RFC 6902 patches are atomic. Kubernetes answers a generic 422
            // that names no field and drops the patch library's reason;
            // orc answers the same and keeps the reason in its debug log.
            // `target` is a copy, dropped on failure, so the crate's undo
            // log (`json_patch::patch`) buys nothing, and its undo of some
            // patches panics: a `move` of a field onto the whole document
            // (`"path": ""`) followed by a failing `test` is undone by a
            // move of the document into its own child, which the crate
            // refuses inside an `unreachable!`. Without the undo, a 422.
            json_patch::patch_unsafe(&mut target, &ops).map_err(|e| {
                tracing::debug!(error = %e, "JSON patch does not apply");
                ApiError::Unprocessable
            })?;
        }
    }
    Ok(target)
}
// ANCHOR_END: apply

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_replaces_and_deletes() {
        let cur = json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"replicas": 1}});
        let out = apply(
            PatchKind::Merge,
            "ConfigMap",
            &cur,
            br#"{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"replicas":3}}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}, "spec": {"replicas": 3}})
        );
    }

    #[test]
    fn json_patch_is_atomic() {
        let cur = json!({"a": 1});
        let out = apply(
            PatchKind::Json,
            "ConfigMap",
            &cur,
            br#"[{"op":"replace","path":"/a","value":2},{"op":"add","path":"/b","value":3}]"#,
        )
        .unwrap();
        assert_eq!(out, json!({"a": 2, "b": 3}));
        let failed = apply(
            PatchKind::Json,
            "ConfigMap",
            &cur,
            br#"[{"op":"test","path":"/a","value":9}]"#,
        );
        assert!(matches!(failed, Err(ApiError::Unprocessable)));
    }

    /// Issue 15: these patches panicked the handler inside json-patch's
    /// undo; they are 422s.
    #[test]
    fn a_failing_patch_after_a_move_is_refused_not_a_panic() {
        let cur = json!({"data": {"a": "1"}, "list": [1, 2]});
        for patch in [
            r#"[{"op":"move","from":"/list/0","path":"/list/-"},{"op":"test","path":"/x","value":1}]"#,
            r#"[{"op":"move","from":"/data","path":"/data"},{"op":"test","path":"/x","value":1}]"#,
            r#"[{"op":"move","from":"/data","path":"/data/inner"}]"#,
            r#"[{"op":"move","from":"/data","path":""},{"op":"test","path":"/x","value":1}]"#,
        ] {
            let out = apply(PatchKind::Json, "ConfigMap", &cur, patch.as_bytes());
            assert!(
                matches!(out, Err(ApiError::Unprocessable)),
                "{patch}: {out:?}"
            );
        }
    }

    #[test]
    fn server_side_apply_is_415() {
        let err = PatchKind::from_content_type("application/apply-patch+yaml").unwrap_err();
        assert_eq!(err.code().as_u16(), 415);
    }
}

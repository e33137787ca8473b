//! What a DELETE asks the garbage collector to do with the object's
//! dependents: `DeleteOptions.propagationPolicy`.
//!
//! The API server does not delete dependents itself. It records the
//! client's choice as a finalizer on the owner, and the garbage collector
//! (chapter 05, `orc-controllers`) acts on it, as in Kubernetes:
//!
//! - `Background` (kubectl's default): the owner goes at once; the
//!   collector then finds dependents whose owners are all gone and deletes
//!   them.
//! - `Foreground` (`kubectl delete --cascade=foreground`): the owner stays,
//!   marked, with the `foregroundDeletion` finalizer until the collector has
//!   deleted every dependent that blocks it (`blockOwnerDeletion: true`);
//!   then the collector removes the finalizer and the owner goes.
//! - `Orphan` (`--cascade=orphan`): the owner stays with the `orphan`
//!   finalizer until the collector has removed the owner's reference from
//!   every dependent, which then live on without it.
//!
//! The deprecated `orphanDependents: true|false` means Orphan or
//! Background. Without either, a second DELETE keeps the finalizer an
//! earlier one set.

use serde_json::Value;

use orc_client::propagation::Propagation;

use crate::status::{ApiError, FieldCause, Target};

/// The policy a DELETE asks for, from `?propagationPolicy=` or the body's
/// DeleteOptions (the query wins, as in Kubernetes' parameter decoding);
/// `None` when it asks for none.
pub fn requested(query: &str, options: &Value) -> Result<Option<Propagation>, ApiError> {
    let policy = match query {
        "" => options.get("propagationPolicy").and_then(Value::as_str),
        q => Some(q),
    };
    let orphan_dependents = options.get("orphanDependents").and_then(Value::as_bool);
    let policy = match policy {
        None => None,
        Some("Background") => Some(Propagation::Background),
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(invalid(FieldCause {
                field: "propagationPolicy".into(),
                message: format!(
                    "Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
                ),
                reason: "FieldValueNotSupported",
            }));
        }
    };
    match (policy, orphan_dependents) {
        (Some(_), Some(both)) => Err(invalid(FieldCause::invalid(
            "orphanDependents",
            &Value::Bool(both),
            "OrphanDependents and DeletionPropagation cannot be both set",
        ))),
        (Some(p), None) => Ok(Some(p)),
        (None, Some(true)) => Ok(Some(Propagation::Orphan)),
        (None, Some(false)) => Ok(Some(Propagation::Background)),
        (None, None) => Ok(None),
    }
}

/// Kubernetes validates DeleteOptions as an object of its own: 422 Invalid.
fn invalid(cause: FieldCause) -> ApiError {
    let options = Target {
        group: "meta.k8s.io".into(),
        kind: "DeleteOptions".into(),
        name: String::new(),
    };
    ApiError::Invalid(options, vec![cause])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_query_wins_and_orphan_dependents_is_understood() {
        let body = json!({"propagationPolicy": "Orphan"});
        assert_eq!(
            requested("Foreground", &body).unwrap(),
            Some(Propagation::Foreground)
        );
        assert_eq!(requested("", &body).unwrap(), Some(Propagation::Orphan));
        assert_eq!(
            requested("", &json!({"orphanDependents": true})).unwrap(),
            Some(Propagation::Orphan)
        );
        assert_eq!(
            requested("", &json!({"orphanDependents": false})).unwrap(),
            Some(Propagation::Background)
        );
        assert_eq!(requested("", &json!({})).unwrap(), None);
    }

    #[test]
    fn unknown_or_conflicting_choices_are_refused() {
        let unknown = requested("Sideways", &json!({})).unwrap_err();
        assert_eq!(unknown.code().as_u16(), 422);
        assert!(
            unknown
                .to_string()
                .contains("propagationPolicy: Unsupported value")
        );
        let both = json!({"propagationPolicy": "Orphan", "orphanDependents": true});
        assert_eq!(requested("", &both).unwrap_err().code().as_u16(), 422);
    }
}

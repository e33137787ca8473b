//! Field selectors: `spec.nodeName=node-1,status.phase!=Running`.
//!
//! Unlike labels, fields are not free-form: Kubernetes supports a short list
//! of fields per resource (every resource has `metadata.name` and
//! `metadata.namespace`; pods add `spec.nodeName` and `status.phase`, which
//! is how a node agent asks for "my pods"; events add `involvedObject.*`,
//! which is how `kubectl describe` finds an object's events). Anything else is
//! a 400, so a typo is an error rather than an empty list.

use serde_json::Value;

/// One `field=value` or `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The dotted path, e.g. `spec.nodeName`.
    pub field: String,
    /// The value compared with; a missing field reads as `""`.
    pub value: String,
    /// `true` for `!=`.
    pub negated: bool,
}

/// A parsed field selector: all terms must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// All must hold.
    pub requirements: Vec<FieldRequirement>,
}

/// Why a field selector was refused; answered as 400 BadRequest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term without `=`, `==` or `!=`.
    #[error(
        "invalid field selector term {0:?}: expected field=value, field==value or field!=value"
    )]
    Syntax(String),
    /// A field this resource cannot be selected by.
    #[error("field label not supported: {0}")]
    Unsupported(String),
}

/// The fields `kind` can be selected by, beyond `metadata.name` and
/// `metadata.namespace`.
pub fn supported_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &["spec.nodeName", "status.phase", "spec.schedulerName"],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "type",
            "source",
        ],
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        "Node" => &["spec.unschedulable"],
        _ => &[],
    }
}

/// Parses `input` for resources of `kind`.
pub fn parse(input: &str, kind: &str) -> Result<FieldSelector, FieldSelectorError> {
    parse_with(input, |field| {
        let known = matches!(field, "metadata.name" | "metadata.namespace")
            || supported_fields(kind).contains(&field);
        known.then(|| field.to_string())
    })
}

/// Parses `input`, each field named through `field_of`: the field of the
/// object to compare, or `None` when the field cannot be selected by. A
/// version served by conversion names some fields differently from the
/// stored object the selector is matched against (`events.k8s.io/v1`'s
/// `regarding.name` is core's `involvedObject.name`).
pub fn parse_with(
    input: &str,
    field_of: impl Fn(&str) -> Option<String>,
) -> Result<FieldSelector, FieldSelectorError> {
    let mut requirements = Vec::new();
    for term in input.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (field, value, negated) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, true)
        } else if let Some((f, v)) = term.split_once("==") {
            (f, v, false)
        } else if let Some((f, v)) = term.split_once('=') {
            (f, v, false)
        } else {
            return Err(FieldSelectorError::Syntax(term.to_string()));
        };
        let field = field.trim();
        let Some(field) = field_of(field) else {
            return Err(FieldSelectorError::Unsupported(field.to_string()));
        };
        requirements.push(FieldRequirement {
            field,
            value: value.trim().to_string(),
            negated,
        });
    }
    Ok(FieldSelector { requirements })
}

impl FieldSelector {
    /// Whether `obj` satisfies every term.
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let actual = field_value(obj, &r.field);
            (actual == r.value) != r.negated
        })
    }

    /// Whether this selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// The value at a dotted path as a string; missing fields read as `""`.
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut at = obj;
    for part in path.split('.') {
        match at.get(part) {
            Some(next) => at = next,
            None => return String::new(),
        }
    }
    match at {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Object(map) if path == "source" => map
            .get("component")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selects_pods_by_node_and_phase() {
        let pod = json!({"metadata": {"name": "a"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(parse("spec.nodeName=n1", "Pod").unwrap().matches(&pod));
        assert!(!parse("spec.nodeName=n2", "Pod").unwrap().matches(&pod));
        assert!(
            parse("status.phase!=Pending,metadata.name==a", "Pod")
                .unwrap()
                .matches(&pod)
        );
        let unbound = json!({"metadata": {"name": "b"}, "spec": {}});
        assert!(
            parse("spec.nodeName=", "Pod").unwrap().matches(&unbound),
            "missing reads as empty"
        );
    }

    #[test]
    fn events_by_involved_object() {
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "web"}});
        assert!(
            parse("involvedObject.kind=Pod,involvedObject.name=web", "Event")
                .unwrap()
                .matches(&ev)
        );
    }

    #[test]
    fn unsupported_fields_and_syntax_are_errors() {
        assert_eq!(
            parse("spec.nodeName=n1", "ConfigMap").unwrap_err(),
            FieldSelectorError::Unsupported("spec.nodeName".into())
        );
        assert!(matches!(
            parse("metadata.name", "Pod"),
            Err(FieldSelectorError::Syntax(_))
        ));
    }
}

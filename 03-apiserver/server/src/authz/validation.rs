//! Field rules for RBAC's kinds, with Kubernetes' messages
//! (pkg/apis/rbac/validation): every rule says what verbs it grants, and
//! on what; a binding names a role it may name, and subjects of the three
//! kinds RBAC knows; a binding's `roleRef` never changes.

use serde_json::Value;

use crate::status::FieldCause;
use orc_client::resources::RBAC_GROUP;

/// The subject kinds a binding may name, in Kubernetes' message order.
const SUBJECT_KINDS: &[&str] = &["ServiceAccount", "User", "Group"];

/// Fills in what Kubernetes defaults: a User's or Group's `apiGroup`.
pub fn default_subjects(binding: &mut Value) {
    let Some(subjects) = binding.get_mut("subjects").and_then(Value::as_array_mut) else {
        return;
    };
    for subject in subjects.iter_mut().filter_map(Value::as_object_mut) {
        let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
        if matches!(kind, "User" | "Group") && !subject.contains_key("apiGroup") {
            subject.insert("apiGroup".into(), RBAC_GROUP.into());
        }
    }
}

/// A `Required value: <why>` cause.
fn required(field: String, why: &str) -> FieldCause {
    FieldCause {
        field,
        message: format!("Required value: {why}"),
        reason: "FieldValueRequired",
    }
}

fn strings(obj: &Value, key: &str) -> usize {
    obj.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

/// The rules of a Role (`namespaced`) or ClusterRole.
pub fn validate_rules(role: &Value, namespaced: bool, causes: &mut Vec<FieldCause>) {
    let rules = role.get("rules").and_then(Value::as_array);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let at = |field: &str| format!("rules[{i}].{field}");
        if strings(rule, "verbs") == 0 {
            causes.push(required(
                at("verbs"),
                "verbs must contain at least one value",
            ));
        }
        if strings(rule, "nonResourceURLs") > 0 {
            let urls = &rule["nonResourceURLs"];
            if namespaced {
                causes.push(FieldCause::invalid(
                    at("nonResourceURLs"),
                    urls,
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if strings(rule, "apiGroups") > 0 || strings(rule, "resources") > 0 {
                causes.push(FieldCause::invalid(
                    at("nonResourceURLs"),
                    urls,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if strings(rule, "apiGroups") == 0 {
            causes.push(required(
                at("apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if strings(rule, "resources") == 0 {
            causes.push(required(
                at("resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
}

/// A RoleBinding (`namespaced`) or ClusterRoleBinding.
pub fn validate_binding(binding: &Value, namespaced: bool, causes: &mut Vec<FieldCause>) {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let role_ref = binding.get("roleRef").unwrap_or(&Value::Null);
    let group = text(role_ref, "apiGroup");
    if group != RBAC_GROUP {
        causes.push(FieldCause::not_supported(
            "roleRef.apiGroup",
            &group,
            &[RBAC_GROUP],
        ));
    }
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    let kind = text(role_ref, "kind");
    if !kinds.contains(&kind.as_str()) {
        causes.push(FieldCause::not_supported("roleRef.kind", &kind, kinds));
    }
    if text(role_ref, "name").is_empty() {
        causes.push(FieldCause::required("roleRef.name"));
    }
    let subjects = binding.get("subjects").and_then(Value::as_array);
    for (i, subject) in subjects.into_iter().flatten().enumerate() {
        let at = |field: &str| format!("subjects[{i}].{field}");
        if text(subject, "name").is_empty() {
            causes.push(FieldCause::required(at("name")));
        }
        let group = text(subject, "apiGroup");
        match text(subject, "kind").as_str() {
            "ServiceAccount" => {
                if !group.is_empty() {
                    causes.push(FieldCause::not_supported(at("apiGroup"), &group, &[""]));
                }
                if !namespaced && text(subject, "namespace").is_empty() {
                    causes.push(FieldCause::required(at("namespace")));
                }
            }
            "User" | "Group" => {
                if group != RBAC_GROUP {
                    causes.push(FieldCause::not_supported(
                        at("apiGroup"),
                        &group,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => causes.push(FieldCause::not_supported(at("kind"), other, SUBJECT_KINDS)),
        }
    }
}

/// A binding's `roleRef` may not change: what a binding grants is fixed
/// for its life.
pub fn validate_binding_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    if old.get("roleRef") != new.get("roleRef") {
        causes.push(FieldCause::invalid(
            "roleRef",
            new.get("roleRef").unwrap_or(&Value::Null),
            "cannot change roleRef",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(causes: &[FieldCause]) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn rules_need_verbs_and_what_they_apply_to() {
        let role = json!({"rules": [
            {"verbs": [], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"]},
            {"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]},
        ]});
        let mut causes = Vec::new();
        validate_rules(&role, true, &mut causes);
        assert_eq!(
            messages(&causes),
            [
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[1].resources: Required value: resource rules must supply at least one resource",
                "rules[2].nonResourceURLs: Invalid value: [\"/x\"]: namespaced rules cannot apply to non-resource URLs",
                "rules[2].nonResourceURLs: Invalid value: [\"/x\"]: rules cannot apply to both regular resources and non-resource URLs",
            ]
        );
    }

    #[test]
    fn bindings_name_a_role_and_known_subjects() {
        let mut binding = json!({
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "Robot", "name": "r2"},
                         {"kind": "ServiceAccount", "name": "sa"}],
        });
        default_subjects(&mut binding);
        assert_eq!(binding["subjects"][0]["apiGroup"], RBAC_GROUP);
        let mut causes = Vec::new();
        validate_binding(&binding, false, &mut causes);
        assert_eq!(
            messages(&causes),
            [
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[1].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
                "subjects[2].namespace: Required value",
            ]
        );
        let mut causes = Vec::new();
        let mut changed = binding.clone();
        changed["roleRef"]["name"] = json!("other");
        validate_binding_update(&binding, &changed, &mut causes);
        assert!(
            causes[0].message.ends_with("cannot change roleRef"),
            "{}",
            causes[0].message
        );
    }
}

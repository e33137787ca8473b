//! Kubernetes' own rules for a pod's and a container's `securityContext`
//! (its `ValidatePodSecurityContext` and `ValidateSecurityContext`), with
//! its messages. Which fields orc honours at all is [`crate::pod_fields`]'s
//! table; this module checks the values of the ones it accepts.

use serde_json::Value;

use crate::status::FieldCause;

/// Linux user and group ids Kubernetes accepts: the non-negative `int32`s
/// (`IsValidUserID`, `IsValidGroupID`).
const MAX_ID: i64 = i32::MAX as i64;

/// `field` (at `at`) must be a user or group id, when set.
fn check_id(sc: &Value, field: &str, at: &str, causes: &mut Vec<FieldCause>) {
    let Some(value) = sc.get(field).filter(|v| !v.is_null()) else {
        return;
    };
    id(value, &format!("{at}.{field}"), causes);
}

fn id(value: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    if !value.as_i64().is_some_and(|v| (0..=MAX_ID).contains(&v)) {
        causes.push(FieldCause::invalid(
            at,
            value,
            format!("must be between 0 and {MAX_ID}, inclusive"),
        ));
    }
}

// ANCHOR: validate_pod
/// `spec.securityContext`: ids in range, a known `fsGroupChangePolicy`.
pub fn validate_pod(sc: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    for field in ["runAsUser", "runAsGroup", "fsGroup"] {
        check_id(sc, field, at, causes);
    }
    let groups = sc.get("supplementalGroups").and_then(Value::as_array);
    for (i, g) in groups.into_iter().flatten().enumerate() {
        id(g, &format!("{at}.supplementalGroups[{i}]"), causes);
    }
    let policy = sc.get("fsGroupChangePolicy").and_then(Value::as_str);
    if let Some(policy) = policy.filter(|p| !["Always", "OnRootMismatch"].contains(p)) {
        causes.push(FieldCause::not_supported(
            format!("{at}.fsGroupChangePolicy"),
            policy,
            &["Always", "OnRootMismatch"],
        ));
    }
}
// ANCHOR_END: validate_pod

// ANCHOR: validate_container
/// A container's `securityContext`: ids in range, and no
/// `allowPrivilegeEscalation: false` beside what would grant it anyway
/// (`privileged`, or adding `CAP_SYS_ADMIN`: Kubernetes compares that
/// exact spelling).
pub fn validate_container(sc: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    for field in ["runAsUser", "runAsGroup"] {
        check_id(sc, field, at, causes);
    }
    if sc.get("allowPrivilegeEscalation") != Some(&Value::Bool(false)) {
        return;
    }
    if sc.get("privileged") == Some(&Value::Bool(true)) {
        causes.push(FieldCause::invalid(
            at,
            sc,
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
    let added = sc.pointer("/capabilities/add").and_then(Value::as_array);
    if added.into_iter().flatten().any(|c| c == "CAP_SYS_ADMIN") {
        causes.push(FieldCause::invalid(
            at,
            sc,
            "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
        ));
    }
}
// ANCHOR_END: validate_container

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(f: fn(&Value, &str, &mut Vec<FieldCause>), sc: Value) -> Vec<String> {
        let mut causes = vec![];
        f(&sc, "spec.securityContext", &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn ids_and_policies_are_checked_with_kubernetes_messages() {
        let ok = json!({"runAsUser": 1000, "runAsGroup": 0, "fsGroup": 2147483647,
            "supplementalGroups": [4000], "fsGroupChangePolicy": "OnRootMismatch"});
        assert!(messages(validate_pod, ok).is_empty());
        let bad = json!({"runAsUser": -1, "fsGroup": 2147483648u64,
            "supplementalGroups": [1, -5], "fsGroupChangePolicy": "Sometimes"});
        assert_eq!(
            messages(validate_pod, bad),
            [
                "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.fsGroup: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.supplementalGroups[1]: Invalid value: -5: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.fsGroupChangePolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnRootMismatch\"",
            ]
        );
    }

    #[test]
    fn no_privilege_escalation_cannot_sit_beside_privileges() {
        let restricted = json!({"allowPrivilegeEscalation": false, "runAsUser": 1000,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}});
        assert!(messages(validate_container, restricted).is_empty());
        let both = json!({"allowPrivilegeEscalation": false, "privileged": true,
            "capabilities": {"add": ["CAP_SYS_ADMIN"]}, "runAsGroup": -2});
        let m = messages(validate_container, both);
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m[0].ends_with(
            "runAsGroup: Invalid value: -2: must be between 0 and 2147483647, inclusive"
        ));
        assert!(
            m[1].ends_with(
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
            )
        );
        assert!(m[2].ends_with(
            "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"
        ));
    }
}

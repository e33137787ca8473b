//! Validation of what keeps a container running: its `restartPolicy`
//! (sidecars) and its probes, with Kubernetes' rules and messages
//! (`validateInitContainers`, `validateContainers` and `validateProbe` in
//! `pkg/apis/core/validation`).
//!
//! An init container with `restartPolicy: Always` is a sidecar: the node
//! agent starts it in its turn and keeps it running beside the app
//! containers (chapter 02's `init_containers.rs`). Any other value, or a
//! restart policy on an app container, is refused. Only a sidecar runs
//! long enough to be probed, so probes on an init container that runs to
//! completion are refused rather than never run.

use serde_json::Value;

use crate::status::FieldCause;

/// The probes a container may have.
const PROBES: [&str; 3] = ["livenessProbe", "readinessProbe", "startupProbe"];

// ANCHOR: validate_init_container
/// An init container: `restartPolicy` is `Always` (a sidecar) or absent;
/// only a sidecar may have probes.
pub fn validate_init_container(c: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    let policy = c.get("restartPolicy").filter(|v| !v.is_null());
    let sidecar = policy == Some(&Value::from("Always"));
    if let Some(policy) = policy.filter(|_| !sidecar) {
        let value = policy
            .as_str()
            .map_or_else(|| policy.to_string(), String::from);
        causes.push(FieldCause::not_supported(
            format!("{at}.restartPolicy"),
            &value,
            &["Always"],
        ));
    }
    // Only a sidecar runs long enough to have hooks (the agent runs a
    // sidecar's as an app container's).
    if is_set(c, "lifecycle") && !sidecar {
        causes.push(FieldCause::forbidden(
            format!("{at}.lifecycle"),
            "may not be set for init containers without restartPolicy=Always",
        ));
    }
    for probe in PROBES {
        if !is_set(c, probe) {
            continue;
        }
        if sidecar {
            validate_probe(c, probe, at, causes);
        } else {
            causes.push(FieldCause::forbidden(
                format!("{at}.{probe}"),
                "may not be set for init containers without restartPolicy=Always",
            ));
        }
    }
}
// ANCHOR_END: validate_init_container

/// An app container: no `restartPolicy` of its own (the pod's applies),
/// and probes Kubernetes accepts.
pub fn validate_app_container(c: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    if is_set(c, "restartPolicy") {
        causes.push(FieldCause::forbidden(
            format!("{at}.restartPolicy"),
            "may not be set for non-init containers",
        ));
    }
    for probe in PROBES.into_iter().filter(|p| is_set(c, p)) {
        validate_probe(c, probe, at, causes);
    }
}

/// A liveness or startup probe decides once per failure streak, so it
/// needs exactly one success (`successThreshold: 1`, the default).
fn validate_probe(c: &Value, probe: &str, at: &str, causes: &mut Vec<FieldCause>) {
    if probe == "readinessProbe" {
        return;
    }
    let threshold = c.pointer(&format!("/{probe}/successThreshold"));
    if let Some(value) = threshold.filter(|v| !v.is_null() && v.as_i64() != Some(1)) {
        causes.push(FieldCause::invalid(
            format!("{at}.{probe}.successThreshold"),
            value,
            "must be 1",
        ));
    }
}

fn is_set(c: &Value, field: &str) -> bool {
    c.get(field).is_some_and(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(check: fn(&Value, &str, &mut Vec<FieldCause>), c: Value) -> Vec<String> {
        let mut causes = vec![];
        check(&c, "spec.c[0]", &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn a_sidecar_is_an_init_container_with_restart_policy_always() {
        let probe = json!({"exec": {"command": ["true"]}});
        let sidecar = json!({"restartPolicy": "Always", "startupProbe": probe,
            "livenessProbe": probe, "readinessProbe": probe});
        assert!(messages(validate_init_container, sidecar).is_empty());
        let wrong = json!({"restartPolicy": "OnFailure", "readinessProbe": probe,
            "lifecycle": {"preStop": {"sleep": {"seconds": 1}}}});
        assert_eq!(
            messages(validate_init_container, wrong),
            [
                "spec.c[0].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
                "spec.c[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always",
                "spec.c[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always",
            ]
        );
    }

    #[test]
    fn app_containers_take_the_pods_policy_and_probe_once_to_succeed() {
        let app = json!({"restartPolicy": "Always",
            "startupProbe": {"exec": {"command": ["true"]}, "successThreshold": 2},
            "readinessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}});
        assert_eq!(
            messages(validate_app_container, app),
            [
                "spec.c[0].restartPolicy: Forbidden: may not be set for non-init containers",
                "spec.c[0].startupProbe.successThreshold: Invalid value: 2: must be 1",
            ]
        );
    }
}

//! Validation of a container's lifecycle hooks and termination message
//! settings, with Kubernetes' rules and messages (`validateLifecycle`,
//! `validateHandler`, `validateSleepAction` and the
//! `terminationMessagePolicy` check in `pkg/apis/core/validation`).
//!
//! Each hook names exactly one handler: `exec` with a command, `httpGet`
//! with a path and a port (number or name), `sleep` for no longer than
//! the pod's grace period, or the deprecated `tcpSocket`, which Kubernetes
//! still accepts (its kubelet, like orc's agent, then fails the hook).
//! The node agent runs them (chapter 02's `hooks.rs`).

use serde_json::Value;

use crate::services::validation::check_port_name;
use crate::status::FieldCause;

/// The handler kinds in the order Kubernetes checks them: the first one
/// set counts, each further one is refused.
const HANDLERS: [&str; 4] = ["exec", "httpGet", "tcpSocket", "sleep"];

// ANCHOR: validate_lifecycle
/// A container's `lifecycle` and `terminationMessagePolicy`, at `at`
/// (`spec.containers[0]`); `grace` is the pod's
/// `terminationGracePeriodSeconds`, which bounds a `sleep`.
pub fn validate_container(c: &Value, at: &str, grace: Option<i64>, causes: &mut Vec<FieldCause>) {
    for hook in ["postStart", "preStop"] {
        let path = format!("/lifecycle/{hook}");
        if let Some(handler) = c.pointer(&path).filter(|v| !v.is_null()) {
            validate_handler(handler, &format!("{at}.lifecycle.{hook}"), grace, causes);
        }
    }
    let policy = c.get("terminationMessagePolicy").filter(|v| !v.is_null());
    let why = "must be 'File' or 'FallbackToLogsOnError'";
    match policy.map(|p| (p, p.as_str())) {
        None | Some((_, Some("File" | "FallbackToLogsOnError"))) => {}
        Some((_, Some(""))) => causes.push(FieldCause::required_because(
            format!("{at}.terminationMessagePolicy"),
            why,
        )),
        Some((value, _)) => causes.push(FieldCause::invalid(
            format!("{at}.terminationMessagePolicy"),
            value,
            why,
        )),
    }
}

/// One hook: exactly one handler, and that handler well formed.
fn validate_handler(handler: &Value, at: &str, grace: Option<i64>, causes: &mut Vec<FieldCause>) {
    let mut seen = 0;
    for kind in HANDLERS {
        let Some(action) = handler.get(kind).filter(|v| !v.is_null()) else {
            continue;
        };
        let at = format!("{at}.{kind}");
        if seen > 0 {
            causes.push(FieldCause::forbidden(
                at,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        seen += 1;
        match kind {
            "exec" => validate_exec(action, &at, causes),
            "httpGet" => validate_http_get(action, &at, causes),
            "tcpSocket" => validate_port(action.get("port"), &format!("{at}.port"), causes),
            _ => validate_sleep(action, &at, grace, causes),
        }
    }
    if seen == 0 {
        causes.push(FieldCause::required_because(
            at,
            "must specify a handler type",
        ));
    }
}
// ANCHOR_END: validate_lifecycle

fn validate_exec(exec: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    let empty = exec
        .get("command")
        .and_then(Value::as_array)
        .is_none_or(|c| c.is_empty());
    if empty {
        causes.push(FieldCause::required(format!("{at}.command")));
    }
}

fn validate_http_get(http: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    if http.get("path").and_then(Value::as_str) == Some("") {
        causes.push(FieldCause::required(format!("{at}.path")));
    }
    validate_port(http.get("port"), &format!("{at}.port"), causes);
    if let Some(scheme) = http.get("scheme").filter(|v| !v.is_null()) {
        let name = scheme.as_str().unwrap_or_default();
        if !["HTTP", "HTTPS"].contains(&name) {
            causes.push(FieldCause::not_supported(
                format!("{at}.scheme"),
                name,
                &["HTTP", "HTTPS"],
            ));
        }
    }
    let headers = http.get("httpHeaders").and_then(Value::as_array);
    for header in headers.into_iter().flatten() {
        let name = header.get("name").and_then(Value::as_str).unwrap_or("");
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            causes.push(FieldCause::invalid(
                format!("{at}.httpHeaders"),
                &Value::from(name),
                "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
            ));
        }
    }
}

/// Kubernetes' `ValidatePortNumOrName`: a port number, or a port name.
fn validate_port(port: Option<&Value>, at: &str, causes: &mut Vec<FieldCause>) {
    match port {
        Some(Value::String(name)) => {
            if let Err(why) = check_port_name(name) {
                causes.push(FieldCause::invalid(at, &Value::from(name.as_str()), why));
            }
        }
        Some(number) if number.as_i64().is_some_and(|p| (1..=65535).contains(&p)) => {}
        other => causes.push(FieldCause::invalid(
            at,
            other.unwrap_or(&Value::from(0)),
            "must be between 1 and 65535, inclusive",
        )),
    }
}

/// A sleep lasts more than 0 s and no longer than the grace period (zero
/// is behind a feature gate that is off in v1.32).
fn validate_sleep(sleep: &Value, at: &str, grace: Option<i64>, causes: &mut Vec<FieldCause>) {
    let Some(grace) = grace else { return };
    let seconds = sleep.get("seconds").cloned().unwrap_or(Value::from(0));
    if !seconds.as_i64().is_some_and(|s| s > 0 && s <= grace) {
        causes.push(FieldCause::invalid(
            at,
            &seconds,
            format!("must be greater than 0 and less than terminationGracePeriodSeconds ({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(c: Value) -> Vec<String> {
        let mut causes = vec![];
        validate_container(&c, "spec.containers[0]", Some(30), &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn each_handler_kubernetes_serves_passes() {
        let ok = messages(json!({
            "lifecycle": {
                "postStart": {"exec": {"command": ["touch", "/ready"]}},
                "preStop": {"httpGet": {"path": "/drain", "port": "http",
                    "httpHeaders": [{"name": "X-Drain", "value": "1"}]}},
            },
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }));
        assert!(ok.is_empty(), "{ok:?}");
        let sleep = messages(json!({"lifecycle": {"preStop": {"sleep": {"seconds": 30}}}}));
        assert!(sleep.is_empty(), "{sleep:?}");
        // Deprecated, yet accepted, as by kube-apiserver.
        let tcp = messages(json!({"lifecycle": {"preStop": {"tcpSocket": {"port": 80}}}}));
        assert!(tcp.is_empty(), "{tcp:?}");
    }

    #[test]
    fn kubernetes_messages_for_bad_hooks() {
        let bad = messages(json!({
            "lifecycle": {
                "postStart": {"exec": {"command": []}, "sleep": {"seconds": 1}},
                "preStop": {},
            },
            "terminationMessagePolicy": "Always",
        }));
        assert_eq!(
            bad,
            [
                "spec.containers[0].lifecycle.postStart.exec.command: Required value",
                "spec.containers[0].lifecycle.postStart.sleep: Forbidden: may not specify more than 1 handler type",
                "spec.containers[0].lifecycle.preStop: Required value: must specify a handler type",
                "spec.containers[0].terminationMessagePolicy: Invalid value: \"Always\": must be 'File' or 'FallbackToLogsOnError'",
            ]
        );
        let bad = messages(json!({"lifecycle": {
            "postStart": {"httpGet": {"path": "", "port": 0, "scheme": "FTP",
                "httpHeaders": [{"name": "Bad Header", "value": "x"}]}},
            "preStop": {"sleep": {"seconds": 31}},
        }}));
        assert_eq!(
            bad,
            [
                "spec.containers[0].lifecycle.postStart.httpGet.path: Required value",
                "spec.containers[0].lifecycle.postStart.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "spec.containers[0].lifecycle.postStart.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\"",
                "spec.containers[0].lifecycle.postStart.httpGet.httpHeaders: Invalid value: \"Bad Header\": a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
                "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 31: must be greater than 0 and less than terminationGracePeriodSeconds (30). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.",
            ]
        );
        let named = messages(
            json!({"lifecycle": {"preStop": {"httpGet": {"path": "/", "port": "Not_A_Name"}}}}),
        );
        assert_eq!(
            named,
            [
                "spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: \"Not_A_Name\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
            ]
        );
    }
}

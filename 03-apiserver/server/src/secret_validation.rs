//! What a Secret's `type` promises, and what `immutable` freezes.
//!
//! A Secret's `type` tells its readers which keys to expect: an Ingress
//! controller reads `tls.crt` and `tls.key` from a `kubernetes.io/tls`
//! Secret, a node reads `.dockerconfigjson` from a
//! `kubernetes.io/dockerconfigjson` one. Kubernetes checks those keys when
//! the Secret is written, so a typo fails at `kubectl apply` rather than
//! deep inside the component that reads it. The checks run after
//! `stringData` was merged into `data` (`defaults.rs`), so either form of
//! a key counts. Types Kubernetes does not know are free-form, like
//! `Opaque`.
//!
//! On update, `type` never changes, and a ConfigMap or Secret written with
//! `immutable: true` keeps its data (and that flag) for ever: the kubelet
//! may then stop watching it. The messages are Kubernetes' own.

use base64::Engine;
use serde_json::Value;

use crate::status::FieldCause;

/// `data[key]`, as Kubernetes writes a map key's field path.
fn data_key(key: &str) -> String {
    format!("data[{key}]")
}

/// Whether `data` holds `key`.
fn has(secret: &Value, key: &str) -> bool {
    secret.pointer("/data").and_then(|d| d.get(key)).is_some()
}

/// The decoded bytes of `data[key]`, if it is there and is base64.
fn bytes(secret: &Value, key: &str) -> Option<Vec<u8>> {
    let text = secret.pointer("/data")?.get(key)?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// `data[key]` must hold a JSON object (a Docker config file).
fn require_json(secret: &Value, key: &str, causes: &mut Vec<FieldCause>) {
    if !has(secret, key) {
        causes.push(FieldCause::required(data_key(key)));
        return;
    }
    let parsed = serde_json::from_slice::<serde_json::Map<String, Value>>(
        &bytes(secret, key).unwrap_or_default(),
    );
    if let Err(e) = parsed {
        causes.push(FieldCause::invalid(
            data_key(key),
            &Value::from("<secret contents redacted>"),
            e.to_string(),
        ));
    }
}

/// The type of a Secret holding a long-lived ServiceAccount token.
pub const SERVICE_ACCOUNT_TOKEN: &str = "kubernetes.io/service-account-token";

/// The annotation naming that ServiceAccount.
pub const SERVICE_ACCOUNT_NAME: &str = "kubernetes.io/service-account.name";

// ANCHOR: secret_types
/// The keys each built-in Secret type requires.
pub fn validate(secret: &Value, causes: &mut Vec<FieldCause>) {
    let kind = secret.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(secret, key) {
                    causes.push(FieldCause::required(data_key(key)));
                }
            }
        }
        "kubernetes.io/dockerconfigjson" => require_json(secret, ".dockerconfigjson", causes),
        "kubernetes.io/dockercfg" => require_json(secret, ".dockercfg", causes),
        // Either may be empty, but one of them must be there.
        "kubernetes.io/basic-auth" if !has(secret, "username") && !has(secret, "password") => {
            causes.push(FieldCause::required(data_key("username")));
            causes.push(FieldCause::required(data_key("password")));
        }
        "kubernetes.io/ssh-auth"
            if bytes(secret, "ssh-privatekey").is_none_or(|b| b.is_empty()) =>
        {
            causes.push(FieldCause::required(data_key("ssh-privatekey")));
        }
        // A long-lived token names the ServiceAccount it is for; the
        // token controller (chapter 05) fills in the token.
        SERVICE_ACCOUNT_TOKEN => {
            let name = secret
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(SERVICE_ACCOUNT_NAME))
                .and_then(Value::as_str);
            if name.is_none_or(str::is_empty) {
                causes.push(FieldCause::required(format!(
                    "metadata.annotations[{SERVICE_ACCOUNT_NAME}]"
                )));
            }
        }
        _ => {}
    }
}
// ANCHOR_END: secret_types

/// A Secret's `type` never changes; an immutable Secret keeps its data.
pub fn validate_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    if old.get("type") != new.get("type") {
        causes.push(FieldCause::invalid(
            "type",
            new.get("type").unwrap_or(&Value::Null),
            "field is immutable",
        ));
    }
    frozen(old, new, &["data"], causes);
}

/// An immutable ConfigMap keeps its `data` and `binaryData`.
pub fn validate_config_map_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    frozen(old, new, &["data", "binaryData"], causes);
}

// ANCHOR: immutable
/// Once `immutable: true`, the flag stays and `fields` do not change.
fn frozen(old: &Value, new: &Value, fields: &[&str], causes: &mut Vec<FieldCause>) {
    const WHY: &str = "field is immutable when `immutable` is set";
    if old.get("immutable") != Some(&Value::Bool(true)) {
        return;
    }
    if new.get("immutable") != Some(&Value::Bool(true)) {
        causes.push(FieldCause::forbidden("immutable", WHY));
    }
    for field in fields {
        // Absent and empty are the same map.
        let empty = Value::Object(Default::default());
        let (was, is) = (
            old.get(*field).unwrap_or(&empty),
            new.get(*field).unwrap_or(&empty),
        );
        if was != is {
            causes.push(FieldCause::forbidden(*field, WHY));
        }
    }
}
// ANCHOR_END: immutable

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(f: impl FnOnce(&mut Vec<FieldCause>)) -> Vec<String> {
        let mut causes = vec![];
        f(&mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn check(secret: Value) -> Vec<String> {
        messages(|c| validate(&secret, c))
    }

    #[test]
    fn each_type_requires_its_keys() {
        let tls = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
        assert_eq!(check(tls), ["data[tls.key]: Required value"]);
        let tls = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert!(check(tls).is_empty());
        let basic = json!({"type": "kubernetes.io/basic-auth", "data": {}});
        assert_eq!(
            check(basic),
            [
                "data[username]: Required value",
                "data[password]: Required value"
            ]
        );
        let basic = json!({"type": "kubernetes.io/basic-auth", "data": {"password": ""}});
        assert!(check(basic).is_empty());
        let ssh = json!({"type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": ""}});
        assert_eq!(check(ssh), ["data[ssh-privatekey]: Required value"]);
        let token = json!({"type": "kubernetes.io/service-account-token",
            "metadata": {"annotations": {"kubernetes.io/service-account.name": ""}}});
        assert_eq!(
            check(token),
            ["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        let token = json!({"type": "kubernetes.io/service-account-token",
            "metadata": {"annotations": {"kubernetes.io/service-account.name": "robot"}}});
        assert!(check(token).is_empty());
        let opaque = json!({"type": "Opaque"});
        assert!(check(opaque).is_empty());
        let custom = json!({"type": "example.com/anything"});
        assert!(check(custom).is_empty());
    }

    #[test]
    fn docker_configs_are_json_objects() {
        let missing = json!({"type": "kubernetes.io/dockerconfigjson", "data": {}});
        assert_eq!(check(missing), ["data[.dockerconfigjson]: Required value"]);
        // `{"auths":{}}` and `not json`, base64-encoded.
        let good = json!({"type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "eyJhdXRocyI6e319"}});
        assert!(check(good).is_empty());
        let bad = json!({"type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": "bm90IGpzb24="}});
        let got = check(bad);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with(
                "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": "
            ),
            "{got:?}"
        );
    }

    #[test]
    fn type_and_immutable_data_do_not_change() {
        let old = json!({"type": "Opaque", "immutable": true, "data": {"a": "eA=="}});
        let new = json!({"type": "kubernetes.io/tls", "data": {"a": "eQ=="}});
        assert_eq!(
            messages(|c| validate_update(&old, &new, c)),
            [
                "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        // Labels may still change; a mutable one may change at will.
        let same = json!({"type": "Opaque", "immutable": true, "data": {"a": "eA=="},
            "metadata": {"labels": {"x": "y"}}});
        assert!(messages(|c| validate_update(&old, &same, c)).is_empty());
        let mutable = json!({"data": {"a": "eA=="}});
        let changed = json!({"data": {"b": "eA=="}, "immutable": true});
        assert!(messages(|c| validate_config_map_update(&mutable, &changed, c)).is_empty());
        let cm = json!({"immutable": true, "binaryData": {"b": "eA=="}});
        let edited = json!({"immutable": true});
        assert_eq!(
            messages(|c| validate_config_map_update(&cm, &edited, c)),
            ["binaryData: Forbidden: field is immutable when `immutable` is set"]
        );
    }
}

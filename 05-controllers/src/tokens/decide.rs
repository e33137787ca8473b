//! What a `kubernetes.io/service-account-token` Secret should become (pure).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// The Secret type this controller fills.
pub const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

/// The annotation naming the ServiceAccount (the user writes it; the API
/// server refuses such a Secret without it).
pub const NAME_ANNOTATION: &str = "kubernetes.io/service-account.name";

/// The annotation holding that ServiceAccount's uid (the controller
/// writes it): a new account of the same name is another account, and
/// its Secret is deleted rather than handed the new one's identity.
pub const UID_ANNOTATION: &str = "kubernetes.io/service-account.uid";

/// The keys of a filled Secret: the token, the cluster's CA bundle, and
/// the namespace, the same three files a pod finds in
/// `/var/run/secrets/kubernetes.io/serviceaccount`.
pub const TOKEN_KEY: &str = "token";
pub const CA_KEY: &str = "ca.crt";
pub const NAMESPACE_KEY: &str = "namespace";

/// What to do about one token Secret.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Complete (or not a token Secret at all).
    InSync,
    /// Its ServiceAccount is gone, or is another account of the same
    /// name: delete the Secret, and with it its token.
    Delete,
    /// Something is missing: replace the Secret with `secret` (the object
    /// as read, so the update carries its resourceVersion), after adding
    /// a new token under `token` if `needs_token`.
    Fill { secret: Value, needs_token: bool },
}

fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn annotation<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The decoded value of `data[key]`, empty when missing.
fn data(secret: &Value, key: &str) -> Vec<u8> {
    let encoded = secret
        .get("data")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .unwrap_or("");
    STANDARD.decode(encoded).unwrap_or_default()
}

// ANCHOR: decide
/// The verdict for `secret`, whose annotation names a ServiceAccount that
/// is `account` now (`None`: there is none), in a cluster whose CA bundle
/// is `ca` (`None`: no CA to hand out, a plain-HTTP cluster). As
/// Kubernetes' tokens controller: a Secret whose account is missing, or
/// whose recorded uid is another account's, is deleted; otherwise the
/// token, the CA (when it differs) and the namespace are filled in only
/// where missing, and the account's name and uid recorded. A token once
/// written is never replaced: whoever holds it keeps a working token.
pub fn decide(secret: &Value, account: Option<&Value>, ca: Option<&str>) -> Verdict {
    if secret.get("type").and_then(Value::as_str) != Some(TOKEN_TYPE) {
        return Verdict::InSync;
    }
    if secret.pointer("/metadata/deletionTimestamp").is_some() {
        return Verdict::InSync;
    }
    let Some(account) = account else {
        return Verdict::Delete;
    };
    let account_uid = text(account, "/metadata/uid");
    let recorded = annotation(secret, UID_ANNOTATION);
    if !recorded.is_empty() && recorded != account_uid {
        return Verdict::Delete;
    }
    let needs_ca = ca.is_some_and(|ca| data(secret, CA_KEY) != ca.as_bytes());
    let needs_namespace = data(secret, NAMESPACE_KEY).is_empty();
    let needs_token = data(secret, TOKEN_KEY).is_empty();
    if !needs_ca && !needs_namespace && !needs_token && recorded == account_uid {
        return Verdict::InSync;
    }
    let mut filled = secret.clone();
    if !filled.get("data").is_some_and(Value::is_object) {
        filled["data"] = json!({});
    }
    if let Some(ca) = ca.filter(|_| needs_ca) {
        filled["data"][CA_KEY] = json!(STANDARD.encode(ca));
    }
    if needs_namespace {
        let ns = text(secret, "/metadata/namespace");
        filled["data"][NAMESPACE_KEY] = json!(STANDARD.encode(ns));
    }
    if !filled["metadata"]["annotations"].is_object() {
        filled["metadata"]["annotations"] = json!({});
    }
    let annotations = &mut filled["metadata"]["annotations"];
    annotations[NAME_ANNOTATION] = json!(text(account, "/metadata/name"));
    annotations[UID_ANNOTATION] = json!(account_uid);
    Verdict::Fill {
        secret: filled,
        needs_token,
    }
}
// ANCHOR_END: decide

/// `secret` with `token` written under [`TOKEN_KEY`].
pub fn with_token(mut secret: Value, token: &str) -> Value {
    secret["data"][TOKEN_KEY] = json!(STANDARD.encode(token));
    secret
}

/// Whether `secret` is a token Secret for the ServiceAccount `ns/name`.
pub fn names_account(secret: &Value, ns: &str, name: &str) -> bool {
    secret.get("type").and_then(Value::as_str) == Some(TOKEN_TYPE)
        && text(secret, "/metadata/namespace") == ns
        && annotation(secret, NAME_ANNOTATION) == name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(data: Value, uid: Option<&str>) -> Value {
        let mut annotations = json!({NAME_ANNOTATION: "robot"});
        if let Some(uid) = uid {
            annotations[UID_ANNOTATION] = json!(uid);
        }
        json!({"type": TOKEN_TYPE, "data": data,
            "metadata": {"name": "robot-token", "namespace": "team", "annotations": annotations,
                "resourceVersion": "7"}})
    }

    fn robot() -> Value {
        json!({"metadata": {"name": "robot", "namespace": "team", "uid": "sa-1"}})
    }

    #[test]
    fn a_new_token_secret_gets_a_token_the_ca_the_namespace_and_the_uid() {
        let Verdict::Fill {
            secret: filled,
            needs_token,
        } = decide(&secret(json!({}), None), Some(&robot()), Some("CA"))
        else {
            panic!("not filled");
        };
        assert!(needs_token);
        assert_eq!(filled["data"][CA_KEY], STANDARD.encode("CA"));
        assert_eq!(filled["data"][NAMESPACE_KEY], STANDARD.encode("team"));
        assert_eq!(filled["metadata"]["annotations"][UID_ANNOTATION], "sa-1");
        // The update carries the version read.
        assert_eq!(filled["metadata"]["resourceVersion"], "7");
        let filled = with_token(filled, "jwt");
        assert_eq!(filled["data"][TOKEN_KEY], STANDARD.encode("jwt"));
        // Filled, it is left alone.
        assert_eq!(decide(&filled, Some(&robot()), Some("CA")), Verdict::InSync);
    }

    #[test]
    fn a_token_is_kept_and_only_what_is_missing_or_stale_is_filled() {
        let complete = json!({TOKEN_KEY: STANDARD.encode("jwt"), CA_KEY: STANDARD.encode("old CA"),
            NAMESPACE_KEY: STANDARD.encode("team")});
        let Verdict::Fill {
            secret: filled,
            needs_token,
        } = decide(
            &secret(complete.clone(), Some("sa-1")),
            Some(&robot()),
            Some("new CA"),
        )
        else {
            panic!("the CA was not replaced");
        };
        assert!(!needs_token);
        assert_eq!(filled["data"][TOKEN_KEY], STANDARD.encode("jwt"));
        assert_eq!(filled["data"][CA_KEY], STANDARD.encode("new CA"));
        // No CA to hand out (a plain-HTTP cluster): none is asked for.
        let no_ca =
            json!({TOKEN_KEY: STANDARD.encode("jwt"), NAMESPACE_KEY: STANDARD.encode("team")});
        assert_eq!(
            decide(&secret(no_ca, Some("sa-1")), Some(&robot()), None),
            Verdict::InSync
        );
    }

    #[test]
    fn a_secret_of_a_missing_or_replaced_account_is_deleted() {
        assert_eq!(
            decide(&secret(json!({}), None), None, None),
            Verdict::Delete
        );
        // Recorded for another account of the same name.
        assert_eq!(
            decide(&secret(json!({}), Some("sa-0")), Some(&robot()), None),
            Verdict::Delete
        );
        // Other Secrets, and one already being deleted, are not ours.
        let opaque = json!({"type": "Opaque", "metadata": {"name": "x"}});
        assert_eq!(decide(&opaque, None, None), Verdict::InSync);
        let mut going = secret(json!({}), None);
        going["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(decide(&going, None, None), Verdict::InSync);
    }

    #[test]
    fn a_secret_names_its_account_by_namespace_and_annotation() {
        let s = secret(json!({}), None);
        assert!(names_account(&s, "team", "robot"));
        assert!(!names_account(&s, "other", "robot"));
        assert!(!names_account(&s, "team", "default"));
    }
}

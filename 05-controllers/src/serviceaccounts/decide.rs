//! Which namespaces need a `default` ServiceAccount (pure).

use serde_json::{Value, json};

/// The ServiceAccount every namespace has: a pod that names none runs as it.
pub const DEFAULT: &str = "default";

// ANCHOR: needs_default
/// Whether namespace `ns` (as the informer has it, `None` when gone)
/// should be given a `default` ServiceAccount, knowing whether one is in
/// the cache. A namespace being deleted gets none: it is being emptied,
/// and the API server refuses creates in it anyway.
pub fn needs_default(ns: Option<&Value>, has_default: bool) -> bool {
    let Some(ns) = ns else {
        return false;
    };
    let terminating = ns.pointer("/metadata/deletionTimestamp").is_some()
        || ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
    !terminating && !has_default
}
// ANCHOR_END: needs_default

/// The `default` ServiceAccount of `ns`, as Kubernetes' controller makes
/// it: a name and nothing else (no token Secret since Kubernetes 1.24:
/// tokens are requested, not stored).
pub fn default_account(ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": DEFAULT, "namespace": ns},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_active_namespace_without_default_gets_one() {
        let active = json!({"metadata": {"name": "team"}, "status": {"phase": "Active"}});
        assert!(needs_default(Some(&active), false));
        assert!(!needs_default(Some(&active), true));
        assert!(!needs_default(None, false));
    }

    #[test]
    fn a_terminating_namespace_gets_none() {
        let deleting =
            json!({"metadata": {"name": "t", "deletionTimestamp": "2026-01-01T00:00:00Z"}});
        assert!(!needs_default(Some(&deleting), false));
        let phase = json!({"metadata": {"name": "t"}, "status": {"phase": "Terminating"}});
        assert!(!needs_default(Some(&phase), false));
    }

    #[test]
    fn the_default_account_is_a_bare_name() {
        let sa = default_account("team");
        assert_eq!(sa["metadata"]["namespace"], "team");
        assert_eq!(sa["metadata"]["name"], "default");
        assert_eq!(sa["kind"], "ServiceAccount");
    }
}

//! The namespace controller's decisions, pure: whether a namespace is
//! being emptied, which objects to delete, and what its status says while
//! it waits (Kubernetes' `namespaced_resources_deleter`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use orc_client::time;
use serde_json::{Value, json};

/// The finalizer this controller owns in `spec.finalizers`.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// What one namespaced resource holds in the namespace, as last listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// `pods.` or `deployments.apps`: Kubernetes' `resource.group` form,
    /// which its condition messages use.
    pub resource: String,
    /// The objects listed.
    pub items: Vec<Value>,
}

/// What to do with a namespace after one look at its content.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not ours to act on: not being deleted, or our finalizer is gone.
    Ignore,
    /// Empty: remove our finalizer, leaving these in `spec.finalizers`.
    Finalize(Vec<String>),
    /// Objects remain (or could not be listed or deleted): delete those
    /// not yet being deleted, write these conditions, and look again.
    Wait(Vec<Value>),
}

/// `spec.finalizers` of a namespace.
pub fn spec_finalizers(namespace: &Value) -> Vec<String> {
    namespace
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the namespace is being deleted and still waits for us.
pub fn is_being_emptied(namespace: &Value) -> bool {
    let marked = namespace
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    marked
        && spec_finalizers(namespace)
            .iter()
            .any(|f| f == KUBERNETES_FINALIZER)
}

/// The names of the objects a pass deletes: those not already being
/// deleted (a second DELETE of a pod in its grace period changes nothing).
pub fn to_delete(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter(|item| item.pointer("/metadata/deletionTimestamp").is_none())
        .filter_map(|item| item.pointer("/metadata/name").and_then(Value::as_str))
        .map(String::from)
        .collect()
}

// ANCHOR: verdict
/// The verdict on `namespace` whose content is `contents`; `failures`
/// are the lists and deletes that failed in this pass, `now` stamps
/// conditions that change.
pub fn verdict(
    namespace: &Value,
    contents: &[Content],
    failures: &[String],
    now: Timestamp,
) -> Verdict {
    if !is_being_emptied(namespace) {
        return Verdict::Ignore;
    }
    let remaining: Vec<&Content> = contents.iter().filter(|c| !c.items.is_empty()).collect();
    if remaining.is_empty() && failures.is_empty() {
        let rest = spec_finalizers(namespace)
            .into_iter()
            .filter(|f| f != KUBERNETES_FINALIZER)
            .collect();
        return Verdict::Finalize(rest);
    }
    let old = namespace
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let conditions = [
        content_failure(failures),
        content_remaining(&remaining),
        finalizers_remaining(&remaining),
    ]
    .into_iter()
    .map(|(kind, status, reason, message)| condition(&old, kind, status, reason, &message, now))
    .collect();
    Verdict::Wait(conditions)
}
// ANCHOR_END: verdict

type Condition = (&'static str, bool, &'static str, String);

fn content_failure(failures: &[String]) -> Condition {
    if failures.is_empty() {
        let message = "All content successfully deleted, may be waiting on finalization";
        return (
            "NamespaceDeletionContentFailure",
            false,
            "ContentDeleted",
            message.into(),
        );
    }
    let message = format!(
        "Failed to delete all resource types, {} remaining: {}",
        failures.len(),
        failures.join(", ")
    );
    (
        "NamespaceDeletionContentFailure",
        true,
        "ContentDeletionFailed",
        message,
    )
}

fn content_remaining(remaining: &[&Content]) -> Condition {
    if remaining.is_empty() {
        let message = "All content successfully removed";
        return (
            "NamespaceContentRemaining",
            false,
            "ContentRemoved",
            message.into(),
        );
    }
    let counts: Vec<String> = remaining
        .iter()
        .map(|c| format!("{} has {} resource instances", c.resource, c.items.len()))
        .collect();
    let message = format!("Some resources are remaining: {}", counts.join(", "));
    (
        "NamespaceContentRemaining",
        true,
        "SomeResourcesRemain",
        message,
    )
}

fn finalizers_remaining(remaining: &[&Content]) -> Condition {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in remaining.iter().flat_map(|c| &c.items) {
        let finalizers = item
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array);
        for finalizer in finalizers.into_iter().flatten().filter_map(Value::as_str) {
            *counts.entry(finalizer.to_string()).or_default() += 1;
        }
    }
    if counts.is_empty() {
        let message = "All content-preserving finalizers finished";
        return (
            "NamespaceFinalizersRemaining",
            false,
            "ContentHasNoFinalizers",
            message.into(),
        );
    }
    let listed: Vec<String> = counts
        .iter()
        .map(|(finalizer, n)| format!("{finalizer} in {n} resource instances"))
        .collect();
    let message = format!(
        "Some content in the namespace has finalizers remaining: {}",
        listed.join(", ")
    );
    (
        "NamespaceFinalizersRemaining",
        true,
        "SomeFinalizersRemain",
        message,
    )
}

/// One condition; its `lastTransitionTime` stays as it was unless its
/// status changed, so a namespace that keeps waiting is not rewritten.
fn condition(
    old: &[Value],
    kind: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Value {
    let status = if status { "True" } else { "False" };
    let previous = old.iter().find(|c| c["type"] == kind);
    let since = match previous {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => json!(time::format(now)),
    };
    json!({
        "type": kind,
        "status": status,
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminating(finalizers: &[&str]) -> Value {
        json!({
            "metadata": {"name": "team", "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"finalizers": finalizers},
            "status": {"phase": "Terminating"},
        })
    }

    fn item(name: &str, meta: Value) -> Value {
        let mut obj = json!({"metadata": meta});
        obj["metadata"]["name"] = json!(name);
        obj
    }

    #[test]
    fn only_a_marked_namespace_with_our_finalizer_is_ours() {
        let active = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["kubernetes"]}});
        assert!(!is_being_emptied(&active));
        assert!(is_being_emptied(&terminating(&["kubernetes"])));
        assert!(!is_being_emptied(&terminating(&["example.com/x"])));
        assert_eq!(
            verdict(&active, &[], &[], Timestamp::UNIX_EPOCH),
            Verdict::Ignore
        );
    }

    #[test]
    fn an_empty_namespace_is_finalized_keeping_other_finalizers() {
        let ns = terminating(&["example.com/x", "kubernetes"]);
        let empty = Content {
            resource: "pods.".into(),
            items: vec![],
        };
        assert_eq!(
            verdict(&ns, &[empty], &[], Timestamp::UNIX_EPOCH),
            Verdict::Finalize(vec!["example.com/x".into()])
        );
    }

    #[test]
    fn objects_being_deleted_are_not_deleted_again() {
        let items = [
            item("a", json!({})),
            item("b", json!({"deletionTimestamp": "2026-01-01T00:00:00Z"})),
        ];
        assert_eq!(to_delete(&items), vec!["a".to_string()]);
    }

    #[test]
    fn what_remains_is_named_as_kubernetes_names_it() {
        let pods = Content {
            resource: "pods.".into(),
            items: vec![
                item("p", json!({"finalizers": ["example.com/hold"]})),
                item("q", json!({})),
            ],
        };
        let failures = vec!["configmaps.: the server is on fire".to_string()];
        let Verdict::Wait(conditions) = verdict(
            &terminating(&["kubernetes"]),
            &[pods],
            &failures,
            Timestamp::UNIX_EPOCH,
        ) else {
            panic!("the namespace is not empty");
        };
        let by_type = |t: &str| conditions.iter().find(|c| c["type"] == t).unwrap().clone();
        assert_eq!(
            by_type("NamespaceContentRemaining")["message"],
            "Some resources are remaining: pods. has 2 resource instances"
        );
        assert_eq!(
            by_type("NamespaceFinalizersRemaining")["message"],
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
        let failure = by_type("NamespaceDeletionContentFailure");
        assert_eq!(failure["status"], "True");
        assert_eq!(failure["reason"], "ContentDeletionFailed");
    }

    #[test]
    fn an_unchanged_condition_keeps_its_transition_time() {
        let mut ns = terminating(&["kubernetes"]);
        let pods = Content {
            resource: "pods.".into(),
            items: vec![item("q", json!({}))],
        };
        let Verdict::Wait(first) =
            verdict(&ns, std::slice::from_ref(&pods), &[], Timestamp::UNIX_EPOCH)
        else {
            panic!();
        };
        ns["status"]["conditions"] = json!(first);
        let Verdict::Wait(again) = verdict(&ns, &[pods], &[], Timestamp::now()) else {
            panic!();
        };
        assert_eq!(again, first, "nothing to rewrite");
    }
}

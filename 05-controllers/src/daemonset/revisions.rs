//! ControllerRevisions: a DaemonSet's template history, as pure functions.
//!
//! A Deployment keeps its history in old ReplicaSets. A DaemonSet has no
//! such middle object, so Kubernetes gives it (and StatefulSets) a plain
//! record of each template it has run: a `ControllerRevision` (apps/v1),
//! owned by the DaemonSet, whose `data` is the patch that would put that
//! template back (`{"spec": {"template": {..., "$patch": "replace"}}}`)
//! and whose `revision` is a number that grows with each change.
//!
//! - The revision's name is `<daemonset>-<hash of data>`, and every pod
//!   made from it carries the hash as its `controller-revision-hash` label:
//!   that is how the controller tells updated pods from old ones.
//! - Returning to an earlier template (`kubectl rollout undo ds/x`, which
//!   sends exactly that patch) does not create a revision: the old one is
//!   found by its data and given the next number, so it becomes current.
//! - Old revisions beyond `spec.revisionHistoryLimit` are deleted, oldest
//!   first, unless a pod still runs them.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::object::{DaemonSet, REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL};
use crate::claims::controller_reference;
use crate::deployment::template::pod_template_hash;
use crate::object::{generation, namespace_and_name, number};
use orc_client::selectors::labels_of;

// ANCHOR: data
/// The `data` of the revision for the DaemonSet `ds`'s current template:
/// the strategic merge patch that restores it (Kubernetes' `getPatch`).
pub fn data_of(ds: &Value) -> Value {
    let mut template = DaemonSet(ds).template().clone();
    if let Value::Object(map) = &mut template {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}
// ANCHOR_END: data

/// The hash that names a revision with `data`, and labels its pods;
/// `collision_count` changes it when the name is taken by other data.
/// The same FNV-32a over canonical JSON as a Deployment's template hash.
pub fn hash_of(data: &Value, collision_count: i64) -> String {
    pod_template_hash(data, collision_count)
}

/// `revision`: the revision's number.
pub fn revision_number(revision: &Value) -> i64 {
    number(revision, "/revision").unwrap_or(0)
}

/// The revision's hash: its `controller-revision-hash` label.
pub fn hash_label(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/labels")?
        .get(REVISION_HASH_LABEL)?
        .as_str()
}

/// What the controller must do so that `ds` has a revision for its
/// current template.
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// It exists and is the newest: nothing to do.
    Exists { name: String, hash: String },
    /// It exists but an older number: give it `number` (a rollback).
    Renumber {
        name: String,
        hash: String,
        number: i64,
    },
    /// It does not exist: create this object.
    Create { revision: Value, hash: String },
}

impl Current {
    /// The hash of the current revision.
    pub fn hash(&self) -> &str {
        match self {
            Current::Exists { hash, .. }
            | Current::Renumber { hash, .. }
            | Current::Create { hash, .. } => hash,
        }
    }

    /// The name of the current revision.
    pub fn name(&self) -> &str {
        match self {
            Current::Exists { name, .. } | Current::Renumber { name, .. } => name,
            Current::Create { revision, .. } => namespace_and_name(revision).1,
        }
    }
}

// ANCHOR: current
/// The current revision of `ds` among its `revisions` (those it
/// controls): the one whose data equals its template's, renumbered to be
/// the newest if it is not, or a new one numbered after the newest.
pub fn current(ds: &Value, revisions: &[Value]) -> Current {
    let data = data_of(ds);
    let newest = revisions.iter().map(revision_number).max().unwrap_or(0);
    let equal = revisions
        .iter()
        .filter(|r| r.get("data") == Some(&data))
        .max_by_key(|r| revision_number(r));
    match equal {
        Some(existing) => {
            let name = namespace_and_name(existing).1.to_string();
            let hash = hash_label(existing)
                .map(String::from)
                .unwrap_or_else(|| hash_of(&data, DaemonSet(ds).collision_count()));
            if revision_number(existing) < newest {
                Current::Renumber {
                    name,
                    hash,
                    number: newest + 1,
                }
            } else {
                Current::Exists { name, hash }
            }
        }
        None => {
            let hash = hash_of(&data, DaemonSet(ds).collision_count());
            let revision = new_revision(ds, data, &hash, newest + 1);
            Current::Create { revision, hash }
        }
    }
}
// ANCHOR_END: current

/// A new ControllerRevision of `ds`: named `<ds>-<hash>`, labelled with
/// the template's labels and the hash, carrying the DaemonSet's
/// annotations (so `kubernetes.io/change-cause` reaches `kubectl rollout
/// history`), controlled by the DaemonSet.
pub fn new_revision(ds: &Value, data: Value, hash: &str, number: i64) -> Value {
    let (ns, name) = namespace_and_name(ds);
    // Names are at most 253 characters; the hash is short.
    let prefix: String = name.chars().take(223).collect();
    let mut labels: Map<String, Value> = labels_of(DaemonSet(ds).template())
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    labels.insert(REVISION_HASH_LABEL.into(), json!(hash));
    let mut metadata = json!({
        "name": format!("{prefix}-{hash}"),
        "namespace": ns,
        "labels": labels,
        "ownerReferences": [controller_reference(ds, "DaemonSet", "apps/v1")],
    });
    if let Some(annotations) = ds
        .pointer("/metadata/annotations")
        .filter(|a| a.is_object())
    {
        metadata["annotations"] = annotations.clone();
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": metadata,
        "data": data,
        "revision": number,
    })
}

// ANCHOR: updated
/// Whether `pod` runs the current template of `ds`, whose current
/// revision has `hash`: its hash label matches, or its
/// `pod-template-generation` label is the DaemonSet's generation
/// (Kubernetes' `IsPodUpdated`).
pub fn is_updated(pod: &Value, ds: &Value, hash: &str) -> bool {
    let labels = labels_of(pod);
    let by_hash =
        !hash.is_empty() && labels.get(REVISION_HASH_LABEL).map(String::as_str) == Some(hash);
    let by_generation = labels.get(TEMPLATE_GENERATION_LABEL) == Some(&generation(ds).to_string());
    by_hash || by_generation
}
// ANCHOR_END: updated

// ANCHOR: history
/// The old revisions of `ds` to delete: beyond `revisionHistoryLimit`,
/// oldest (lowest number) first, never the current one (`current_name`)
/// nor one whose hash a live pod still carries (`live_hashes`).
pub fn history_to_delete<'a>(
    ds: &Value,
    revisions: &'a [Value],
    current_name: &str,
    live_hashes: &BTreeSet<String>,
) -> Vec<&'a Value> {
    let mut old: Vec<&Value> = revisions
        .iter()
        .filter(|r| namespace_and_name(r).1 != current_name)
        .collect();
    let excess = old.len() as i64 - DaemonSet(ds).revision_history_limit().max(0);
    if excess <= 0 {
        return Vec::new();
    }
    old.sort_by_key(|r| revision_number(r));
    old.into_iter()
        .filter(|r| !hash_label(r).is_some_and(|h| live_hashes.contains(h)))
        .take(excess as usize)
        .collect()
}
// ANCHOR_END: history

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(image: &str) -> Value {
        json!({"metadata": {"name": "logs", "namespace": "kube-system", "uid": "u1",
                "generation": 4, "annotations": {"kubernetes.io/change-cause": "why"}},
            "spec": {"revisionHistoryLimit": 1, "template": {"metadata": {"labels": {"app": "logs"}},
                "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    fn stored(current: Current) -> Value {
        match current {
            Current::Create { revision, .. } => revision,
            other => panic!("expected a new revision, got {other:?}"),
        }
    }

    #[test]
    fn a_new_template_gets_the_next_revision() {
        let first = stored(current(&ds("v1"), &[]));
        assert_eq!(first["revision"], 1);
        let hash = hash_label(&first).unwrap().to_string();
        assert_eq!(first["metadata"]["name"], format!("logs-{hash}"));
        assert_eq!(first["metadata"]["labels"]["app"], "logs");
        assert_eq!(
            first["metadata"]["annotations"]["kubernetes.io/change-cause"],
            "why"
        );
        assert_eq!(first["metadata"]["ownerReferences"][0]["kind"], "DaemonSet");
        assert_eq!(first["data"]["spec"]["template"]["$patch"], "replace");
        let second = stored(current(&ds("v2"), std::slice::from_ref(&first)));
        assert_eq!(second["revision"], 2);
        assert_ne!(hash_label(&second), Some(hash.as_str()));
        // Nothing changed: the newest revision is current.
        let both = [first.clone(), second.clone()];
        assert!(matches!(current(&ds("v2"), &both), Current::Exists { .. }));
        // Back to v1: its old revision becomes number 3.
        assert_eq!(
            current(&ds("v1"), &both),
            Current::Renumber {
                name: format!("logs-{hash}"),
                hash,
                number: 3
            }
        );
    }

    #[test]
    fn pods_are_updated_by_hash_or_generation() {
        let d = ds("v1");
        let pod = |labels: Value| json!({"metadata": {"labels": labels}});
        assert!(is_updated(
            &pod(json!({"controller-revision-hash": "h1"})),
            &d,
            "h1"
        ));
        assert!(is_updated(
            &pod(json!({"pod-template-generation": "4"})),
            &d,
            "h1"
        ));
        let old = pod(json!({"controller-revision-hash": "h0", "pod-template-generation": "3"}));
        assert!(!is_updated(&old, &d, "h1"));
    }

    #[test]
    fn history_beyond_the_limit_goes_unless_a_pod_runs_it() {
        let d = ds("v3");
        let revs: Vec<Value> = (1..=3)
            .map(|n| new_revision(&d, json!({"n": n}), &format!("h{n}"), n))
            .collect();
        let current_name = "logs-h3";
        let names = |v: Vec<&Value>| -> Vec<String> {
            v.iter()
                .map(|r| namespace_and_name(r).1.to_string())
                .collect()
        };
        let none = BTreeSet::new();
        assert_eq!(
            names(history_to_delete(&d, &revs, current_name, &none)),
            ["logs-h1"]
        );
        let live: BTreeSet<String> = ["h1".to_string()].into();
        assert_eq!(
            names(history_to_delete(&d, &revs, current_name, &live)),
            ["logs-h2"]
        );
    }
}

//! ControllerRevisions: the history of a StatefulSet's pod template.
//!
//! A Deployment keeps its history in ReplicaSets; a StatefulSet has no
//! objects in between, so each template it ever had is recorded in a
//! `ControllerRevision` (apps/v1) that it owns: `data` holds the patch that
//! puts the template back (`{"spec":{"template":{..., "$patch":"replace"}}}`,
//! which is what `kubectl rollout undo` sends as a strategic merge patch),
//! `revision` its number. The pods carry the revision's name in their
//! `controller-revision-hash` label, so the controller can tell old pods
//! from new ones.
//!
//! A template that comes back (an undo) reuses its old revision under the
//! next number, as Kubernetes does, so `kubectl rollout history` shows
//! revisions 2 and 3 after undoing from 2 to 1.

use serde_json::{Value, json};

use super::identity::template_of;
use crate::claims::controller_reference;
use crate::deployment::template::pod_template_hash;
use crate::object::{namespace_and_name, number};

/// The label with a revision's hash (Kubernetes' `ControllerRevisionHashLabel`).
pub const HASH_LABEL: &str = "controller.kubernetes.io/hash";

/// What a revision records for `sts`: the patch that restores its template.
pub fn data_of(sts: &Value) -> Value {
    let mut template = template_of(sts).clone();
    if let Value::Object(map) = &mut template {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The template a revision records (its `data` without the patch directive).
pub fn template_in(revision: &Value) -> Value {
    let mut template = revision
        .pointer("/data/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    if let Value::Object(map) = &mut template {
        map.remove("$patch");
    }
    template
}

/// `revision`: the number of a ControllerRevision (0 when missing).
pub fn number_of(revision: &Value) -> i64 {
    number(revision, "/revision").unwrap_or(0)
}

/// A revision's name.
pub fn name_of(revision: &Value) -> &str {
    namespace_and_name(revision).1
}

// ANCHOR: new_revision
/// A new revision of `sts`'s current template, numbered `number`. Its name
/// is `<set>-<hash of the data>`, so the same template always gets the
/// same name (a controller that crashed after creating it finds it
/// again); `collision_count` changes the hash when that name is taken by
/// other data. Labels: the template's (so the set's selector finds it,
/// as `kubectl rollout history` looks) and the hash; annotations: the
/// set's (`kubernetes.io/change-cause` shows in the history).
pub fn new_revision(sts: &Value, number: i64, collision_count: i64) -> Value {
    let (ns, set) = namespace_and_name(sts);
    let data = data_of(sts);
    let hash = pod_template_hash(&data, collision_count);
    let mut labels = template_of(sts)
        .pointer("/metadata/labels")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or(json!({}));
    labels[HASH_LABEL] = json!(hash);
    let mut metadata = json!({
        "name": format!("{set}-{hash}"),
        "namespace": ns,
        "labels": labels,
        "ownerReferences": [controller_reference(sts, "StatefulSet", "apps/v1")],
    });
    if let Some(annotations) = sts.pointer("/metadata/annotations") {
        metadata["annotations"] = annotations.clone();
    }
    json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": metadata, "data": data, "revision": number})
}
// ANCHOR_END: new_revision

/// What the controller does about the revision of the current template.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateRevision<'a> {
    /// The newest revision already records it.
    Latest(&'a Value),
    /// An older revision records it (an undo): renumber it to `number`.
    Renumber(&'a Value, i64),
    /// None does: create this one.
    Create(Value),
}

// ANCHOR: update_revision
/// The revision for `sts`'s template among `revisions` (its own).
pub fn update_revision<'a>(sts: &Value, revisions: &'a [Value]) -> UpdateRevision<'a> {
    let data = data_of(sts);
    let newest = revisions.iter().map(number_of).max().unwrap_or(0);
    let equal = revisions
        .iter()
        .filter(|r| r.get("data") == Some(&data))
        .max_by_key(|r| number_of(r));
    match equal {
        Some(r) if number_of(r) == newest => UpdateRevision::Latest(r),
        Some(r) => UpdateRevision::Renumber(r, newest + 1),
        None => {
            let collisions = super::object::StatefulSet(sts).collision_count();
            UpdateRevision::Create(new_revision(sts, newest + 1, collisions))
        }
    }
}
// ANCHOR_END: update_revision

/// The revisions to delete so that at most `limit` are kept besides the
/// live ones (`live`: the current and update revisions and any a pod
/// still carries), oldest first (Kubernetes' `truncateHistory`).
pub fn to_prune<'a>(revisions: &'a [Value], live: &[&str], limit: i64) -> Vec<&'a Value> {
    let mut old: Vec<&Value> = revisions
        .iter()
        .filter(|r| !live.contains(&name_of(r)))
        .collect();
    old.sort_by_key(|r| number_of(r));
    let excess = old.len().saturating_sub(limit.max(0) as usize);
    old.truncate(excess);
    old
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(image: &str) -> Value {
        json!({"metadata": {"name": "web", "namespace": "ns", "uid": "u",
                "annotations": {"kubernetes.io/change-cause": "why"}},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]}}}})
    }

    #[test]
    fn a_revision_records_the_template_as_a_replace_patch() {
        let r = new_revision(&sts("a"), 1, 0);
        assert_eq!(r["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(template_in(&r), sts("a")["spec"]["template"]);
        let hash = r["metadata"]["labels"][HASH_LABEL].as_str().unwrap();
        assert_eq!(r["metadata"]["name"], format!("web-{hash}"));
        assert_eq!(r["metadata"]["labels"]["app"], "web");
        assert_eq!(
            r["metadata"]["annotations"]["kubernetes.io/change-cause"],
            "why"
        );
        assert_eq!(r["revision"], 1);
        // Same template, same name; another template or a collision, another.
        assert_eq!(
            new_revision(&sts("a"), 7, 0)["metadata"]["name"],
            r["metadata"]["name"]
        );
        assert_ne!(
            new_revision(&sts("b"), 1, 0)["metadata"]["name"],
            r["metadata"]["name"]
        );
        assert_ne!(
            new_revision(&sts("a"), 1, 1)["metadata"]["name"],
            r["metadata"]["name"]
        );
    }

    #[test]
    fn the_update_revision_is_reused_renumbered_or_new() {
        let one = new_revision(&sts("a"), 1, 0);
        let two = new_revision(&sts("b"), 2, 0);
        let history = vec![one.clone(), two.clone()];
        assert_eq!(
            update_revision(&sts("b"), &history),
            UpdateRevision::Latest(&history[1])
        );
        assert_eq!(
            update_revision(&sts("a"), &history),
            UpdateRevision::Renumber(&history[0], 3)
        );
        match update_revision(&sts("c"), &history) {
            UpdateRevision::Create(r) => assert_eq!(r["revision"], 3),
            other => panic!("{other:?}"),
        }
        match update_revision(&sts("c"), &[]) {
            UpdateRevision::Create(r) => assert_eq!(r["revision"], 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pruning_keeps_the_live_and_the_newest() {
        let history: Vec<Value> = (1..=5)
            .map(|n| json!({"metadata": {"name": format!("r{n}")}, "revision": n}))
            .collect();
        let names = |v: Vec<&Value>| v.iter().map(|r| name_of(r).to_string()).collect::<Vec<_>>();
        assert_eq!(names(to_prune(&history, &["r5", "r1"], 1)), ["r2", "r3"]);
        assert_eq!(names(to_prune(&history, &["r5"], 10)), Vec::<String>::new());
        assert_eq!(names(to_prune(&history, &[], 0)).len(), 5);
    }
}

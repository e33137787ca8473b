//! Revisions and history, as pure functions: the bookkeeping that
//! `kubectl rollout history` and `kubectl rollout undo` rely on.
//!
//! Each ReplicaSet of a Deployment carries a revision in the annotation
//! `deployment.kubernetes.io/revision`: a new template gets the next
//! number, and a template that comes back (an undo) makes its old
//! ReplicaSet current again under the next number. The Deployment's other
//! annotations (`kubernetes.io/change-cause`, which `rollout history`
//! shows) are copied onto its ReplicaSets. Both commands are client-side;
//! they work because the controller keeps these numbers. Empty old
//! ReplicaSets are kept as the history to go back to, up to
//! `spec.revisionHistoryLimit`.

use serde_json::{Map, Value, json};

use super::object::{DESIRED_REPLICAS, Deployment, MAX_REPLICAS, REVISION};
use super::scaling::size_annotations;
use crate::object::{ReplicaSet, Workload, annotation};

/// Annotations of a Deployment that are not copied to its ReplicaSets
/// (Kubernetes' `annotationsToSkip`): they describe the Deployment itself.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// The Deployment's annotations a ReplicaSet carries (`change-cause`, ...).
pub fn copied_annotations(d: Deployment) -> Map<String, Value> {
    d.annotations()
        .into_iter()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .collect()
}

/// The highest revision among `replicasets`; 0 without any (Kubernetes'
/// `MaxRevision`).
pub fn max_revision(replicasets: &[Value]) -> i64 {
    let revisions = replicasets.iter().map(|rs| ReplicaSet(rs).revision());
    revisions.max().unwrap_or(0)
}

/// The annotations of a new ReplicaSet for `d`, whose other ReplicaSets
/// are `old`: the copied ones, the next revision, and the Deployment's size
/// (Kubernetes' `SetNewReplicaSetAnnotations`).
pub fn new_annotations(d: Deployment, old: &[Value]) -> Map<String, Value> {
    let mut annotations = copied_annotations(d);
    let next = (max_revision(old) + 1).to_string();
    annotations.insert(REVISION.into(), json!(next));
    annotations.extend(size_annotations(d));
    annotations
}

/// The annotations the current ReplicaSet `rs` should have: the
/// Deployment's copied ones, and the next revision if its template came
/// back from an older one (`kubectl rollout undo`); `None` when it has
/// them already.
pub fn current_annotations(
    d: Deployment,
    rs: ReplicaSet,
    old: &[Value],
) -> Option<Map<String, Value>> {
    let before = rs.object()["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut wanted = before.clone();
    wanted.extend(copied_annotations(d));
    let next = max_revision(old) + 1;
    if rs.revision() < next {
        wanted.insert(REVISION.into(), json!(next.to_string()));
    }
    (wanted != before).then_some(wanted)
}

/// The revision to write on the Deployment itself, so `kubectl` shows the
/// current one: the current ReplicaSet's, when it has one and the
/// Deployment does not say it yet.
pub fn revision_to_record(d: Deployment, current: ReplicaSet) -> Option<String> {
    let revision = current.revision();
    let text = revision.to_string();
    (revision != 0 && annotation(d.object(), REVISION) != Some(text.as_str())).then_some(text)
}

/// The old ReplicaSets to delete: the empty ones (no replicas wanted, no
/// pods left) beyond `spec.revisionHistoryLimit`, lowest revision first
/// (Kubernetes' `cleanupDeployment`).
pub fn history_to_delete<'a>(d: Deployment, old: &'a [Value]) -> Vec<&'a Value> {
    let is_empty =
        |rs: &&Value| ReplicaSet(rs).replicas() == 0 && ReplicaSet(rs).status_replicas() == 0;
    let mut empty: Vec<&Value> = old.iter().filter(is_empty).collect();
    let excess = empty.len() as i64 - d.revision_history_limit();
    if excess <= 0 {
        return Vec::new();
    }
    empty.sort_by_key(|rs| ReplicaSet(rs).revision());
    empty.truncate(excess as usize);
    empty
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ReplicaSet `name` at `revision` with `replicas`, and `annotations`.
    fn rs(name: &str, revision: i64, replicas: i64, annotations: Value) -> Value {
        let mut rs = json!({"metadata": {"name": name, "annotations": annotations},
            "spec": {"replicas": replicas}, "status": {"replicas": replicas}});
        rs["metadata"]["annotations"][REVISION] = json!(revision.to_string());
        rs
    }

    #[test]
    fn a_new_replicaset_gets_the_next_revision_and_the_deployments_annotations() {
        let d = json!({"metadata": {"annotations": {"kubernetes.io/change-cause": "v2",
                REVISION: "2", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"replicas": 4}});
        let old = [rs("web-1", 1, 4, json!({})), rs("web-2", 2, 0, json!({}))];
        let annotations = new_annotations(Deployment(&d), &old);
        assert_eq!(
            Value::Object(annotations),
            json!({"kubernetes.io/change-cause": "v2", REVISION: "3",
                DESIRED_REPLICAS: "4", MAX_REPLICAS: "5"})
        );
    }

    #[test]
    fn an_undone_template_becomes_current_under_the_next_revision() {
        let d = json!({"metadata": {"annotations": {"kubernetes.io/change-cause": "v1"}}});
        let back = rs("web-1", 1, 0, json!({"kubernetes.io/change-cause": "v1"}));
        let old = [rs("web-2", 2, 4, json!({}))];
        let wanted = current_annotations(Deployment(&d), ReplicaSet(&back), &old).unwrap();
        assert_eq!(wanted[REVISION], "3");
        let current = rs("web-3", 3, 4, json!({"kubernetes.io/change-cause": "v1"}));
        let none = current_annotations(Deployment(&d), ReplicaSet(&current), &old);
        assert_eq!(none, None, "in step already");
    }

    #[test]
    fn the_deployment_records_the_current_revision_once() {
        let d = json!({"metadata": {"annotations": {REVISION: "2"}}});
        let current = rs("web-3", 3, 4, json!({}));
        let record = |rs: &Value| revision_to_record(Deployment(&d), ReplicaSet(rs));
        assert_eq!(record(&current), Some("3".into()));
        assert_eq!(record(&rs("web-2", 2, 4, json!({}))), None);
        assert_eq!(record(&json!({})), None, "no revision yet");
    }

    #[test]
    fn only_empty_replicasets_beyond_the_limit_go_lowest_revision_first() {
        let d = json!({"spec": {"revisionHistoryLimit": 1}});
        let old = [
            rs("web-3", 3, 0, json!({})),
            rs("web-1", 1, 0, json!({})),
            rs("web-2", 2, 0, json!({})),
            rs("web-4", 4, 2, json!({})),
        ];
        let names: Vec<&str> = history_to_delete(Deployment(&d), &old)
            .into_iter()
            .map(|rs| rs["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["web-1", "web-2"]);
        let roomy = json!({"spec": {"revisionHistoryLimit": 3}});
        assert!(history_to_delete(Deployment(&roomy), &old).is_empty());
    }
}

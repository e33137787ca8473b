//! The three passes of [`super::decide`] on hand-made pods.

use serde_json::{Value, json};

use super::*;
use crate::statefulset::identity::REVISION_LABEL;

fn now() -> Timestamp {
    "2026-01-01T01:00:00Z".parse().unwrap()
}

fn sts(replicas: i64, policy: &str, strategy: Value) -> Value {
    json!({"metadata": {"name": "web"}, "spec": {"replicas": replicas,
        "podManagementPolicy": policy, "updateStrategy": strategy}})
}

fn rolling(partition: i64) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": partition}})
}

fn pod(ordinal: i64, revision: &str, ready: bool) -> Value {
    json!({"metadata": {"name": format!("web-{ordinal}"), "labels": {REVISION_LABEL: revision}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready",
            "status": if ready { "True" } else { "False" },
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
}

/// The steps as text: `+2` creates ordinal 2, `-web-1` deletes that pod.
fn steps(sts: &Value, pods: &[Value]) -> Vec<String> {
    decide(sts, pods, "new", now())
        .into_iter()
        .map(|s| match s {
            Step::Create(o, Revision::Update) => format!("+{o}"),
            Step::Create(o, Revision::Current) => format!("+{o} current"),
            Step::Delete(p) => format!("-{}", p["metadata"]["name"].as_str().unwrap()),
        })
        .collect()
}

#[test]
fn ordered_ready_creates_one_at_a_time_after_the_last_is_ready() {
    let set = sts(3, "OrderedReady", rolling(0));
    assert_eq!(steps(&set, &[]), ["+0"]);
    assert!(steps(&set, &[pod(0, "new", false)]).is_empty());
    assert_eq!(steps(&set, &[pod(0, "new", true)]), ["+1"]);
    // A gap below is filled first.
    assert_eq!(steps(&set, &[pod(1, "new", true)]), ["+0"]);
}

#[test]
fn parallel_creates_and_deletes_everything_at_once() {
    let set = sts(3, "Parallel", rolling(0));
    assert_eq!(steps(&set, &[pod(1, "new", false)]), ["+0", "+2"]);
    let many: Vec<Value> = (0..5).map(|o| pod(o, "new", o != 4)).collect();
    assert_eq!(steps(&set, &many), ["-web-4", "-web-3"]);
}

#[test]
fn ordered_scale_down_goes_from_the_top_once_all_are_healthy() {
    let set = sts(1, "OrderedReady", rolling(0));
    let pods: Vec<Value> = (0..3).map(|o| pod(o, "new", true)).collect();
    assert_eq!(steps(&set, &pods), ["-web-2"]);
    let mut terminating = pods.clone();
    terminating[2]["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert!(steps(&set, &terminating).is_empty());
    // An unhealthy web-1 goes first only if it is the lowest unhealthy.
    let broken = vec![
        pod(0, "new", true),
        pod(1, "new", false),
        pod(2, "new", true),
    ];
    assert_eq!(steps(&set, &broken), ["-web-2"]);
    let broken = vec![
        pod(0, "new", true),
        pod(1, "new", false),
        pod(2, "new", false),
    ];
    assert!(steps(&set, &broken).is_empty());
    let broken = vec![pod(0, "new", true), pod(1, "new", false)];
    assert_eq!(steps(&set, &broken), ["-web-1"]);
}

#[test]
fn a_rolling_update_replaces_the_highest_old_pod_above_the_partition() {
    let old: Vec<Value> = (0..3).map(|o| pod(o, "old", true)).collect();
    assert_eq!(steps(&sts(3, "OrderedReady", rolling(0)), &old), ["-web-2"]);
    let mut half = old.clone();
    half[2] = pod(2, "new", false);
    assert!(steps(&sts(3, "Parallel", rolling(0)), &half).is_empty());
    half[2] = pod(2, "new", true);
    assert_eq!(
        steps(&sts(3, "OrderedReady", rolling(0)), &half),
        ["-web-1"]
    );
    assert!(steps(&sts(3, "OrderedReady", rolling(2)), &half).is_empty());
    let on_delete = json!({"type": "OnDelete"});
    assert!(steps(&sts(3, "OrderedReady", on_delete), &old).is_empty());
}

#[test]
fn pods_below_the_partition_are_made_from_the_current_revision() {
    let set = sts(3, "Parallel", rolling(2));
    assert_eq!(steps(&set, &[]), ["+0 current", "+1 current", "+2"]);
    let on_delete = sts(3, "Parallel", json!({"type": "OnDelete"}));
    assert_eq!(
        steps(&on_delete, &[pod(0, "old", true), pod(1, "old", true)]),
        ["+2"]
    );
}

#[test]
fn a_finished_pod_is_deleted_to_be_made_again() {
    let set = sts(2, "OrderedReady", rolling(0));
    let mut failed = pod(0, "new", false);
    failed["status"]["phase"] = json!("Failed");
    assert_eq!(steps(&set, &[failed, pod(1, "new", true)]), ["-web-0"]);
}

#[test]
fn min_ready_seconds_holds_the_next_pod_back() {
    let mut set = sts(2, "OrderedReady", rolling(0));
    set["spec"]["minReadySeconds"] = json!(7200);
    assert!(steps(&set, &[pod(0, "new", true)]).is_empty());
    set["spec"]["minReadySeconds"] = json!(3600);
    assert_eq!(steps(&set, &[pod(0, "new", true)]), ["+1"]);
}

#[test]
fn a_set_being_deleted_does_nothing() {
    let mut set = sts(2, "OrderedReady", rolling(0));
    set["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert!(steps(&set, &[]).is_empty());
}

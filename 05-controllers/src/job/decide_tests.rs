use super::*;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + s).unwrap()
}

fn job(spec: Value, status: Value) -> Value {
    json!({"metadata": {"name": "pi", "namespace": "default", "uid": "j"},
        "spec": spec, "status": status})
}

fn pod(name: &str, phase: &str, finished: i64, tracked: bool) -> Value {
    let finalizers: Vec<&str> = if tracked {
        vec![super::super::object::TRACKING_FINALIZER]
    } else {
        vec![]
    };
    json!({"metadata": {"name": name, "uid": format!("u-{name}"), "finalizers": finalizers},
        "status": {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": 0,
            "state": {"terminated": {"exitCode": if phase == "Failed" { 1 } else { 0 },
                "finishedAt": time::format(at(finished))}}}]}})
}

fn running(name: &str) -> Value {
    json!({"metadata": {"name": name, "uid": format!("u-{name}")}, "status": {"phase": "Running"}})
}

fn condition<'a>(d: &'a Decision, kind: &str) -> Option<&'a Value> {
    d.status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

#[test]
fn a_new_job_starts_parallelism_pods() {
    let j = job(json!({"completions": 5, "parallelism": 2}), json!({}));
    let d = decide(&j, &[], at(0));
    assert_eq!(d.create, [None, None]);
    assert_eq!(d.status["startTime"], time::format(at(0)));
}

#[test]
fn a_success_is_counted_then_the_job_completes_once_nothing_runs() {
    let j = job(
        json!({"completions": 1, "parallelism": 1}),
        json!({"startTime": time::format(at(0))}),
    );
    let d = decide(&j, &[pod("a", "Succeeded", 5, true)], at(6));
    assert_eq!(d.to_count[0].uid, "u-a");
    assert_eq!(d.status["succeeded"], 1);
    assert_eq!(
        condition(&d, "SuccessCriteriaMet").unwrap()["reason"],
        "CompletionsReached"
    );
    assert_eq!(condition(&d, "Complete").unwrap()["status"], "True");
    assert_eq!(d.status["completionTime"], time::format(at(6)));
    assert!(d.create.is_empty());
}

#[test]
fn failures_wait_out_the_back_off_then_exceed_the_limit() {
    let spec = json!({"completions": 1, "parallelism": 1, "backoffLimit": 2});
    let j = job(
        spec.clone(),
        json!({"startTime": time::format(at(0)), "failed": 1}),
    );
    // One failure (counted), ended at 10: the next pod waits until 20.
    let d = decide(&j, &[pod("a", "Failed", 10, false)], at(15));
    assert!(d.create.is_empty());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(5)));
    let d = decide(&j, &[pod("a", "Failed", 10, false)], at(20));
    assert_eq!(d.create, [None]);
    // A third failure passes backoffLimit 2.
    let j = job(spec, json!({"startTime": time::format(at(0)), "failed": 2}));
    let ended = [
        pod("a", "Failed", 10, false),
        pod("b", "Failed", 30, false),
        pod("c", "Failed", 70, true),
    ];
    let d = decide(&j, &ended, at(71));
    let failed = condition(&d, "Failed").unwrap();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(
        failed["message"],
        "Job has reached the specified backoff limit"
    );
    assert!(condition(&d, "FailureTarget").is_some());
    assert_eq!(d.events[0].reason, "BackoffLimitExceeded");
}

#[test]
fn a_failure_target_waits_for_running_pods_to_go() {
    let spec = json!({"completions": 2, "parallelism": 2, "activeDeadlineSeconds": 30});
    let j = job(spec, json!({"startTime": time::format(at(0))}));
    let d = decide(&j, &[running("a"), running("b")], at(31));
    assert_eq!(
        condition(&d, "FailureTarget").unwrap()["reason"],
        "DeadlineExceeded"
    );
    assert!(condition(&d, "Failed").is_none());
    assert_eq!(d.delete, ["a", "b"]);
}

#[test]
fn an_indexed_job_starts_the_missing_indexes() {
    let spec = json!({"completions": 4, "parallelism": 2, "completionMode": "Indexed"});
    let j = job(
        spec,
        json!({"startTime": time::format(at(0)), "completedIndexes": "0"}),
    );
    let mut one = running("x");
    one["metadata"]["annotations"] = json!({super::super::object::COMPLETION_INDEX: "1"});
    let d = decide(&j, &[one], at(1));
    assert_eq!(d.create, [Some(2)]);
    assert_eq!(d.status["completedIndexes"], "0");
}

/// Seen on two nodes under load: the pod of index 2 lost its tracking
/// finalizer before the status that counted it was read back, so it no
/// longer counts as a new success; its index is still done. The Job is
/// `3/3`, as Kubernetes counts an Indexed Job (`succeeded` is the number
/// of completed indexes), not Complete at `2/3`.
#[test]
fn an_indexed_jobs_successes_are_its_completed_indexes() {
    let spec = json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"});
    let j = job(
        spec,
        json!({"startTime": time::format(at(0)), "succeeded": 1, "completedIndexes": "0"}),
    );
    let indexed = |name: &str, index: &str, tracked: bool| {
        let mut p = pod(name, "Succeeded", 5, tracked);
        p["metadata"]["annotations"] = json!({super::super::object::COMPLETION_INDEX: index});
        p
    };
    let pods = [
        indexed("a", "0", false),
        indexed("b", "1", true),
        indexed("c", "2", false),
    ];
    let d = decide(&j, &pods, at(6));
    assert_eq!(d.status["completedIndexes"], "0-2");
    assert_eq!(d.status["succeeded"], 3);
    assert_eq!(condition(&d, "Complete").unwrap()["status"], "True");
}

#[test]
fn suspending_deletes_pods_and_says_so() {
    let j = job(
        json!({"completions": 1, "parallelism": 1, "suspend": true}),
        json!({"startTime": time::format(at(0))}),
    );
    let d = decide(&j, &[running("a")], at(1));
    assert_eq!(d.delete, ["a"]);
    assert_eq!(
        condition(&d, "Suspended").unwrap()["reason"],
        "JobSuspended"
    );
    assert!(d.status["startTime"].is_null());
}

#[test]
fn a_finished_job_expires_after_its_ttl() {
    let done = json!({"conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": time::format(at(0))}]});
    let j = job(json!({"ttlSecondsAfterFinished": 60}), done);
    assert_eq!(
        decide(&j, &[], at(10)).requeue_after,
        Some(Duration::from_secs(50))
    );
    assert!(decide(&j, &[], at(60)).expired);
}

#[test]
fn an_index_run_twice_keeps_one_pod() {
    let spec = json!({"completions": 2, "parallelism": 2, "completionMode": "Indexed"});
    let j = job(spec, json!({"startTime": time::format(at(0))}));
    let with_index = |name: &str, i: &str| {
        let mut p = running(name);
        p["metadata"]["annotations"] = json!({super::super::object::COMPLETION_INDEX: i});
        p
    };
    let pods = [
        with_index("a", "0"),
        with_index("b", "0"),
        with_index("c", "1"),
    ];
    let d = decide(&j, &pods, at(1));
    assert_eq!(d.delete, ["b"]);
    assert!(d.create.is_empty());
    assert_eq!(d.status["active"], 2);
}

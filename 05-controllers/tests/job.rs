//! The Job controller against a real etcd and API server, driven with the
//! installed kubectl: `create job`, `wait --for=condition=complete`,
//! `get jobs`; the failure back-off and `backoffLimit`, an Indexed Job,
//! a pod failure policy, suspend, the active deadline and the TTL.
//!
//! No node runs the pods: the test plays the node agent, writing each
//! pod's end (`Succeeded`, or `Failed` with an exit code) to its status as
//! the agent does when `sh -c 'exit N'` returns. Time is a
//! [`ManualClock`]: the test jumps over back-offs and deadlines.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, Kubectl};
use orc_controllers::clock::ManualClock;
use serde_json::{Value, json};

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";
const PODS: &str = "/api/v1/namespaces/default/pods";

async fn cluster() -> (Cluster, Arc<ManualClock>, Kubectl) {
    let clock = ManualClock::new();
    let c = Cluster::start_with_clock(clock.clone()).await;
    let k = Kubectl::new(&c);
    (c, clock, k)
}

/// The running pods of the Job `job`.
async fn active_pods(c: &Cluster, job: &str) -> Vec<Value> {
    c.list(&format!(
        "{PODS}?labelSelector=batch.kubernetes.io/job-name={job}"
    ))
    .await
    .into_iter()
    .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
    .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
    .collect()
}

/// Waits for `n` running pods of `job`.
async fn until_active(c: &Cluster, job: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let pods = active_pods(c, job).await;
        if pods.len() == n {
            return pods;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{job}: never {n} running pods: {:?}",
        active_pods(c, job).await
    );
}

/// Ends `pod` as the agent would after its container exited with `code`.
async fn end(c: &Cluster, pod: &Value, code: i64) {
    let name = pod["metadata"]["name"].as_str().unwrap();
    let status = ended_status(pod, code);
    let path = format!("{PODS}/{name}/status");
    assert_eq!(c.merge_patch(&path, &status).await, 200);
}

/// Ends, with success, the running pod of `job` that has `index`. Looked
/// up afresh: under load two reconciles may race and start an index
/// twice, and the controller deletes the second (the test must not end
/// the one being deleted).
async fn end_index(c: &Cluster, job: &str, index: i64) {
    let (key, wanted) = (
        "batch.kubernetes.io/job-completion-index",
        index.to_string(),
    );
    for _ in 0..300 {
        let pods: Vec<Value> = active_pods(c, job)
            .await
            .into_iter()
            .filter(|p| p["metadata"]["annotations"][key] == wanted.as_str())
            .collect();
        if let [pod] = pods.as_slice() {
            let name = pod["metadata"]["name"].as_str().unwrap();
            let path = format!("{PODS}/{name}/status");
            if c.merge_patch(&path, &ended_status(pod, 0)).await == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{job}: no single running pod of index {index}");
}

/// The status the agent writes when `pod`'s container exited with `code`.
fn ended_status(pod: &Value, code: i64) -> Value {
    let phase = if code == 0 { "Succeeded" } else { "Failed" };
    let now = orc_client::time::format(jiff::Timestamp::now());
    let status = json!({"status": {"phase": phase, "containerStatuses": [{
        "name": pod["spec"]["containers"][0]["name"], "restartCount": 0, "ready": false,
        "image": "busybox", "imageID": "", "started": false,
        "state": {"terminated": {"exitCode": code, "finishedAt": now, "startedAt": now,
            "reason": if code == 0 { "Completed" } else { "Error" }}}}]}});
    status
}

/// Waits until the Job's status satisfies `check`.
async fn until_job(c: &Cluster, job: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let path = format!("{JOBS}/{job}");
    c.until(&path, what, |j| j.is_some_and(&check))
        .await
        .unwrap()
}

fn condition<'a>(job: &'a Value, kind: &str) -> Option<&'a Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
}

#[tokio::test]
async fn kubectl_create_job_runs_to_complete() {
    let (c, _clock, k) = cluster().await;
    k.run(&[
        "create",
        "job",
        "pi",
        "--image=busybox",
        "--",
        "sh",
        "-c",
        "exit 0",
    ])
    .await;
    let pods = until_active(&c, "pi", 1).await;
    let pod = &pods[0];
    assert_eq!(
        pod["metadata"]["finalizers"][0],
        "batch.kubernetes.io/job-tracking"
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    end(&c, pod, 0).await;
    until_job(&c, "pi", "complete", |j| condition(j, "Complete").is_some()).await;
    let out = k
        .run(&[
            "wait",
            "--for=condition=complete",
            "job/pi",
            "--timeout=20s",
        ])
        .await;
    assert_eq!(out.trim(), "job.batch/pi condition met");
    let job = c.get(&format!("{JOBS}/pi")).await.unwrap();
    assert_eq!(job["status"]["succeeded"], 1);
    assert!(condition(&job, "SuccessCriteriaMet").is_some());
    assert!(job["status"]["completionTime"].is_string());
    // Counted, so the pod is free to go.
    let name = pod["metadata"]["name"].as_str().unwrap();
    let pod = c.get(&format!("{PODS}/{name}")).await.unwrap();
    assert!(
        pod["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let table = k.run(&["get", "jobs"]).await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    assert_eq!(lines[1][..3], ["pi", "Complete", "1/1"]);
    let events = k
        .run(&["get", "events", "--field-selector=involvedObject.name=pi"])
        .await;
    assert!(events.contains("SuccessfulCreate"), "{events}");
    assert!(events.contains("Completed"), "{events}");
}

fn job(name: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"restartPolicy": "Never",
        "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "exit 1"]}]}});
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn failures_back_off_then_exceed_the_backoff_limit() {
    let (c, clock, k) = cluster().await;
    c.create(JOBS, &job("flaky", json!({"backoffLimit": 1})))
        .await;
    let first = until_active(&c, "flaky", 1).await;
    end(&c, &first[0], 1).await;
    until_job(&c, "flaky", "one failure counted", |j| {
        j["status"]["failed"] == 1
    })
    .await;
    // The back-off holds the next pod for 10 s of the controller's time.
    assert!(
        active_pods(&c, "flaky").await.is_empty(),
        "no pod before the back-off"
    );
    clock.advance(Duration::from_secs(10));
    let second = until_active(&c, "flaky", 1).await;
    end(&c, &second[0], 1).await;
    let out = k
        .run(&[
            "wait",
            "--for=condition=failed",
            "job/flaky",
            "--timeout=20s",
        ])
        .await;
    assert_eq!(out.trim(), "job.batch/flaky condition met");
    let job = c.get(&format!("{JOBS}/flaky")).await.unwrap();
    let failed = condition(&job, "Failed").unwrap();
    assert_eq!(failed["reason"], "BackoffLimitExceeded");
    assert_eq!(
        failed["message"],
        "Job has reached the specified backoff limit"
    );
    assert_eq!(
        condition(&job, "FailureTarget").unwrap()["reason"],
        "BackoffLimitExceeded"
    );
    assert_eq!(job["status"]["failed"], 2);
    let table = k.run(&["get", "job", "flaky"]).await;
    assert!(table.lines().nth(1).unwrap().contains("Failed"), "{table}");
}

#[tokio::test]
async fn an_indexed_job_gives_each_pod_its_index() {
    let (c, _clock, _k) = cluster().await;
    let spec = json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed"});
    c.create(JOBS, &job("sum", spec)).await;
    let mut pods = until_active(&c, "sum", 3).await;
    pods.sort_by_key(|p| {
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            .as_str()
            .unwrap()
            .to_string()
    });
    for (i, pod) in pods.iter().enumerate() {
        let index = i.to_string();
        assert_eq!(
            pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"],
            index
        );
        assert_eq!(
            pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"],
            index
        );
        assert_eq!(pod["spec"]["hostname"], format!("sum-{i}"));
        let env = &pod["spec"]["containers"][0]["env"][0];
        assert_eq!(env["name"], "JOB_COMPLETION_INDEX");
        assert_eq!(
            env["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
    }
    end_index(&c, "sum", 0).await;
    end_index(&c, "sum", 2).await;
    until_job(&c, "sum", "0 and 2 done", |j| {
        j["status"]["completedIndexes"] == "0,2"
    })
    .await;
    end_index(&c, "sum", 1).await;
    let done = until_job(&c, "sum", "complete", |j| {
        condition(j, "Complete").is_some()
    })
    .await;
    assert_eq!(done["status"]["completedIndexes"], "0-2");
}

#[tokio::test]
async fn a_fail_job_rule_fails_the_job_at_once() {
    let (c, _clock, _k) = cluster().await;
    let policy = json!({"rules": [{"action": "FailJob",
        "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}}]});
    let spec =
        json!({"completions": 2, "parallelism": 2, "backoffLimit": 6, "podFailurePolicy": policy});
    c.create(JOBS, &job("strict", spec)).await;
    let pods = until_active(&c, "strict", 2).await;
    end(&c, &pods[0], 42).await;
    let failed = until_job(&c, "strict", "failed", |j| condition(j, "Failed").is_some()).await;
    let condition = condition(&failed, "Failed").unwrap();
    assert_eq!(condition["reason"], "PodFailurePolicy");
    let name = pods[0]["metadata"]["name"].as_str().unwrap();
    assert_eq!(
        condition["message"],
        format!(
            "Container main for pod default/{name} failed with exit code 42 matching FailJob rule at index 0"
        )
    );
    // The other pod was stopped: no pod of a failed Job runs on.
    assert!(active_pods(&c, "strict").await.is_empty());
}

#[tokio::test]
async fn suspend_deadline_and_ttl() {
    let (c, clock, k) = cluster().await;
    let spec = json!({"activeDeadlineSeconds": 60, "ttlSecondsAfterFinished": 30});
    c.create(JOBS, &job("slow", spec)).await;
    until_active(&c, "slow", 1).await;
    k.run(&[
        "patch",
        "job",
        "slow",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ])
    .await;
    let suspended = until_job(&c, "slow", "suspended", |j| {
        condition(j, "Suspended").is_some()
    })
    .await;
    assert_eq!(
        condition(&suspended, "Suspended").unwrap()["reason"],
        "JobSuspended"
    );
    until_active(&c, "slow", 0).await;
    k.run(&[
        "patch",
        "job",
        "slow",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ])
    .await;
    until_active(&c, "slow", 1).await;
    clock.advance(Duration::from_secs(61));
    let failed = until_job(&c, "slow", "failed", |j| condition(j, "Failed").is_some()).await;
    assert_eq!(
        condition(&failed, "Failed").unwrap()["reason"],
        "DeadlineExceeded"
    );
    clock.advance(Duration::from_secs(31));
    c.until_gone(&format!("{JOBS}/slow")).await;
}

#[tokio::test]
async fn the_api_server_guards_a_jobs_selector_and_template() {
    let (c, _clock, k) = cluster().await;
    let mut bad = job("bad", json!({"selector": {"matchLabels": {"a": "b"}}}));
    bad["spec"]["template"]["metadata"] = json!({"labels": {"a": "b"}});
    let (code, status) = c.send(c.http.post(c.url(JOBS)).json(&bad)).await;
    assert_eq!(code, 422, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("`selector` not auto-generated")
    );
    c.create(JOBS, &job("ok", json!({}))).await;
    let (ok, out) = k
        .try_run(&["set", "image", "job/ok", "main=busybox:1.37"])
        .await;
    assert!(!ok);
    assert!(out.contains("spec.template: Invalid value"), "{out}");
    assert!(out.contains("field is immutable"), "{out}");
}

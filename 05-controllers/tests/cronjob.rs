//! The CronJob controller (with the Job controller beside it) against a
//! real etcd and API server, on a [`ManualClock`]: the test moves time to
//! the next minute instead of waiting for it. Driven with the installed
//! kubectl where it has a verb: `get cronjobs`, `create job --from`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Cluster, Kubectl};
use jiff::Timestamp;
use orc_controllers::clock::{Clock, ManualClock};
use serde_json::{Value, json};

const CRONJOBS: &str = "/apis/batch/v1/namespaces/default/cronjobs";
const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

async fn cluster() -> (Cluster, Arc<ManualClock>, Kubectl) {
    let clock = ManualClock::new();
    let c = Cluster::start_with_clock(clock.clone()).await;
    let k = Kubectl::new(&c);
    (c, clock, k)
}

fn cronjob(name: &str, policy: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
        "spec": {"schedule": "* * * * *", "timeZone": "UTC", "concurrencyPolicy": policy,
            "successfulJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}}})
}

/// Moves `clock` to one second past its next whole minute; answers that
/// minute, as the Job name's suffix.
fn next_minute(clock: &ManualClock) -> i64 {
    let minute = clock.now().as_second() / 60 + 1;
    clock.advance_to(Timestamp::from_second(minute * 60 + 1).unwrap());
    minute
}

/// The names of the Jobs in `default`, sorted.
async fn job_names(c: &Cluster) -> Vec<String> {
    let mut names: Vec<String> = c
        .list(JOBS)
        .await
        .iter()
        .map(|j| j["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn until_jobs(c: &Cluster, wanted: &[String]) {
    for _ in 0..300 {
        if job_names(c).await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("jobs never {wanted:?}: {:?}", job_names(c).await);
}

/// Marks the Job `name` Complete, as the Job controller would.
async fn complete(c: &Cluster, name: &str) {
    let now = orc_client::time::format(Timestamp::now());
    let status = json!({"status": {"startTime": now, "completionTime": now, "succeeded": 1,
        "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": now}]}});
    assert_eq!(
        c.merge_patch(&format!("{JOBS}/{name}/status"), &status)
            .await,
        200
    );
}

#[tokio::test]
async fn a_cronjob_fires_each_minute_and_forbid_skips_while_one_runs() {
    let (c, clock, k) = cluster().await;
    c.create(CRONJOBS, &cronjob("tick", "Forbid")).await;
    let minute = next_minute(&clock);
    let first = format!("tick-{minute}");
    until_jobs(&c, std::slice::from_ref(&first)).await;
    let job = c.get(&format!("{JOBS}/{first}")).await.unwrap();
    assert_eq!(job["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    let cron = c
        .until(&format!("{CRONJOBS}/tick"), "active", |cj| {
            cj.is_some_and(|cj| {
                cj["status"]["active"]
                    .as_array()
                    .is_some_and(|a| a.len() == 1)
            })
        })
        .await
        .unwrap();
    let scheduled = Timestamp::from_second(minute * 60).unwrap();
    assert_eq!(
        cron["status"]["lastScheduleTime"],
        orc_client::time::format(scheduled)
    );
    let table = k.run(&["get", "cronjobs"]).await;
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"
        ]
    );
    assert_eq!(
        lines[1][..8],
        ["tick", "*", "*", "*", "*", "*", "UTC", "False"]
    );
    assert_eq!(lines[1][8], "1");
    // The first Job still runs (no node ends its pod): Forbid skips.
    next_minute(&clock);
    let events = c
        .until(
            "/api/v1/namespaces/default/events",
            "JobAlreadyActive",
            |list| list.is_some_and(|l| l.to_string().contains("JobAlreadyActive")),
        )
        .await
        .unwrap();
    assert!(events.to_string().contains(
        "Not starting job because prior execution is running and concurrency policy is Forbid"
    ));
    assert_eq!(job_names(&c).await, [first]);
    // kubectl makes a Job from the template, marked as made by hand.
    k.run(&["create", "job", "by-hand", "--from=cronjob/tick"])
        .await;
    let manual = c.get(&format!("{JOBS}/by-hand")).await.unwrap();
    assert_eq!(
        manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
}

#[tokio::test]
async fn replace_replaces_and_history_limits_trim() {
    let (c, clock, _k) = cluster().await;
    c.create(CRONJOBS, &cronjob("swap", "Replace")).await;
    let first = format!("swap-{}", next_minute(&clock));
    until_jobs(&c, std::slice::from_ref(&first)).await;
    // Still running at the next minute: replaced by the new one.
    let second = format!("swap-{}", next_minute(&clock));
    until_jobs(&c, std::slice::from_ref(&second)).await;
    // Finished Jobs stay up to successfulJobsHistoryLimit (1), oldest go.
    complete(&c, &second).await;
    let patch = json!({"spec": {"concurrencyPolicy": "Allow"}});
    assert_eq!(
        c.merge_patch(&format!("{CRONJOBS}/swap"), &patch).await,
        200
    );
    let third = format!("swap-{}", next_minute(&clock));
    until_jobs(&c, &[second.clone(), third.clone()]).await;
    complete(&c, &third).await;
    until_jobs(&c, std::slice::from_ref(&third)).await;
    let cron = c.get(&format!("{CRONJOBS}/swap")).await.unwrap();
    assert!(cron["status"]["lastSuccessfulTime"].is_string(), "{cron}");
}

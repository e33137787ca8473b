use super::*;

fn t(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn cron(policy: &str, status: Value) -> Value {
    json!({"metadata": {"name": "tick", "namespace": "default", "uid": "c",
            "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"schedule": "*/5 * * * *", "timeZone": "UTC", "concurrencyPolicy": policy,
            "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never"}}}}},
        "status": status})
}

fn job(name: &str, condition: Option<&str>, started: &str) -> Value {
    let conditions: Vec<Value> = condition
        .iter()
        .map(|c| json!({"type": c, "status": "True"}))
        .collect();
    json!({"metadata": {"name": name, "namespace": "default", "uid": format!("u-{name}")},
        "status": {"startTime": started, "conditions": conditions}})
}

#[test]
fn a_due_time_starts_a_job_named_after_it() {
    let d = decide(&cron("Allow", json!({})), &[], t("2024-01-01T00:05:30Z"));
    let created = d.create.unwrap();
    assert_eq!(
        created["metadata"]["name"],
        format!("tick-{}", t("2024-01-01T00:05:00Z").as_second() / 60)
    );
    assert_eq!(
        created["metadata"]["annotations"][SCHEDULED_TIMESTAMP],
        "2024-01-01T00:05:00Z"
    );
    assert_eq!(created["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(d.status["lastScheduleTime"], "2024-01-01T00:05:00Z");
    assert_eq!(d.requeue_after, Some(Duration::from_secs(270)));
}

#[test]
fn forbid_skips_while_a_job_runs_and_replace_replaces_it() {
    let running = [job("tick-old", None, "2024-01-01T00:00:00Z")];
    let status = json!({"lastScheduleTime": "2024-01-01T00:00:00Z"});
    let d = decide(
        &cron("Forbid", status.clone()),
        &running,
        t("2024-01-01T00:05:01Z"),
    );
    assert!(d.create.is_none());
    assert_eq!(d.events[0].reason, "JobAlreadyActive");
    let d = decide(
        &cron("Replace", status),
        &running,
        t("2024-01-01T00:05:01Z"),
    );
    assert!(d.create.is_some());
    assert_eq!(d.delete, ["tick-old"]);
}

#[test]
fn more_than_a_hundred_missed_times_start_nothing() {
    let d = decide(&cron("Allow", json!({})), &[], t("2024-01-02T00:00:00Z"));
    assert!(d.create.is_none());
    assert_eq!(d.events[0].reason, "TooManyMissedTimes");
    // A starting deadline narrows the window to what may still start.
    let mut c = cron("Allow", json!({}));
    c["spec"]["startingDeadlineSeconds"] = json!(200);
    assert!(decide(&c, &[], t("2024-01-02T00:01:00Z")).create.is_some());
}

#[test]
fn history_limits_trim_the_oldest_finished_jobs() {
    let jobs = [
        job("a", Some("Complete"), "2024-01-01T00:00:00Z"),
        job("b", Some("Complete"), "2024-01-01T00:05:00Z"),
        job("c", Some("Failed"), "2024-01-01T00:10:00Z"),
        job("d", Some("Failed"), "2024-01-01T00:15:00Z"),
    ];
    let mut c = cron("Allow", json!({"lastScheduleTime": "2024-01-01T00:15:00Z"}));
    c["spec"]["suspend"] = json!(true);
    let d = decide(&c, &jobs, t("2024-01-01T00:16:00Z"));
    assert_eq!(d.delete, ["a", "c"]);
    assert!(d.create.is_none(), "suspended");
}

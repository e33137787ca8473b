//! The `batch/v1` kinds' admission: Jobs and CronJobs defaulted and
//! validated as Kubernetes' `pkg/apis/batch` does (chapter 05, "A job's
//! life" and "Cron").
//!
//! A Job's selector is not the user's to write: the API server generates
//! it from the Job's own uid (`batch.kubernetes.io/controller-uid`) and
//! puts the same labels on the template, so no two Jobs ever select each
//! other's pods. `manualSelector: true` is the escape hatch.
//!
//! Fields orc does not honour (`backoffLimitPerIndex`, `successPolicy`,
//! ...) are refused here with a 422 naming them, rather than accepted and
//! ignored.

use serde_json::{Value, json};

use crate::status::FieldCause;

/// The label (and selector) that ties a Job to its pods: the Job's uid.
pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
/// The label naming the Job on its pods.
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";

/// Job fields orc refuses rather than ignores, and what to use instead.
const UNSUPPORTED_JOB_FIELDS: &[(&str, &str)] = &[
    ("backoffLimitPerIndex", "use backoffLimit"),
    ("maxFailedIndexes", "use backoffLimit"),
    ("successPolicy", "use completions"),
    ("managedBy", "orc's job controller manages every Job"),
];

/// Sets `obj[key]` to `value` when it is absent or null (Kubernetes'
/// defaulting of a nil field); StatefulSets' defaults use it too.
pub(crate) fn set_default(obj: &mut Value, key: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        let slot = map.entry(key).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

// ANCHOR: job_defaults
/// Kubernetes' `SetDefaults_Job` and the Job strategy's `generateSelector`.
/// `obj` has its uid and name already (the server set them).
pub fn default_job(job: &mut Value) {
    let uid = job.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
    let name = job
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or(Value::Null);
    let Some(spec) = job.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    // A work queue (parallelism without completions) keeps completions unset.
    let unset = |field: &str| spec.get(field).is_none_or(Value::is_null);
    if unset("completions") && unset("parallelism") {
        spec["completions"] = json!(1);
    }
    set_default(spec, "parallelism", json!(1));
    set_default(spec, "backoffLimit", json!(6));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    if spec["manualSelector"] == true || uid.is_null() {
        return;
    }
    set_default(spec, "selector", json!({}));
    set_default(&mut spec["selector"], "matchLabels", json!({}));
    set_default(
        &mut spec["selector"]["matchLabels"],
        CONTROLLER_UID,
        uid.clone(),
    );
    if let Some(template) = spec.get_mut("template").filter(|t| t.is_object()) {
        set_default(template, "metadata", json!({}));
        set_default(&mut template["metadata"], "labels", json!({}));
        let labels = &mut template["metadata"]["labels"];
        for (key, value) in [
            (CONTROLLER_UID, &uid),
            (JOB_NAME, &name),
            ("controller-uid", &uid),
            ("job-name", &name),
        ] {
            set_default(labels, key, value.clone());
        }
    }
}
// ANCHOR_END: job_defaults

/// Kubernetes' `SetDefaults_CronJob`.
pub fn default_cronjob(cronjob: &mut Value) {
    let Some(spec) = cronjob.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    set_default(spec, "concurrencyPolicy", json!("Allow"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "successfulJobsHistoryLimit", json!(3));
    set_default(spec, "failedJobsHistoryLimit", json!(1));
}

/// A Job's rules: the generated selector, the restart policy, counts.
pub fn validate_job(job: &Value, causes: &mut Vec<FieldCause>) {
    let spec = job.get("spec").unwrap_or(&Value::Null);
    validate_job_spec(spec, "spec", causes);
    if spec["manualSelector"] != true {
        let uid = job.pointer("/metadata/uid").cloned().unwrap_or(Value::Null);
        let generated = json!({"matchLabels": {CONTROLLER_UID: uid}});
        if let Some(selector) = spec.get("selector").filter(|s| **s != generated) {
            causes.push(FieldCause::invalid(
                "spec.selector",
                selector,
                "`selector` not auto-generated",
            ));
        }
    }
}

/// The rules a Job's spec and a CronJob's `jobTemplate.spec` share.
fn validate_job_spec(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    for (field, instead) in UNSUPPORTED_JOB_FIELDS {
        if spec.get(*field).is_some_and(|v| !v.is_null()) {
            causes.push(FieldCause::forbidden(
                format!("{path}.{field}"),
                format!("not supported by orc: {instead}"),
            ));
        }
    }
    for field in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        if let Some(v) = spec.get(field).filter(|v| !v.is_null()) {
            let minimum = if field == "activeDeadlineSeconds" {
                1
            } else {
                0
            };
            if v.as_i64().is_none_or(|n| n < minimum) {
                let why = format!("must be greater than or equal to {minimum}");
                causes.push(FieldCause::invalid(format!("{path}.{field}"), v, why));
            }
        }
    }
    let text = |field: &str| spec.get(field).and_then(Value::as_str).unwrap_or("");
    if !matches!(text("completionMode"), "" | "NonIndexed" | "Indexed") {
        causes.push(FieldCause::not_supported(
            format!("{path}.completionMode"),
            text("completionMode"),
            &["NonIndexed", "Indexed"],
        ));
    }
    if text("completionMode") == "Indexed" && spec.get("completions").is_none_or(Value::is_null) {
        causes.push(FieldCause::required(format!("{path}.completions")));
    }
    if !matches!(text("podReplacementPolicy"), "" | "TerminatingOrFailed") {
        causes.push(FieldCause::not_supported(
            format!("{path}.podReplacementPolicy"),
            text("podReplacementPolicy"),
            &["TerminatingOrFailed"],
        ));
    }
    validate_restart_policy(spec, path, causes);
    validate_failure_rules(spec, path, causes);
    crate::validation::validate_template(spec, &format!("{path}.template"), causes);
}

/// Jobs run to completion: `Always` would restart a finished pod forever.
/// A pod failure policy reads failed pods, so it needs `Never`.
fn validate_restart_policy(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    let policy = spec
        .pointer("/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    let field = format!("{path}.template.spec.restartPolicy");
    if !matches!(policy, "OnFailure" | "Never") {
        causes.push(FieldCause::not_supported(
            &field,
            policy,
            &["OnFailure", "Never"],
        ));
    } else if policy == "OnFailure" && spec.get("podFailurePolicy").is_some_and(|p| !p.is_null()) {
        causes.push(FieldCause::invalid(
            field,
            &json!(policy),
            "only \"Never\" is supported when podFailurePolicy is specified",
        ));
    }
}

/// `podFailurePolicy` rules' actions: `FailIndex` needs
/// `backoffLimitPerIndex`, which orc refuses, so it is refused too.
fn validate_failure_rules(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    let rules = spec
        .pointer("/podFailurePolicy/rules")
        .and_then(Value::as_array);
    for (i, rule) in rules.into_iter().flatten().enumerate() {
        let action = rule["action"].as_str().unwrap_or("");
        if !matches!(action, "FailJob" | "Ignore" | "Count") {
            causes.push(FieldCause::not_supported(
                format!("{path}.podFailurePolicy.rules[{i}].action"),
                action,
                &["Count", "FailJob", "Ignore"],
            ));
        }
    }
}

/// On update: what a running Job may not change.
pub fn validate_job_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    for field in ["selector", "template", "completionMode"] {
        let pointer = format!("/spec/{field}");
        if old.pointer(&pointer) != new.pointer(&pointer) {
            causes.push(FieldCause::invalid(
                format!("spec.{field}"),
                new.pointer(&pointer).unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
    }
}

// ANCHOR: cronjob_validation
/// A CronJob's schedule, time zone, policy and job template.
pub fn validate_cronjob(cronjob: &Value, causes: &mut Vec<FieldCause>) {
    let spec = cronjob.get("spec").unwrap_or(&Value::Null);
    match spec.get("schedule").and_then(Value::as_str) {
        None | Some("") => causes.push(FieldCause::required("spec.schedule")),
        Some(s) if s.contains("TZ") => causes.push(FieldCause::invalid(
            "spec.schedule",
            &json!(s),
            "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        )),
        Some(s) => {
            if let Err(e) = orc_client::cron::Schedule::parse(s) {
                causes.push(FieldCause::invalid(
                    "spec.schedule",
                    &json!(s),
                    e.to_string(),
                ));
            }
        }
    }
    if let Some(zone) = spec.get("timeZone").and_then(Value::as_str) {
        if jiff::tz::TimeZone::get(zone).is_err() {
            let why = "unknown time zone ".to_string() + zone;
            causes.push(FieldCause::invalid("spec.timeZone", &json!(zone), why));
        }
    }
    let policy = spec
        .get("concurrencyPolicy")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !matches!(policy, "Allow" | "Forbid" | "Replace") {
        causes.push(FieldCause::not_supported(
            "spec.concurrencyPolicy",
            policy,
            &["Allow", "Forbid", "Replace"],
        ));
    }
    for field in [
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ] {
        if let Some(v) = spec.get(field).filter(|v| !v.is_null()) {
            if v.as_i64().is_none_or(|n| n < 0) {
                let why = "must be greater than or equal to 0";
                causes.push(FieldCause::invalid(format!("spec.{field}"), v, why));
            }
        }
    }
    let job_spec = spec.pointer("/jobTemplate/spec").unwrap_or(&Value::Null);
    validate_job_spec(job_spec, "spec.jobTemplate.spec", causes);
}
// ANCHOR_END: cronjob_validation

#[cfg(test)]
mod tests {
    use super::*;

    fn job(spec: Value) -> Value {
        json!({"metadata": {"name": "pi", "uid": "u1"}, "spec": spec})
    }

    fn template(policy: &str) -> Value {
        json!({"spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "busybox"}]}})
    }

    #[test]
    fn a_job_gets_its_selector_from_its_uid() {
        let mut j = job(json!({"template": template("Never")}));
        default_job(&mut j);
        assert_eq!(j["spec"]["selector"]["matchLabels"][CONTROLLER_UID], "u1");
        assert_eq!(j["spec"]["template"]["metadata"]["labels"][JOB_NAME], "pi");
        assert_eq!(j["spec"]["completions"], 1);
        let mut causes = Vec::new();
        validate_job(&j, &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn a_work_queue_keeps_completions_unset() {
        let mut j = job(json!({"parallelism": 3, "template": template("Never")}));
        default_job(&mut j);
        assert!(j["spec"].get("completions").is_none());
    }

    #[test]
    fn a_written_selector_needs_manual_selector() {
        let sel = json!({"matchLabels": {"app": "x"}});
        let mut j = job(json!({"selector": sel, "template": template("Never")}));
        default_job(&mut j);
        let mut causes = Vec::new();
        validate_job(&j, &mut causes);
        assert_eq!(causes[0].field, "spec.selector");
        assert!(causes[0].message.ends_with("`selector` not auto-generated"));
    }

    #[test]
    fn restart_policy_always_and_unsupported_fields_are_refused() {
        let mut j = job(json!({"template": template("Always"), "successPolicy": {}}));
        default_job(&mut j);
        let mut causes = Vec::new();
        validate_job(&j, &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.successPolicy", "spec.template.spec.restartPolicy"]
        );
        assert!(
            causes[1]
                .message
                .contains(r#"supported values: "OnFailure", "Never""#)
        );
    }

    #[test]
    fn fail_index_is_refused_with_its_field() {
        let policy = json!({"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [1]}}]});
        let mut j = job(json!({"template": template("Never"), "podFailurePolicy": policy}));
        default_job(&mut j);
        let mut causes = Vec::new();
        validate_job(&j, &mut causes);
        assert_eq!(causes[0].field, "spec.podFailurePolicy.rules[0].action");
    }

    #[test]
    fn a_template_cannot_change() {
        let old = job(json!({"template": template("Never")}));
        let new = job(json!({"template": template("OnFailure")}));
        let mut causes = Vec::new();
        validate_job_update(&old, &new, &mut causes);
        assert_eq!(causes[0].field, "spec.template");
    }

    #[test]
    fn cron_schedules_and_zones_are_checked() {
        let cron = |schedule: &str, zone: &str| {
            let mut c = json!({"spec": {"schedule": schedule, "timeZone": zone,
                "jobTemplate": {"spec": {"template": template("OnFailure")}}}});
            default_cronjob(&mut c);
            let mut causes = Vec::new();
            validate_cronjob(&c, &mut causes);
            causes.into_iter().map(|c| c.field).collect::<Vec<_>>()
        };
        assert!(cron("*/5 * * * *", "Europe/Paris").is_empty());
        assert!(cron("@hourly", "UTC").is_empty());
        assert_eq!(cron("61 * * * *", "UTC"), ["spec.schedule"]);
        assert_eq!(cron("* * * * *", "Mars/Olympus"), ["spec.timeZone"]);
        assert_eq!(cron("CRON_TZ=UTC * * * * *", "UTC"), ["spec.schedule"]);
    }
}

//! Rows of the workload controllers: deployments, replica sets, daemon sets
//! and jobs. Each shows counts from its status, and with `-o wide` the
//! containers and images of its pod template and its selector.

use serde_json::{Value, json};

use super::{
    AGE, Column, NAME, Printer, age, col, containers_and_images, format_labels, format_selector,
    int, items, name, since, text, wide,
};

const TEMPLATE: [Column; 3] = [wide("Containers"), wide("Images"), wide("Selector")];

/// The wide cells every workload shares: its template's containers and
/// images, and its selector.
fn template_cells(obj: &Value) -> [Value; 3] {
    let [containers, images] =
        containers_and_images(obj.pointer("/spec/template/spec").unwrap_or(&Value::Null));
    let selector = format_selector(obj.pointer("/spec/selector"));
    [containers, images, json!(selector)]
}

pub(super) const DEPLOYMENT: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string"),
        col("Up-to-date", "string"),
        col("Available", "string"),
        AGE,
        TEMPLATE[0],
        TEMPLATE[1],
        TEMPLATE[2],
    ],
    cells: |d| {
        let mut cells = vec![
            name(d),
            json!(format!(
                "{}/{}",
                int(d, "/status/readyReplicas"),
                int(d, "/spec/replicas")
            )),
            json!(int(d, "/status/updatedReplicas")),
            json!(int(d, "/status/availableReplicas")),
            age(d),
        ];
        cells.extend(template_cells(d));
        cells
    },
};

pub(super) const REPLICA_SET: Printer = Printer {
    columns: &[
        NAME,
        col("Desired", "integer"),
        col("Current", "integer"),
        col("Ready", "integer"),
        AGE,
        TEMPLATE[0],
        TEMPLATE[1],
        TEMPLATE[2],
    ],
    cells: |rs| {
        let mut cells = vec![
            name(rs),
            json!(int(rs, "/spec/replicas")),
            json!(int(rs, "/status/replicas")),
            json!(int(rs, "/status/readyReplicas")),
            age(rs),
        ];
        cells.extend(template_cells(rs));
        cells
    },
};

pub(super) const DAEMON_SET: Printer = Printer {
    columns: &[
        NAME,
        col("Desired", "integer"),
        col("Current", "integer"),
        col("Ready", "integer"),
        col("Up-to-date", "integer"),
        col("Available", "integer"),
        col("Node Selector", "string"),
        AGE,
        TEMPLATE[0],
        TEMPLATE[1],
        TEMPLATE[2],
    ],
    cells: |ds| {
        let mut cells = vec![name(ds)];
        for field in [
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberReady",
            "updatedNumberScheduled",
            "numberAvailable",
        ] {
            cells.push(json!(int(ds, &format!("/status/{field}"))));
        }
        cells.push(json!(format_labels(
            ds.pointer("/spec/template/spec/nodeSelector")
        )));
        cells.push(age(ds));
        cells.extend(template_cells(ds));
        cells
    },
};

/// A ControllerRevision: which object it is a revision of
/// (`daemonset.apps/web`, Kubernetes' lower-cased `Kind.group/name`) and
/// its number.
pub(super) const CONTROLLER_REVISION: Printer = Printer {
    columns: &[
        NAME,
        col("Controller", "string"),
        col("Revision", "integer"),
        AGE,
    ],
    cells: |cr| {
        let controller = items(cr, "/metadata/ownerReferences")
            .find(|r| r["controller"] == true)
            .map(|r| {
                let group = r["apiVersion"]
                    .as_str()
                    .and_then(|v| v.split_once('/'))
                    .map(|(group, _)| format!(".{group}"))
                    .unwrap_or_default();
                let kind = r["kind"].as_str().unwrap_or("");
                let name = r["name"].as_str().unwrap_or("");
                format!("{}{group}/{name}", kind.to_lowercase())
            })
            .unwrap_or_else(|| "<none>".into());
        vec![
            name(cr),
            json!(controller),
            json!(int(cr, "/revision")),
            age(cr),
        ]
    },
};

/// A job's STATUS: its terminal condition if it has one, else what it is
/// doing (Kubernetes ≥ 1.30 shows this column).
fn job_status(job: &Value) -> &'static str {
    let has = |kind: &str| {
        items(job, "/status/conditions").any(|c| c["type"] == kind && c["status"] == "True")
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if job.pointer("/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

/// `1/3`, or for a job without `completions` `1/1 of 4` (a work queue
/// with parallelism 4: any one success completes it).
fn job_completions(job: &Value) -> String {
    let succeeded = int(job, "/status/succeeded");
    match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => format!("{succeeded}/{n}"),
        None => match int(job, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

/// How long the job ran (until now if it has not finished); empty before
/// it started.
fn job_duration(job: &Value) -> String {
    let at = |p: &str| orc_client::time::at(job, p);
    match (at("/status/startTime"), at("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(_), None) => since(job, "/status/startTime"),
        (Some(start), Some(end)) => {
            super::human_duration(orc_client::time::seconds_between(start, end))
        }
    }
}

pub(super) const JOB: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string"),
        col("Completions", "string"),
        col("Duration", "string"),
        AGE,
        TEMPLATE[0],
        TEMPLATE[1],
        TEMPLATE[2],
    ],
    cells: |job| {
        let mut cells = vec![
            name(job),
            json!(job_status(job)),
            json!(job_completions(job)),
            json!(job_duration(job)),
            age(job),
        ];
        cells.extend(template_cells(job));
        cells
    },
};

/// Kubernetes' `printCronJob`: unset fields print `<none>`.
pub(super) const CRON_JOB: Printer = Printer {
    columns: &[
        NAME,
        col("Schedule", "string"),
        col("Timezone", "string"),
        col("Suspend", "boolean"),
        col("Active", "integer"),
        col("Last Schedule", "string"),
        AGE,
        TEMPLATE[0],
        TEMPLATE[1],
        TEMPLATE[2],
    ],
    cells: |cj| {
        let suspend = match cj.pointer("/spec/suspend").and_then(Value::as_bool) {
            Some(true) => "True",
            Some(false) => "False",
            None => "<unset>",
        };
        let last = match cj.pointer("/status/lastScheduleTime") {
            Some(_) => since(cj, "/status/lastScheduleTime"),
            None => "<none>".to_string(),
        };
        let job = cj.pointer("/spec/jobTemplate").unwrap_or(&Value::Null);
        let mut cells = vec![
            name(cj),
            json!(text(cj, "/spec/schedule", "")),
            json!(text(cj, "/spec/timeZone", "<none>")),
            json!(suspend),
            json!(items(cj, "/status/active").count()),
            json!(last),
            age(cj),
        ];
        cells.extend(template_cells(job));
        if cells[9] == "" {
            cells[9] = json!("<none>");
        }
        cells
    },
};

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::*;

    #[test]
    fn deployments_show_template_and_selector_when_wide() {
        let d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
        let c = cells("Deployment", d);
        assert_eq!(c[1..4], [json!("2/3"), json!(3), json!(2)]);
        assert_eq!(
            c[5..],
            [
                json!("nginx,log"),
                json!("nginx:1.25,busybox"),
                json!("app=web")
            ]
        );
    }

    #[test]
    fn jobs_show_status_completions_and_duration() {
        let job = json!({"metadata": {"name": "pi"}, "spec": {"completions": 3},
            "status": {"succeeded": 3, "startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T00:00:42Z",
                "conditions": [{"type": "Complete", "status": "True"}]}});
        let c = cells("Job", job);
        assert_eq!(c[1..4], [json!("Complete"), json!("3/3"), json!("42s")]);
        let queue = json!({"metadata": {"name": "q"}, "spec": {"parallelism": 4}});
        assert_eq!(
            cells("Job", queue)[1..4],
            [json!("Running"), json!("0/1 of 4"), json!("")]
        );
    }

    #[test]
    fn cron_jobs_show_none_for_what_is_unset() {
        let cj = json!({"metadata": {"name": "hello"}, "spec": {"schedule": "*/1 * * * *", "suspend": false,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}},
            "status": {"active": [{"name": "hello-1"}]}});
        let c = cells("CronJob", cj);
        assert_eq!(
            c[1..6],
            [
                json!("*/1 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("<none>")
            ]
        );
        assert_eq!(c[9], "<none>");
    }

    #[test]
    fn daemon_sets_show_node_selector() {
        let ds = json!({"metadata": {"name": "agent"}, "spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}});
        assert_eq!(cells("DaemonSet", ds)[6], "disk=ssd");
    }
}

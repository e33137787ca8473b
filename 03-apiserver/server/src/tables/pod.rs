//! The pod row: READY, STATUS and RESTARTS as Kubernetes computes them.
//!
//! STATUS is not a field of the pod. It starts as the phase (`Running`),
//! is replaced by the pod's `status.reason` (`Evicted`), then by what the
//! containers say: the first init container that has not finished
//! (`Init:0/1`, `Init:CrashLoopBackOff`), or else the last app container
//! that is waiting or terminated (`CrashLoopBackOff`, `ErrImagePull`,
//! `Completed`, `ExitCode:1`). A pod being deleted reads `Terminating`.
//! RESTARTS adds how long ago the last restart was: `2 (5s ago)`.

use jiff::Timestamp;
use orc_client::time;
use serde_json::{Value, json};

use super::{AGE, Column, NAME, Printer, age, col, int, items, name, text, wide};

pub(super) const PRINTER: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string"),
        col("Status", "string"),
        col("Restarts", "string"),
        AGE,
        wide("IP"),
        wide("Node"),
        wide("Nominated Node"),
        wide("Readiness Gates"),
    ] as &[Column],
    cells,
};

/// The reason a container gives for its state, Kubernetes' order of
/// precedence: waiting, then terminated (with an exit code or signal when
/// there is no reason). `None` for a running (or unknown) container.
fn container_reason(state: &Value, prefix: &str) -> Option<String> {
    if let Some(reason) = state.pointer("/waiting/reason").and_then(Value::as_str) {
        return (!reason.is_empty()).then(|| format!("{prefix}{reason}"));
    }
    let terminated = state.get("terminated")?;
    match terminated["reason"].as_str() {
        Some(reason) if !reason.is_empty() => Some(format!("{prefix}{reason}")),
        _ if int(terminated, "/signal") != 0 => {
            Some(format!("{prefix}Signal:{}", int(terminated, "/signal")))
        }
        _ => Some(format!("{prefix}ExitCode:{}", int(terminated, "/exitCode"))),
    }
}

/// Whether the pod's condition `kind` is `True`.
fn condition_true(pod: &Value, kind: &str) -> bool {
    items(pod, "/status/conditions").any(|c| c["type"] == kind && c["status"] == "True")
}

/// What the pod's row says about its containers.
struct Summary {
    /// The STATUS cell.
    reason: String,
    /// Ready containers, and all that count: app containers plus sidecars
    /// (init containers with `restartPolicy: Always`, which keep running).
    ready: usize,
    total: usize,
    /// Restarts, and when the last restarted container had finished.
    restarts: i64,
    last_restart: Option<Timestamp>,
}

/// When a container's previous run finished, if it has one.
fn finished(status: &Value) -> Option<Timestamp> {
    time::at(status, "/lastState/terminated/finishedAt")
}

// ANCHOR: pod_status
fn summary(pod: &Value) -> Summary {
    let phase = text(pod, "/status/phase", "");
    let mut reason = text(pod, "/status/reason", &phase);
    if items(pod, "/status/conditions")
        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }
    let sidecars: Vec<&str> = items(pod, "/spec/initContainers")
        .filter(|c| c["restartPolicy"] == "Always")
        .filter_map(|c| c["name"].as_str())
        .collect();
    let mut s = Summary {
        reason,
        ready: 0,
        total: items(pod, "/spec/containers").count() + sidecars.len(),
        restarts: 0,
        last_restart: None,
    };
    let (initializing, sidecar_restarts, sidecar_last) = init_containers(pod, &sidecars, &mut s);
    if !initializing || condition_true(pod, "Initialized") {
        // Past initialization only sidecars' restarts count from the init
        // containers.
        (s.restarts, s.last_restart) = (sidecar_restarts, sidecar_last);
        app_containers(pod, &mut s);
    }
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        if text(pod, "/status/reason", "") == "NodeLost" {
            s.reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            s.reason = "Terminating".into();
        }
    }
    s
}
// ANCHOR_END: pod_status

// ANCHOR: init_containers
/// The init containers: the first one that has not succeeded decides the
/// STATUS (`Init:0/2`, `Init:CrashLoopBackOff`), and a started sidecar
/// counts as ready. Adds every init container's restarts to `s`; answers
/// whether the pod is still initializing, and the sidecars' own restarts
/// and last restart.
fn init_containers(
    pod: &Value,
    sidecars: &[&str],
    s: &mut Summary,
) -> (bool, i64, Option<Timestamp>) {
    let init_total = items(pod, "/spec/initContainers").count();
    let (mut sidecar_restarts, mut sidecar_last) = (0, None);
    for (i, c) in items(pod, "/status/initContainerStatuses").enumerate() {
        s.restarts += int(c, "/restartCount");
        s.last_restart = s.last_restart.max(finished(c));
        let sidecar = sidecars.contains(&c["name"].as_str().unwrap_or_default());
        if sidecar {
            sidecar_restarts += int(c, "/restartCount");
            sidecar_last = sidecar_last.max(finished(c));
        }
        if c.pointer("/state/terminated/exitCode") == Some(&json!(0)) {
            continue;
        }
        if sidecar && c["started"] == true {
            s.ready += usize::from(c["ready"] == true);
            continue;
        }
        s.reason = match container_reason(&c["state"], "Init:") {
            Some(r) if r != "Init:PodInitializing" => r,
            _ => format!("Init:{i}/{init_total}"),
        };
        return (true, sidecar_restarts, sidecar_last);
    }
    (false, sidecar_restarts, sidecar_last)
}
// ANCHOR_END: init_containers

// ANCHOR: app_containers
/// The app containers: restarts, ready ones, and the reason of the first
/// one that is waiting or terminated (read backwards, so the first wins).
fn app_containers(pod: &Value, s: &mut Summary) {
    let mut running = false;
    let statuses: Vec<&Value> = items(pod, "/status/containerStatuses").collect();
    for c in statuses.into_iter().rev() {
        s.restarts += int(c, "/restartCount");
        s.last_restart = s.last_restart.max(finished(c));
        if let Some(r) = container_reason(&c["state"], "") {
            s.reason = r;
        } else if c["ready"] == true && c.pointer("/state/running").is_some() {
            running = true;
            s.ready += 1;
        }
    }
    // A finished container next to a running one: the pod still runs.
    if s.reason == "Completed" && running {
        s.reason = if condition_true(pod, "Ready") {
            "Running".into()
        } else {
            "NotReady".into()
        };
    }
}
// ANCHOR_END: app_containers

/// `0`, or `2 (5s ago)` when a container's last termination is known.
fn restarts(s: &Summary) -> String {
    match s.last_restart {
        Some(finished) if s.restarts != 0 => format!(
            "{} ({} ago)",
            s.restarts,
            super::human_duration(time::seconds_between(finished, Timestamp::now()))
        ),
        _ => s.restarts.to_string(),
    }
}

fn cells(pod: &Value) -> Vec<Value> {
    let s = summary(pod);
    let gates: Vec<&str> = items(pod, "/spec/readinessGates")
        .filter_map(|g| g["conditionType"].as_str())
        .collect();
    let gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let met = gates.iter().filter(|g| condition_true(pod, g)).count();
        format!("{met}/{}", gates.len())
    };
    vec![
        name(pod),
        json!(format!("{}/{}", s.ready, s.total)),
        json!(s.reason),
        json!(restarts(&s)),
        age(pod),
        // Kubernetes keeps `podIPs` in step with `podIP`; orc's agent writes
        // only `podIP`, so it is the fallback.
        json!(text(
            pod,
            "/status/podIPs/0/ip",
            &text(pod, "/status/podIP", "<none>")
        )),
        json!(text(pod, "/spec/nodeName", "<none>")),
        json!(text(pod, "/status/nominatedNodeName", "<none>")),
        json!(gates),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::*;

    fn pod(status: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"containers": [{}, {}]}, "status": status})
    }

    #[test]
    fn ready_status_restarts() {
        let running = json!({"running": {}});
        let c = cells(
            "Pod",
            pod(json!({"phase": "Running", "containerStatuses": [
                {"ready": true, "restartCount": 2, "state": running},
                {"ready": false, "restartCount": 1, "state": running}]})),
        );
        assert_eq!(
            c[..4],
            [json!("web"), json!("1/2"), json!("Running"), json!("3")]
        );
        assert_eq!(
            c[5..],
            [
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn restarts_say_how_long_ago() {
        let finished = time::format(time::add_seconds(Timestamp::now(), -5));
        let c = cells(
            "Pod",
            pod(json!({"phase": "Running", "containerStatuses": [
                {"restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": finished}}}]})),
        );
        assert_eq!(c[2], "CrashLoopBackOff");
        let restarts = c[3].as_str().unwrap();
        assert!(
            restarts == "2 (5s ago)" || restarts == "2 (6s ago)",
            "{restarts}"
        );
    }

    #[test]
    fn init_containers_and_exit_codes() {
        let waiting = json!({"waiting": {"reason": "PodInitializing"}});
        let mut p = pod(json!({"phase": "Pending",
            "initContainerStatuses": [{"state": {"terminated": {"exitCode": 0}}}, {"state": {"running": {}}}],
            "containerStatuses": [{"state": waiting}]}));
        p["spec"]["initContainers"] = json!([{}, {}]);
        assert_eq!(cells("Pod", p)[2], "Init:1/2");
        let exited = pod(json!({"phase": "Failed", "containerStatuses": [
            {"state": {"terminated": {"exitCode": 3}}}]}));
        assert_eq!(cells("Pod", exited)[2], "ExitCode:3");
        // A sidecar counts as a container; its restarts stay, a finished
        // init container's do not.
        let mut sidecar = pod(
            json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [
                {"name": "setup", "restartCount": 4, "state": {"terminated": {"exitCode": 0}}},
                {"name": "proxy", "restartCount": 1, "started": true, "ready": true, "state": {"running": {}}}],
            "containerStatuses": [{"ready": true, "restartCount": 0, "state": {"running": {}}}]}),
        );
        sidecar["spec"]["initContainers"] =
            json!([{"name": "setup"}, {"name": "proxy", "restartPolicy": "Always"}]);
        sidecar["spec"]["containers"] = json!([{}]);
        assert_eq!(
            cells("Pod", sidecar)[1..4],
            [json!("2/2"), json!("Running"), json!("1")]
        );
        let mut deleting = pod(json!({"phase": "Running"}));
        deleting["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        assert_eq!(cells("Pod", deleting)[2], "Terminating");
    }
}

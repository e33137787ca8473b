//! Turning what was observed into the pod's Kubernetes status.
//!
//! Written to `pods/<uid>/status.json` at every sync (only when it
//! changed). `orc-agent pods` renders these files like `kubectl get pods`.
//! The same objects also go to every [`StatusSink`] the agent was given:
//! chapter 03's sends them to the API server as each pod's `status`
//! subresource, as the kubelet's status manager does.

use std::net::Ipv4Addr;

use jiff::Timestamp;

use super::Shared;
use super::layout::{StateLayout, write_atomic};
use super::sync::{ObservedPod, PodPlan, RunState, Waiting};
use crate::pod_spec::{Container, Pod};
use crate::probes::ProbeKind;
use crate::shim;
use crate::status::{self, ContainerState, ContainerStatus, Phase, PodStatus};
use std::collections::HashMap;

/// Every pod the agent wrote a status for, sorted by `namespace/name`:
/// what `orc-agent pods` lists (it reads the files; no agent needs to run).
pub fn read_statuses(layout: &StateLayout) -> Vec<(Pod, PodStatus)> {
    let read = |path: std::path::PathBuf| std::fs::read(path).ok();
    let mut pods: Vec<(Pod, PodStatus)> = std::fs::read_dir(layout.pods())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let uid = entry.file_name().to_string_lossy().to_string();
            let pod = serde_json::from_slice(&read(layout.pod_spec(&uid))?).ok()?;
            let status = serde_json::from_slice(&read(layout.pod_status(&uid))?).ok()?;
            Some((pod, status))
        })
        .collect();
    pods.sort_by_key(|(pod, _)| pod.full_name());
    pods
}

// ANCHOR: status_sink
/// Where pod statuses go besides their files: the seam chapter 03 plugs
/// the API server into. Both calls come from the sync loop, so they must
/// return at once: a sink that talks to a server queues the work.
pub trait StatusSink: Send + Sync {
    /// `pod`'s status differs from the one last handed over (every pod's
    /// status is handed over once after the agent starts, so a restarted
    /// agent repairs whatever it missed).
    fn status_changed(&self, pod: &Pod, status: &PodStatus);
    /// A pod its source reported as terminating has nothing left on the
    /// node: no container, no address, no directory. Called at every sync
    /// while the source still reports it (level, not edge), so a sink that
    /// lost the call to a restart gets it again.
    fn pod_terminated(&self, uid: &str);
}
// ANCHOR_END: status_sink

/// Computes the pod's status and writes it (and the pod spec) to disk;
/// returns the status (`None` when the pod's directory cannot be made).
pub fn write_status(
    shared: &Shared,
    pod: &Pod,
    observed: &ObservedPod,
    plan: &PodPlan,
    pod_ip: Option<Ipv4Addr>,
) -> Option<PodStatus> {
    let uid = &pod.metadata.uid;
    let dir = shared.layout.pod(uid);
    if std::fs::create_dir_all(&dir).is_err() {
        return None;
    }
    let spec_path = shared.layout.pod_spec(uid);
    if !spec_path.exists() {
        let json = serde_json::to_vec_pretty(pod).unwrap_or_default();
        let _ = write_atomic(&spec_path, &json);
    }
    let mut status = pod_status(shared, pod, observed, plan, pod_ip);
    let path = shared.layout.pod_status(uid);
    // A pod that has ended keeps the address it had, though its sandbox
    // (and the address with it) is gone: the kubelet copies the IPs of
    // the previous status then (kubernetes#47806, again since #125404),
    // so `kubectl describe pod` and `get -o wide` still say where it ran.
    // Services never send to it: endpoints skip finished pods.
    if status.pod_ip.is_none() && matches!(status.phase, Phase::Succeeded | Phase::Failed) {
        status.pod_ip = std::fs::read(&path)
            .ok()
            .and_then(|json| serde_json::from_slice::<PodStatus>(&json).ok())
            .and_then(|previous| previous.pod_ip);
    }
    let json = serde_json::to_vec_pretty(&status).unwrap_or_default();
    if std::fs::read(&path).ok().as_deref() != Some(json.as_slice()) {
        let _ = write_atomic(&path, &json);
    }
    Some(status)
}

// ANCHOR: pod_status
/// The status of a desired pod from what the runtime reports, the sync's
/// plan (for waiting reasons) and the readiness probes.
pub fn pod_status(
    shared: &Shared,
    pod: &Pod,
    observed: &ObservedPod,
    plan: &PodPlan,
    pod_ip: Option<Ipv4Addr>,
) -> PodStatus {
    let uid = &pod.metadata.uid;
    let sandbox_ready = observed.sandbox.as_ref().is_some_and(|s| s.running);
    let start_errors = shared
        .start_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let budget = super::termination_message::budget(
        pod.spec.init_containers.len() + pod.spec.containers.len(),
    );
    let status_of =
        |c: &Container| container_status(shared, pod, c, observed, plan, &start_errors, budget);
    let init: Vec<ContainerStatus> = pod.spec.init_containers.iter().map(status_of).collect();
    let containers: Vec<ContainerStatus> = pod.spec.containers.iter().map(status_of).collect();
    let sandbox_started = shim::read_started(&shared.layout.pod(uid).join("sandbox"));
    // Sidecars apart from the init containers that run to completion:
    // their readiness counts with the app containers'.
    let (sidecars, to_complete): (Vec<_>, Vec<_>) = pod
        .spec
        .init_containers
        .iter()
        .zip(init.iter().cloned())
        .partition(|(c, _)| c.is_sidecar());
    let sidecars: Vec<ContainerStatus> = sidecars.into_iter().map(|(_, s)| s).collect();
    let to_complete: Vec<ContainerStatus> = to_complete.into_iter().map(|(_, s)| s).collect();
    // Initialized: each init container completed and each sidecar
    // started, or (later) an app container has run, after which a sidecar
    // that restarts does not take the condition back.
    let app_ran = pod
        .spec
        .containers
        .iter()
        .any(|c| observed.containers.contains_key(&c.name));
    let initialized = app_ran
        || (to_complete.iter().all(status::completed)
            && sidecars.iter().all(|s| s.started == Some(true)));
    let counted: Vec<ContainerStatus> = sidecars.into_iter().chain(containers.clone()).collect();
    PodStatus {
        phase: status::pod_phase_with_init(
            pod.spec.restart_policy,
            initialized,
            &to_complete,
            &containers,
        ),
        conditions: status::conditions(sandbox_ready, initialized, &counted),
        pod_ip: pod_ip.map(|ip| ip.to_string()),
        start_time: sandbox_started.map(metav1_time),
        init_container_statuses: init,
        container_statuses: containers,
    }
}

/// One container's status (app or init) from its latest run, the plan's
/// waiting reasons and the last start error. `budget`: the most bytes of
/// termination message each run may report.
fn container_status(
    shared: &Shared,
    pod: &Pod,
    c: &Container,
    observed: &ObservedPod,
    plan: &PodPlan,
    start_errors: &HashMap<(String, String), Waiting>,
    budget: usize,
) -> ContainerStatus {
    let uid = &pod.metadata.uid;
    let run = observed.containers.get(&c.name);
    let attempt = run.map(|r| r.attempt).unwrap_or(0);
    // How run `n` ended, with what it said about it.
    let ended = |n: u32, exit_code: i32, oom_killed: bool, finished_at: Timestamp| {
        let bundle = shared.layout.bundle(uid, &c.name, n);
        let log = shared.layout.log(uid, &c.name, n);
        let message = super::termination_message::read(&bundle, &log, c, exit_code, budget);
        let started_at = shim::read_started(&bundle);
        terminated(exit_code, oom_killed, started_at, finished_at, message)
    };
    // The previous run's end, from the exit record the shim left.
    let last_state = attempt.checked_sub(1).and_then(|prev| {
        let exit = shim::read_exit(&shared.layout.bundle(uid, &c.name, prev))?;
        Some(ended(
            prev,
            exit.exit_code,
            exit.oom_killed,
            exit.finished_at,
        ))
    });
    // A failed start (ErrImagePull...) says more than "ContainerCreating";
    // but once the plan has decided after a failed postStart hook (a
    // back-off), its word is the newer one, as in the kubelet.
    let start_error = start_errors.get(&(uid.clone(), c.name.clone()));
    let waiting = match (start_error, plan.waiting.get(&c.name)) {
        (Some(e), Some(w)) if e.reason == super::actions::POST_START_HOOK_ERROR => Some(w),
        (e, w) => e.or(w),
    };
    let mut started = false;
    let in_post_start = run.is_some_and(|r| shared.hooks.post_start_running(&r.id));
    let (state, last_state, ready) = match (run.map(|r| &r.state), waiting) {
        // Its process runs, but the postStart hook has not returned: the
        // kubelet's sync of the pod has not finished, so it still reports
        // the container as being created.
        (Some(RunState::Running { .. }), _) if in_post_start => (
            ContainerState::Waiting {
                reason: "ContainerCreating".into(),
                message: None,
            },
            last_state,
            false,
        ),
        (Some(RunState::Running { started_at }), _) => {
            let id = &run.expect("some").id;
            let key = |kind| super::probe_key(pod, &c.name, id, kind);
            // Not started while the startup probe has not passed; not
            // ready before it has started, whatever readiness says.
            started = match &c.startup_probe {
                None => true,
                Some(_) => {
                    let counter = shared.prober.counter(&key(ProbeKind::Startup));
                    counter.and_then(|c| c.started()) == Some(true)
                }
            };
            let ready = started
                && match &c.readiness_probe {
                    None => true,
                    Some(_) => shared.prober.passing(&key(ProbeKind::Readiness)) == Some(true),
                };
            (
                ContainerState::Running {
                    started_at: metav1_time(*started_at),
                },
                last_state,
                ready,
            )
        }
        (
            Some(RunState::Exited {
                exit_code,
                oom_killed,
                finished_at,
                ..
            }),
            Some(w),
        ) => {
            // Waiting to restart: the run that just ended is the last state.
            let state = ContainerState::Waiting {
                reason: w.reason.clone(),
                message: (!w.message.is_empty()).then(|| w.message.clone()),
            };
            (
                state,
                Some(ended(attempt, *exit_code, *oom_killed, *finished_at)),
                false,
            )
        }
        (
            Some(RunState::Exited {
                exit_code,
                oom_killed,
                finished_at,
                ..
            }),
            None,
        ) => {
            let state = ended(attempt, *exit_code, *oom_killed, *finished_at);
            (state, last_state, false)
        }
        (_, Some(w)) => (
            ContainerState::Waiting {
                reason: w.reason.clone(),
                message: (!w.message.is_empty()).then(|| w.message.clone()),
            },
            last_state,
            false,
        ),
        (_, None) => (
            ContainerState::Waiting {
                reason: super::init_containers::not_started_reason(pod).into(),
                message: None,
            },
            last_state,
            false,
        ),
    };
    let mut status = ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        state,
        last_state,
        ready,
        started: Some(started),
        restart_count: attempt,
        container_id: run.map(|r| format!("orc://{}", r.id)),
    };
    // An init container that runs to completion is ready once it has
    // completed; a sidecar is ready as an app container is.
    let to_complete = pod.spec.init_containers.iter().any(|i| i.name == c.name);
    if to_complete && !c.is_sidecar() {
        status.ready = status::completed(&status);
    }
    status
}
// ANCHOR_END: pod_status

fn terminated(
    exit_code: i32,
    oom_killed: bool,
    started_at: Option<Timestamp>,
    finished_at: Timestamp,
    message: Option<String>,
) -> ContainerState {
    ContainerState::Terminated {
        exit_code,
        reason: status::termination_reason(exit_code, oom_killed).into(),
        started_at: started_at.map(metav1_time),
        finished_at: metav1_time(finished_at),
        message,
    }
}

/// A timestamp as Kubernetes writes `metav1.Time`: RFC 3339 in UTC, whole
/// seconds (`2024-05-01T12:00:00Z`). Go's `time.RFC3339` drops the
/// fraction; precision 0 in jiff's formatter truncates it the same way.
/// (Chapter 03's `orc_client::time::format` is the same rule for the API's
/// objects; this chapter comes before that crate.)
fn metav1_time(time: Timestamp) -> String {
    format!("{time:.0}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_write_whole_seconds_in_utc() {
        let t = Timestamp::new(1_714_564_800, 999_999_999).unwrap();
        assert_eq!(metav1_time(t), "2024-05-01T12:00:00Z");
        assert_eq!(metav1_time(Timestamp::UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }
}

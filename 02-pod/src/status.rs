//! Pod status as Kubernetes reports it: phase, conditions, container states.
//!
//! The agent never stores a status it has to keep up to date: it computes
//! one from what the runtime reports at every sync ([`pod_phase`],
//! [`conditions`]) and writes it to `pods/<uid>/status.json`, where
//! `orc-agent pods` reads it. Chapter 03 sends the same JSON to the API.

use serde::{Deserialize, Serialize};

use crate::pod_spec::RestartPolicy;

/// The pod's lifecycle summary, with Kubernetes' meaning of each value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Accepted, but not every container has started yet.
    Pending,
    /// Bound to the node, containers created, at least one running (or
    /// restarting).
    Running,
    /// Every container exited with 0 and none will be restarted.
    Succeeded,
    /// Every container exited, at least one with a failure, and none will
    /// be restarted.
    Failed,
    /// The state could not be found out.
    Unknown,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// The status the agent writes for each pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Phase,
    pub conditions: Vec<PodCondition>,
    #[serde(rename = "podIP", default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// The init containers', in their order (what `Init:1/2` counts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_container_statuses: Vec<ContainerStatus>,
    pub container_statuses: Vec<ContainerStatus>,
}

/// One condition: `type` is PodReadyToStartContainers, Initialized, Ready,
/// ContainersReady or PodScheduled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub kind: String,
    /// `"True"` or `"False"`: strings, as in Kubernetes (which also allows
    /// `"Unknown"`).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One container's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    /// The previous run's end, once the container has been restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state: Option<ContainerState>,
    pub ready: bool,
    /// Running, and past its startup probe if it has one: the kubelet
    /// reports it for every container (`false` when not running). What
    /// lets a sidecar count as initialized in `kubectl get pods`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    pub restart_count: u32,
    /// The runtime's id of the current run. Kubernetes spells the JSON
    /// field `containerID`, which camelCase alone would not produce.
    #[serde(
        rename = "containerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub container_id: Option<String>,
}

/// Exactly one of waiting, running, terminated, as in Kubernetes' JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerState {
    Waiting {
        /// `ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`, ...
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Running {
        #[serde(rename = "startedAt")]
        started_at: String,
    },
    Terminated {
        #[serde(rename = "exitCode")]
        exit_code: i32,
        /// `Completed` (exit 0), `Error`, or `OOMKilled`.
        reason: String,
        /// When the run began, as the kubelet reports it for an ended run
        /// too: `kubectl describe pod` prints it as `Started:` (without
        /// it, the zero time of Go, year 1). `None` when the start was
        /// never recorded (a run that failed to start).
        #[serde(rename = "startedAt", default, skip_serializing_if = "Option::is_none")]
        started_at: Option<String>,
        #[serde(rename = "finishedAt")]
        finished_at: String,
        /// What the container wrote to its termination message file (or
        /// its log's tail): `kubectl describe pod`'s `Message:`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl ContainerState {
    /// The word `kubectl get pods` shows for a container in this state.
    pub fn reason(&self) -> &str {
        match self {
            ContainerState::Waiting { reason, .. } => reason,
            ContainerState::Running { .. } => "Running",
            ContainerState::Terminated { reason, .. } => reason,
        }
    }
}

// ANCHOR: termination_reason
/// The reason Kubernetes gives a terminated container: `OOMKilled` when the
/// kernel's OOM killer struck in its cgroup, `Completed` for exit code 0,
/// `Error` for anything else.
pub fn termination_reason(exit_code: i32, oom_killed: bool) -> &'static str {
    if oom_killed {
        "OOMKilled"
    } else if exit_code == 0 {
        "Completed"
    } else {
        "Error"
    }
}
// ANCHOR_END: termination_reason

// ANCHOR: pod_phase
/// The phase from the containers' states, following the kubelet's `getPhase`:
/// a container waiting for its first run keeps the pod Pending; any running
/// container makes it Running; when all have stopped, the restart policy
/// decides whether the pod is done (Succeeded, Failed) or still Running
/// because it is about to be restarted.
pub fn pod_phase(policy: RestartPolicy, containers: &[ContainerStatus]) -> Phase {
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        match &c.state {
            ContainerState::Running { .. } => running += 1,
            ContainerState::Terminated { exit_code, .. } => {
                stopped += 1;
                if *exit_code == 0 {
                    succeeded += 1;
                }
            }
            // Waiting to be restarted counts as stopped; waiting for the
            // first start keeps the pod pending.
            ContainerState::Waiting { .. } if c.last_state.is_some() => stopped += 1,
            ContainerState::Waiting { .. } => waiting += 1,
        }
    }
    if containers.is_empty() || waiting > 0 {
        return Phase::Pending;
    }
    if running > 0 {
        return Phase::Running;
    }
    match policy {
        _ if stopped < containers.len() => Phase::Pending,
        RestartPolicy::Always => Phase::Running,
        _ if stopped == succeeded => Phase::Succeeded,
        RestartPolicy::Never => Phase::Failed,
        RestartPolicy::OnFailure => Phase::Running,
    }
}
// ANCHOR_END: pod_phase

// ANCHOR: pod_phase_with_init
/// [`pod_phase`] for a pod with init containers: `Pending` until it is
/// `initialized` (every init container completed, every sidecar started),
/// `Failed` when an init container failed and will not be restarted
/// (`restartPolicy: Never`). `init` holds the init containers that run to
/// completion; sidecars count only through `initialized`, as the phase
/// follows the app containers.
pub fn pod_phase_with_init(
    policy: RestartPolicy,
    initialized: bool,
    init: &[ContainerStatus],
    containers: &[ContainerStatus],
) -> Phase {
    if initialized {
        return pod_phase(policy, containers);
    }
    let failed = init
        .iter()
        .any(|c| matches!(c.state, ContainerState::Terminated { exit_code, .. } if exit_code != 0));
    if failed && policy == RestartPolicy::Never {
        Phase::Failed
    } else {
        Phase::Pending
    }
}
// ANCHOR_END: pod_phase_with_init

/// Whether a container has exited 0: an init container's success.
pub fn completed(c: &ContainerStatus) -> bool {
    matches!(c.state, ContainerState::Terminated { exit_code: 0, .. })
}

/// The conditions of a pod without readiness gates, in the kubelet's
/// order (`generateAPIPodStatus`; `kubectl describe pod` lists them so):
/// its sandbox is up with its network (`PodReadyToStartContainers`, on
/// by default since Kubernetes 1.29), initialized (every init container
/// has completed and every sidecar started), ready when every container
/// in `containers` is ready (the app containers and the sidecars, whose
/// readiness counts as Kubernetes counts it), and scheduled (a static pod
/// is bound to its node by definition).
pub fn conditions(
    sandbox_ready: bool,
    initialized: bool,
    containers: &[ContainerStatus],
) -> Vec<PodCondition> {
    let all_ready = sandbox_ready && !containers.is_empty() && containers.iter().all(|c| c.ready);
    let condition = |kind: &str, ok: bool, why: &str| PodCondition {
        kind: kind.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: (!ok && !why.is_empty()).then(|| why.into()),
    };
    let not_ready = "ContainersNotReady";
    vec![
        condition("PodReadyToStartContainers", sandbox_ready, ""),
        condition("Initialized", initialized, "ContainersNotInitialized"),
        condition("Ready", all_ready, not_ready),
        condition("ContainersReady", all_ready, not_ready),
        condition("PodScheduled", true, ""),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: ContainerState, restarted: bool) -> ContainerStatus {
        ContainerStatus {
            name: "c".into(),
            image: "busybox".into(),
            last_state: restarted.then(|| exited(1)),
            state,
            ready: false,
            started: Some(false),
            restart_count: restarted as u32,
            container_id: None,
        }
    }
    fn exited(code: i32) -> ContainerState {
        ContainerState::Terminated {
            exit_code: code,
            reason: termination_reason(code, false).into(),
            started_at: None,
            finished_at: String::new(),
            message: None,
        }
    }
    fn running() -> ContainerState {
        ContainerState::Running {
            started_at: String::new(),
        }
    }
    fn waiting() -> ContainerState {
        ContainerState::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: None,
        }
    }

    #[test]
    fn phases() {
        use RestartPolicy::*;
        assert_eq!(
            pod_phase(Always, &[status(waiting(), false)]),
            Phase::Pending
        );
        assert_eq!(
            pod_phase(Always, &[status(running(), false)]),
            Phase::Running
        );
        assert_eq!(
            pod_phase(Always, &[status(waiting(), true)]),
            Phase::Running
        );
        assert_eq!(
            pod_phase(Never, &[status(exited(0), false)]),
            Phase::Succeeded
        );
        assert_eq!(
            pod_phase(OnFailure, &[status(exited(0), false)]),
            Phase::Succeeded
        );
        assert_eq!(pod_phase(Never, &[status(exited(2), false)]), Phase::Failed);
        assert_eq!(
            pod_phase(Never, &[status(exited(0), false), status(running(), false)]),
            Phase::Running
        );
        assert_eq!(
            pod_phase(Always, &[status(exited(0), false)]),
            Phase::Running
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(termination_reason(0, false), "Completed");
        assert_eq!(termination_reason(1, false), "Error");
        assert_eq!(termination_reason(137, true), "OOMKilled");
    }
}

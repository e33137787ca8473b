//! Init containers, as the kubelet runs them: one at a time, in the order
//! written, each to a successful exit before the next starts, and all of
//! them before any app container. A failed one is restarted by the pod's
//! `restartPolicy` (with the same back-off as an app container); with
//! `Never`, the pod has failed. Pure: [`super::sync`] asks where a pod
//! stands and plans accordingly.
//!
//! A *sidecar* is an init container with `restartPolicy: Always`
//! (Kubernetes 1.29+). It starts in its turn like the others, but the next
//! one does not wait for it to exit: only for it to have *started*
//! (running, and its startup probe passed). It then runs for the pod's
//! whole life, beside the app containers, restarted whenever it exits
//! whatever the pod's `restartPolicy`; its readiness counts towards the
//! pod's. When the app containers of a `Never` or `OnFailure` pod have
//! finished, the sidecars are stopped, the last one first
//! ([`super::sync`]'s `finish_pod`), and the same reverse order holds
//! when the pod is deleted ([`super::actions::stop_pod`]).

use crate::pod_spec::{Container, Pod, RestartPolicy};

use super::sync::{ObservedPod, ProbeVerdicts, RunState};

/// Where a pod's init containers stand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitState<'a> {
    /// Every init container has exited 0 and every sidecar has started
    /// (or there are none): the app containers may run.
    Done,
    /// This init container (or sidecar) is the one to start, wait for or
    /// restart.
    Next(&'a Container),
    /// This init container failed and the policy is `Never`: the pod has
    /// failed and nothing more runs.
    Failed(&'a Container),
}

// ANCHOR: init_state
/// The first init container that has not exited 0, or sidecar that has
/// not started, decides.
pub fn init_state<'a>(
    pod: &'a Pod,
    observed: &ObservedPod,
    probes: &ProbeVerdicts,
) -> InitState<'a> {
    for c in &pod.spec.init_containers {
        let state = observed.containers.get(&c.name).map(|run| &run.state);
        if c.is_sidecar() {
            match state {
                Some(RunState::Running { .. }) if probes.started(&c.name) => continue,
                // Not yet started, starting, or exited (to restart).
                _ => return InitState::Next(c),
            }
        }
        let exit_code = match state {
            Some(RunState::Exited { exit_code, .. }) => *exit_code,
            _ => return InitState::Next(c),
        };
        if exit_code == 0 {
            continue;
        }
        return match pod.spec.restart_policy {
            RestartPolicy::Never => InitState::Failed(c),
            _ => InitState::Next(c),
        };
    }
    InitState::Done
}
// ANCHOR_END: init_state

/// The waiting reason of a container that has not started yet: the kubelet
/// says `PodInitializing` for every container of a pod with init
/// containers, `ContainerCreating` otherwise.
pub fn not_started_reason(pod: &Pod) -> &'static str {
    if pod.spec.init_containers.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::sync::ObservedContainer;

    fn pod(policy: &str) -> Pod {
        let yaml = format!(
            "metadata: {{name: p, uid: u}}\nspec:\n  restartPolicy: {policy}\n  initContainers: [{{name: i1, image: b}}, {{name: i2, image: b}}]\n  containers: [{{name: app, image: b}}]\n"
        );
        serde_yaml::from_str(&yaml).unwrap()
    }

    fn running() -> ObservedContainer {
        ObservedContainer {
            id: "x".into(),
            attempt: 0,
            state: RunState::Running {
                started_at: jiff::Timestamp::UNIX_EPOCH,
            },
        }
    }

    fn exited(code: i32) -> ObservedContainer {
        ObservedContainer {
            id: "x".into(),
            attempt: 0,
            state: RunState::Exited {
                exit_code: code,
                oom_killed: false,
                started_at: None,
                finished_at: jiff::Timestamp::UNIX_EPOCH,
            },
        }
    }

    fn name(state: InitState) -> String {
        match state {
            InitState::Done => "done".into(),
            InitState::Next(c) => format!("next {}", c.name),
            InitState::Failed(c) => format!("failed {}", c.name),
        }
    }

    #[test]
    fn in_order_each_to_success() {
        let p = pod("Always");
        let mut observed = ObservedPod::default();
        let none = ProbeVerdicts::default();
        assert_eq!(name(init_state(&p, &observed, &none)), "next i1");
        observed.containers.insert("i1".into(), exited(0));
        assert_eq!(name(init_state(&p, &observed, &none)), "next i2");
        observed.containers.insert("i2".into(), exited(1));
        assert_eq!(name(init_state(&p, &observed, &none)), "next i2");
        let never = pod("Never");
        assert_eq!(name(init_state(&never, &observed, &none)), "failed i2");
        observed.containers.insert("i2".into(), exited(0));
        assert_eq!(name(init_state(&p, &observed, &none)), "done");
    }

    #[test]
    fn a_sidecar_lets_the_next_start_once_it_has_started() {
        let mut p = pod("Never");
        p.spec.init_containers[0].restart_policy = Some("Always".into());
        let mut observed = ObservedPod::default();
        let none = ProbeVerdicts::default();
        assert_eq!(name(init_state(&p, &observed, &none)), "next i1");
        // Running, but its startup probe has not passed: i2 waits.
        observed.containers.insert("i1".into(), running());
        let starting = ProbeVerdicts {
            not_started: ["i1".to_string()].into(),
            ..Default::default()
        };
        assert_eq!(name(init_state(&p, &observed, &starting)), "next i1");
        // Started: i2's turn, while i1 keeps running.
        assert_eq!(name(init_state(&p, &observed, &none)), "next i2");
        observed.containers.insert("i2".into(), exited(0));
        assert_eq!(name(init_state(&p, &observed, &none)), "done");
        // A sidecar that exits (even 0, even under Never) is restarted.
        observed.containers.insert("i1".into(), exited(0));
        assert_eq!(name(init_state(&p, &observed, &none)), "next i1");
    }
}

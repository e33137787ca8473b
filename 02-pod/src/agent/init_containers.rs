//! Init containers, as the kubelet runs them: one at a time, in the order
//! written, each to a successful exit before the next starts, and all of
//! them before any app container. A failed one is restarted by the pod's
//! `restartPolicy` (with the same back-off as an app container); with
//! `Never`, the pod has failed. Pure: [`super::sync`] asks where a pod
//! stands and plans accordingly.

use crate::pod_spec::{Container, Pod, RestartPolicy};

use super::sync::{ObservedPod, RunState};

/// Where a pod's init containers stand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitState<'a> {
    /// Every init container has exited 0 (or there are none): the app
    /// containers may run.
    Done,
    /// This init container is the one to start, wait for or restart.
    Next(&'a Container),
    /// This init container failed and the policy is `Never`: the pod has
    /// failed and nothing more runs.
    Failed(&'a Container),
}

// ANCHOR: init_state
/// The first init container that has not exited 0 decides.
pub fn init_state<'a>(pod: &'a Pod, observed: &ObservedPod) -> InitState<'a> {
    for c in &pod.spec.init_containers {
        let exit_code = match observed.containers.get(&c.name).map(|run| &run.state) {
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
        assert_eq!(name(init_state(&p, &observed)), "next i1");
        observed.containers.insert("i1".into(), exited(0));
        assert_eq!(name(init_state(&p, &observed)), "next i2");
        observed.containers.insert("i2".into(), exited(1));
        assert_eq!(name(init_state(&p, &observed)), "next i2");
        assert_eq!(name(init_state(&pod("Never"), &observed)), "failed i2");
        observed.containers.insert("i2".into(), exited(0));
        assert_eq!(name(init_state(&p, &observed)), "done");
    }
}

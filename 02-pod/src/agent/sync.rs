//! The sync loop's decisions: desired pod + observed containers → actions.
//!
//! This is the kubelet's `computePodActions`, kept pure so that it can be
//! read, unit-tested and reimplemented in lab 02 without a kernel. It is
//! *level-triggered*: it looks at the whole desired pod and the whole
//! observed state, never at "what just happened", so running it twice
//! gives the same answer and a crashed agent simply runs it again.
//! [`super::Agent`] observes, calls [`compute_pod_actions`] and performs
//! the actions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

use super::init_containers::{InitState, init_state, not_started_reason};
use crate::pod_spec::{Pod, RestartPolicy};
use crate::probes::ProbeKind;

/// What the runtime says about one run of a container.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// Created but never started (an agent stopped between the two steps).
    Created,
    Running {
        started_at: Timestamp,
    },
    Exited {
        exit_code: i32,
        oom_killed: bool,
        /// When the run started, if known: a long run resets the back-off.
        started_at: Option<Timestamp>,
        finished_at: Timestamp,
    },
}

/// The latest run of one container of the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedContainer {
    /// The runtime's container id.
    pub id: String,
    /// Which run this is, from 0: also the container's restart count.
    pub attempt: u32,
    pub state: RunState,
}

/// The pod's sandbox as the runtime reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSandbox {
    pub id: String,
    /// The pause process; 0 when it is not running.
    pub pid: i32,
    pub running: bool,
}

/// Everything the runtime has of one pod.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedPod {
    pub sandbox: Option<ObservedSandbox>,
    /// The latest run of each container, by container name.
    pub containers: BTreeMap<String, ObservedContainer>,
    /// Older runs and containers the spec no longer has: to be removed.
    pub stale: Vec<String>,
}

/// One step towards the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// (Re)create the sandbox: remove every container of the pod, start a
    /// new pause process and plug its network namespace into the node.
    CreateSandbox,
    /// Start run `attempt` of container `name`.
    StartContainer { name: String, attempt: u32 },
    /// Stop a running container gracefully (SIGTERM, grace period, SIGKILL).
    KillContainer {
        name: String,
        id: String,
        reason: KillReason,
    },
    /// Delete an exited container from the runtime.
    RemoveContainer { id: String },
    /// Every container has finished for good: stop the sandbox and give
    /// the pod's address back, as the kubelet does for a terminated pod.
    StopSandbox { id: String },
}

/// Why the agent stops a running container; the `Killing` event says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// It failed its liveness or startup probe. `restart`: the restart
    /// policy starts it again (anything but `Never`; always for a sidecar).
    FailedProbe { probe: ProbeKind, restart: bool },
    /// Its pod's work is over: a sidecar once the app containers of a
    /// `Never` or `OnFailure` pod have finished.
    Stopping,
    /// Its `postStart` hook failed ([`super::hooks`]).
    FailedPostStartHook,
}

// ANCHOR: probe_verdicts
/// What the probes say about the running containers, by name: the part of
/// the prober's state the decisions need. A container without probes is
/// in none of the sets: started, and healthy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeVerdicts {
    /// Failed their liveness probe: to be killed.
    pub liveness_failed: BTreeSet<String>,
    /// Failed their startup probe `failureThreshold` times: to be killed.
    pub startup_failed: BTreeSet<String>,
    /// Running, but their startup probe has not passed yet: not started,
    /// so a sidecar still holds back the init container after it.
    pub not_started: BTreeSet<String>,
}

impl ProbeVerdicts {
    /// Whether running container `name` counts as started.
    pub fn started(&self, name: &str) -> bool {
        !self.not_started.contains(name) && !self.startup_failed.contains(name)
    }

    /// The probe whose failure gets container `name` killed, if any.
    pub fn failed_probe(&self, name: &str) -> Option<ProbeKind> {
        if self.liveness_failed.contains(name) {
            Some(ProbeKind::Liveness)
        } else if self.startup_failed.contains(name) {
            Some(ProbeKind::Startup)
        } else {
            None
        }
    }
}
// ANCHOR_END: probe_verdicts

/// Why a container is not running although it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

/// The outcome of one decision: what to do, and what to report meanwhile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodPlan {
    pub actions: Vec<Action>,
    /// Containers that wait, by name (e.g. in `CrashLoopBackOff`).
    pub waiting: BTreeMap<String, Waiting>,
}

/// The first back-off delay, and its cap: the kubelet's 10 s and 5 min.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A run this long without trouble forgets earlier crashes: the next
/// restart is immediate again, as in the kubelet.
pub const BACKOFF_RESET: Duration = Duration::from_secs(600);

// ANCHOR: backoff
/// How long an exited container waits before its next start, given how
/// many times it has already been restarted. As in the kubelet, the first
/// restart is immediate; then the delay starts at 10 s and doubles with
/// every restart, up to 5 minutes: 0, 10 s, 20 s, 40 s, ... 300 s.
pub fn restart_backoff(restart_count: u32) -> Duration {
    if restart_count == 0 {
        return Duration::ZERO;
    }
    let doublings = (restart_count - 1).min(16);
    (BACKOFF_INITIAL * 2u32.pow(doublings)).min(BACKOFF_MAX)
}

/// The wait before restarting a run that lasted `ran_for`: nothing after a
/// long healthy run, else [`restart_backoff`].
pub fn restart_delay(restart_count: u32, ran_for: Duration) -> Duration {
    if ran_for >= BACKOFF_RESET {
        Duration::ZERO
    } else {
        restart_backoff(restart_count)
    }
}
// ANCHOR_END: backoff

// ANCHOR: should_restart
/// Whether a container that exited with `exit_code` is started again.
pub fn should_restart(policy: RestartPolicy, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    }
}
// ANCHOR_END: should_restart

// ANCHOR: compute_pod_actions
/// What to do for one desired pod.
///
/// - No running sandbox: create one, then start every container that
///   should run ([`plan_new_sandbox`]).
/// - When every app container has finished for good, the sidecars stop
///   and then the sandbox ([`finish_pod`]).
/// - Until an app container has run, the init containers and sidecars
///   have their turn ([`plan_initializing`]).
/// - Otherwise, per sidecar and app container: never ran → start it; a
///   run → what its state calls for ([`plan_run`]).
/// - Runs that are not the latest are removed.
pub fn compute_pod_actions(
    pod: &Pod,
    observed: &ObservedPod,
    probes: &ProbeVerdicts,
    now: Timestamp,
) -> PodPlan {
    let sandbox_ok = observed.sandbox.as_ref().is_some_and(|s| s.running);
    if !sandbox_ok {
        return plan_new_sandbox(pod, observed);
    }

    let mut plan = PodPlan::default();
    if pod_finished(pod, observed) {
        finish_pod(&mut plan, pod, observed);
        remove_stale(&mut plan, observed);
        return plan;
    }
    if !initialized(pod, observed) {
        if let Some(plan) = plan_initializing(pod, observed, probes, now) {
            return plan;
        }
    }
    // Past initialization the sidecars run beside the app containers,
    // restarted whenever they exit.
    for c in pod.sidecars().chain(&pod.spec.containers) {
        let Some(run) = observed.containers.get(&c.name) else {
            plan.waiting
                .insert(c.name.clone(), waiting(not_started_reason(pod), ""));
            plan.actions.push(Action::StartContainer {
                name: c.name.clone(),
                attempt: 0,
            });
            continue;
        };
        plan_run(&mut plan, pod, &c.name, run, probes, now);
    }
    remove_stale(&mut plan, observed);
    plan
}
// ANCHOR_END: compute_pod_actions

/// Whether the pod is past its init containers: an app container has run
/// in this sandbox. From then on a sidecar that crashes is restarted
/// beside the app, and does not send the pod back to initializing (the
/// kubelet's `hasAnyRegularContainerCreated`).
fn initialized(pod: &Pod, observed: &ObservedPod) -> bool {
    pod.spec
        .containers
        .iter()
        .any(|c| observed.containers.contains_key(&c.name))
}

// ANCHOR: finish_pod
/// A pod whose work is over (its app containers finished for good, or an
/// init container failed under `Never`): the sidecars still running are
/// stopped one at a time, the last one first, as the kubelet stops them
/// in the reverse of their start order; once nothing runs, the sandbox.
fn finish_pod(plan: &mut PodPlan, pod: &Pod, observed: &ObservedPod) {
    let running: Vec<(&String, &ObservedContainer)> = pod
        .sidecars()
        .rev()
        .filter_map(|c| Some((&c.name, observed.containers.get(&c.name)?)))
        .filter(|(_, run)| !matches!(run.state, RunState::Exited { .. }))
        .collect();
    if running.is_empty() {
        stop_sandbox(plan, observed);
        return;
    }
    for (name, run) in running {
        plan.actions.push(Action::KillContainer {
            name: name.clone(),
            id: run.id.clone(),
            reason: KillReason::Stopping,
        });
    }
}
// ANCHOR_END: finish_pod

/// Runs that are not the latest, and containers the spec no longer has.
fn remove_stale(plan: &mut PodPlan, observed: &ObservedPod) {
    for id in &observed.stale {
        plan.actions
            .push(Action::RemoveContainer { id: id.clone() });
    }
}

fn stop_sandbox(plan: &mut PodPlan, observed: &ObservedPod) {
    if let Some(sandbox) = &observed.sandbox {
        plan.actions.push(Action::StopSandbox {
            id: sandbox.id.clone(),
        });
    }
}

/// The plan for a pod whose init containers have not all succeeded and
/// whose sidecars have not all started (run the next one, keep the
/// sidecars before it running, or stop a pod whose init failed for good);
/// `None` once they have, and the app containers' turn has come.
fn plan_initializing(
    pod: &Pod,
    observed: &ObservedPod,
    probes: &ProbeVerdicts,
    now: Timestamp,
) -> Option<PodPlan> {
    let mut plan = PodPlan::default();
    match init_state(pod, observed, probes) {
        InitState::Done => return None,
        InitState::Next(next) => {
            // The sidecars before it have started and keep running: one
            // that fails its liveness probe is restarted meanwhile.
            let before = pod.spec.init_containers.iter();
            let before = before.take_while(|c| c.name != next.name);
            for c in before.filter(|c| c.is_sidecar()) {
                if let Some(run) = observed.containers.get(&c.name) {
                    plan_run(&mut plan, pod, &c.name, run, probes, now);
                }
            }
            plan_init(&mut plan, pod, &next.name, observed, probes, now);
        }
        InitState::Failed(_) => finish_pod(&mut plan, pod, observed),
    }
    remove_stale(&mut plan, observed);
    Some(plan)
}

// ANCHOR: plan_init
/// The pod is initializing and `name` is the init container to run: start
/// it, or restart it after a failure (with back-off), or wait while it
/// runs (a sidecar: until its startup probe has passed). Every app
/// container waits in `PodInitializing` meanwhile.
fn plan_init(
    plan: &mut PodPlan,
    pod: &Pod,
    name: &str,
    observed: &ObservedPod,
    probes: &ProbeVerdicts,
    now: Timestamp,
) {
    for c in &pod.spec.containers {
        plan.waiting
            .insert(c.name.clone(), waiting("PodInitializing", ""));
    }
    match observed.containers.get(name) {
        None => {
            plan.waiting
                .insert(name.to_string(), waiting("PodInitializing", ""));
            plan.actions.push(Action::StartContainer {
                name: name.to_string(),
                attempt: 0,
            });
        }
        // Exited non-zero, to restart (else init_state said Failed); or a
        // sidecar that runs, exited, or failed its startup probe.
        Some(run) => plan_run(plan, pod, name, run, probes, now),
    }
}
// ANCHOR_END: plan_init

// ANCHOR: plan_new_sandbox
/// A pod without a running sandbox: a new sandbox, then every container
/// that should run. A container that finished for good stays finished
/// (a run killed with the old sandbox did not finish: it restarts unless
/// the policy is `Never`), and a pod whose containers are all done gets
/// no new sandbox at all.
fn plan_new_sandbox(pod: &Pod, observed: &ObservedPod) -> PodPlan {
    if !pod.spec.init_containers.is_empty() {
        return plan_new_sandbox_with_init(pod, observed);
    }
    let mut plan = PodPlan::default();
    let policy = pod.spec.restart_policy;
    let mut starts = vec![];
    let mut any_ran = false;
    for c in &pod.spec.containers {
        match observed.containers.get(&c.name) {
            None => starts.push((c.name.clone(), 0)),
            Some(run) => {
                any_ran = true;
                let restart = match run.state {
                    RunState::Exited { exit_code, .. } => should_restart(policy, exit_code),
                    // Killed with the old sandbox: it did not finish.
                    _ => policy != RestartPolicy::Never,
                };
                if restart {
                    starts.push((c.name.clone(), run.attempt + 1));
                }
            }
        }
    }
    if starts.is_empty() && any_ran {
        return plan; // the pod has finished; nothing is restarted.
    }
    plan.actions.push(Action::CreateSandbox);
    for (name, attempt) in starts {
        plan.waiting
            .insert(name.clone(), waiting("ContainerCreating", ""));
        plan.actions.push(Action::StartContainer { name, attempt });
    }
    plan
}
// ANCHOR_END: plan_new_sandbox

/// A new sandbox for a pod with init containers: they run again from the
/// first, as the kubelet reruns them in a new sandbox, unless the pod has
/// finished or failed for good.
fn plan_new_sandbox_with_init(pod: &Pod, observed: &ObservedPod) -> PodPlan {
    let mut plan = PodPlan::default();
    let no_probes = ProbeVerdicts::default();
    let failed = matches!(init_state(pod, observed, &no_probes), InitState::Failed(_));
    if failed || pod_finished(pod, observed) {
        return plan;
    }
    let first = &pod.spec.init_containers[0].name;
    let attempt = observed
        .containers
        .get(first)
        .map_or(0, |run| run.attempt + 1);
    plan.actions.push(Action::CreateSandbox);
    plan.actions.push(Action::StartContainer {
        name: first.clone(),
        attempt,
    });
    for c in pod.spec.init_containers.iter().chain(&pod.spec.containers) {
        plan.waiting
            .insert(c.name.clone(), waiting("PodInitializing", ""));
    }
    plan
}

// ANCHOR: plan_run
/// A container with a run, in a running sandbox: start a run that was
/// created but never started, kill a running one that failed its liveness
/// or startup probe, and restart an exited one if its restart policy says
/// so (a sidecar's is always `Always`), once its back-off has passed
/// ([`restart_after_backoff`]).
fn plan_run(
    plan: &mut PodPlan,
    pod: &Pod,
    name: &str,
    run: &ObservedContainer,
    probes: &ProbeVerdicts,
    now: Timestamp,
) {
    let policy = pod.restart_policy_of(name);
    match &run.state {
        RunState::Created => plan.actions.push(Action::StartContainer {
            name: name.to_string(),
            attempt: run.attempt,
        }),
        RunState::Running { .. } => {
            if let Some(probe) = probes.failed_probe(name) {
                // The kubelet restarts a killed container unless the
                // policy is Never, whatever the exit code the kill gives.
                let restart = policy != RestartPolicy::Never;
                plan.actions.push(Action::KillContainer {
                    name: name.to_string(),
                    id: run.id.clone(),
                    reason: KillReason::FailedProbe { probe, restart },
                });
            }
        }
        RunState::Exited {
            exit_code,
            started_at,
            finished_at,
            ..
        } => {
            if !should_restart(policy, *exit_code) {
                return;
            }
            let ran_for = started_at
                .map(|start| elapsed(start, *finished_at))
                .unwrap_or_default();
            let delay = restart_delay(run.attempt, ran_for);
            let waited = elapsed(*finished_at, now);
            restart_after_backoff(plan, pod, name, run.attempt, delay, waited);
        }
    }
}
// ANCHOR_END: plan_run

// ANCHOR: restart_after_backoff
/// An exited container that is to restart, `waited` after its exit: its
/// next run starts once the back-off `delay` has passed; until then it is
/// waiting in `CrashLoopBackOff`, with the kubelet's message.
fn restart_after_backoff(
    plan: &mut PodPlan,
    pod: &Pod,
    name: &str,
    attempt: u32,
    delay: Duration,
    waited: Duration,
) {
    if waited >= delay {
        plan.actions.push(Action::StartContainer {
            name: name.to_string(),
            attempt: attempt + 1,
        });
    } else {
        let message = format!(
            "back-off {}s restarting failed container={} pod={}",
            delay.as_secs(),
            name,
            pod.metadata.name
        );
        plan.waiting
            .insert(name.to_string(), waiting("CrashLoopBackOff", &message));
    }
}
// ANCHOR_END: restart_after_backoff

/// Whether every app container has exited and is not to restart: the
/// pod's work is done, its sidecars stop, and its sandbox can go.
fn pod_finished(pod: &Pod, observed: &ObservedPod) -> bool {
    let policy = pod.spec.restart_policy;
    pod.spec.containers.iter().all(|c| {
        matches!(observed.containers.get(&c.name),
            Some(ObservedContainer { state: RunState::Exited { exit_code, .. }, .. })
                if !should_restart(policy, *exit_code))
    })
}

// ANCHOR: pods_to_stop
/// The pods that run (or left something behind: containers, an address, a
/// directory) but are no longer desired, by uid.
pub fn pods_to_stop(desired: &BTreeSet<String>, actual: &BTreeSet<String>) -> Vec<String> {
    actual.difference(desired).cloned().collect()
}
// ANCHOR_END: pods_to_stop

/// How long from `earlier` to `later`, as the `Duration` back-offs are
/// counted in; zero if `later` is not later, since the wall clock can be
/// set back between two readings.
fn elapsed(earlier: Timestamp, later: Timestamp) -> Duration {
    Duration::try_from(later.duration_since(earlier)).unwrap_or_default()
}

fn waiting(reason: &str, message: &str) -> Waiting {
    Waiting {
        reason: reason.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(policy: &str, containers: &[&str]) -> Pod {
        let list: Vec<String> = containers
            .iter()
            .map(|c| format!("{{name: {c}, image: busybox}}"))
            .collect();
        let yaml = format!(
            "metadata: {{name: p, uid: u}}\nspec:\n  restartPolicy: {policy}\n  containers: [{}]\n",
            list.join(", ")
        );
        serde_yaml::from_str(&yaml).unwrap()
    }

    fn sandbox() -> Option<ObservedSandbox> {
        Some(ObservedSandbox {
            id: "u-pod".into(),
            pid: 42,
            running: true,
        })
    }

    fn exited(attempt: u32, code: i32, finished_at: Timestamp) -> ObservedContainer {
        ObservedContainer {
            id: format!("u-a-{attempt}"),
            attempt,
            state: RunState::Exited {
                exit_code: code,
                oom_killed: false,
                started_at: None,
                finished_at,
            },
        }
    }

    fn start(name: &str, attempt: u32) -> Action {
        Action::StartContainer {
            name: name.into(),
            attempt,
        }
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_to_five_minutes() {
        let secs: Vec<u64> = (0..8).map(|n| restart_backoff(n).as_secs()).collect();
        assert_eq!(secs, [0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(restart_backoff(1000), BACKOFF_MAX);
    }

    #[test]
    fn a_long_run_resets_the_back_off() {
        assert_eq!(
            restart_delay(5, Duration::from_secs(60)),
            Duration::from_secs(160)
        );
        assert_eq!(restart_delay(5, BACKOFF_RESET), Duration::ZERO);
    }

    #[test]
    fn restart_policies() {
        use RestartPolicy::*;
        assert!(should_restart(Always, 0));
        assert!(!should_restart(OnFailure, 0));
        assert!(should_restart(OnFailure, 1));
        assert!(!should_restart(Never, 1));
    }

    #[test]
    fn a_new_pod_gets_a_sandbox_and_all_containers() {
        let plan = compute_pod_actions(
            &pod("Always", &["a", "b"]),
            &ObservedPod::default(),
            &ProbeVerdicts::default(),
            Timestamp::now(),
        );
        assert_eq!(
            plan.actions,
            [Action::CreateSandbox, start("a", 0), start("b", 0)]
        );
    }

    #[test]
    fn elapsed_time_is_never_negative() {
        let t0 = Timestamp::now();
        assert_eq!(
            elapsed(t0, t0 + Duration::from_secs(9)),
            Duration::from_secs(9)
        );
        // A clock set back between exit and now: no time has passed.
        assert_eq!(elapsed(t0 + Duration::from_secs(9), t0), Duration::ZERO);
    }

    #[test]
    fn crash_loop_waits_then_restarts() {
        let t0 = Timestamp::now();
        let mut observed = ObservedPod {
            sandbox: sandbox(),
            ..Default::default()
        };
        observed.containers.insert("a".into(), exited(0, 1, t0));
        let p = pod("Always", &["a"]);
        let none = ProbeVerdicts::default();
        // The first restart is immediate.
        assert_eq!(
            compute_pod_actions(&p, &observed, &none, t0).actions,
            [start("a", 1)]
        );
        // The second waits 10 s in CrashLoopBackOff.
        observed.containers.insert("a".into(), exited(1, 1, t0));
        let plan = compute_pod_actions(&p, &observed, &none, t0 + Duration::from_secs(9));
        assert!(plan.actions.is_empty());
        assert_eq!(plan.waiting["a"].reason, "CrashLoopBackOff");
        let plan = compute_pod_actions(&p, &observed, &none, t0 + Duration::from_secs(10));
        assert_eq!(plan.actions, [start("a", 2)]);
    }

    #[test]
    fn finished_containers_stay_finished() {
        let t0 = Timestamp::now();
        let mut observed = ObservedPod::default();
        observed.containers.insert("a".into(), exited(0, 0, t0));
        // OnFailure, exit 0, sandbox gone: the pod is done.
        let plan = compute_pod_actions(
            &pod("OnFailure", &["a"]),
            &observed,
            &ProbeVerdicts::default(),
            t0,
        );
        assert!(plan.actions.is_empty());
        // Never, running sandbox, exit 1: the pod is over, its sandbox goes.
        observed.sandbox = sandbox();
        observed.containers.insert("a".into(), exited(0, 1, t0));
        let plan = compute_pod_actions(
            &pod("Never", &["a"]),
            &observed,
            &ProbeVerdicts::default(),
            t0,
        );
        assert_eq!(plan.actions, [Action::StopSandbox { id: "u-pod".into() }]);
    }

    #[test]
    fn an_unhealthy_container_is_killed_and_stale_runs_removed() {
        let mut observed = ObservedPod {
            sandbox: sandbox(),
            stale: vec!["u-a-0".into()],
            ..Default::default()
        };
        observed.containers.insert(
            "a".into(),
            ObservedContainer {
                id: "u-a-1".into(),
                attempt: 1,
                state: RunState::Running {
                    started_at: Timestamp::now(),
                },
            },
        );
        let unhealthy = ProbeVerdicts {
            liveness_failed: BTreeSet::from(["a".to_string()]),
            ..Default::default()
        };
        let plan = compute_pod_actions(
            &pod("Always", &["a"]),
            &observed,
            &unhealthy,
            Timestamp::now(),
        );
        assert_eq!(
            plan.actions,
            [
                Action::KillContainer {
                    name: "a".into(),
                    id: "u-a-1".into(),
                    reason: KillReason::FailedProbe {
                        probe: ProbeKind::Liveness,
                        restart: true
                    }
                },
                Action::RemoveContainer { id: "u-a-0".into() }
            ]
        );
    }

    #[test]
    fn init_containers_run_first_one_at_a_time() {
        let yaml = "metadata: {name: p, uid: u}\nspec:\n  restartPolicy: Never\n  initContainers: [{name: i, image: b}]\n  containers: [{name: a, image: b}]\n";
        let p: Pod = serde_yaml::from_str(yaml).unwrap();
        let none = ProbeVerdicts::default();
        let t0 = Timestamp::now();
        // A new pod: the sandbox and the init container, nothing else.
        let plan = compute_pod_actions(&p, &ObservedPod::default(), &none, t0);
        assert_eq!(plan.actions, [Action::CreateSandbox, start("i", 0)]);
        assert_eq!(plan.waiting["a"].reason, "PodInitializing");
        // Init done: the app container starts.
        let mut observed = ObservedPod {
            sandbox: sandbox(),
            ..Default::default()
        };
        observed.containers.insert("i".into(), exited(0, 0, t0));
        let plan = compute_pod_actions(&p, &observed, &none, t0);
        assert_eq!(plan.actions, [start("a", 0)]);
        // Init failed, policy Never: the pod is over.
        observed.containers.insert("i".into(), exited(0, 1, t0));
        let plan = compute_pod_actions(&p, &observed, &none, t0);
        assert_eq!(plan.actions, [Action::StopSandbox { id: "u-pod".into() }]);
    }

    fn running(attempt: u32) -> ObservedContainer {
        ObservedContainer {
            id: format!("u-s-{attempt}"),
            attempt,
            state: RunState::Running {
                started_at: Timestamp::now(),
            },
        }
    }

    /// A `Never` pod with two sidecars (s1, s2) and an app container.
    fn sidecar_pod() -> Pod {
        let yaml = "metadata: {name: p, uid: u}\nspec:\n  restartPolicy: Never\n  initContainers: [{name: s1, image: b, restartPolicy: Always}, {name: s2, image: b, restartPolicy: Always}]\n  containers: [{name: a, image: b}]\n";
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn sidecars_start_in_turn_and_restart_whatever_the_pods_policy() {
        let p = sidecar_pod();
        let t0 = Timestamp::now();
        let mut observed = ObservedPod {
            sandbox: sandbox(),
            ..Default::default()
        };
        observed.containers.insert("s1".into(), running(0));
        // s1 runs but its startup probe has not passed: s2 waits.
        let starting = ProbeVerdicts {
            not_started: BTreeSet::from(["s1".to_string()]),
            ..Default::default()
        };
        let plan = compute_pod_actions(&p, &observed, &starting, t0);
        assert!(plan.actions.is_empty(), "{plan:?}");
        assert_eq!(plan.waiting["a"].reason, "PodInitializing");
        let none = ProbeVerdicts::default();
        let plan = compute_pod_actions(&p, &observed, &none, t0);
        assert_eq!(plan.actions, [start("s2", 0)]);
        observed.containers.insert("s2".into(), running(0));
        let plan = compute_pod_actions(&p, &observed, &none, t0);
        assert_eq!(plan.actions, [start("a", 0)]);
        // Past initialization a sidecar that exits is restarted, under
        // Never, even after exit 0, while the app runs.
        observed.containers.insert("a".into(), running(0));
        observed.containers.insert("s1".into(), exited(0, 0, t0));
        let plan = compute_pod_actions(&p, &observed, &none, t0);
        assert_eq!(plan.actions, [start("s1", 1)]);
    }

    #[test]
    fn sidecars_stop_last_first_once_the_app_has_finished() {
        let p = sidecar_pod();
        let t0 = Timestamp::now();
        let mut observed = ObservedPod {
            sandbox: sandbox(),
            ..Default::default()
        };
        observed.containers.insert("s1".into(), running(0));
        observed.containers.insert("s2".into(), running(0));
        observed.containers.insert("a".into(), exited(0, 0, t0));
        let none = ProbeVerdicts::default();
        let plan = compute_pod_actions(&p, &observed, &none, t0);
        let kill = |name: &str| Action::KillContainer {
            name: name.into(),
            id: "u-s-0".into(),
            reason: KillReason::Stopping,
        };
        assert_eq!(plan.actions, [kill("s2"), kill("s1")]);
        // Once they have exited (killed: 137), nothing restarts them and
        // the sandbox goes.
        observed.containers.insert("s1".into(), exited(0, 137, t0));
        observed.containers.insert("s2".into(), exited(0, 137, t0));
        let plan = compute_pod_actions(&p, &observed, &none, t0);
        assert_eq!(plan.actions, [Action::StopSandbox { id: "u-pod".into() }]);
        // Nor does a new sandbox bring them back.
        observed.sandbox = None;
        let plan = compute_pod_actions(&p, &observed, &none, t0);
        assert!(plan.actions.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_failed_startup_probe_kills_by_the_restart_policy() {
        let t0 = Timestamp::now();
        let mut observed = ObservedPod {
            sandbox: sandbox(),
            ..Default::default()
        };
        observed.containers.insert("a".into(), running(0));
        let failed = ProbeVerdicts {
            startup_failed: BTreeSet::from(["a".to_string()]),
            ..Default::default()
        };
        for (policy, restart) in [("Always", true), ("OnFailure", true), ("Never", false)] {
            let plan = compute_pod_actions(&pod(policy, &["a"]), &observed, &failed, t0);
            let probe = ProbeKind::Startup;
            assert_eq!(
                plan.actions,
                [Action::KillContainer {
                    name: "a".into(),
                    id: "u-s-0".into(),
                    reason: KillReason::FailedProbe { probe, restart },
                }],
                "{policy}"
            );
        }
        // Still starting: nothing to do, whatever liveness would say.
        let starting = ProbeVerdicts {
            not_started: BTreeSet::from(["a".to_string()]),
            ..Default::default()
        };
        let plan = compute_pod_actions(&pod("Always", &["a"]), &observed, &starting, t0);
        assert!(plan.actions.is_empty());
    }

    #[test]
    fn undesired_pods_are_stopped() {
        let desired = BTreeSet::from(["a".to_string(), "b".to_string()]);
        let actual = BTreeSet::from(["b".to_string(), "c".to_string()]);
        assert_eq!(pods_to_stop(&desired, &actual), ["c"]);
    }
}

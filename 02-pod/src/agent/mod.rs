//! The node agent: the kubelet's core loop.
//!
//! Every `sync_period` the agent
//! 1. asks its [`PodSource`]s for the desired pods (the whole set),
//! 2. asks the runtime for every container it has ([`observe`]),
//! 3. decides per pod what to do ([`sync::compute_pod_actions`]) and which
//!    pods to stop ([`sync::pods_to_stop`]),
//! 4. hands each pod's actions to a task of its own ([`actions`]), so a pod
//!    waiting out a 30 s grace period does not hold up the others,
//! 5. starts and stops probe workers, and writes each pod's status ([`report`]),
//!    handing the ones that changed to its [`StatusSink`]s.
//!
//! A pod a source reports as *terminating* (deleted through the API, with a
//! grace period) is stopped like any pod that is no longer desired, with
//! that grace period; once nothing of it is left, the sinks hear
//! [`StatusSink::pod_terminated`] so the API object can go.
//!
//! Nothing is remembered between syncs that cannot be observed again, so
//! the loop is level-triggered: a missed event, a crashed action or an
//! agent restart is repaired by the next sync.

pub mod actions;
pub mod attach;
pub mod auth;
pub mod channels;
pub mod clock;
pub mod events;
pub mod exec;
pub mod hooks;
pub mod image_pull;
pub mod init_containers;
pub mod layout;
pub mod observe;
pub mod portforward;
pub mod pull_backoff;
pub mod report;
pub mod server;
pub mod spdy;
pub mod stats;
pub mod streams;
pub mod sync;
pub mod terminal;
pub mod termination_message;
pub mod tls;
pub mod wake;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use thiserror::Error;

use crate::env::{NoApiServer, ObjectSource};
use crate::image::ImageSource;
use crate::pod_spec::Pod;
use crate::probes::{ProbeKey, ProbeKind, ProbeTarget, Prober};
use crate::runtime::{RuntimeClient, RuntimeError};
use crate::source::{ManifestError, PodSource};
use crate::status::PodStatus;
use crate::{Ipv4Cidr, NetError, NodeConfig, NodeNetwork};
use clock::Clock;
use layout::StateLayout;
pub use report::StatusSink;
use sync::{RunState, Waiting};
use wake::{PodTask, SyncWaker};

/// Everything the agent needs to know about its node.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where pods, logs, the runtime's state and the IPAM file live.
    pub state_dir: PathBuf,
    /// The `orc-container` binary.
    pub runtime_program: PathBuf,
    /// The binary whose `shim` subcommand runs the shim (`orc-agent`).
    pub shim_program: PathBuf,
    /// The node's network namespace (`/proc/self/ns/net` on a real node).
    pub node_netns: PathBuf,
    pub pod_cidr: Ipv4Cidr,
    pub cluster_cidr: Ipv4Cidr,
    pub bridge: String,
    /// The cgroup all pods live under, like the kubelet's `kubepods`.
    pub cgroup_root: String,
    /// How often the sync loop runs (the kubelet resyncs every 1 s to 10 s).
    pub sync_period: Duration,
    /// The node's own address, when it has one to announce: pods read it
    /// as `status.hostIP` through the downward API.
    pub node_ip: Option<std::net::Ipv4Addr>,
    /// The cluster DNS server and domain written into `ClusterFirst`
    /// pods' resolv.conf (the kubelet's `--cluster-dns` and
    /// `--cluster-domain`); `None`: they get the host's file.
    pub cluster_dns: Option<crate::resolv_conf::ClusterDns>,
    /// The host's resolv.conf, for `dnsPolicy: Default` and the host's
    /// search domains (the kubelet's `--resolv-conf`).
    pub host_resolv_conf: PathBuf,
}

/// What can stop the agent from starting.
#[derive(Debug, Error)]
pub enum AgentError {
    #[error("node network: {0}")]
    Network(#[from] NetError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// No cgroup filesystem where containers need one (the message says
    /// what was found and what to do).
    #[error("{0}")]
    Cgroups(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// State shared by the sync loop and the pod tasks it spawns.
pub struct Shared {
    pub config: AgentConfig,
    pub layout: StateLayout,
    pub network: NodeNetwork,
    pub runtime: RuntimeClient,
    pub images: Arc<dyn ImageSource>,
    pub clock: Arc<dyn Clock>,
    pub prober: Prober,
    /// The containers whose `postStart` hook runs: not Running yet.
    pub hooks: hooks::RunningHooks,
    /// Why the last start of a container failed (`ErrImagePull`, ...), by
    /// (pod uid, container name), until it starts. A std `Mutex`: never
    /// held across an `.await`.
    pub start_errors: Mutex<HashMap<(String, String), Waiting>>,
    /// Image pulls that failed, for `ImagePullBackOff`.
    pub pull_failures: pull_backoff::PullFailures,
    /// Wakes the sync loop before its tick (see [`wake`]): pod tasks and
    /// probe workers use it; sources get a clone from [`Agent::waker`].
    pub waker: SyncWaker,
    /// Where pod events go; set once by [`Agent::set_event_sink`],
    /// [`events::LogEvents`] until then.
    events: OnceLock<Arc<dyn events::EventSink>>,
    /// Where ConfigMaps and Secrets named by a pod are read; set once by
    /// [`Agent::set_object_source`], [`NoApiServer`] until then (static
    /// pods on a node without an API server).
    objects: OnceLock<Arc<dyn ObjectSource>>,
}

impl Shared {
    /// Records `event` about `pod` (`kubectl describe pod` shows it).
    pub fn event(&self, pod: &Pod, event: events::PodEvent) {
        match self.events.get() {
            Some(sink) => sink.pod_event(pod, event),
            None => events::EventSink::pod_event(&events::LogEvents, pod, event),
        }
    }

    /// Records `event` about container `name` of `pod`: the event names
    /// the container (`involvedObject.fieldPath`), as the kubelet's do.
    pub fn container_event(&self, pod: &Pod, name: &str, event: events::PodEvent) {
        self.event(pod, event.about(pod.field_path(name)));
    }

    /// Where events go, for the probe workers, which outlive a sync.
    pub fn event_sink(&self) -> Arc<dyn events::EventSink> {
        match self.events.get() {
            Some(sink) => sink.clone(),
            None => Arc::new(events::LogEvents),
        }
    }

    /// The ConfigMaps and Secrets pods may name.
    pub fn objects(&self) -> &dyn ObjectSource {
        match self.objects.get() {
            Some(objects) => objects.as_ref(),
            None => &NoApiServer,
        }
    }
}

/// The node agent.
pub struct Agent {
    shared: Arc<Shared>,
    sources: Vec<Box<dyn PodSource>>,
    /// The task working on each pod, by uid: one at a time per pod, as the
    /// kubelet's pod workers.
    in_flight: HashMap<String, PodTask>,
    /// The manifest errors last reported, so each is logged once.
    reported_errors: Vec<ManifestError>,
    /// Where statuses go besides their files (chapter 03: the API server).
    sinks: Vec<Arc<dyn StatusSink>>,
    /// The status last handed to the sinks, by pod uid: only changes are
    /// handed over. In memory only: after a restart every status is handed
    /// over once more, which repairs whatever the last agent missed.
    reported: HashMap<String, PodStatus>,
    /// The runs (runtime ids) whose `BackOff` event was recorded: one event
    /// per crashed run, not one per sync while it waits.
    backoffs_reported: BTreeSet<String>,
    /// The limits last written on each QoS class's cgroup, by path
    /// ([`actions::update_qos_cgroups`]): a sync that changes nothing
    /// writes nothing.
    qos_written: BTreeMap<String, orc_container::spec::Resources>,
}

impl Agent {
    /// Prepares the node: state directory, pod network (idempotent, so a
    /// restarted agent finds its bridge and address allocations again).
    pub async fn new(
        config: AgentConfig,
        sources: Vec<Box<dyn PodSource>>,
        images: Arc<dyn ImageSource>,
        clock: Arc<dyn Clock>,
    ) -> Result<Agent, AgentError> {
        let cgroups = std::path::Path::new(orc_container::cgroups::CGROUP_ROOT);
        if let Some(why) = orc_container::cgroups::not_mounted(cgroups) {
            return Err(AgentError::Cgroups(why));
        }
        let layout = StateLayout::new(&config.state_dir);
        std::fs::create_dir_all(layout.pods()).map_err(|source| AgentError::Io {
            what: "creating",
            path: layout.pods(),
            source,
        })?;
        let network = NodeNetwork::setup(NodeConfig {
            netns: config.node_netns.clone(),
            bridge: config.bridge.clone(),
            pod_cidr: config.pod_cidr,
            cluster_cidr: config.cluster_cidr,
            ipam_state: layout.ipam(),
        })
        .await?;
        let runtime = RuntimeClient {
            program: config.runtime_program.clone(),
            root: layout.runtime_root(),
            shim: config.shim_program.clone(),
        };
        let waker = SyncWaker::default();
        let shared = Shared {
            config,
            layout,
            network,
            runtime,
            images,
            clock,
            prober: Prober::waking(waker.clone()),
            hooks: Default::default(),
            start_errors: Mutex::new(HashMap::new()),
            pull_failures: Default::default(),
            waker,
            events: OnceLock::new(),
            objects: OnceLock::new(),
        };
        Ok(Agent {
            shared: Arc::new(shared),
            sources,
            in_flight: HashMap::new(),
            reported_errors: vec![],
            sinks: vec![],
            reported: HashMap::new(),
            backoffs_reported: BTreeSet::new(),
            qos_written: BTreeMap::new(),
        })
    }

    /// Also hands pod statuses (when they change) and finished
    /// terminations to `sink`.
    pub fn add_status_sink(&mut self, sink: Arc<dyn StatusSink>) {
        self.sinks.push(sink);
    }

    /// Reads the ConfigMaps and Secrets that pods' `env` and `envFrom`
    /// name from `objects` (chapter 03: the API server). Only the first
    /// call counts; make it before the first sync.
    pub fn set_object_source(&mut self, objects: Arc<dyn ObjectSource>) {
        if self.shared.objects.set(objects).is_err() {
            tracing::warn!("the agent's object source was already set; keeping the first");
        }
    }

    /// Hands pod events (Pulled, Started, BackOff, FailedMount, ...) to
    /// `sink` (chapter 03: Event objects). Only the first call counts.
    pub fn set_event_sink(&mut self, sink: Arc<dyn events::EventSink>) {
        if self.shared.events.set(sink).is_err() {
            tracing::warn!("the agent's event sink was already set; keeping the first");
        }
    }

    /// The state shared with pod tasks (for tests and the CLI).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// What wakes the sync loop before its tick: give a clone to a pod
    /// source so a changed pod is synced at once ([`wake`]).
    pub fn waker(&self) -> SyncWaker {
        self.shared.waker.clone()
    }

    // ANCHOR: run
    /// Runs [`sync_once`](Self::sync_once) every sync period, and whenever
    /// [`waker`](Self::waker) is woken, until `shutdown` completes.
    pub async fn run(&mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.shared.config.sync_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let waker = self.waker();
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
                _ = waker.woken() => {}
            }
            if let Err(e) = self.sync_once() {
                tracing::warn!("sync failed: {e}");
            }
        }
    }
    // ANCHOR_END: run

    // ANCHOR: sync_once
    /// One pass of the sync loop. Spawns the work and returns; pods whose
    /// previous work has not finished are left for the next pass.
    pub fn sync_once(&mut self) -> Result<(), AgentError> {
        self.in_flight.retain(|_, task| !task.is_done());
        let shared = Arc::clone(&self.shared);
        let (desired, terminating) = self.desired_pods();
        let now = shared.clock.now();
        let observed = observe::observe(&shared.runtime.list()?, now);
        let pod_ips: BTreeMap<String, std::net::Ipv4Addr> =
            shared.network.pods().into_iter().collect();

        // Everything of ours that exists: containers, addresses, directories.
        let mut actual: BTreeSet<String> = observed.keys().cloned().collect();
        actual.extend(pod_ips.keys().cloned());
        actual.extend(pod_dirs(&shared.layout));
        let desired_uids: BTreeSet<String> = desired.keys().cloned().collect();
        self.stop_unwanted(&shared, &desired_uids, &actual, &observed, &terminating);
        self.reported.retain(|uid, _| desired.contains_key(uid));
        self.backoffs_reported
            .retain(|id| desired.keys().any(|uid| id.starts_with(uid.as_str())));

        // The QoS classes' limits follow the pods, before any pod's work
        // makes its pod cgroup under them.
        let pods: Vec<&Pod> = desired.values().collect();
        actions::update_qos_cgroups(&shared.config.cgroup_root, &pods, &mut self.qos_written);

        let mut probes = vec![];
        for (uid, pod) in &desired {
            let observed_pod = observed.get(uid).cloned().unwrap_or_default();
            let pod_ip = pod_ips.get(uid).copied();
            probes.extend(self.sync_pod(&shared, uid, pod, observed_pod, pod_ip, now));
        }
        shared
            .prober
            .sync(&shared.runtime, probes, &shared.event_sink());
        Ok(())
    }
    // ANCHOR_END: sync_once

    // ANCHOR: stop_unwanted
    /// Stops every pod that runs here (or left something behind) but is no
    /// longer desired, in the background; a terminating pod gets its grace
    /// period. Tells the sinks about deleted pods of which nothing is left.
    fn stop_unwanted(
        &mut self,
        shared: &Arc<Shared>,
        desired_uids: &BTreeSet<String>,
        actual: &BTreeSet<String>,
        observed: &BTreeMap<String, sync::ObservedPod>,
        terminating: &BTreeMap<String, Duration>,
    ) {
        for uid in sync::pods_to_stop(desired_uids, actual) {
            if self.in_flight.contains_key(&uid) {
                continue;
            }
            let observed_pod = observed.get(&uid).cloned().unwrap_or_default();
            let work = actions::stop_pod(
                Arc::clone(shared),
                uid.clone(),
                observed_pod,
                terminating.get(&uid).copied(),
            );
            let task = PodTask::spawn(&shared.waker, work);
            self.in_flight.insert(uid, task);
        }
        // Deleted pods with nothing left here: the API object may go now.
        for uid in terminating.keys() {
            if !actual.contains(uid) && !self.in_flight.contains_key(uid) {
                for sink in &self.sinks {
                    sink.pod_terminated(uid);
                }
            }
        }
    }
    // ANCHOR_END: stop_unwanted

    // ANCHOR: sync_pod
    /// One desired pod: decide, write its status (handing it to the sinks
    /// when it changed), and start its actions in the background unless
    /// the previous ones still run. Answers the probes it should have.
    fn sync_pod(
        &mut self,
        shared: &Arc<Shared>,
        uid: &String,
        pod: &Pod,
        observed_pod: sync::ObservedPod,
        pod_ip: Option<std::net::Ipv4Addr>,
        now: jiff::Timestamp,
    ) -> Vec<(ProbeKey, ProbeTarget)> {
        let verdicts = self.probe_verdicts(pod, &observed_pod);
        let plan = sync::compute_pod_actions(pod, &observed_pod, &verdicts, now);
        self.report_backoffs(shared, pod, &observed_pod, &plan);
        let status = report::write_status(shared, pod, &observed_pod, &plan, pod_ip);
        if let Some(status) = status {
            if self.reported.get(uid) != Some(&status) {
                for sink in &self.sinks {
                    sink.status_changed(pod, &status);
                }
                self.reported.insert(uid.clone(), status);
            }
        }
        let probes = self.probes_for(pod, &observed_pod, pod_ip, now);
        if self.in_flight.contains_key(uid) {
            return probes;
        }
        if plan.actions.is_empty() {
            refresh_volumes(shared, pod, &observed_pod);
            return probes;
        }
        let work =
            actions::run_actions(Arc::clone(shared), pod.clone(), observed_pod, plan.actions);
        let task = PodTask::spawn(&shared.waker, work);
        self.in_flight.insert(uid.clone(), task);
        probes
    }
    // ANCHOR_END: sync_pod

    /// A `BackOff` event for each container the plan keeps waiting in
    /// `CrashLoopBackOff`, once per crashed run.
    fn report_backoffs(
        &mut self,
        shared: &Shared,
        pod: &Pod,
        observed: &sync::ObservedPod,
        plan: &sync::PodPlan,
    ) {
        for (name, waiting) in &plan.waiting {
            let Some(run) = observed.containers.get(name) else {
                continue;
            };
            if waiting.reason == "CrashLoopBackOff" && self.backoffs_reported.insert(run.id.clone())
            {
                shared.container_event(pod, name, events::back_off(name, pod));
            }
        }
    }

    /// Waits until every spawned pod task has finished.
    pub async fn wait_idle(&mut self) {
        for (_, task) in self.in_flight.drain() {
            task.join().await;
        }
    }

    /// Stops every pod gracefully and removes the node's pod network: what
    /// draining a node does. (Stopping the agent alone leaves pods running.)
    pub async fn drain_and_teardown(mut self) -> Result<(), AgentError> {
        self.wait_idle().await;
        self.sources.clear();
        self.sync_once()?;
        self.wait_idle().await;
        self.shared
            .prober
            .sync(&self.shared.runtime, vec![], &self.shared.event_sink());
        let shared = Arc::try_unwrap(self.shared).map_err(|_| AgentError::Io {
            what: "tearing down (a pod task still runs)",
            path: PathBuf::new(),
            source: std::io::Error::other("busy"),
        })?;
        // The QoS classes' cgroups, then the root they live in.
        let root = &shared.config.cgroup_root;
        for qos in [
            crate::sandbox::QosClass::Burstable,
            crate::sandbox::QosClass::BestEffort,
            crate::sandbox::QosClass::Guaranteed,
        ] {
            actions::remove_cgroup(&crate::sandbox::qos_cgroup(root, qos));
        }
        shared.network.teardown().await?;
        Ok(())
    }

    /// All sources' pods by uid, and the grace period of each terminating
    /// pod by uid; errors are logged once and written to
    /// `manifest-errors.json`.
    fn desired_pods(&mut self) -> (BTreeMap<String, Pod>, BTreeMap<String, Duration>) {
        let mut pods = BTreeMap::new();
        let mut terminating = BTreeMap::new();
        let mut errors = vec![];
        for source in &self.sources {
            let snapshot = source.snapshot();
            errors.extend(snapshot.errors);
            for pod in snapshot.pods {
                pods.insert(pod.metadata.uid.clone(), pod);
            }
            for t in snapshot.terminating {
                terminating.insert(t.uid, t.grace);
            }
        }
        // A pod being deleted is not desired, whatever another source says.
        pods.retain(|uid, _| !terminating.contains_key(uid));
        if errors != self.reported_errors {
            for e in errors.iter().filter(|e| !self.reported_errors.contains(e)) {
                tracing::warn!("manifest not used: {e}");
            }
            let json = serde_json::to_vec_pretty(&errors).unwrap_or_default();
            let _ = layout::write_atomic(&self.shared.layout.manifest_errors(), &json);
            self.reported_errors = errors;
        }
        (pods, terminating)
    }

    // ANCHOR: probe_verdicts
    /// What the probes of each running container's current run say: its
    /// startup probe has not passed yet (or failed), or its liveness probe
    /// failed. A startup probe whose worker has not started yet counts as
    /// not passed: a container with one is not started until it passes.
    fn probe_verdicts(&self, pod: &Pod, observed: &sync::ObservedPod) -> sync::ProbeVerdicts {
        let mut verdicts = sync::ProbeVerdicts::default();
        let prober = &self.shared.prober;
        for (name, run) in &observed.containers {
            let Some(c) = pod.container(name) else {
                continue;
            };
            if !matches!(run.state, RunState::Running { .. }) {
                continue;
            }
            // Not started while its postStart hook runs.
            if post_start_running(&self.shared, &run.id) {
                verdicts.not_started.insert(name.clone());
                continue;
            }
            let key = |kind| probe_key(pod, name, &run.id, kind);
            if c.startup_probe.is_some() {
                let counter = prober.counter(&key(ProbeKind::Startup));
                match counter.and_then(|c| c.started()) {
                    Some(true) => {}
                    Some(false) => {
                        verdicts.startup_failed.insert(name.clone());
                        continue;
                    }
                    None => {
                        verdicts.not_started.insert(name.clone());
                        continue;
                    }
                }
            }
            if prober.passing(&key(ProbeKind::Liveness)) == Some(false) {
                verdicts.liveness_failed.insert(name.clone());
            }
        }
        verdicts
    }
    // ANCHOR_END: probe_verdicts

    // ANCHOR: probes_for
    /// The probes that should run: those of the running app containers
    /// and sidecars; the startup probe first, and liveness and readiness
    /// once it has passed (a container without one has started at once).
    fn probes_for(
        &self,
        pod: &Pod,
        observed: &sync::ObservedPod,
        pod_ip: Option<std::net::Ipv4Addr>,
        now: jiff::Timestamp,
    ) -> Vec<(ProbeKey, ProbeTarget)> {
        let mut wanted = vec![];
        // One copy of the pod for all its probes' events.
        let shared_pod = Arc::new(pod.clone());
        for c in pod.sidecars().chain(&pod.spec.containers) {
            let Some(run) = observed.containers.get(&c.name) else {
                continue;
            };
            let RunState::Running { started_at } = run.state else {
                continue;
            };
            // Probes start once the postStart hook has returned.
            if post_start_running(&self.shared, &run.id) {
                continue;
            }
            let startup_key = probe_key(pod, &c.name, &run.id, ProbeKind::Startup);
            let started = match &c.startup_probe {
                None => true,
                Some(_) => {
                    let counter = self.shared.prober.counter(&startup_key);
                    counter.and_then(|c| c.started()) == Some(true)
                }
            };
            let mut probes = vec![(ProbeKind::Startup, &c.startup_probe)];
            if started {
                probes.push((ProbeKind::Liveness, &c.liveness_probe));
                probes.push((ProbeKind::Readiness, &c.readiness_probe));
            }
            // The initial delay counts from the container's start.
            let running_for =
                Duration::try_from(now.duration_since(started_at)).unwrap_or_default();
            for (kind, probe) in probes {
                let Some(probe) = probe else { continue };
                let delay = Duration::from_secs(probe.initial_delay_seconds);
                wanted.push((
                    probe_key(pod, &c.name, &run.id, kind),
                    ProbeTarget {
                        probe: probe.clone(),
                        port: crate::probes::probe_port(probe, c),
                        pod_ip,
                        node_netns: self.shared.config.node_netns.clone(),
                        pod: shared_pod.clone(),
                        initial_delay: delay.saturating_sub(running_for),
                    },
                ));
            }
        }
        wanted
    }
    // ANCHOR_END: probes_for
}

// ANCHOR: refresh_volumes
/// Brings a running pod's ConfigMap, Secret and downward API files up to
/// date, as the kubelet's periodic remount does. Only when no task of the
/// pod runs: one writer per volume at a time. A failure (the ConfigMap was
/// deleted) leaves the last files in place, as in Kubernetes.
fn refresh_volumes(shared: &Shared, pod: &Pod, observed: &sync::ObservedPod) {
    let running = observed.sandbox.as_ref().is_some_and(|s| s.running);
    if !running || pod.spec.volumes.is_empty() {
        return;
    }
    if let Err(e) = actions::set_up_volumes(shared, pod) {
        tracing::warn!(pod = %pod.full_name(), "{e}");
    }
}
// ANCHOR_END: refresh_volumes

/// Whether container `id`'s `postStart` hook has not returned yet.
fn post_start_running(shared: &Shared, id: &str) -> bool {
    shared.hooks.post_start_running(id)
}

pub(crate) fn probe_key(pod: &Pod, container: &str, id: &str, kind: ProbeKind) -> ProbeKey {
    ProbeKey {
        pod_uid: pod.metadata.uid.clone(),
        container: container.into(),
        container_id: id.into(),
        kind,
    }
}

fn pod_dirs(layout: &StateLayout) -> Vec<String> {
    std::fs::read_dir(layout.pods())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

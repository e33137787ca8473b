//! Carrying out the sync loop's decisions against the runtime and network.
//!
//! Each function here is one pod's work, run in a task of its own. They are
//! written to be safe to repeat: a half-done action (the agent died, a
//! command failed) is simply decided again by the next sync.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hooks::HookGuard;
use super::image_pull::{self, PullDecision};
use super::layout::write_atomic;
use super::sync::{Action, KillReason, ObservedPod, RunState, Waiting};
use super::{Shared, events, hooks, observe, termination_message};
use orc_container::cgroups::Layout;
use orc_container::image::ImageError;
use orc_container::image::bundle::{ImageBundle, Overrides};
use orc_container::spec::Resources;

use crate::env;
use crate::hosts_file;
use crate::image::waiting_reason;
use crate::pod_spec::{Container, LifecycleHandler, Pod};
use crate::resolv_conf;
use crate::sandbox;
use crate::security_context;
use crate::shim::stdio::StdioMode;
use crate::volumes;

/// Runs one pod's actions in order. The first failure ends the list: the
/// next sync decides again from what actually happened.
pub async fn run_actions(
    shared: Arc<Shared>,
    pod: Pod,
    observed: ObservedPod,
    actions: Vec<Action>,
) {
    let uid = pod.metadata.uid.clone();
    let mut sandbox_pid = observed
        .sandbox
        .as_ref()
        .filter(|s| s.running)
        .map(|s| s.pid);
    for action in actions {
        let result = match &action {
            Action::CreateSandbox => match create_sandbox(&shared, &pod, &observed).await {
                Ok(pid) => {
                    sandbox_pid = Some(pid);
                    sandbox_failed(&shared, &pod, None);
                    Ok(())
                }
                Err(message) => {
                    sandbox_failed(&shared, &pod, Some(&message));
                    Err(message)
                }
            },
            Action::StartContainer { name, attempt } => match sandbox_pid {
                Some(pid) => start_container(&shared, &pod, name, *attempt, pid).await,
                None => Err("the pod has no running sandbox".into()),
            },
            Action::KillContainer { id, reason, name } => {
                tracing::info!(pod = %pod.full_name(), container = %name, "killing: {reason:?}");
                shared.container_event(&pod, name, events::killing(name, *reason));
                stop_container(&shared, Some(&pod), name, id, grace(&pod)).await;
                Ok(())
            }
            Action::StopSandbox { id } => {
                tracing::info!(pod = %pod.full_name(), "all containers finished: stopping the sandbox");
                match remove_container(&shared, id).await {
                    Ok(()) => shared
                        .network
                        .remove_pod(&uid)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Action::RemoveContainer { id } => remove_container(&shared, id).await,
        };
        if let Err(message) = result {
            if !message.is_empty() {
                tracing::warn!(pod = %pod.full_name(), uid = %uid, "{action:?} failed: {message}");
            }
            return;
        }
    }
}

/// Remembers why the pod's sandbox could not be made (`None`: it was),
/// and records a `FailedCreatePodSandBox` event when the reason is new:
/// the same failure at every sync is one event, not one per sync. Kept
/// with the containers' start errors under the container name "".
fn sandbox_failed(shared: &Shared, pod: &Pod, message: Option<&str>) {
    let key = (pod.metadata.uid.clone(), String::new());
    let mut errors = shared
        .start_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let Some(message) = message else {
        errors.remove(&key);
        return;
    };
    let waiting = Waiting {
        reason: "FailedCreatePodSandBox".into(),
        message: message.into(),
    };
    if errors.insert(key, waiting.clone()) != Some(waiting) {
        drop(errors);
        shared.event(pod, events::failed_create_sandbox(message));
    }
}

fn grace(pod: &Pod) -> Duration {
    Duration::from_secs(pod.spec.termination_grace_period_seconds)
}

// ANCHOR: create_sandbox
/// Starts the pod's sandbox (after removing any earlier one and every
/// container of the pod) and plugs its network namespace into the node.
async fn create_sandbox(shared: &Shared, pod: &Pod, observed: &ObservedPod) -> Result<i32, String> {
    let uid = &pod.metadata.uid;
    for run in observed.containers.values() {
        let _ = remove_container(shared, &run.id).await;
    }
    let id = sandbox::sandbox_id(uid);
    let _ = remove_container(shared, &id).await;
    create_pod_cgroup(shared, pod)?;
    // A new sandbox has a new address: the pod's /etc/hosts is written
    // again for it.
    let _ = std::fs::remove_file(shared.layout.pod(uid).join("hosts"));
    let bundle = shared.layout.pod(uid).join("sandbox");
    let pause = Overrides {
        command: Some(vec!["sleep".into(), "infinity".into()]),
        ..Overrides::default()
    };
    let root = create_root(shared, PAUSE_IMAGE, pause, &bundle)
        .await
        .map_err(|e| format!("pause image: {e}"))?;
    let hostname = hosts_file::kernel_hostname(pod, pod_domain(shared, pod).as_deref())?;
    let spec = sandbox::sandbox_spec(pod, &hostname, &root.rootfs, &shared.config.cgroup_root);
    write_json(&bundle.join("config.json"), &spec)?;
    let pid = shared
        .runtime
        .start_container(
            &id,
            &bundle,
            &bundle.join("sandbox.log"),
            StdioMode::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let netns = PathBuf::from(format!("/proc/{pid}/ns/net"));
    match shared.network.add_pod(uid, &netns).await {
        Ok(net) => {
            tracing::info!(pod = %pod.full_name(), ip = %net.address, "sandbox running");
            Ok(pid)
        }
        Err(e) => {
            let _ = remove_container(shared, &id).await;
            Err(format!("plugging the sandbox into the pod network: {e}"))
        }
    }
}
// ANCHOR_END: create_sandbox

/// The image the sandbox's pause process comes from (the kubelet's
/// `--pod-infra-container-image`, `registry.k8s.io/pause` by default).
pub const PAUSE_IMAGE: &str = "busybox";

/// A fresh run bundle at `bundle`, with a root made by
/// [`ImageSource::create_root`](crate::image::ImageSource::create_root) in
/// its `root/` subdirectory. The root sits beside the run's records
/// (`config.json`, `started`, `exit.json`) rather than around them, so that
/// removing the root of a finished run keeps how it ended: the status's
/// `lastState` reads it. Whatever an earlier try left is unmounted before
/// anything is deleted, so a delete never walks into a mounted image.
///
/// Unpacking layers, pulling and mounting block, so they run on tokio's
/// blocking threads, not on the ones that drive every pod's task.
async fn create_root(
    shared: &Shared,
    image: &str,
    overrides: Overrides,
    bundle: &Path,
) -> Result<ImageBundle, ImageError> {
    let images = shared.images.clone();
    let (image, bundle) = (image.to_string(), bundle.to_path_buf());
    tokio::task::spawn_blocking(move || {
        images.remove_root(&root_dir(&bundle))?;
        match std::fs::remove_dir_all(&bundle) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ImageError::Io {
                    action: "removing",
                    path: bundle,
                    source: e,
                });
            }
            _ => {}
        }
        images.create_root(&image, &overrides, &root_dir(&bundle))
    })
    .await
    .expect("creating a root does not panic")
}

// ANCHOR: ensure_image
/// The kubelet's `EnsureImageExists`: decides by the container's
/// `imagePullPolicy` ([`image_pull::decide`]) whether to fetch its image,
/// fetches it on a blocking thread, and says so in events: `Pulled`
/// ("already present on machine"), or `Pulling` then `Pulled`. A failure
/// is the container's waiting reason and message: `ErrImagePull`, or
/// `ErrImageNeverPull` for a missing image the policy may not fetch.
async fn ensure_image(
    shared: &Shared,
    pod: &Pod,
    container: &Container,
) -> Result<(), (&'static str, String)> {
    let image = &container.image;
    let present = shared.images.is_present(image);
    match image_pull::decide(container.pull_policy(), present) {
        PullDecision::UsePresent => {
            shared.container_event(pod, &container.name, events::image_present(image));
            Ok(())
        }
        PullDecision::NeverPull => {
            Err(("ErrImageNeverPull", image_pull::never_pull_message(image)))
        }
        PullDecision::Pull => {
            let origin = shared.images.origin(image);
            shared.container_event(pod, &container.name, events::pulling(image, origin));
            let began = Instant::now();
            let images = shared.images.clone();
            let name = image.clone();
            let size = tokio::task::spawn_blocking(move || images.pull(&name))
                .await
                .expect("pulling an image does not panic")
                .map_err(|e| (waiting_reason(&e), e.to_string()))?;
            let took = began.elapsed();
            let pulled = events::pulled(image, origin, took, size);
            shared.container_event(pod, &container.name, pulled);
            Ok(())
        }
    }
}
// ANCHOR_END: ensure_image

/// Where a run bundle's root is made.
fn root_dir(bundle: &Path) -> PathBuf {
    bundle.join("root")
}

// ANCHOR: remove_container
/// Deletes runtime container `id`, then its root: the overlayfs mount and
/// the writable layer go with the container, as `crictl rm` removes a
/// container's layer. The bundle is found in the runtime's state before
/// the delete forgets it.
pub async fn remove_container(shared: &Shared, id: &str) -> Result<(), String> {
    let bundle = shared
        .runtime
        .list()
        .ok()
        .and_then(|list| list.into_iter().find(|s| s.id == id))
        .map(|s| s.bundle);
    shared.runtime.delete(id).await.map_err(|e| e.to_string())?;
    match bundle {
        Some(bundle) => remove_root(shared, root_dir(&bundle)).await,
        None => Ok(()),
    }
}
// ANCHOR_END: remove_container

/// [`ImageSource::remove_root`](crate::image::ImageSource::remove_root) on
/// a blocking thread.
async fn remove_root(shared: &Shared, dir: PathBuf) -> Result<(), String> {
    let images = shared.images.clone();
    tokio::task::spawn_blocking(move || images.remove_root(&dir))
        .await
        .expect("removing a root does not panic")
        .map_err(|e| e.to_string())
}

/// Every root a pod's directory may hold: the sandbox's and each run's.
fn pod_roots(shared: &Shared, uid: &str) -> Vec<PathBuf> {
    let pod = shared.layout.pod(uid);
    let runs = std::fs::read_dir(pod.join("containers"))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|name| {
            std::fs::read_dir(name.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|run| root_dir(&run.path()));
    std::iter::once(root_dir(&pod.join("sandbox")))
        .chain(runs)
        .collect()
}

/// The pod cgroup, with the pod's limits, before anything runs in it, under
/// its QoS class's cgroup (made here if the sync has not yet; the sync
/// keeps that one's limits, [`update_qos_cgroups`]). On cgroup v2 the
/// pod's CPU weight is the kubelet's, not the runtime's
/// ([`sandbox::node_cgroup_resources`]). Writing cgroup files forks
/// nothing, so the runtime library does it here.
fn create_pod_cgroup(shared: &Shared, pod: &Pod) -> Result<(), String> {
    let qos_path = sandbox::qos_cgroup(&shared.config.cgroup_root, sandbox::qos_class(pod));
    orc_container::cgroups::open(&qos_path)
        .create()
        .map_err(|e| format!("QoS cgroup {qos_path}: {e}"))?;
    let path = sandbox::pod_cgroup(&shared.config.cgroup_root, pod);
    let cgroup = orc_container::cgroups::open(&path);
    let resources = sandbox::node_cgroup_resources(sandbox::pod_resources(pod), Layout::of_host());
    cgroup
        .create()
        .and_then(|_| cgroup.apply(&resources))
        .map_err(|e| format!("pod cgroup {path}: {e}"))
}

// ANCHOR: update_qos_cgroups
/// The QoS classes' cgroups, with the limits every pod the node runs adds
/// up to ([`sandbox::qos_resources`]): the kubelet's `UpdateCgroups`, which
/// it runs whenever pods come or go. Only a class some pod needs is made,
/// and it stays until teardown; `written` holds the values last written, by class, so an unchanged node
/// writes nothing. Errors are logged: a pod still runs under a class
/// cgroup with the default weight.
pub fn update_qos_cgroups(
    cgroup_root: &str,
    pods: &[&Pod],
    written: &mut BTreeMap<String, Resources>,
) {
    let layout = Layout::of_host();
    for qos in [sandbox::QosClass::Burstable, sandbox::QosClass::BestEffort] {
        let path = sandbox::qos_cgroup(cgroup_root, qos);
        let needed = pods.iter().any(|p| sandbox::qos_class(p) == qos);
        let Some(resources) =
            sandbox::qos_resources(qos, pods).map(|r| sandbox::node_cgroup_resources(r, layout))
        else {
            continue;
        };
        // A class no pod has needed yet is not made; one whose pods all
        // went back to the minimum, as the kubelet's does.
        if (!needed && !written.contains_key(&path)) || written.get(&path) == Some(&resources) {
            continue;
        }
        let cgroup = orc_container::cgroups::open(&path);
        match cgroup.create().and_then(|_| cgroup.apply(&resources)) {
            Ok(()) => {
                written.insert(path, resources);
            }
            Err(e) => {
                tracing::warn!(cgroup = %path, error = %e, "cannot set the QoS class's limits")
            }
        }
    }
}
// ANCHOR_END: update_qos_cgroups

// ANCHOR: write_resolv_conf
/// Writes the pod's `/etc/resolv.conf` next to its other files, from its
/// `dnsPolicy` and `dnsConfig`, the cluster's DNS and the host's own file
/// (read at each write: a host whose resolvers change is followed), and
/// returns its path. Every container of the pod mounts it.
fn write_resolv_conf(shared: &Shared, pod: &Pod) -> Result<PathBuf, String> {
    let config = &shared.config;
    let host = std::fs::read_to_string(&config.host_resolv_conf).unwrap_or_else(|e| {
        tracing::warn!(path = %config.host_resolv_conf.display(), error = %e,
            "cannot read the host's resolv.conf: pods get none of its resolvers");
        String::new()
    });
    let conf = resolv_conf::pod_resolv_conf(
        pod.spec.dns_policy,
        pod.spec.dns_config.as_ref(),
        &pod.metadata.namespace,
        &resolv_conf::ResolvConf::parse(&host),
        config.cluster_dns.as_ref(),
    );
    let path = shared.layout.pod(&pod.metadata.uid).join("resolv.conf");
    write_atomic(&path, conf.render().as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}
// ANCHOR_END: write_resolv_conf

/// The pod's domain (`<subdomain>.<namespace>.svc.<cluster domain>`),
/// when it has a subdomain and the node knows the cluster's domain.
fn pod_domain(shared: &Shared, pod: &Pod) -> Option<String> {
    let cluster_domain = shared
        .config
        .cluster_dns
        .as_ref()
        .map(|d| d.domain.as_str());
    hosts_file::host_domain(pod, cluster_domain)
}

/// Writes the pod's `/etc/hosts` next to its other files, naming the pod
/// by the address its sandbox got, and returns its path. Written once per
/// sandbox, before its first container: containers started later
/// (restarts, the next init container) see what earlier ones wrote there,
/// as in Kubernetes, where the file is the pod's.
fn write_hosts_file(shared: &Shared, pod: &Pod) -> Result<PathBuf, String> {
    let path = shared.layout.pod(&pod.metadata.uid).join("hosts");
    if path.exists() {
        return Ok(path);
    }
    let address = pod_facts(shared, &pod.metadata.uid).pod_ip;
    let addresses: Vec<std::net::IpAddr> = address.into_iter().map(Into::into).collect();
    let text = hosts_file::managed(pod, &addresses, pod_domain(shared, pod).as_deref());
    write_atomic(&path, text.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

/// Starts run `attempt` of container `name` inside the sandbox `sandbox_pid`.
async fn start_container(
    shared: &Shared,
    pod: &Pod,
    name: &str,
    attempt: u32,
    sandbox_pid: i32,
) -> Result<(), String> {
    let uid = &pod.metadata.uid;
    let container = pod.container(name).ok_or("no such container in the spec")?;
    let key = (uid.clone(), name.to_string());
    let fail = |reason: &str, message: String| {
        let mut errors = shared
            .start_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let waiting = Waiting {
            reason: reason.into(),
            message: message.clone(),
        };
        // The same failure at every sync (an image that is not there) is
        // logged and recorded once; the status keeps showing it.
        let repeated = errors.insert(key.clone(), waiting.clone()) == Some(waiting);
        if repeated {
            return Err(String::new());
        }
        // A volume is the pod's; everything else is about this container.
        match reason {
            "ContainerCreating" => shared.event(pod, events::failed_mount(message.clone())),
            "ImagePullBackOff" => {
                shared.container_event(pod, name, events::pull_back_off(&container.image))
            }
            "ErrImageNeverPull" => {
                shared.container_event(pod, name, events::never_pull(&container.image))
            }
            _ => shared.container_event(pod, name, events::failed(reason, &message)),
        }
        Err(message)
    };
    // Volumes first, as the kubelet mounts them before it starts anything:
    // a ConfigMap or Secret that is missing keeps the pod waiting. What
    // they hold from the API server (the objects the pod names, its
    // ServiceAccount tokens) is fetched first: the one step that waits on
    // the API server.
    shared.objects().fetch_for_pod(pod).await;
    let volumes = match set_up_volumes(shared, pod) {
        Ok(volumes) => volumes,
        Err(e) => return fail("ContainerCreating", e.to_string()),
    };
    // The environment before the mounts (a `subPathExpr` reads it): a
    // ConfigMap or Secret that is not there yet keeps the container
    // waiting, and the next sync tries again.
    let env = match env::resolve(pod, container, &pod_facts(shared, uid), shared.objects()) {
        Ok(env) => env,
        Err(message) => return fail("CreateContainerConfigError", message),
    };
    let mount_sources = match volumes::mount_sources(container, &volumes, &env) {
        Ok(sources) => sources,
        Err(message) => return fail("CreateContainerConfigError", message),
    };
    let id = sandbox::container_id(uid, name, attempt);
    let _ = shared.runtime.delete(&id).await;
    let bundle = shared.layout.bundle(uid, name, attempt);
    let overrides = sandbox::overrides(pod, container, &env);
    let now = shared.clock.now();
    if shared.pull_failures.waiting(&key, now) {
        let message = format!("Back-off pulling image {:?}", container.image);
        return fail("ImagePullBackOff", message);
    }
    let pulled = ensure_image(shared, pod, container).await;
    // Only a failed pull backs off; a success forgets earlier failures.
    let pull_failed = matches!(&pulled, Err((reason, _)) if *reason == "ErrImagePull");
    shared.pull_failures.record(&key, pull_failed, now);
    if let Err((reason, message)) = pulled {
        return fail(reason, message);
    }
    let root = match create_root(shared, &container.image, overrides, &bundle).await {
        Ok(root) => root,
        Err(e) => return fail(waiting_reason(&e), e.to_string()),
    };
    let mut spec = sandbox::container_spec(
        pod,
        container,
        attempt,
        &root,
        sandbox_pid,
        &mount_sources,
        &shared.config.cgroup_root,
    );
    // The kubelet checks runAsNonRoot once it knows the image's user, then
    // the runtime turns the security context into the spec. Either
    // failing leaves nothing behind: the root just made is removed.
    let secured = security_context::verify_run_as_non_root(pod, container, &root.image_user)
        .and_then(|()| security_context::apply(pod, container, &root.rootfs, &mut spec));
    if let Err(message) = secured {
        if let Err(e) = remove_root(shared, root_dir(&bundle)).await {
            tracing::warn!(error = %e, "removing the root of a container that cannot start");
        }
        return fail("CreateContainerConfigError", message);
    }
    // On cgroup v2 an OOM kill ends the whole container, not one of its
    // processes (the kubelet asks runc and crun for the same): a container
    // whose worker was killed would otherwise live on, half dead.
    if orc_container::cgroups::Layout::of_host() == orc_container::cgroups::Layout::V2 {
        if let Some(r) = spec.linux.as_mut().and_then(|l| l.resources.as_mut()) {
            r.unified.insert("memory.oom.group".into(), "1".into());
        }
    }
    spec.mounts
        .push(sandbox::resolv_conf_mount(&write_resolv_conf(shared, pod)?));
    if hosts_file::is_managed_for(container) {
        spec.mounts
            .push(sandbox::hosts_mount(&write_hosts_file(shared, pod)?));
    }
    // Last, so that it lands on top of /dev and of any volume.
    let message_file = termination_message::prepare(&bundle, container)
        .map_err(|e| format!("termination message file in {}: {e}", bundle.display()))?;
    spec.mounts.push(message_file);
    write_json(&bundle.join("config.json"), &spec)?;
    let log = shared.layout.log(uid, name, attempt);
    std::fs::create_dir_all(shared.layout.log_dir(uid, name)).map_err(|e| e.to_string())?;
    // A container with a `postStart` hook is marked before it starts, not
    // after: a status written in between would show it Running before
    // its hook had even been sent.
    let hook = post_start(container).map(|_| shared.hooks.mark(&id));
    match shared
        .runtime
        .start_container(&id, &bundle, &log, container.stdio_mode())
        .await
    {
        Ok(_) => {
            shared
                .start_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
            tracing::info!(pod = %pod.full_name(), container = name, attempt, "started");
            shared.container_event(pod, name, events::created(name));
            shared.container_event(pod, name, events::started(name));
            run_post_start(shared, pod, container, &id, hook).await
        }
        Err(e) => fail("CreateContainerError", e.to_string()),
    }
}

// ANCHOR: run_post_start
/// The container's `postStart` hook, if it has one, right after its
/// start; it is not Running (nor probed) until the hook returns. A hook
/// that fails gets the kubelet's `FailedPostStartHook` event, the
/// container is killed (its `preStop` runs first, as for any kill), and
/// its waiting reason is `PostStartHookError` with the hook's message
/// until the restart policy decides what comes next.
async fn run_post_start(
    shared: &Shared,
    pod: &Pod,
    container: &Container,
    id: &str,
    running: Option<HookGuard<'_>>,
) -> Result<(), String> {
    let Some(handler) = post_start(container) else {
        return Ok(());
    };
    let ran = {
        // Held until the hook returns; taken before the start.
        let _running = running;
        let target = hook_target(shared, &pod.metadata.uid, id);
        hooks::run_hook(&target, pod, container, handler, POST_START_LIMIT).await
    };
    let Err(message) = ran else {
        return Ok(());
    };
    let name = &container.name;
    tracing::warn!(pod = %pod.full_name(), container = %name, "{message}");
    shared.container_event(pod, name, events::failed_post_start_hook());
    let killing = events::killing(name, KillReason::FailedPostStartHook);
    shared.container_event(pod, name, killing);
    stop_container(shared, Some(pod), name, id, grace(pod)).await;
    let waiting = Waiting {
        reason: POST_START_HOOK_ERROR.into(),
        message: message.clone(),
    };
    shared
        .start_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((pod.metadata.uid.clone(), name.clone()), waiting);
    Err(message)
}
// ANCHOR_END: run_post_start

/// The container's `postStart` handler, if it has one.
fn post_start(container: &Container) -> Option<&LifecycleHandler> {
    container
        .lifecycle
        .as_ref()
        .and_then(|l| l.post_start.as_ref())
}

/// The waiting reason after a failed `postStart` (the kubelet's
/// `ErrPostStartHook`).
pub const POST_START_HOOK_ERROR: &str = "PostStartHookError";

/// The kubelet gives a `postStart` hook no time limit; a day stands in
/// for none, so that a hook that hangs does not hold a task for ever.
const POST_START_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Where container `id` of pod `uid` runs its hooks.
fn hook_target<'a>(shared: &'a Shared, uid: &str, id: &'a str) -> hooks::HookTarget<'a> {
    hooks::HookTarget {
        runtime: &shared.runtime,
        container_id: id,
        pod_ip: pod_facts_ip(shared, uid),
        node_netns: shared.config.node_netns.clone(),
    }
}

/// The pod's address, if it has one.
fn pod_facts_ip(shared: &Shared, uid: &str) -> Option<std::net::Ipv4Addr> {
    shared
        .network
        .pods()
        .into_iter()
        .find(|(pod, _)| pod == uid)
        .map(|(_, ip)| ip)
}

// ANCHOR: set_up_volumes
/// Sets up (or refreshes) the pod's volumes: before each container start,
/// and at every sync of a running pod ([`super::Agent`]), which is how an
/// edited ConfigMap reaches the mounted files.
pub fn set_up_volumes(
    shared: &Shared,
    pod: &Pod,
) -> Result<BTreeMap<String, PathBuf>, volumes::MountError> {
    let uid = &pod.metadata.uid;
    let dir = shared.layout.pod(uid).join("volumes");
    volumes::set_up(pod, &dir, shared.objects(), &pod_facts(shared, uid))
}
// ANCHOR_END: set_up_volumes

/// What the downward API may ask of pod `uid` that its spec does not say.
fn pod_facts(shared: &Shared, uid: &str) -> env::PodFacts {
    let (allocatable_millicpu, allocatable_memory) = env::machine_allocatable();
    env::PodFacts {
        pod_ip: pod_facts_ip(shared, uid),
        host_ip: shared.config.node_ip,
        allocatable_millicpu,
        allocatable_memory,
    }
}

// ANCHOR: stop_container
/// Graceful termination, as the kubelet does it: the container's
/// `preStop` hook ([`run_pre_stop`]), then SIGTERM, up to what is left of
/// `grace` for the process to exit, then SIGKILL; then the container is
/// deleted. A container's main process is pid 1 of its pid namespace,
/// and the kernel does not deliver SIGTERM to a namespace's init unless
/// it installed a handler: a plain `sleep` is only stopped by the SIGKILL.
/// `pod` is `None` when the pod's spec is gone: no hook can run then.
pub async fn stop_container(
    shared: &Shared,
    pod: Option<&Pod>,
    name: &str,
    id: &str,
    grace: Duration,
) {
    let mut grace = grace;
    if let Some(pod) = pod {
        grace = run_pre_stop(shared, pod, name, id, grace).await;
    }
    if shared.runtime.kill(id, "TERM").await.is_ok() {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && is_running(shared, id) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if is_running(shared, id) {
            let _ = shared.runtime.kill(id, "KILL").await;
        }
    }
    // Wait for the shim to record the exit before anything is removed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && is_running(shared, id) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
// ANCHOR_END: stop_container

// ANCHOR: run_pre_stop
/// Runs container `name`'s `preStop` hook, if it has one and still runs,
/// for at most `grace`, and answers the grace period left for the SIGTERM:
/// `grace` less the whole seconds the hook took, and never under the
/// kubelet's 2 s minimum (a hook that used it all still leaves 2 s). A
/// failed hook gets a `FailedPreStopHook` event; the stop goes on.
async fn run_pre_stop(
    shared: &Shared,
    pod: &Pod,
    name: &str,
    id: &str,
    grace: Duration,
) -> Duration {
    let container = pod.container(name);
    let handler = container
        .and_then(|c| c.lifecycle.as_ref())
        .and_then(|l| l.pre_stop.as_ref());
    let (Some(container), Some(handler)) = (container, handler) else {
        return grace;
    };
    if grace.is_zero() || !is_running(shared, id) {
        return grace;
    }
    let began = Instant::now();
    let target = hook_target(shared, &pod.metadata.uid, id);
    let hook = hooks::run_hook(&target, pod, container, handler, grace);
    match tokio::time::timeout(grace, hook).await {
        Ok(Ok(())) => {}
        Ok(Err(message)) => {
            tracing::warn!(pod = %pod.full_name(), container = name, "{message}");
            shared.container_event(pod, name, events::failed_pre_stop_hook());
        }
        Err(_) => {
            tracing::info!(pod = %pod.full_name(), container = name,
                "preStop hook not completed in the grace period ({grace:?})");
        }
    }
    let used = Duration::from_secs(began.elapsed().as_secs());
    grace.saturating_sub(used).max(MINIMUM_GRACE)
}
// ANCHOR_END: run_pre_stop
// ANCHOR_END: stop_container

/// Whether container `id` still runs: the runtime says so, or its process
/// is gone but the shim has not yet recorded how it ended.
fn is_running(shared: &Shared, id: &str) -> bool {
    let Ok(list) = shared.runtime.list() else {
        return false;
    };
    let now = shared.clock.now();
    list.iter()
        .any(|s| s.id == id && !matches!(observe::run_state(s, now), RunState::Exited { .. }))
}

// ANCHOR: stop_pod
/// Stops a pod that is no longer desired: every app container gracefully
/// and in parallel, then the sidecars one at a time, the last one first
/// ([`stop_containers`]), then the sandbox; then its address, cgroup and
/// directory. `deletion_grace` is the grace period a graceful API delete
/// gave (`deletionGracePeriodSeconds`); otherwise the pod's own applies.
pub async fn stop_pod(
    shared: Arc<Shared>,
    uid: String,
    observed: ObservedPod,
    deletion_grace: Option<Duration>,
) {
    let pod: Option<Pod> = std::fs::read(shared.layout.pod_spec(&uid))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let grace = deletion_grace
        .or_else(|| pod.as_ref().map(grace))
        .unwrap_or(Duration::from_secs(30));
    let name = pod
        .as_ref()
        .map(|p| p.full_name())
        .unwrap_or_else(|| uid.clone());
    tracing::info!(pod = %name, "stopping (grace period {grace:?})");
    if let Some(pod) = &pod {
        let running = observed
            .containers
            .iter()
            .filter(|(_, run)| matches!(run.state, RunState::Running { .. }));
        for (container, _) in running {
            let event = events::killing(container, KillReason::Stopping);
            shared.container_event(pod, container, event);
        }
    }
    stop_containers(&shared, pod.as_ref(), &observed, grace).await;
    let ids = observed
        .containers
        .values()
        .map(|r| r.id.clone())
        .chain(observed.stale.iter().cloned())
        .chain(observed.sandbox.iter().map(|s| s.id.clone()));
    for id in ids {
        if let Err(e) = remove_container(&shared, &id).await {
            tracing::warn!(pod = %name, "{e}");
        }
    }
    // Roots whose container was already gone (an agent that died between
    // the delete and the unmount): unmount them before the directory goes.
    for root in pod_roots(&shared, &uid) {
        if let Err(e) = remove_root(&shared, root).await {
            tracing::warn!(pod = %name, "{e}");
            return;
        }
    }
    if let Err(e) = shared.network.remove_pod(&uid).await {
        tracing::warn!(pod = %name, "removing from the network: {e}");
        return;
    }
    for path in sandbox::pod_cgroup_candidates(&shared.config.cgroup_root, &uid) {
        remove_cgroup(&path);
    }
    // In-memory volumes are mounts of the node: unmounted before the
    // directory goes, or its removal would stop at them.
    volumes::tmpfs::unmount_all(&shared.layout.pod(&uid).join("volumes"));
    let _ = std::fs::remove_dir_all(shared.layout.pod(&uid));
    shared
        .start_errors
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|(u, _), _| u != &uid);
    shared.pull_failures.forget_pod(&uid);
}
// ANCHOR_END: stop_pod

// ANCHOR: stop_containers
/// The kubelet's termination order: the app containers (and anything not
/// a sidecar) together, then the sidecars in the reverse of their start
/// order, each after the one behind it has exited, so a logging or proxy
/// sidecar outlives the containers that use it. The sidecars share what
/// is left of `grace`, each getting at least the kubelet's minimum of 2 s.
async fn stop_containers(
    shared: &Shared,
    pod: Option<&Pod>,
    observed: &ObservedPod,
    grace: Duration,
) {
    let began = Instant::now();
    let is_sidecar = |name: &str| pod.is_some_and(|p| p.is_sidecar(name));
    let first = observed
        .containers
        .iter()
        .filter(|(name, _)| !is_sidecar(name))
        .map(|(name, run)| stop_container(shared, pod, name, &run.id, grace));
    futures::future::join_all(first).await;
    let sidecars = pod.into_iter().flat_map(|p| p.sidecars().rev());
    for c in sidecars {
        let Some(run) = observed.containers.get(&c.name) else {
            continue;
        };
        let left = grace.saturating_sub(began.elapsed()).max(MINIMUM_GRACE);
        stop_container(shared, pod, &c.name, &run.id, left).await;
    }
}
// ANCHOR_END: stop_containers

/// The shortest grace period the kubelet gives a container it stops
/// (`minimumGracePeriodInSeconds`).
const MINIMUM_GRACE: Duration = Duration::from_secs(2);

/// Removes cgroup `path` (already emptied by the runtime's deletes) from
/// every hierarchy: each v1 controller, or the v2 unified tree.
pub fn remove_cgroup(path: &str) {
    let base = Path::new(orc_container::cgroups::CGROUP_ROOT);
    let relative = path.trim_start_matches('/');
    let mut dirs = vec![base.join(relative)];
    if let Ok(entries) = std::fs::read_dir(base) {
        dirs.extend(entries.filter_map(|e| Some(e.ok()?.path().join(relative))));
    }
    for dir in dirs {
        // rmdir, not remove_dir_all: a cgroup directory is removed empty
        // (its files are not real files), and a non-empty one must stay.
        let _ = std::fs::remove_dir(dir);
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), String> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    write_atomic(path, &json).map_err(|e| format!("writing {}: {e}", path.display()))
}

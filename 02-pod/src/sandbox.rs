//! The pod sandbox and its containers, as OCI bundles for `orc-container`.
//!
//! A pod is several containers that share a network (one IP, one
//! `localhost`), IPC and hostname. Kubernetes gets that by first starting a
//! *sandbox*: the `pause` container, a process that does nothing but hold
//! new network, IPC and UTS namespaces. Every app container is then created
//! with its `config.json` *joining* those namespaces by path
//! (`/proc/<sandbox pid>/ns/net`) while getting its own pid and mount
//! namespaces. orc's pause is `sleep infinity` from the busybox image.
//!
//! The sandbox's network namespace is what [`NodeNetwork::add_pod`](crate::NodeNetwork::add_pod)
//! plugs into the node. Because containers join the sandbox, an app
//! container can crash and restart without the pod losing its address.
//!
//! All containers of a pod live under one pod cgroup, itself under the
//! cgroup of the pod's QoS class ([`qos_class`]), like the kubelet's
//! `kubepods/burstable/pod<uid>/`: `/<root>/[burstable/|besteffort/]pod<uid>/<container id>`.
//! This module is pure: it only builds specs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orc_container::cgroups::Layout;
use orc_container::image::bundle::{ImageBundle, Overrides};
use orc_container::spec::{
    CpuLimits, MemoryLimits, Mount, Namespace, NamespaceType, Resources, Spec,
};

use crate::pod_spec::{Container, Pod, ResourceRequirements};
use crate::{env, quantity};

/// Annotations on every runtime container the agent creates. They are how
/// the agent, after a restart, tells which pod a container belongs to:
/// the runtime's `state` echoes them back.
pub const POD_UID: &str = "orc.pod.uid";
pub const POD_NAME: &str = "orc.pod.name";
pub const CONTAINER_NAME: &str = "orc.container.name";
pub const ATTEMPT: &str = "orc.container.attempt";
/// The container name the sandbox is annotated with, like the kubelet's
/// `POD` container in `docker ps` of old.
pub const SANDBOX_NAME: &str = "POD";

/// The runtime id of a pod's sandbox.
pub fn sandbox_id(uid: &str) -> String {
    format!("{uid}-pod")
}

/// The runtime id of one run (`attempt`, counted from 0) of a container.
pub fn container_id(uid: &str, name: &str, attempt: u32) -> String {
    format!("{uid}-{name}-{attempt}")
}

// ANCHOR: qos
/// A pod's Quality of Service class, from its containers' resources, as
/// Kubernetes computes it (init containers count too):
/// - `Guaranteed`: every container has a CPU and a memory limit, and its
///   requests, where given, equal them;
/// - `BestEffort`: no container asks for, or is limited in, CPU or memory;
/// - `Burstable`: everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

pub fn qos_class(pod: &Pod) -> QosClass {
    let containers = || pod.spec.containers.iter().chain(&pod.spec.init_containers);
    let parse = |resource: &str, q: &crate::pod_spec::Quantity| match resource {
        "cpu" => quantity::parse_cpu_millis(&q.0).ok(),
        _ => quantity::parse_bytes(&q.0).ok(),
    };
    let mut any = false;
    let mut guaranteed = true;
    for c in containers() {
        let r = &c.resources;
        for resource in ["cpu", "memory"] {
            let request = r.requests.get(resource).and_then(|q| parse(resource, q));
            let limit = r.limits.get(resource).and_then(|q| parse(resource, q));
            any |= request.is_some_and(|v| v > 0) || limit.is_some_and(|v| v > 0);
            match (request, limit) {
                (_, None) => guaranteed = false,
                (Some(request), Some(limit)) if request != limit => guaranteed = false,
                _ => {}
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => QosClass::BestEffort,
        (true, true) => QosClass::Guaranteed,
        (true, false) => QosClass::Burstable,
    }
}

// ANCHOR_END: qos

/// The pod's cgroup, under its QoS class's, as the kubelet lays them out:
/// `/<root>/pod<uid>` for Guaranteed pods, `/<root>/burstable/pod<uid>`
/// and `/<root>/besteffort/pod<uid>` for the others.
pub fn pod_cgroup(cgroup_root: &str, pod: &Pod) -> String {
    format!(
        "{}/pod{}",
        qos_cgroup(cgroup_root, qos_class(pod)),
        pod.metadata.uid
    )
}

/// The cgroup of QoS class `qos`: the root itself for Guaranteed.
pub fn qos_cgroup(cgroup_root: &str, qos: QosClass) -> String {
    let root = format!("/{}", cgroup_root.trim_matches('/'));
    match qos {
        QosClass::Guaranteed => root,
        QosClass::Burstable => format!("{root}/burstable"),
        QosClass::BestEffort => format!("{root}/besteffort"),
    }
}

/// Every place pod `uid`'s cgroup may be, whatever its class: what a
/// teardown that no longer has the pod's spec removes.
pub fn pod_cgroup_candidates(cgroup_root: &str, uid: &str) -> Vec<String> {
    [
        QosClass::Burstable,
        QosClass::BestEffort,
        QosClass::Guaranteed,
    ]
    .into_iter()
    .map(|qos| format!("{}/pod{uid}", qos_cgroup(cgroup_root, qos)))
    .collect()
}

// ANCHOR: qos_resources
/// The limits of a QoS class's own cgroup, given every pod the node runs,
/// as the kubelet's QoS container manager sets them:
/// - BestEffort pods together weigh as little as the kernel allows (2
///   shares), so any pod that asked for CPU wins over them;
/// - Burstable pods together weigh the sum of their CPU requests (as
///   shares, 1024 per CPU), so that class as a whole gets what its pods
///   asked for against the Guaranteed pods beside it; the kubelet updates
///   it whenever the node's pods change, and so does the agent's sync.
///
/// Guaranteed pods live in the root itself, which has no limits of its own.
pub fn qos_resources(qos: QosClass, pods: &[&Pod]) -> Option<Resources> {
    let shares = match qos {
        QosClass::Guaranteed => return None,
        QosClass::BestEffort => 2,
        QosClass::Burstable => {
            let millis: u64 = pods
                .iter()
                .filter(|p| qos_class(p) == QosClass::Burstable)
                .map(|p| pod_cpu_request_millis(p))
                .sum();
            millis_to_shares(millis)
        }
    };
    Some(Resources {
        cpu: Some(CpuLimits {
            shares: Some(shares),
            quota: None,
            period: None,
        }),
        ..Resources::default()
    })
}

// ANCHOR_END: qos_resources

/// The kubelet's `MilliCPUToShares`: 1024 shares per CPU, at least 2.
pub fn millis_to_shares(millis: u64) -> u64 {
    (millis * 1024 / 1000).max(2)
}

/// The CPU a pod asks for, in millicores: the sum of its containers'
/// requests (a limit without a request counts as the request).
pub fn pod_cpu_request_millis(pod: &Pod) -> u64 {
    pod.spec
        .containers
        .iter()
        .filter_map(|c| {
            let r = &c.resources;
            let q = r.requests.get("cpu").or_else(|| r.limits.get("cpu"))?;
            quantity::parse_cpu_millis(&q.0).ok()
        })
        .sum()
}

// ANCHOR: kubelet_cpu_weight
/// The `cpu.weight` the kubelet writes on cgroup v2 for the cgroups it
/// manages itself (the QoS classes' and each pod's): its `getCPUWeight`,
/// the linear map of shares 2..262144 onto weights 1..10000. Containers'
/// cgroups are the runtime's, and runc and crun convert on their newer
/// curve instead ([`orc_container::cgroups::shares_to_weight`]): on a v2
/// node a pod with 250m gets weight 10 on its pod cgroup and 35 on its
/// container's, in Kubernetes as in orc.
pub fn kubelet_cpu_weight(shares: u64) -> u64 {
    if shares >= 262_144 {
        10_000
    } else {
        1 + (shares.saturating_sub(2) * 9_999) / 262_142
    }
}

/// `resources` as the agent writes them on a pod or QoS cgroup of a host
/// laid out as `layout`: on v2 the shares become the kubelet's
/// [`kubelet_cpu_weight`], written as OCI's `unified` `cpu.weight` so the
/// runtime library's own conversion does not apply.
pub fn node_cgroup_resources(mut resources: Resources, layout: Layout) -> Resources {
    if layout == Layout::V2
        && let Some(shares) = resources.cpu.as_mut().and_then(|c| c.shares.take())
    {
        resources
            .unified
            .insert("cpu.weight".into(), kubelet_cpu_weight(shares).to_string());
    }
    resources
}
// ANCHOR_END: kubelet_cpu_weight

/// The sandbox's spec: pause in new pid, net, ipc, uts and mount namespaces,
/// with the pod's `hostname` (`spec.hostname`, else its name, or its fully
/// qualified name: [`crate::hosts_file::kernel_hostname`]).
// ANCHOR: sandbox_spec
pub fn sandbox_spec(pod: &Pod, hostname: &str, rootfs: &Path, cgroup_root: &str) -> Spec {
    let mut spec = Spec::example(&["sleep", "infinity"]);
    spec.root.as_mut().expect("example has a root").path = rootfs.display().to_string();
    spec.hostname = Some(hostname.to_string());
    let uid = &pod.metadata.uid;
    let linux = spec.linux.as_mut().expect("example has linux");
    linux.cgroups_path = Some(format!(
        "{}/{}",
        pod_cgroup(cgroup_root, pod),
        sandbox_id(uid)
    ));
    spec.annotations = annotations(pod, SANDBOX_NAME, 0);
    spec
}
// ANCHOR_END: sandbox_spec

/// What a container's spec changes in its image's config, with Kubernetes'
/// meaning (applied by chapter 01's [`orc_container::image::bundle::process_args`]
/// and [`orc_container::image::bundle::merge_env`], the one place the rule
/// is written): `command` replaces the entrypoint, `args` the default
/// arguments, and `env` (already resolved by [`crate::env::resolve`]) wins
/// over the image's by name. `command` and `args` have their `$(VAR)`
/// references expanded against `env` first. An empty list in the manifest
/// means "not given". `HOSTNAME` is the pod's hostname, as in Kubernetes,
/// and a `tty: true` container gets `TERM=xterm`, as containerd gives it
/// (the manifest's own `TERM` wins).
// ANCHOR: overrides
pub fn overrides(pod: &Pod, container: &Container, env: &[(String, String)]) -> Overrides {
    let given = |list: &Vec<String>| (!list.is_empty()).then(|| env::expand_all(list, env));
    let mut vars: Vec<String> = vec![format!("HOSTNAME={}", pod.hostname())];
    if container.tty {
        vars.push(crate::agent::exec::TERM.into());
    }
    vars.extend(env.iter().map(|(name, value)| format!("{name}={value}")));
    Overrides {
        command: given(&container.command),
        args: given(&container.args),
        env: vars,
    }
}
// ANCHOR_END: overrides

/// An app container's spec: the image's process (already merged with the
/// container's [`overrides`] when its root was made) on the container's own
/// overlayfs root; joins the sandbox's net, ipc and uts namespaces; has its
/// own pid and mount namespaces; mounts its volumes; gets the cgroup limits
/// from its resources.
///
/// `mount_sources` is the node path behind each of the container's
/// `volumeMounts`, in order ([`crate::volumes::mount_sources`]).
// ANCHOR: container_spec
pub fn container_spec(
    pod: &Pod,
    container: &Container,
    attempt: u32,
    root: &ImageBundle,
    sandbox_pid: i32,
    mount_sources: &[PathBuf],
    cgroup_root: &str,
) -> Spec {
    let mut spec = root.spec.clone();
    spec.root.as_mut().expect("image specs have a root").path = root.rootfs.display().to_string();
    // The hostname belongs to the sandbox's UTS namespace, which we join.
    spec.hostname = None;
    if let Some(dir) = &container.working_dir {
        spec.process
            .as_mut()
            .expect("image specs have a process")
            .cwd = dir.clone();
    }
    spec.mounts
        .extend(volume_mounts(pod, container, mount_sources));
    let uid = &pod.metadata.uid;
    let linux = spec.linux.as_mut().expect("example has linux");
    linux.namespaces = sandbox_namespaces(sandbox_pid);
    let id = container_id(uid, &container.name, attempt);
    linux.cgroups_path = Some(format!("{}/{id}", pod_cgroup(cgroup_root, pod)));
    linux.resources = Some(linux_resources(&container.resources));
    // The image's annotations (its name and digest) stay, next to orc's.
    spec.annotations
        .extend(annotations(pod, &container.name, attempt));
    spec
}
// ANCHOR_END: container_spec

// ANCHOR: sandbox_namespaces
/// An app container's namespaces: its own pid, mount and cgroup
/// namespaces, and the network, IPC and UTS namespaces of the sandbox's
/// pause process, joined by path: one address, one `localhost` and one
/// hostname for the whole pod.
fn sandbox_namespaces(sandbox_pid: i32) -> Vec<Namespace> {
    let join = |kind, file: &str| Namespace {
        kind,
        path: Some(format!("/proc/{sandbox_pid}/ns/{file}")),
    };
    vec![
        Namespace {
            kind: NamespaceType::Pid,
            path: None,
        },
        Namespace {
            kind: NamespaceType::Mount,
            path: None,
        },
        Namespace {
            kind: NamespaceType::Cgroup,
            path: None,
        },
        join(NamespaceType::Network, "net"),
        join(NamespaceType::Ipc, "ipc"),
        join(NamespaceType::Uts, "uts"),
    ]
}
// ANCHOR_END: sandbox_namespaces

/// The pod's resolv.conf (written by the agent) as the container's
/// `/etc/resolv.conf`, read-only, as the kubelet mounts it.
pub fn resolv_conf_mount(path: &Path) -> Mount {
    Mount {
        destination: "/etc/resolv.conf".into(),
        kind: Some("bind".into()),
        source: Some(path.display().to_string()),
        options: vec!["rbind".into(), "rprivate".into(), "ro".into()],
    }
}

/// The bind mount of the pod's `/etc/hosts` (written by the agent,
/// [`crate::hosts_file`]). Writable, as the kubelet mounts it: what a
/// container writes there is the pod's, and is gone when the pod is.
pub fn hosts_mount(path: &Path) -> Mount {
    Mount {
        destination: crate::hosts_file::PATH.into(),
        kind: Some("bind".into()),
        source: Some(path.display().to_string()),
        options: vec!["rbind".into(), "rprivate".into(), "rw".into()],
    }
}

// ANCHOR: volume_mounts
/// The container's `volumeMounts` as bind mounts: `sources` holds the node
/// path behind each mount, in order ([`crate::volumes::mount_sources`]).
/// A claim the pod mounts `readOnly` is read-only in every mount of it.
fn volume_mounts(pod: &Pod, container: &Container, sources: &[PathBuf]) -> Vec<Mount> {
    let read_only_claim = |name: &str| {
        pod.spec.volumes.iter().any(|v| {
            v.name == name
                && v.persistent_volume_claim
                    .as_ref()
                    .is_some_and(|c| c.read_only)
        })
    };
    let mut mounts = vec![];
    for (mount, source) in container.volume_mounts.iter().zip(sources) {
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if mount.read_only || read_only_claim(&mount.name) {
            options.push("ro".into());
        }
        mounts.push(Mount {
            destination: mount.mount_path.clone(),
            kind: Some("bind".into()),
            source: Some(source.display().to_string()),
            options,
        });
    }
    mounts
}
// ANCHOR_END: volume_mounts

fn annotations(pod: &Pod, container: &str, attempt: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        (POD_UID.to_string(), pod.metadata.uid.clone()),
        (POD_NAME.to_string(), pod.full_name()),
        (CONTAINER_NAME.to_string(), container.to_string()),
        (ATTEMPT.to_string(), attempt.to_string()),
    ])
}

/// The CFS period the kubelet uses: 100 ms.
pub const CPU_PERIOD_US: u64 = 100_000;

// ANCHOR: linux_resources
/// A container's `resources` as cgroup settings, the way the kubelet
/// converts them:
/// - CPU request → `cpu.shares` = millicores × 1024 / 1000 (minimum 2), so
///   containers share a busy CPU in proportion to their requests;
/// - CPU limit → a CFS quota of millicores × period / 1000 per 100 ms
///   period (minimum 1 ms), a hard cap;
/// - memory limit → `memory.limit_in_bytes` (`memory.max` on v2); going
///   over it wakes the OOM killer inside the cgroup. Memory requests only
///   matter to the scheduler.
///
/// A limit without a request implies a request equal to the limit.
pub fn linux_resources(resources: &ResourceRequirements) -> Resources {
    let millis = |map: &BTreeMap<String, crate::pod_spec::Quantity>| {
        map.get("cpu")
            .and_then(|q| quantity::parse_cpu_millis(&q.0).ok())
    };
    let cpu_limit = millis(&resources.limits);
    let cpu_request = millis(&resources.requests).or(cpu_limit);
    let shares = millis_to_shares(cpu_request.unwrap_or(0));
    let quota = cpu_limit.map(|m| ((m * CPU_PERIOD_US / 1000).max(1000)) as i64);
    let memory = resources
        .limits
        .get("memory")
        .and_then(|q| quantity::parse_bytes(&q.0).ok());
    Resources {
        memory: memory.map(|bytes| MemoryLimits {
            limit: Some(bytes as i64),
            swap: None,
        }),
        cpu: Some(CpuLimits {
            shares: Some(shares),
            quota,
            period: quota.map(|_| CPU_PERIOD_US),
        }),
        ..Resources::default()
    }
}
// ANCHOR_END: linux_resources

// ANCHOR: pod_resources
/// The pod cgroup's limits, as the kubelet sets them on `kubepods/pod<uid>`:
/// CPU shares from the sum of the containers' requests; a CPU quota and a
/// memory limit only when *every* container has one (the sum), because a
/// container without a limit may use anything the node has.
pub fn pod_resources(pod: &Pod) -> Resources {
    let per_container: Vec<Resources> = pod
        .spec
        .containers
        .iter()
        .map(|c| linux_resources(&c.resources))
        .collect();
    let requests = pod_cpu_request_millis(pod);
    let sum_if_all = |get: &dyn Fn(&Resources) -> Option<i64>| -> Option<i64> {
        per_container.iter().map(get).sum()
    };
    let quota = sum_if_all(&|r| r.cpu.as_ref()?.quota);
    let memory = sum_if_all(&|r| r.memory.as_ref()?.limit);
    Resources {
        memory: memory.map(|limit| MemoryLimits {
            limit: Some(limit),
            swap: None,
        }),
        cpu: Some(CpuLimits {
            shares: Some(millis_to_shares(requests)),
            quota,
            period: quota.map(|_| CPU_PERIOD_US),
        }),
        ..Resources::default()
    }
}
// ANCHOR_END: pod_resources

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_spec::Quantity;

    fn req(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> ResourceRequirements {
        let map = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect()
        };
        ResourceRequirements {
            requests: map(requests),
            limits: map(limits),
        }
    }

    /// A pod (uid `u1`) of containers with these `resources`, as YAML.
    fn pod(resources: &[&str]) -> Pod {
        let mut yaml = "metadata: {name: p, uid: u1}\nspec:\n  containers:\n".to_string();
        for (i, r) in resources.iter().enumerate() {
            yaml += &format!("  - {{name: c{i}, image: i, resources: {r}}}\n");
        }
        serde_yaml::from_str(&yaml).unwrap()
    }

    #[test]
    fn resources_convert_like_the_kubelet() {
        let r = linux_resources(&req(
            &[("cpu", "250m")],
            &[("cpu", "500m"), ("memory", "64Mi")],
        ));
        let cpu = r.cpu.unwrap();
        assert_eq!(cpu.shares, Some(256));
        assert_eq!(cpu.quota, Some(50_000));
        assert_eq!(cpu.period, Some(100_000));
        assert_eq!(r.memory.unwrap().limit, Some(64 << 20));

        let best_effort = linux_resources(&req(&[], &[]));
        assert_eq!(best_effort.cpu.unwrap().shares, Some(2));
        assert!(best_effort.memory.is_none());

        let limit_only = linux_resources(&req(&[], &[("cpu", "1")]));
        assert_eq!(limit_only.cpu.unwrap().shares, Some(1024));
    }

    #[test]
    fn containers_override_their_image_by_kubernetes_rules() {
        use orc_container::image::bundle::{merge_env, process_args};
        use orc_container::image::manifest::RunConfig;
        let yaml = "metadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: i, args: [x, $(A)]}\n  - {name: b, image: i, command: [sh]}\n";
        let pod: Pod = serde_yaml::from_str(yaml).unwrap();
        let run = RunConfig {
            entrypoint: vec!["/entry".into()],
            cmd: vec!["default".into()],
            env: vec!["A=0".into()],
            ..RunConfig::default()
        };
        let env = [("A".to_string(), "1".to_string())];
        let a = overrides(&pod, &pod.spec.containers[0], &env);
        assert_eq!(process_args(&run, &a), ["/entry", "x", "1"]);
        assert_eq!(merge_env(&run.env, &a.env)[1..], ["A=1", "HOSTNAME=p"]);
        // A command without args drops the image's default arguments too.
        let b = overrides(&pod, &pod.spec.containers[1], &[]);
        assert_eq!(process_args(&run, &b), ["sh"]);
        // A terminal announces its type, unless the manifest says another.
        let mut tty = pod.spec.containers[1].clone();
        tty.tty = true;
        let t = overrides(&pod, &tty, &[]);
        assert_eq!(
            merge_env(&run.env, &t.env)[2..],
            ["HOSTNAME=p", "TERM=xterm"]
        );
        let own = [("TERM".to_string(), "vt100".to_string())];
        let t = overrides(&pod, &tty, &own);
        assert_eq!(
            merge_env(&run.env, &t.env)[2..],
            ["HOSTNAME=p", "TERM=vt100"]
        );
    }

    #[test]
    fn qos_classes_and_their_cgroups_follow_the_kubelet() {
        let cases = [
            (
                vec!["{}"],
                QosClass::BestEffort,
                "/kubepods/besteffort/podu1",
            ),
            // Limits alone imply equal requests.
            (
                vec!["{limits: {cpu: 1, memory: 1Gi}}"],
                QosClass::Guaranteed,
                "/kubepods/podu1",
            ),
            // Equal by value, not by spelling.
            (
                vec!["{requests: {cpu: 1000m, memory: 1024Mi}, limits: {cpu: '1', memory: 1Gi}}"],
                QosClass::Guaranteed,
                "/kubepods/podu1",
            ),
            (
                vec!["{requests: {cpu: 500m}, limits: {cpu: 1, memory: 1Gi}}"],
                QosClass::Burstable,
                "/kubepods/burstable/podu1",
            ),
            // A CPU limit alone, no memory limit.
            (
                vec!["{limits: {cpu: 1}}"],
                QosClass::Burstable,
                "/kubepods/burstable/podu1",
            ),
            // One container without resources spoils Guaranteed.
            (
                vec!["{limits: {cpu: 1, memory: 1Gi}}", "{}"],
                QosClass::Burstable,
                "/kubepods/burstable/podu1",
            ),
        ];
        for (resources, qos, path) in cases {
            let p = pod(&resources);
            assert_eq!(qos_class(&p), qos, "{resources:?}");
            assert_eq!(pod_cgroup("kubepods", &p), path, "{resources:?}");
        }
        // Init containers count too.
        let mut p = pod(&["{limits: {cpu: 1, memory: 1Gi}}"]);
        p.spec.init_containers = pod(&["{}"]).spec.containers;
        assert_eq!(qos_class(&p), QosClass::Burstable);
        // Teardown looks in every class.
        assert_eq!(
            pod_cgroup_candidates("/kubepods/", "u1"),
            [
                "/kubepods/burstable/podu1",
                "/kubepods/besteffort/podu1",
                "/kubepods/podu1"
            ]
        );
    }

    #[test]
    fn qos_class_cgroups_weigh_what_their_pods_ask_for() {
        let shares = |qos, pods: &[&Pod]| qos_resources(qos, pods).unwrap().cpu.unwrap().shares;
        let a = pod(&["{requests: {cpu: 250m}, limits: {cpu: 500m}}"]);
        let b = pod(&["{requests: {cpu: 1}}", "{}"]);
        let guaranteed = pod(&["{limits: {cpu: 2, memory: 1Gi}}"]);
        let best_effort = pod(&["{}"]);
        let all = [&a, &b, &guaranteed, &best_effort];
        // Burstable: (250m + 1000m) * 1024 / 1000; the Guaranteed pod's
        // 2 CPUs do not count.
        assert_eq!(shares(QosClass::Burstable, &all), Some(1280));
        // No Burstable pod: the kernel's minimum, as MilliCPUToShares(0).
        assert_eq!(shares(QosClass::Burstable, &[&guaranteed]), Some(2));
        assert_eq!(shares(QosClass::BestEffort, &all), Some(2));
        assert!(qos_resources(QosClass::Guaranteed, &all).is_none());
    }

    #[test]
    fn the_kubelet_converts_its_own_cgroups_shares_linearly_on_v2() {
        // getCPUWeight: 1 + (shares - 2) * 9999 / 262142.
        for (shares, weight) in [(2, 1), (256, 10), (1024, 39), (1280, 49), (262_144, 10_000)] {
            assert_eq!(kubelet_cpu_weight(shares), weight, "{shares} shares");
        }
        let r = linux_resources(&req(&[("cpu", "250m")], &[]));
        let v1 = node_cgroup_resources(r.clone(), Layout::V1);
        assert_eq!(v1, r, "v1 keeps its shares");
        let v2 = node_cgroup_resources(r, Layout::V2);
        assert_eq!(
            v2.cpu.unwrap().shares,
            None,
            "no second conversion by the runtime"
        );
        assert_eq!(v2.unified["cpu.weight"], "10");
    }

    #[test]
    fn the_pod_cgroup_sums_its_containers() {
        let yaml = "metadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: i, resources: {requests: {cpu: 100m}, limits: {cpu: 200m, memory: 10Mi}}}\n  - {name: b, image: i, resources: {limits: {cpu: 300m, memory: 20Mi}}}\n";
        let mut pod: Pod = serde_yaml::from_str(yaml).unwrap();
        let r = pod_resources(&pod);
        let cpu = r.cpu.unwrap();
        assert_eq!(cpu.shares, Some(409), "(100m + 300m) * 1024 / 1000");
        assert_eq!(cpu.quota, Some(50_000));
        assert_eq!(r.memory.unwrap().limit, Some(30 << 20));
        // One container without limits: the pod has none either.
        pod.spec.containers[1].resources.limits.clear();
        let r = pod_resources(&pod);
        assert_eq!(r.cpu.unwrap().quota, None);
        assert!(r.memory.is_none());
    }
}

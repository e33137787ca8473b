//! [`PodInfo`]: a pod as the scheduler reads it, parsed once.
//!
//! Every decision reads the pods on every node: their requests, ports,
//! labels, affinity terms. Parsing JSON for each of them at each decision
//! would cost more than the decision itself, so a pod is parsed into a
//! `PodInfo` once, when the informer delivers it, and shared (`Arc`) from
//! then on: by the queue while it waits, by the cache once it is placed.
//! Kubernetes' `framework.PodInfo` exists for the same reason.

use std::collections::BTreeMap;

use orc_client::selectors::labels_of;
use serde_json::Value;

use super::field;
use super::node_selector::{self, NodePreferences};
use super::pod_affinity::{self, PodAffinity};
use super::resources::{self, ContainerRequest, Resources};
use super::spread::{self, SpreadConstraint};
use super::taints::{self, Toleration};

/// The scheduler that places pods that name none: Kubernetes' default,
/// which the API server writes into `spec.schedulerName`.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// Which part of a pod spec a problem is in, so the plugin that reads
/// that part can report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Resources,
    HostPorts,
    Tolerations,
    NodeAffinity,
    PodAffinity,
    TopologySpread,
}

/// A host port a container asks for: no two pods on a node may take the
/// same one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// `0.0.0.0` (every address) when the container names none.
    pub ip: String,
    pub port: i64,
}

/// The pod's `PodScheduled` condition, as last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledCondition {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: Option<String>,
}

/// A pod, as the scheduler reads it.
#[derive(Debug, Clone, Default)]
pub struct PodInfo {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// `metadata.resourceVersion` of the object this was read from: the
    /// event of the pod's binding names the object it replaces, so the
    /// cache can tell a binding it assumed from any other change
    /// ([`crate::cache::Cache::confirm`]).
    pub resource_version: String,
    pub labels: BTreeMap<String, String>,
    /// `spec.nodeName`: empty while the pod waits for a node.
    pub node_name: String,
    /// `spec.schedulerName`: this scheduler places only its own pods.
    pub scheduler_name: String,
    /// `spec.priority`, which the API server resolved from the pod's
    /// PriorityClass: orders the queue, and only a pod of higher priority
    /// may preempt this one.
    pub priority: i64,
    /// `spec.preemptionPolicy: Never`.
    pub never_preempts: bool,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// `status.startTime` (RFC 3339): of two victims of equal priority,
    /// preemption spares the one that has run longer.
    pub start_time: Option<String>,
    /// `status.nominatedNodeName`: where preemption made room for it.
    pub nominated_node: String,
    /// Requests, as the filters count them.
    pub requests: Resources,
    /// Requests with defaults for what is missing, as the scores count them.
    pub non_zero_requests: Resources,
    pub host_ports: Vec<HostPort>,
    pub tolerations: Vec<Toleration>,
    pub node_preferences: NodePreferences,
    pub affinity: PodAffinity,
    /// The pod's own `topologySpreadConstraints` (system defaults are
    /// added by the plugin, which knows the pod's workloads).
    pub spread: Vec<SpreadConstraint>,
    /// Container and init-container images, with `:latest` added where
    /// no tag is given, as `ImageLocality` compares them.
    pub images: Vec<String>,
    pub scheduled: Option<ScheduledCondition>,
    /// The ReplicaSet that controls the pod (its controller owner
    /// reference), whose selector the default spreading uses.
    pub replica_set: Option<String>,
    /// The claims of its `persistentVolumeClaim` volumes (`VolumeBinding`).
    pub claims: Vec<String>,
    /// Parts of the spec that could not be read, with what is wrong.
    pub problems: Vec<(Part, String)>,
}

impl PodInfo {
    /// Reads a pod object. Never fails: what cannot be read is recorded
    /// in `problems`, and the plugin owning that part refuses the pod
    /// with the message (a malformed term must not crash the scheduler,
    /// nor be silently read as something else).
    pub fn parse(pod: &Value) -> PodInfo {
        let meta = &pod["metadata"];
        let spec = &pod["spec"];
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let namespace = text(meta, "namespace");
        let labels = labels_of(pod);
        let mut problems = Vec::new();
        let p = &mut problems;
        let (requests, non_zero_requests) = take(p, Part::Resources, requests_of(spec));
        let host_ports = take(p, Part::HostPorts, host_ports_of(spec));
        let tolerations = take(
            p,
            Part::Tolerations,
            taints::parse_tolerations(spec.get("tolerations")),
        );
        let node_preferences = take(p, Part::NodeAffinity, node_selector::parse(spec));
        let affinity = take(p, Part::PodAffinity, pod_affinity::parse(spec, &namespace));
        let spread = take(p, Part::TopologySpread, spread::parse(spec, &labels));
        PodInfo {
            uid: text(meta, "uid"),
            name: text(meta, "name"),
            resource_version: text(meta, "resourceVersion"),
            namespace,
            labels,
            node_name: text(spec, "nodeName"),
            scheduler_name: text(spec, "schedulerName"),
            priority: spec.get("priority").and_then(Value::as_i64).unwrap_or(0),
            never_preempts: spec.get("preemptionPolicy").and_then(Value::as_str) == Some("Never"),
            terminating: meta.get("deletionTimestamp").is_some_and(|t| !t.is_null()),
            start_time: field(pod, &["status", "startTime"])
                .and_then(Value::as_str)
                .map(String::from),
            nominated_node: field(pod, &["status", "nominatedNodeName"])
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            requests,
            non_zero_requests,
            host_ports,
            tolerations,
            node_preferences,
            affinity,
            spread,
            images: images_of(spec),
            scheduled: scheduled_of(pod),
            replica_set: replica_set_of(meta),
            claims: super::volumes::claims_of(spec),
            problems,
        }
    }

    /// `namespace/name`, as logs and the queue name a pod.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The first problem found in `part`, if any.
    pub fn problem(&self, part: Part) -> Option<&str> {
        self.problems
            .iter()
            .find(|(p, _)| *p == part)
            .map(|(_, m)| m.as_str())
    }

    /// Whether this scheduler should place the pod: no node yet, our
    /// scheduler's name, not being deleted.
    pub fn needs_scheduling(&self) -> bool {
        self.node_name.is_empty() && self.scheduler_name == DEFAULT_SCHEDULER && !self.terminating
    }
}

/// The value read, or its default with the problem recorded against `part`.
fn take<T: Default>(problems: &mut Vec<(Part, String)>, part: Part, read: Result<T, String>) -> T {
    read.unwrap_or_else(|problem| {
        problems.push((part, problem));
        T::default()
    })
}

/// `(requests, non-zero requests)` of the pod spec.
fn requests_of(spec: &Value) -> Result<(Resources, Resources), String> {
    let mut app = Vec::new();
    let mut app_non_zero = Vec::new();
    let mut init = Vec::new();
    let mut init_non_zero = Vec::new();
    for (list, is_init) in [("containers", false), ("initContainers", true)] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let path = format!("spec.{list}[{i}].resources.requests");
            let declared = field(c, &["resources", "requests"]);
            let requests = resources::parse_list(declared.unwrap_or(&Value::Null), &path)?;
            let has = |k: &str| declared.and_then(|d| d.get(k)).is_some();
            let non_zero = resources::non_zero(&requests, (has("cpu"), has("memory")));
            if is_init {
                let sidecar = c.get("restartPolicy").and_then(Value::as_str) == Some("Always");
                init.push(ContainerRequest { requests, sidecar });
                init_non_zero.push(ContainerRequest {
                    requests: non_zero,
                    sidecar,
                });
            } else {
                app.push(requests);
                app_non_zero.push(non_zero);
            }
        }
    }
    let overhead = resources::parse_list(
        spec.get("overhead").unwrap_or(&Value::Null),
        "spec.overhead",
    )?;
    Ok((
        resources::pod_requests(&app, &init, &overhead),
        resources::pod_requests(&app_non_zero, &init_non_zero, &overhead),
    ))
}

/// The host ports of every container (and init container, as Kubernetes
/// counts them).
fn host_ports_of(spec: &Value) -> Result<Vec<HostPort>, String> {
    let mut ports = Vec::new();
    for list in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (j, p) in c
                .get("ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let Some(port) = p.get("hostPort").filter(|v| !v.is_null()) else {
                    continue;
                };
                let port = port
                    .as_i64()
                    .filter(|n| (0..=65535).contains(n))
                    .ok_or_else(|| {
                        format!("spec.{list}[{i}].ports[{j}].hostPort: {port} is not a port number")
                    })?;
                if port == 0 {
                    continue;
                }
                let text = |k: &str, default: &str| {
                    p.get(k)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .unwrap_or(default)
                        .to_string()
                };
                ports.push(HostPort {
                    protocol: text("protocol", "TCP"),
                    ip: text("hostIP", "0.0.0.0"),
                    port,
                });
            }
        }
    }
    Ok(ports)
}

/// Image names as `ImageLocality` compares them with a node's images:
/// `nginx` is `nginx:latest`.
pub fn normalized_image(name: &str) -> String {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    if colon.is_none() || colon <= slash {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

fn images_of(spec: &Value) -> Vec<String> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|list| {
            spec.get(*list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .filter(|i| !i.is_empty())
        .map(normalized_image)
        .collect()
}

fn replica_set_of(meta: &Value) -> Option<String> {
    meta.get("ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| {
            o.get("controller").and_then(Value::as_bool) == Some(true)
                && o.get("kind").and_then(Value::as_str) == Some("ReplicaSet")
                && o.get("apiVersion").and_then(Value::as_str) == Some("apps/v1")
        })
        .and_then(|o| o.get("name").and_then(Value::as_str))
        .map(String::from)
}

fn scheduled_of(pod: &Value) -> Option<ScheduledCondition> {
    let condition = field(pod, &["status", "conditions"])
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))?;
    let text = |k: &str| {
        condition
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Some(ScheduledCondition {
        status: text("status"),
        reason: text("reason"),
        message: text("message"),
        last_transition_time: condition
            .get("lastTransitionTime")
            .and_then(Value::as_str)
            .map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pod_is_read_once_with_everything_the_plugins_need() {
        let pod = PodInfo::parse(&json!({
            "metadata": {"namespace": "d", "name": "web", "uid": "u1", "labels": {"app": "web"}},
            "spec": {
                "schedulerName": "default-scheduler",
                "containers": [
                    {"name": "a", "image": "nginx", "resources": {"requests": {"cpu": "250m"}},
                     "ports": [{"containerPort": 80, "hostPort": 8080}]},
                    {"name": "b", "image": "registry:5000/app:v2"},
                ],
                "tolerations": [{"key": "k", "operator": "Exists"}],
            },
        }));
        assert!(pod.needs_scheduling());
        assert_eq!(pod.key(), "d/web");
        assert_eq!(pod.requests.milli_cpu, 250);
        assert_eq!(pod.requests.memory, 0);
        // b declared nothing: 100m and 200Mi for the scores; a declared
        // its CPU only.
        assert_eq!(pod.non_zero_requests.milli_cpu, 350);
        assert_eq!(
            pod.non_zero_requests.memory,
            2 * resources::DEFAULT_MEMORY_REQUEST
        );
        assert_eq!(
            pod.host_ports,
            vec![HostPort {
                protocol: "TCP".into(),
                ip: "0.0.0.0".into(),
                port: 8080
            }]
        );
        assert_eq!(pod.images, vec!["nginx:latest", "registry:5000/app:v2"]);
        assert!(pod.problems.is_empty());
    }

    #[test]
    fn what_cannot_be_read_is_recorded_not_guessed() {
        let pod = PodInfo::parse(&json!({
            "metadata": {"namespace": "d", "name": "bad"},
            "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "a lot"}}}],
                     "nodeSelector": {"disk": 1}},
        }));
        assert!(
            pod.problem(Part::Resources)
                .unwrap()
                .starts_with("spec.containers[0].resources.requests.cpu")
        );
        assert_eq!(
            pod.problem(Part::NodeAffinity),
            Some("spec.nodeSelector.disk: must be a string")
        );
        assert_eq!(pod.problem(Part::Tolerations), None);
    }
}

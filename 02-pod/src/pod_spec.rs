//! The Kubernetes `v1 Pod` subset the node agent runs, as serde types.
//!
//! Field names are Kubernetes' own (camelCase), so an unchanged manifest
//! from the Kubernetes documentation parses. Fields orc does not implement
//! are accepted and ignored (serde's default): a manifest written for a
//! real cluster must not be refused for a `nodeSelector` the agent never
//! reads. What the agent cannot do is refused by the API server
//! (`pod_fields.rs`) and, for a static pod, when the container starts
//! ([`crate::security_context`]). The status types live in
//! [`crate::status`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agent::image_pull::{self, PullPolicy};
use crate::quantity;
pub use crate::volumes::source::{
    ConfigMapVolumeSource, DownwardApiVolumeSource, EmptyDirSource, ProjectedVolumeSource,
    SecretVolumeSource,
};

/// A whole Pod object: `apiVersion: v1`, `kind: Pod`.
// ANCHOR: pod
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
}

/// Name, namespace, uid and labels: what identifies a pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    /// `default` when the manifest leaves it out, as `kubectl apply` does.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Filled in by the source when absent: a static pod's uid is a hash of
    /// its manifest, as the kubelet does, so an edited manifest is a new pod.
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn default_namespace() -> String {
    "default".into()
}

/// What should run: containers, volumes, and the rules around them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    pub containers: Vec<Container>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// Seconds between SIGTERM and SIGKILL when the pod is stopped.
    /// Kubernetes' default is 30.
    #[serde(default = "default_grace")]
    pub termination_grace_period_seconds: u64,
    /// orc runs every pod in its own network namespace; `true` is refused
    /// by validation rather than silently ignored.
    #[serde(default)]
    pub host_network: bool,
    /// The node the scheduler bound the pod to; empty for a static pod
    /// until the agent runs it. The downward API's `spec.nodeName`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// The pod's hostname; its name when empty, as in Kubernetes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// With a subdomain the pod's fully qualified name is
    /// `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>`
    /// ([`crate::hosts_file`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subdomain: String,
    /// `true`: the kernel hostname is the pod's fully qualified name.
    #[serde(
        default,
        rename = "setHostnameAsFQDN",
        skip_serializing_if = "Option::is_none"
    )]
    pub set_hostname_as_fqdn: Option<bool>,
    /// Lines added to the pod's `/etc/hosts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_aliases: Vec<HostAlias>,
    /// Run one at a time, in order, each to completion, before any of
    /// `containers` starts ([`crate::agent::sync`]). A sidecar (an init
    /// container with `restartPolicy: Always`) is started in its turn and
    /// keeps running beside the app containers
    /// ([`crate::agent::init_containers`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// The downward API's `spec.serviceAccountName`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// How the pod's `/etc/resolv.conf` is made (`ClusterFirst` unless
    /// given); see [`crate::resolv_conf`].
    #[serde(default)]
    pub dns_policy: crate::resolv_conf::DnsPolicy,
    /// Nameservers, searches and options added to (or, with
    /// `dnsPolicy: None`, making up) the pod's resolv.conf.
    #[serde(default)]
    pub dns_config: Option<crate::resolv_conf::PodDnsConfig>,
    /// Who every container runs as, its groups and the owner of the
    /// pod's volumes ([`crate::security_context`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<crate::security_context::PodSecurityContext>,
}
// ANCHOR_END: pod

/// One `spec.hostAliases` entry: names for an address in `/etc/hosts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostAlias {
    pub ip: String,
    #[serde(default)]
    pub hostnames: Vec<String>,
}

fn default_grace() -> u64 {
    30
}

/// When a container that exited is started again.
// ANCHOR: restart_policy
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    /// Always restart: a server that should never stop (the default).
    #[default]
    Always,
    /// Restart only after a non-zero exit: a batch job that may fail.
    OnFailure,
    /// Never restart: the container runs once.
    Never,
}
// ANCHOR_END: restart_policy

/// One container of the pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Unique within the pod; it names the container's log and status.
    pub name: String,
    pub image: String,
    /// When the agent fetches `image` ([`crate::agent::image_pull`]);
    /// unset means the API server's default for the image's tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Replaces the image's entrypoint (Docker's `ENTRYPOINT`).
    #[serde(default)]
    pub command: Vec<String>,
    /// Replaces the image's arguments (Docker's `CMD`).
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    /// Whole ConfigMaps and Secrets as variables, before `env` (which wins).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Informational, as in Kubernetes: every port the process opens is
    /// reachable on the pod IP, listed or not.
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
    #[serde(default)]
    pub resources: ResourceRequirements,
    #[serde(default)]
    pub liveness_probe: Option<Probe>,
    #[serde(default)]
    pub readiness_probe: Option<Probe>,
    /// Holds the other two probes back until it passes once: a slow
    /// starter is not killed by its liveness probe while it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    /// Only on an init container, and only `Always`: that makes it a
    /// sidecar ([`Container::is_sidecar`]), restarted whenever it exits,
    /// whatever the pod's own `restartPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    /// Keep the container's stdin open for `kubectl attach -i`; the shim
    /// holds it ([`crate::shim::stdio`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
    /// Close that stdin once the first attach ends (`kubectl run -i`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin_once: bool,
    /// Give the container a terminal (`kubectl run -t`, `attach -t`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Hooks run right after the start and before the stop
    /// ([`crate::agent::hooks`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Where the container may write why it ended; the agent bind-mounts
    /// a file of its own there and reports what it holds
    /// ([`crate::agent::termination_message`]). Unset: `/dev/termination-log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_path: Option<String>,
    /// Whether an empty message file falls back to the log's tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_message_policy: Option<TerminationMessagePolicy>,
    /// The container's user, capabilities, seccomp and root
    /// ([`crate::security_context`]); its user fields win over the pod's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<crate::security_context::SecurityContext>,
}

// ANCHOR: lifecycle
/// A container's lifecycle hooks: `postStart` runs right after the
/// container starts (it is not Running until the hook returns), `preStop`
/// right before it is stopped, within its grace period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
}

/// What a hook does: exactly one of these is set (the API server refuses
/// anything else). `tcpSocket` is deprecated: Kubernetes accepts it and
/// its kubelet fails the hook at run time, and so does orc's agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHandler {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HookHttpGet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
}

/// A hook's `GET`: to `host` (the pod's IP when unset) on `port`, a
/// number or the name of one of the container's ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookHttpGet {
    #[serde(default = "default_path")]
    pub path: String,
    pub port: PortRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
}

/// One request header a hook's `GET` sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpHeader {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// Wait `seconds` (the kubelet's `PodLifecycleSleepAction`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SleepAction {
    pub seconds: u64,
}
// ANCHOR_END: lifecycle

/// Where a terminated container's `message` comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminationMessagePolicy {
    /// Only the file at `terminationMessagePath` (the default).
    #[default]
    File,
    /// The file, or when it is empty and the container failed, the tail
    /// of its log.
    FallbackToLogsOnError,
}

/// Kubernetes' default `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// `name: value`, or `name` with a `valueFrom` the agent resolves when
/// the container starts ([`crate::env`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// Where a variable's value comes from: exactly one of the four is set
/// (the API server refuses anything else).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    /// The downward API: a field of the pod (`metadata.name`, `status.podIP`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
    /// The downward API: the container's own requests or limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
}

/// `fieldPath: metadata.labels['app']`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    pub field_path: String,
}

/// `resource: limits.memory`, `divisor: 1Mi`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFieldRef {
    pub resource: String,
    /// Which container's resources; empty means this container.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

/// One key of a ConfigMap or Secret in the pod's namespace. A missing
/// object or key stops the container from starting unless `optional`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRef {
    pub name: String,
    pub key: String,
    #[serde(default)]
    pub optional: bool,
}

/// Every key of a ConfigMap or Secret as a variable, `prefix` in front.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ObjectRef>,
}

/// A whole ConfigMap or Secret, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub container_port: u16,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
}

/// `requests` (what the scheduler reserves, and the CPU weight) and
/// `limits` (the cgroup's hard caps), keyed by `cpu` and `memory`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRequirements {
    #[serde(default)]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default)]
    pub limits: BTreeMap<String, Quantity>,
}

/// A quantity as written (`"500m"`, `"64Mi"`, or a bare number), checked
/// when the manifest is read so that a typo is reported with its field path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Quantity, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
            Float(f64),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Int(n) => n.to_string(),
            Raw::Float(f) => f.to_string(),
        };
        quantity::parse_scaled(&text, 1000).map_err(serde::de::Error::custom)?;
        Ok(Quantity(text))
    }
}

/// A check of a container's health: how to probe, and how often.
// ANCHOR: probe
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(default)]
    pub exec: Option<ExecAction>,
    #[serde(default)]
    pub http_get: Option<HttpGetAction>,
    #[serde(default)]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Seconds after the container started before the first probe.
    #[serde(default)]
    pub initial_delay_seconds: u64,
    /// Seconds between probes (Kubernetes' default: 10).
    #[serde(default = "default_period")]
    pub period_seconds: u64,
    /// Seconds a probe may take before it counts as failed (default: 1).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Consecutive failures before the probe is considered failed (default: 3).
    #[serde(default = "default_failure_threshold")]
    pub failure_threshold: u32,
    /// Consecutive successes after a failure before it counts as passing
    /// (default and, for liveness, the only allowed value: 1).
    #[serde(default = "default_success_threshold")]
    pub success_threshold: u32,
}
// ANCHOR_END: probe

fn default_period() -> u64 {
    10
}
fn default_timeout() -> u64 {
    1
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_success_threshold() -> u32 {
    1
}

/// Run a command inside the container; exit status 0 is success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecAction {
    pub command: Vec<String>,
}

/// `GET http://<pod IP>:<port><path>`; a status from 200 to 399 is success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpGetAction {
    #[serde(default = "default_path")]
    pub path: String,
    pub port: PortRef,
}

/// A port as Kubernetes' `IntOrString`: a number, or the `name` of one of
/// the container's `ports` (`httpGet.port: http`), looked up when the
/// probe runs ([`Container::resolve_port`]).
// ANCHOR: port_ref
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortRef {
    Number(u16),
    Name(String),
}
// ANCHOR_END: port_ref

fn default_path() -> String {
    "/".into()
}

/// Open a TCP connection to `<pod IP>:<port>`; connecting is success.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpSocketAction {
    pub port: PortRef,
}

/// Where a volume appears inside a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    #[serde(default)]
    pub read_only: bool,
    /// One file or directory of the volume instead of its root. As in
    /// Kubernetes, a ConfigMap file mounted this way is *not* updated: the
    /// bind mount holds the file of the moment the container started.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_path: String,
    /// `subPath` with `$(VAR)` taken from the container's environment
    /// (`logs/$(POD_NAME)`), expanded when the container starts
    /// ([`crate::volumes::subpath::expand_expr`]). Exclusive with `subPath`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_path_expr: String,
}

/// A named volume of the pod. Exactly one source is set
/// ([`crate::source::validate`] checks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    /// A directory that lives and dies with the pod, shared by its containers.
    #[serde(default)]
    pub empty_dir: Option<EmptyDirSource>,
    /// A directory (or file) of the node.
    #[serde(default)]
    pub host_path: Option<HostPathSource>,
    /// The keys of a ConfigMap as files ([`crate::volumes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// The keys of a Secret as files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    /// Fields of the pod as files.
    #[serde(
        default,
        rename = "downwardAPI",
        skip_serializing_if = "Option::is_none"
    )]
    pub downward_api: Option<DownwardApiVolumeSource>,
    /// ConfigMaps, Secrets and the downward API in one directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<ProjectedVolumeSource>,
    /// The PersistentVolume bound to a claim: the agent asks the API for
    /// the claim, then its volume, and mounts the volume's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<ClaimSource>,
}

/// `persistentVolumeClaim: {claimName, readOnly}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimSource {
    /// A claim in the pod's namespace.
    pub claim_name: String,
    /// Every mount of the volume is read-only, whatever the mounts say.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostPathSource {
    pub path: String,
}

impl Pod {
    /// `namespace/name`, how people (and `kubectl`) name a pod.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.metadata.namespace, self.metadata.name)
    }

    /// The pod's hostname: `spec.hostname`, else its name.
    pub fn hostname(&self) -> &str {
        if self.spec.hostname.is_empty() {
            &self.metadata.name
        } else {
            &self.spec.hostname
        }
    }

    /// The container named `name`, app or init container.
    pub fn container(&self, name: &str) -> Option<&Container> {
        self.spec
            .containers
            .iter()
            .chain(&self.spec.init_containers)
            .find(|c| c.name == name)
    }

    /// The sidecars, in the order written: the init containers with
    /// `restartPolicy: Always`.
    pub fn sidecars(&self) -> impl DoubleEndedIterator<Item = &Container> {
        self.spec.init_containers.iter().filter(|c| c.is_sidecar())
    }

    /// Whether container `name` is one of the sidecars.
    pub fn is_sidecar(&self, name: &str) -> bool {
        self.sidecars().any(|c| c.name == name)
    }

    /// The restart policy that applies to container `name`: `Always` for
    /// a sidecar, the pod's for everything else.
    pub fn restart_policy_of(&self, name: &str) -> RestartPolicy {
        if self.is_sidecar(name) {
            RestartPolicy::Always
        } else {
            self.spec.restart_policy
        }
    }

    /// Where container `name` is in the spec, as an event's
    /// `involvedObject.fieldPath` names it (`spec.containers{web}`,
    /// `spec.initContainers{setup}`), so `kubectl describe` can tell one
    /// container's events from another's.
    pub fn field_path(&self, name: &str) -> String {
        let init = self.spec.init_containers.iter().any(|c| c.name == name);
        let list = if init { "initContainers" } else { "containers" };
        format!("spec.{list}{{{name}}}")
    }
}

impl Container {
    /// What the shim holds for this container's stdio.
    pub fn stdio_mode(&self) -> crate::shim::stdio::StdioMode {
        crate::shim::stdio::StdioMode {
            stdin: self.stdin,
            stdin_once: self.stdin && self.stdin_once,
            tty: self.tty,
        }
    }

    /// Whether this (init) container is a sidecar: Kubernetes' "restartable
    /// init container", `restartPolicy: Always`.
    pub fn is_sidecar(&self) -> bool {
        self.restart_policy.as_deref() == Some("Always")
    }

    /// The `imagePullPolicy` that applies: the container's own, or the
    /// default for its image's tag ([`image_pull::default_policy`]).
    pub fn pull_policy(&self) -> PullPolicy {
        self.image_pull_policy
            .unwrap_or_else(|| image_pull::default_policy(&self.image))
    }

    // ANCHOR: resolve_port
    /// The number behind `port`, as the kubelet's `resolvePort`: a number
    /// is itself; a name is the `containerPort` of the port so named, and
    /// failing that a name that is all digits is that number.
    pub fn resolve_port(&self, port: &PortRef) -> Result<u16, String> {
        let name = match port {
            PortRef::Number(n) => return Ok(*n),
            PortRef::Name(name) => name,
        };
        let named = self.ports.iter().find(|p| p.name.as_deref() == Some(name));
        match named {
            Some(p) => Ok(p.container_port),
            None => name.parse().map_err(|_| {
                format!(
                    "couldn't find port: {name} in container {:?}: name it in the container's ports",
                    self.name
                )
            }),
        }
    }
    // ANCHOR_END: resolve_port
}

impl Probe {
    /// Which of the three handlers is set, as a short word for messages.
    pub fn handler_name(&self) -> &'static str {
        if self.exec.is_some() {
            "exec"
        } else if self.http_get.is_some() {
            "httpGet"
        } else if self.tcp_socket.is_some() {
            "tcpSocket"
        } else {
            "none"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_documentation_manifest_parses_with_defaults() {
        let yaml = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  securityContext: {runAsUser: 1000}
  containers:
  - name: app
    image: busybox
    resources:
      limits: {cpu: 500m, memory: 64Mi}
      requests: {cpu: 1}
    livenessProbe:
      httpGet: {port: 8080}
"#;
        let pod: Pod = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(pod.metadata.namespace, "default");
        assert_eq!(pod.spec.restart_policy, RestartPolicy::Always);
        assert_eq!(pod.spec.termination_grace_period_seconds, 30);
        let c = &pod.spec.containers[0];
        assert_eq!(c.resources.requests["cpu"], Quantity("1".into()));
        let probe = c.liveness_probe.as_ref().unwrap();
        assert_eq!(probe.http_get.as_ref().unwrap().path, "/");
        assert_eq!((probe.period_seconds, probe.failure_threshold), (10, 3));
    }

    #[test]
    fn a_bad_quantity_is_refused() {
        let yaml = "metadata: {name: x}\nspec:\n  containers:\n  - name: a\n    image: busybox\n    resources: {limits: {memory: 64MB}}\n";
        assert!(serde_yaml::from_str::<Pod>(yaml).is_err());
    }
}

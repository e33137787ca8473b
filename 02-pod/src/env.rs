//! A container's environment, resolved as the kubelet resolves it when the
//! container starts (`makeEnvironmentVariables`), and `$(VAR)` expansion.
//!
//! The order is Kubernetes' and it decides who wins:
//! 1. `envFrom`, source by source: every key of a ConfigMap or Secret,
//!    with the source's `prefix` in front; a later source overwrites an
//!    earlier one's key;
//! 2. `env`, variable by variable: a literal `value` first has its
//!    `$(NAME)` references expanded against the variables defined so far
//!    (so a variable may use the ones above it, never the ones below); a
//!    `valueFrom` is read from a ConfigMap or Secret key, from a field of
//!    the pod (the downward API) or from the container's resources.
//!
//! Then `command` and `args` are expanded against the finished list
//! ([`expand`]). The image's own `ENV` comes later still, under these
//! (chapter 01's `merge_env`), and is never a source for expansion.
//!
//! A reference that cannot be resolved, a ConfigMap, Secret or key that does
//! not exist and is not `optional`, stops the container from starting: its
//! status waits with `CreateContainerConfigError` and the kubelet's message
//! (`configmap "web" not found`, `couldn't find key port in ConfigMap
//! default/web`), and the next sync tries again, so creating the object
//! later starts the container. The agent knows no API: it asks an
//! [`ObjectSource`] (chapter 03's node agent answers from informers).
//!
//! Everything here is pure and unit-tested; `agent/actions.rs` calls it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::pod_spec::{Container, EnvVar, EnvVarSource, KeyRef, Pod, ResourceFieldRef};
use crate::quantity;
use crate::volumes::source::ServiceAccountTokenProjection;

// ANCHOR: object_source
/// The ConfigMaps and Secrets a pod's environment (and, later, its
/// volumes) may name. `Ok(None)`: the object does not exist. `Err`: it
/// cannot be known (no API server), which is never taken for "optional".
pub trait ObjectSource: Send + Sync {
    /// ConfigMap `namespace/name`'s `data`.
    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String>;
    /// Secret `namespace/name`'s `data`, decoded from base64.
    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String>;
    /// ConfigMap `namespace/name`'s `binaryData`, decoded: files in a
    /// volume, never variables (the kubelet's `envFrom` reads `data` only).
    fn config_map_binary_data(&self, _namespace: &str, _name: &str) -> BTreeMap<String, Vec<u8>> {
        BTreeMap::new()
    }
    /// The node directory of the PersistentVolume bound to claim
    /// `namespace/name`; the error is why there is none yet (the claim is
    /// missing or unbound, its volume missing or of a kind orc cannot
    /// mount), in the kubelet's words.
    fn claimed_volume(&self, namespace: &str, name: &str) -> Result<ClaimedVolume, String> {
        Err(format!(
            "persistentvolumeclaim \"{name}\" not found in namespace {namespace:?}: this node has no API server"
        ))
    }
    /// Gets what `pod` needs from the API server that is not in memory
    /// yet: the first copy of each ConfigMap and Secret it names (which
    /// the node then follows) and the tokens its `serviceAccountToken`
    /// projections need, so that the reads here (and
    /// [`ObjectSource::service_account_token`]) have them. Awaited before
    /// a pod's volumes are set up: the requests the synchronous reads
    /// here must not make.
    fn fetch_for_pod<'a>(&'a self, _pod: &'a Pod) -> Fetched<'a> {
        Box::pin(std::future::ready(()))
    }
    /// The token for `projection` of `pod`, bound to the pod. An answer
    /// from memory: one due for renewal is renewed in the background and
    /// the next sync writes the new one.
    fn service_account_token(
        &self,
        pod: &Pod,
        _projection: &ServiceAccountTokenProjection,
    ) -> Result<String, String> {
        Err(format!(
            "cannot get a token for pod {}/{}: no API server (a static pod may not use a \
             ServiceAccount token)",
            pod.metadata.namespace, pod.metadata.name
        ))
    }
}

/// Where a claim's volume lives on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedVolume {
    /// The directory (`hostPath.path` or `local.path` of the volume).
    pub path: std::path::PathBuf,
    /// Whether the agent makes the directory when it is missing: true for
    /// volumes orc's local-path provisioner made (the directory is the
    /// node's to create), false for a person's volumes, whose directory
    /// must already be there.
    pub create: bool,
}

/// What [`ObjectSource::fetch_for_pod`] answers: a future the agent
/// awaits (boxed, so the trait stays object-safe).
pub type Fetched<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
// ANCHOR_END: object_source

/// A node without an API server (static pods only): every reference fails,
/// with the kubelet's own words for it.
pub struct NoApiServer;

impl ObjectSource for NoApiServer {
    fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        Err(format!(
            "couldn't get configMap {namespace}/{name}, no kubeClient defined"
        ))
    }
    fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
        Err(format!(
            "couldn't get secret {namespace}/{name}, no kubeClient defined"
        ))
    }
}

/// What the node knows about a pod at start that the spec does not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodFacts {
    /// `status.podIP`: the sandbox's address.
    pub pod_ip: Option<Ipv4Addr>,
    /// `status.hostIP`: the node's address, when the agent knows it.
    pub host_ip: Option<Ipv4Addr>,
    /// The node's allocatable CPU (millicores) and memory (bytes): what a
    /// `limits.*` reference gives when the container sets no limit.
    pub allocatable_millicpu: u64,
    pub allocatable_memory: u64,
}

// ANCHOR: resolve
/// The container's variables in Kubernetes' order, `envFrom` then `env`,
/// each name once (a later definition replaces an earlier one in place).
pub fn resolve(
    pod: &Pod,
    container: &Container,
    facts: &PodFacts,
    objects: &dyn ObjectSource,
) -> Result<Vec<(String, String)>, String> {
    let ns = &pod.metadata.namespace;
    let mut vars = Variables::default();
    for source in &container.env_from {
        // One whole object: every key becomes a variable, prefixed.
        let data = match (&source.config_map_ref, &source.secret_ref) {
            (Some(r), _) => objects
                .config_map(ns, &r.name)?
                .map(|data| data.into_iter().map(|(k, v)| (k, v.into_bytes())).collect())
                .ok_or_else(|| (r.optional, format!("configmap {:?} not found", r.name))),
            (None, Some(r)) => objects
                .secret(ns, &r.name)?
                .ok_or_else(|| (r.optional, format!("secret {:?} not found", r.name))),
            (None, None) => continue,
        };
        let data: BTreeMap<String, Vec<u8>> = match data {
            Ok(data) => data,
            Err((true, _)) => continue,
            Err((false, message)) => return Err(message),
        };
        for (key, value) in data {
            let name = format!("{}{key}", source.prefix);
            if name.contains('=') {
                // The kubelet skips a key that cannot be a variable name
                // (and says so in an event); orc says so in its log.
                tracing::warn!(pod = %pod.full_name(), "skipping {name:?}: not a valid variable name");
                continue;
            }
            vars.set(name, String::from_utf8_lossy(&value).into_owned());
        }
    }
    for var in &container.env {
        let value = value_of(var, pod, container, facts, objects, &vars)?;
        if let Some(value) = value {
            vars.set(var.name.clone(), value);
        }
    }
    Ok(vars.0)
}
// ANCHOR_END: resolve

/// One `env` entry's value; `None` when an optional reference is missing
/// (the variable is then not set at all, as in Kubernetes).
fn value_of(
    var: &EnvVar,
    pod: &Pod,
    container: &Container,
    facts: &PodFacts,
    objects: &dyn ObjectSource,
    vars: &Variables,
) -> Result<Option<String>, String> {
    let Some(from) = var.value_from.as_ref().filter(|_| var.value.is_empty()) else {
        // A literal may refer to the variables defined above it.
        return Ok(Some(expand(&var.value, |name| vars.get(name))));
    };
    let ns = &pod.metadata.namespace;
    match from {
        EnvVarSource {
            config_map_key_ref: Some(r),
            ..
        } => {
            let data = objects.config_map(ns, &r.name)?;
            key_value(
                r,
                "ConfigMap",
                "configmap",
                ns,
                data.map(|d| d.get(&r.key).cloned()),
            )
        }
        EnvVarSource {
            secret_key_ref: Some(r),
            ..
        } => {
            let data = objects.secret(ns, &r.name)?;
            let value = data.map(|d| {
                d.get(&r.key)
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            });
            key_value(r, "Secret", "secret", ns, value)
        }
        EnvVarSource {
            field_ref: Some(f), ..
        } => field_value(&f.field_path, pod, facts).map(Some),
        EnvVarSource {
            resource_field_ref: Some(r),
            ..
        } => resource_value(r, pod, container, facts).map(Some),
        _ => Ok(Some(String::new())),
    }
}

/// A key looked up in an object that may not exist (`None`) and may not
/// have the key (`Some(None)`), with the kubelet's messages.
fn key_value(
    r: &KeyRef,
    kind: &str,
    resource: &str,
    ns: &str,
    found: Option<Option<String>>,
) -> Result<Option<String>, String> {
    match found {
        Some(Some(value)) => Ok(Some(value)),
        _ if r.optional => Ok(None),
        None => Err(format!("{resource} {:?} not found", r.name)),
        Some(None) => Err(format!(
            "couldn't find key {} in {kind} {ns}/{}",
            r.key, r.name
        )),
    }
}

// ANCHOR: field_value
/// A downward API `fieldPath`, as the kubelet's `podFieldSelectorRuntimeValue`.
pub fn field_value(path: &str, pod: &Pod, facts: &PodFacts) -> Result<String, String> {
    let ip = |ip: Option<Ipv4Addr>| ip.map(|ip| ip.to_string()).unwrap_or_default();
    let meta = &pod.metadata;
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)?
            .strip_prefix("['")?
            .strip_suffix("']")
            .map(str::to_string)
    };
    Ok(match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "spec.nodeName" => pod.spec.node_name.clone(),
        "spec.serviceAccountName" => pod.spec.service_account_name.clone(),
        "status.podIP" | "status.podIPs" => ip(facts.pod_ip),
        "status.hostIP" | "status.hostIPs" => ip(facts.host_ip),
        _ => {
            if let Some(key) = subscript("metadata.labels") {
                meta.labels.get(&key).cloned().unwrap_or_default()
            } else if let Some(key) = subscript("metadata.annotations") {
                meta.annotations.get(&key).cloned().unwrap_or_default()
            } else {
                return Err(format!("unsupported fieldPath: {path}"));
            }
        }
    })
}
// ANCHOR_END: field_value

/// A downward API `resourceFieldRef`: the request or limit divided by
/// `divisor` and rounded up, as `ExtractContainerResourceValue`. A limit
/// the container does not set is the node's allocatable amount.
pub fn resource_value(
    r: &ResourceFieldRef,
    pod: &Pod,
    container: &Container,
    facts: &PodFacts,
) -> Result<String, String> {
    let container = if r.container_name.is_empty() {
        container
    } else {
        pod.container(&r.container_name)
            .ok_or_else(|| format!("container {:?} not found", r.container_name))?
    };
    let (kind, resource) = r
        .resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource: {:?}", r.resource))?;
    let quantities = match kind {
        "limits" => &container.resources.limits,
        "requests" => &container.resources.requests,
        _ => return Err(format!("unsupported container resource: {:?}", r.resource)),
    };
    let set = quantities.get(resource).map(|q| q.0.as_str());
    let divisor = r.divisor.as_ref().map_or("1", |d| d.0.as_str());
    let bad = |e: quantity::QuantityError| e.to_string();
    let (amount, unit) = match resource {
        "cpu" => {
            let amount = match set {
                Some(q) => quantity::parse_cpu_millis(q).map_err(bad)?,
                None if kind == "limits" => facts.allocatable_millicpu,
                None => 0,
            };
            (amount, quantity::parse_cpu_millis(divisor).map_err(bad)?)
        }
        "memory" | "ephemeral-storage" => {
            let amount = match set {
                Some(q) => quantity::parse_bytes(q).map_err(bad)?,
                None if kind == "limits" && resource == "memory" => facts.allocatable_memory,
                None => 0,
            };
            (amount, quantity::parse_bytes(divisor).map_err(bad)?)
        }
        _ => return Err(format!("unsupported container resource: {:?}", r.resource)),
    };
    if unit == 0 {
        return Err(format!("divisor {divisor:?} is zero"));
    }
    Ok(amount.div_ceil(unit).to_string())
}

/// Variables in definition order, each name once.
#[derive(Default)]
struct Variables(Vec<(String, String)>);

impl Variables {
    fn set(&mut self, name: String, value: String) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

// ANCHOR: expand
/// Kubernetes' `$(VAR)` expansion (its `third_party/forked/golang/expansion`):
/// `$(NAME)` becomes the variable's value, or stays as written when there is
/// no such variable; `$$` is one literal `$` (so `$$(NAME)` is the text
/// `$(NAME)`); a `$` before anything else, and an unclosed `$(`, stay.
/// Unlike a shell, nothing else is special: `$NAME` is just text.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(escaped) = after.strip_prefix('$') {
            out.push('$');
            rest = escaped;
        } else if let Some(reference) = after.strip_prefix('(') {
            match reference.find(')') {
                Some(end) => {
                    let name = &reference[..end];
                    match lookup(name) {
                        Some(value) => out.push_str(&value),
                        None => out.push_str(&format!("$({name})")),
                    }
                    rest = &reference[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = reference;
                }
            }
        } else {
            // A lone `$`: kept, and the character after it is ordinary text.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}
// ANCHOR_END: expand

/// `command` or `args` with every element expanded against `env`.
pub fn expand_all(list: &[String], env: &[(String, String)]) -> Vec<String> {
    let lookup = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    list.iter().map(|item| expand(item, lookup)).collect()
}

/// The machine's CPUs (as millicores) and memory (bytes, `MemTotal` of
/// `/proc/meminfo`): the node's allocatable amounts, as orc's Node reports
/// its capacity without reservations.
pub fn machine_allocatable() -> (u64, u64) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0);
    (cpus * 1000, memory)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pod_spec::Pod;

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let lookup = |name: &str| (name == "A").then(|| "x".to_string());
        let cases = [
            ("$(A)", "x"),
            ("pre-$(A)-post", "pre-x-post"),
            ("$(B)", "$(B)"),
            ("$$(A)", "$(A)"),
            ("$$$(A)", "$x"),
            ("$A", "$A"),
            ("$(A", "$(A"),
            ("cost: 5$", "cost: 5$"),
            ("$()", "$()"),
            ("é$(A)é", "éxé"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, lookup), want, "{input}");
        }
    }

    /// ConfigMap `web` (`port`, `mode`) and Secret `db` (`password`) in
    /// `shop`; nothing else exists. Volume tests share it.
    pub(crate) struct Objects;
    impl ObjectSource for Objects {
        fn config_map(
            &self,
            ns: &str,
            name: &str,
        ) -> Result<Option<BTreeMap<String, String>>, String> {
            Ok((ns == "shop" && name == "web").then(|| {
                BTreeMap::from([
                    ("port".into(), "8080".into()),
                    ("mode".into(), "fast".into()),
                ])
            }))
        }
        fn secret(&self, _: &str, name: &str) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
            Ok((name == "db").then(|| BTreeMap::from([("password".into(), b"s3cr3t".to_vec())])))
        }
        /// A fake token naming what it was asked for.
        fn service_account_token(
            &self,
            pod: &Pod,
            t: &ServiceAccountTokenProjection,
        ) -> Result<String, String> {
            let account = &pod.spec.service_account_name;
            Ok(format!("{account}@{}:{}", t.audience, t.expiration()))
        }
    }

    fn pod(container: &str) -> Pod {
        let yaml = format!(
            "metadata: {{name: web-1, namespace: shop, uid: u-1, labels: {{app: web}}}}\n\
             spec: {{nodeName: n1, containers: [{container}]}}"
        );
        serde_yaml::from_str(&yaml).unwrap()
    }

    fn env_of(container: &str) -> Result<Vec<(String, String)>, String> {
        let pod = pod(container);
        let facts = PodFacts {
            pod_ip: Some(Ipv4Addr::new(10, 244, 1, 5)),
            host_ip: Some(Ipv4Addr::new(192, 168, 0, 2)),
            allocatable_millicpu: 2000,
            allocatable_memory: 4 << 30,
        };
        resolve(&pod, &pod.spec.containers[0], &facts, &Objects)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn env_from_comes_first_and_env_wins() {
        let env = env_of(
            "{name: c, image: busybox,
              envFrom: [{configMapRef: {name: web}}, {prefix: DB_, secretRef: {name: db}}],
              env: [{name: mode, value: slow}, {name: URL, value: 'http://$(HOST):$(port)/$(mode)'},
                    {name: HOST, value: late}]}",
        )
        .unwrap();
        assert_eq!(
            env,
            pairs(&[
                ("mode", "slow"),
                ("port", "8080"),
                ("DB_password", "s3cr3t"),
                ("URL", "http://$(HOST):8080/slow"),
                ("HOST", "late"),
            ])
        );
    }

    #[test]
    fn value_from_reads_objects_fields_and_resources() {
        let env = env_of(
            "{name: c, image: busybox, resources: {limits: {memory: 64Mi}, requests: {cpu: 250m}},
              env: [
                {name: PORT, valueFrom: {configMapKeyRef: {name: web, key: port}}},
                {name: PASS, valueFrom: {secretKeyRef: {name: db, key: password}}},
                {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}},
                {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}},
                {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}},
                {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}},
                {name: HOST_IP, valueFrom: {fieldRef: {fieldPath: status.hostIP}}},
                {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}},
                {name: CPU, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}},
                {name: CPU_LIMIT, valueFrom: {resourceFieldRef: {resource: limits.cpu}}},
                {name: GONE, valueFrom: {configMapKeyRef: {name: web, key: nope, optional: true}}}]}",
        )
        .unwrap();
        assert_eq!(
            env,
            pairs(&[
                ("PORT", "8080"),
                ("PASS", "s3cr3t"),
                ("POD", "web-1"),
                ("APP", "web"),
                ("NODE", "n1"),
                ("IP", "10.244.1.5"),
                ("HOST_IP", "192.168.0.2"),
                ("MEM", "64"),
                ("CPU", "250"),
                ("CPU_LIMIT", "2"),
            ])
        );
    }

    #[test]
    fn a_missing_reference_says_what_kubernetes_says() {
        let missing = |env: &str| env_of(&format!("{{name: c, image: busybox, {env}}}"));
        assert_eq!(
            missing("env: [{name: A, valueFrom: {configMapKeyRef: {name: nope, key: k}}}]"),
            Err("configmap \"nope\" not found".into())
        );
        assert_eq!(
            missing("env: [{name: A, valueFrom: {configMapKeyRef: {name: web, key: k}}}]"),
            Err("couldn't find key k in ConfigMap shop/web".into())
        );
        assert_eq!(
            missing("env: [{name: A, valueFrom: {secretKeyRef: {name: db, key: k}}}]"),
            Err("couldn't find key k in Secret shop/db".into())
        );
        assert_eq!(
            missing("envFrom: [{secretRef: {name: nope}}]"),
            Err("secret \"nope\" not found".into())
        );
        assert_eq!(
            missing("envFrom: [{secretRef: {name: nope, optional: true}}]"),
            Ok(vec![])
        );
        let pod = pod(
            "{name: c, image: busybox, envFrom: [{configMapRef: {name: web, optional: true}}]}",
        );
        let err = resolve(
            &pod,
            &pod.spec.containers[0],
            &PodFacts::default(),
            &NoApiServer,
        );
        assert_eq!(
            err,
            Err("couldn't get configMap shop/web, no kubeClient defined".into())
        );
    }

    #[test]
    fn command_and_args_expand_against_the_environment() {
        let env = pairs(&[("GREETING", "hello")]);
        let args = vec!["echo $(GREETING) $$(GREETING) $(OTHER)".to_string()];
        assert_eq!(expand_all(&args, &env), ["echo hello $(GREETING) $(OTHER)"]);
    }
}

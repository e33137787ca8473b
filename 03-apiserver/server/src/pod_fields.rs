//! Every PodSpec and Container field, and what orc does with it.
//!
//! A field the API accepts must be honoured by some component; a field
//! none honours is refused at admission with a 422 that names it
//! (`spec.initContainers: Forbidden: ...`), never accepted and then
//! ignored on the node. The tables below classify every field of
//! Kubernetes v1.32's `PodSpec`, `Container` and `Volume`; a test walks
//! the protobuf descriptors orc already ships (`protobuf/k8s-v1.32.fds`)
//! and fails when a field is missing from them, so a new field cannot slip
//! through unclassified.
//!
//! Pods inside Deployment, ReplicaSet, DaemonSet, StatefulSet and Job
//! templates go through the same check, so a Deployment is refused before
//! its controller makes a single pod.

use serde_json::Value;

use crate::security_context;
use crate::status::FieldCause;

/// What orc does with one field.
#[derive(Debug, Clone, Copy)]
pub enum Support {
    /// A component does what the field says; the text names it.
    Honoured(&'static str),
    /// Accepted only with the value orc's behaviour already is (absent
    /// is always fine); the text says what orc does instead.
    Only(fn(&Value) -> bool, &'static str),
    /// Refused whenever it is set; the text says what is not built.
    Refused(&'static str),
    /// Accepted, not yet honoured by the agent, and listed in the book's
    /// "not built" section: a short, explicit list a test pins down.
    Gap(&'static str),
}

/// One field and what orc does with it.
pub type Rule = (&'static str, Support);

use Support::{Honoured, Only, Refused};

fn is_false(v: &Value) -> bool {
    v == &Value::Bool(false)
}
fn is_true(v: &Value) -> bool {
    v == &Value::Bool(true)
}
fn is_unconfined(v: &Value) -> bool {
    v.get("type") == Some(&Value::from("Unconfined"))
}
fn is_honoured_seccomp(v: &Value) -> bool {
    is_unconfined(v) || v.get("type") == Some(&Value::from("RuntimeDefault"))
}

// ANCHOR: pod_spec_fields
/// `PodSpec`, field by field.
pub const POD_SPEC: &[Rule] = &[
    (
        "activeDeadlineSeconds",
        Refused("the agent does not enforce a pod deadline yet"),
    ),
    (
        "affinity",
        Honoured("scheduler: node and pod (anti-)affinity"),
    ),
    (
        "automountServiceAccountToken",
        Honoured("API server: the ServiceAccount admission step"),
    ),
    ("containers", Honoured("agent")),
    (
        "dnsConfig",
        Honoured("agent: merged into the pod's resolv.conf"),
    ),
    (
        "dnsPolicy",
        Honoured("agent: the pod's resolv.conf (ClusterFirst, Default, None)"),
    ),
    (
        "enableServiceLinks",
        Only(
            is_false,
            "the agent sets no service environment variables yet",
        ),
    ),
    ("ephemeralContainers", Refused("kubectl debug is not built")),
    (
        "hostAliases",
        Honoured("agent: lines of the pod's /etc/hosts"),
    ),
    (
        "hostIPC",
        Only(is_false, "every pod has its own IPC namespace"),
    ),
    (
        "hostNetwork",
        Only(is_false, "every pod has its own network namespace"),
    ),
    (
        "hostPID",
        Only(is_false, "every container has its own pid namespace"),
    ),
    ("hostUsers", Only(is_true, "orc runs no user namespaces")),
    ("hostname", Honoured("agent: the sandbox's hostname")),
    (
        "imagePullSecrets",
        Refused("the agent pulls without registry credentials"),
    ),
    (
        "initContainers",
        Honoured("agent: in order, each to completion, before the app containers"),
    ),
    ("nodeName", Honoured("scheduler (binding) and agent")),
    ("nodeSelector", Honoured("scheduler")),
    (
        "os",
        Only(
            |v| v.get("name") == Some(&Value::from("linux")),
            "orc nodes run Linux",
        ),
    ),
    ("overhead", Refused("RuntimeClasses are not built")),
    (
        "preemptionPolicy",
        Honoured("scheduler: whether the pod may evict others"),
    ),
    (
        "priority",
        Honoured("scheduler: the queue's order and preemption"),
    ),
    (
        "priorityClassName",
        Honoured("API server: resolved to priority at admission"),
    ),
    (
        "readinessGates",
        Refused("the agent checks no readiness gates"),
    ),
    (
        "resourceClaims",
        Refused("dynamic resource allocation is not built"),
    ),
    (
        "resources",
        Refused("pod-level resources are not built: set each container's"),
    ),
    ("restartPolicy", Honoured("agent")),
    ("runtimeClassName", Refused("RuntimeClasses are not built")),
    (
        "schedulerName",
        Honoured("scheduler: it places only its own pods"),
    ),
    ("schedulingGates", Refused("scheduling gates are not built")),
    (
        "securityContext",
        Honoured("agent: field by field in POD_SECURITY_CONTEXT"),
    ),
    (
        "serviceAccount",
        Honoured("downward API (spec.serviceAccountName)"),
    ),
    (
        "serviceAccountName",
        Honoured("downward API (spec.serviceAccountName)"),
    ),
    (
        "setHostnameAsFQDN",
        Honoured("agent: the sandbox's hostname is the pod's FQDN when it has a subdomain"),
    ),
    (
        "shareProcessNamespace",
        Only(is_false, "every container has its own pid namespace"),
    ),
    (
        "subdomain",
        Honoured(
            "endpoint controllers and orc-dns: <hostname>.<subdomain>.<namespace>.svc A records",
        ),
    ),
    (
        "terminationGracePeriodSeconds",
        Honoured("agent: SIGTERM, then SIGKILL"),
    ),
    ("tolerations", Honoured("scheduler")),
    ("topologySpreadConstraints", Honoured("scheduler")),
    (
        "volumes",
        Honoured(
            "agent: emptyDir, hostPath, configMap, secret, downwardAPI, projected, persistentVolumeClaim",
        ),
    ),
];
// ANCHOR_END: pod_spec_fields

/// `Container`, field by field.
pub const CONTAINER: &[Rule] = &[
    ("args", Honoured("agent, with $(VAR) expansion")),
    ("command", Honoured("agent, with $(VAR) expansion")),
    ("env", Honoured("agent: value and valueFrom")),
    ("envFrom", Honoured("agent")),
    ("image", Honoured("agent: the node's image store")),
    (
        "imagePullPolicy",
        Honoured("agent: Always, IfNotPresent, Never"),
    ),
    (
        "lifecycle",
        Honoured("agent: postStart and preStop hooks (exec, httpGet, sleep)"),
    ),
    ("livenessProbe", Honoured("agent: exec, httpGet, tcpSocket")),
    ("name", Honoured("agent")),
    ("ports", Honoured("informational, as in Kubernetes")),
    (
        "readinessProbe",
        Honoured("agent: exec, httpGet, tcpSocket"),
    ),
    ("resizePolicy", Refused("in-place resize is not built")),
    (
        "resources",
        Honoured("agent: cpu and memory as cgroup settings; scheduler: requests"),
    ),
    (
        "restartPolicy",
        Honoured("agent: Always on an init container makes it a sidecar"),
    ),
    (
        "securityContext",
        Honoured("agent: field by field in SECURITY_CONTEXT"),
    ),
    (
        "startupProbe",
        Honoured("agent: exec, httpGet, tcpSocket; holds liveness and readiness back"),
    ),
    // kubectl run -i sets both; kubectl attach -i writes to it.
    (
        "stdin",
        Honoured("agent: the shim holds the container's stdin open for attach"),
    ),
    (
        "stdinOnce",
        Honoured("agent: stdin is closed when the first attach ends"),
    ),
    (
        "terminationMessagePath",
        Honoured("agent: a file bind-mounted there, read into state.terminated.message"),
    ),
    (
        "terminationMessagePolicy",
        Honoured("agent: File, or the log's tail for a failure (FallbackToLogsOnError)"),
    ),
    (
        "tty",
        Honoured("agent: a pty held by the shim, the container's controlling terminal"),
    ),
    ("volumeDevices", Refused("block volumes are not built")),
    ("volumeMounts", Honoured("agent: bind mounts, readOnly")),
    ("workingDir", Honoured("agent")),
];

// ANCHOR: security_context_fields
/// `PodSecurityContext`: what every container of the pod runs as, and the
/// pod-only fields. The agent's `security_context` module applies them.
///
/// SELinux, AppArmor and Windows options are refused rather than accepted
/// with a warning: a kubelet on a node without SELinux or AppArmor would
/// ignore the first and refuse the second, but a manifest that asks for a
/// label is asking for confinement orc would silently not give.
/// `appArmorProfile: Unconfined` asks for nothing and passes.
pub const POD_SECURITY_CONTEXT: &[Rule] = &[
    (
        "appArmorProfile",
        Only(is_unconfined, "orc nodes run without AppArmor"),
    ),
    (
        "fsGroup",
        Honoured(
            "agent: group owner (setgid) of emptyDir, configMap, secret, downwardAPI and projected volumes; a supplementary group",
        ),
    ),
    (
        "fsGroupChangePolicy",
        Honoured("agent: Always, or OnRootMismatch skips a volume whose root matches"),
    ),
    ("runAsGroup", Honoured("agent: the process's gid")),
    (
        "runAsNonRoot",
        Honoured("agent: the kubelet's check against runAsUser and the image's user"),
    ),
    ("runAsUser", Honoured("agent: the process's uid")),
    (
        "seLinuxChangePolicy",
        Refused("orc nodes run without SELinux"),
    ),
    ("seLinuxOptions", Refused("orc nodes run without SELinux")),
    (
        "seccompProfile",
        Only(
            is_honoured_seccomp,
            "Localhost profiles are not built: use RuntimeDefault or Unconfined",
        ),
    ),
    (
        "supplementalGroups",
        Honoured("agent: supplementary groups of the process"),
    ),
    (
        "supplementalGroupsPolicy",
        Only(
            |v| v == "Merge",
            "the agent always merges the image's /etc/group memberships (Merge)",
        ),
    ),
    ("sysctls", Refused("the agent sets no sysctls yet")),
    ("windowsOptions", Refused("orc nodes run Linux")),
];

/// `SecurityContext` of a container: its user fields and `seccompProfile`
/// override the pod's.
pub const SECURITY_CONTEXT: &[Rule] = &[
    (
        "allowPrivilegeEscalation",
        Honoured("agent: false sets no_new_privs"),
    ),
    (
        "appArmorProfile",
        Only(is_unconfined, "orc nodes run without AppArmor"),
    ),
    (
        "capabilities",
        Honoured("agent: add and drop on containerd's default set"),
    ),
    (
        "privileged",
        Only(
            is_false,
            "privileged containers (every host device and capability) are not built: add the capabilities the container needs",
        ),
    ),
    (
        "procMount",
        Only(
            |v| v == "Default",
            "an unmasked /proc needs user namespaces, which orc does not run",
        ),
    ),
    (
        "readOnlyRootFilesystem",
        Honoured("agent: the root is remounted read-only"),
    ),
    ("runAsGroup", Honoured("agent: the process's gid")),
    (
        "runAsNonRoot",
        Honoured("agent: the kubelet's check against runAsUser and the image's user"),
    ),
    ("runAsUser", Honoured("agent: the process's uid")),
    ("seLinuxOptions", Refused("orc nodes run without SELinux")),
    (
        "seccompProfile",
        Only(
            is_honoured_seccomp,
            "Localhost profiles are not built: use RuntimeDefault or Unconfined",
        ),
    ),
    ("windowsOptions", Refused("orc nodes run Linux")),
];
// ANCHOR_END: security_context_fields

/// `Volume`: its name and one source each.
pub const VOLUME: &[Rule] = &[
    ("name", Honoured("agent")),
    (
        "emptyDir",
        Honoured("agent: a directory of the pod; medium Memory is a tmpfs of sizeLimit"),
    ),
    ("hostPath", Honoured("agent: a directory of the node")),
    (
        "awsElasticBlockStore",
        Refused("network volumes are not built"),
    ),
    ("azureDisk", Refused("network volumes are not built")),
    ("azureFile", Refused("network volumes are not built")),
    ("cephfs", Refused("network volumes are not built")),
    ("cinder", Refused("network volumes are not built")),
    (
        "configMap",
        Honoured("agent: files with the ..data swap, updated in place"),
    ),
    ("csi", Refused("CSI volumes are not built")),
    ("downwardAPI", Honoured("agent: the pod's fields as files")),
    (
        "ephemeral",
        Refused("generic ephemeral volumes are not built"),
    ),
    ("fc", Refused("network volumes are not built")),
    ("flexVolume", Refused("flex volumes are not built")),
    ("flocker", Refused("network volumes are not built")),
    (
        "gcePersistentDisk",
        Refused("network volumes are not built"),
    ),
    (
        "gitRepo",
        Refused("gitRepo volumes are deprecated and not built"),
    ),
    ("glusterfs", Refused("network volumes are not built")),
    ("image", Refused("image volumes are not built")),
    ("iscsi", Refused("network volumes are not built")),
    ("nfs", Refused("network volumes are not built")),
    (
        "persistentVolumeClaim",
        Honoured("agent: the bound PersistentVolume's hostPath or local directory"),
    ),
    (
        "photonPersistentDisk",
        Refused("network volumes are not built"),
    ),
    ("portworxVolume", Refused("network volumes are not built")),
    (
        "projected",
        Honoured("agent: configMap, secret and downwardAPI sources"),
    ),
    ("quobyte", Refused("network volumes are not built")),
    ("rbd", Refused("network volumes are not built")),
    ("scaleIO", Refused("network volumes are not built")),
    (
        "secret",
        Honoured("agent: files on a tmpfs, updated in place"),
    ),
    ("storageos", Refused("network volumes are not built")),
    ("vsphereVolume", Refused("network volumes are not built")),
];

/// `VolumeMount`, field by field.
pub const VOLUME_MOUNT: &[Rule] = &[
    ("name", Honoured("agent")),
    ("mountPath", Honoured("agent")),
    ("readOnly", Honoured("agent: a read-only bind mount")),
    (
        "mountPropagation",
        Only(|v| v == "None", "the agent's bind mounts are rprivate"),
    ),
    (
        "recursiveReadOnly",
        Only(
            |v| v == "Disabled",
            "the agent's read-only is not recursive",
        ),
    ),
    (
        "subPath",
        Honoured("agent: a bind mount of one path, not updated"),
    ),
    (
        "subPathExpr",
        Honoured("agent: $(VAR) from the container's env, then as subPath"),
    ),
];

// ANCHOR: check
/// Adds a cause for every field of `obj` (at `path`) that `rules` refuse,
/// or that holds a value orc does not support.
fn check(obj: &Value, path: &str, rules: &[Rule], causes: &mut Vec<FieldCause>) {
    let Some(map) = obj.as_object() else { return };
    for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
        let at = format!("{path}.{key}");
        match rules.iter().find(|(name, _)| name == key).map(|(_, s)| *s) {
            Some(Refused(why)) => causes.push(FieldCause::forbidden(
                at,
                format!("not supported by orc: {why}"),
            )),
            Some(Only(allowed, why)) if !allowed(value) => causes.push(FieldCause::invalid(
                at,
                value,
                format!("not supported by orc: {why}"),
            )),
            // Honoured, a gap, an allowed value, or a field Kubernetes does
            // not have (schema.rs names those in a Warning).
            _ => {}
        }
    }
}
// ANCHOR_END: check

/// Every rule for a pod spec at `path` (`spec`, `spec.template.spec`).
pub fn check_pod_spec(spec: &Value, path: &str, causes: &mut Vec<FieldCause>) {
    check(spec, path, POD_SPEC, causes);
    if let Some(sc) = spec.get("securityContext").filter(|v| !v.is_null()) {
        let at = format!("{path}.securityContext");
        check(sc, &at, POD_SECURITY_CONTEXT, causes);
        security_context::validate_pod(sc, &at, causes);
    }
    let list = |obj: &Value, key: &str| -> Vec<Value> {
        obj.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let init = list(spec, "initContainers");
    let all = list(spec, "containers")
        .into_iter()
        .enumerate()
        .map(|(i, c)| (format!("{path}.containers[{i}]"), c));
    let all = all.chain(
        init.into_iter()
            .enumerate()
            .map(|(i, c)| (format!("{path}.initContainers[{i}]"), c)),
    );
    for (at, c) in all {
        check(&c, &at, CONTAINER, causes);
        if let Some(sc) = c.get("securityContext").filter(|v| !v.is_null()) {
            let at = format!("{at}.securityContext");
            check(sc, &at, SECURITY_CONTEXT, causes);
            security_context::validate_container(sc, &at, causes);
        }
        for (j, m) in list(&c, "volumeMounts").iter().enumerate() {
            check(m, &format!("{at}.volumeMounts[{j}]"), VOLUME_MOUNT, causes);
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            if let Some(probe_spec) = c.get(probe) {
                check_probe(probe_spec, &format!("{at}.{probe}"), causes);
            }
        }
        for hook in ["postStart", "preStop"] {
            if let Some(handler) = c.pointer(&format!("/lifecycle/{hook}")) {
                check_hook(handler, &format!("{at}.lifecycle.{hook}"), causes);
            }
        }
    }
    for (i, v) in list(spec, "volumes").iter().enumerate() {
        let at = format!("{path}.volumes[{i}]");
        check(v, &at, VOLUME, causes);
        check_volume_source(v, &at, causes);
    }
}

// ANCHOR: check_volume_source
/// What inside a volume source orc cannot do: an `emptyDir` medium other
/// than the disk or `Memory`, and a `clusterTrustBundle` projection; and
/// what Kubernetes refuses in a `serviceAccountToken` projection.
fn check_volume_source(volume: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    let medium = volume.pointer("/emptyDir/medium").and_then(Value::as_str);
    if let Some(medium) = medium.filter(|m| !m.is_empty() && *m != "Memory") {
        causes.push(FieldCause::invalid(
            format!("{at}.emptyDir.medium"),
            &Value::from(medium),
            "not supported by orc: huge pages are not built: leave medium out or use Memory",
        ));
    }
    let sources = volume
        .pointer("/projected/sources")
        .and_then(Value::as_array);
    for (j, source) in sources.into_iter().flatten().enumerate() {
        let key = "clusterTrustBundle";
        if source.get(key).is_some_and(|v| !v.is_null()) {
            causes.push(FieldCause::forbidden(
                format!("{at}.projected.sources[{j}].{key}"),
                "not supported by orc: ClusterTrustBundles are not built",
            ));
        }
        if let Some(token) = source.get("serviceAccountToken").filter(|v| !v.is_null()) {
            let at = format!("{at}.projected.sources[{j}].serviceAccountToken");
            check_token_projection(token, &at, causes);
        }
    }
}

/// Kubernetes' rules for a `serviceAccountToken` source: a `path`, and a
/// lifetime TokenRequest would grant (ten minutes to 2^32 seconds).
fn check_token_projection(token: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    let path = token.get("path").and_then(Value::as_str).unwrap_or("");
    if path.is_empty() {
        causes.push(FieldCause::required(format!("{at}.path")));
    }
    let Some(seconds) = token.get("expirationSeconds").filter(|v| !v.is_null()) else {
        return;
    };
    let why = match seconds.as_i64() {
        Some(s) if s < 600 => "may not specify a duration less than 10 minutes",
        Some(s) if s > 1 << 32 => "may not specify a duration larger than 2^32 seconds",
        Some(_) => return,
        None => "must be an integer",
    };
    causes.push(FieldCause::invalid(
        format!("{at}.expirationSeconds"),
        seconds,
        why,
    ));
}
// ANCHOR_END: check_volume_source

/// A probe's handler: gRPC is not built, nor HTTPS (the agent's check
/// speaks plain HTTP). (A named port is: the agent looks it up in the
/// container's `ports`.)
fn check_probe(probe: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    if probe.get("grpc").is_some_and(|g| !g.is_null()) {
        causes.push(FieldCause::forbidden(
            format!("{at}.grpc"),
            "not supported by orc: gRPC probes are not built",
        ));
    }
    let scheme = probe.pointer("/httpGet/scheme").filter(|v| !v.is_null());
    if let Some(scheme) = scheme.filter(|s| *s != "HTTP") {
        causes.push(FieldCause::invalid(
            format!("{at}.httpGet.scheme"),
            scheme,
            "not supported by orc: HTTPS probes are not built: use HTTP or a tcpSocket probe",
        ));
    }
}

/// A hook's `httpGet` speaks plain HTTP only, as the agent's probes do.
fn check_hook(handler: &Value, at: &str, causes: &mut Vec<FieldCause>) {
    let scheme = handler.pointer("/httpGet/scheme").filter(|v| !v.is_null());
    if let Some(scheme) = scheme.filter(|s| *s == "HTTPS") {
        causes.push(FieldCause::invalid(
            format!("{at}.httpGet.scheme"),
            scheme,
            "not supported by orc: HTTPS hooks are not built: use HTTP",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::schema::kubernetes;
    use serde_json::json;

    // ANCHOR: every_field
    /// Every field Kubernetes v1.32 has is classified: a new field (after
    /// regenerating the descriptors) fails here until someone decides.
    #[test]
    fn every_field_of_kubernetes_is_honoured_or_refused() {
        for (message, rules) in [
            ("PodSpec", POD_SPEC),
            ("Container", CONTAINER),
            ("Volume", VOLUME),
            ("VolumeMount", VOLUME_MOUNT),
            ("PodSecurityContext", POD_SECURITY_CONTEXT),
            ("SecurityContext", SECURITY_CONTEXT),
        ] {
            let full = format!("k8s.io.api.core.v1.{message}");
            let descriptor = kubernetes().get(&full).expect("in the descriptors");
            let mut fields: Vec<&str> = descriptor.fields.iter().map(|f| f.json.as_str()).collect();
            // `VolumeSource` is inlined into Volume: its fields are Volume's.
            if message == "Volume" {
                let source = kubernetes()
                    .get("k8s.io.api.core.v1.VolumeSource")
                    .expect("in the descriptors");
                fields.retain(|f| *f != "volumeSource");
                fields.extend(source.fields.iter().map(|f| f.json.as_str()));
            }
            let unclassified: Vec<&&str> = fields
                .iter()
                .filter(|f| !rules.iter().any(|(name, _)| name == *f))
                .collect();
            assert!(unclassified.is_empty(), "{message}: {unclassified:?}");
            let stale: Vec<&str> = rules
                .iter()
                .map(|(name, _)| *name)
                .filter(|name| !fields.contains(name))
                .collect();
            assert!(stale.is_empty(), "{message} has no {stale:?}");
        }
        // The gaps are few and deliberate: a new one is a decision.
        let gaps: Vec<&str> = [POD_SPEC, CONTAINER, VOLUME, VOLUME_MOUNT]
            .concat()
            .iter()
            .filter(|(_, s)| matches!(s, Support::Gap(_)))
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(gaps, Vec::<&str>::new());
    }
    // ANCHOR_END: every_field

    fn messages(spec: Value) -> Vec<String> {
        let mut causes = vec![];
        check_pod_spec(&spec, "spec", &mut causes);
        causes
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn what_orc_does_passes_and_the_rest_is_named() {
        let ok = messages(json!({
            "hostNetwork": false, "restartPolicy": "Always",
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 2000,
                "supplementalGroups": [4000], "seccompProfile": {"type": "RuntimeDefault"},
                "appArmorProfile": {"type": "Unconfined"}, "supplementalGroupsPolicy": "Merge"},
            "os": {"name": "linux"}, "nodeSelector": {"disk": "ssd"},
            "initContainers": [{"name": "log", "image": "busybox", "restartPolicy": "Always",
                "startupProbe": {"exec": {"command": ["true"]}}}],
            "containers": [{"name": "a", "image": "busybox", "tty": false,
                "securityContext": {"allowPrivilegeEscalation": false, "privileged": false,
                    "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]},
                    "procMount": "Default", "seccompProfile": {"type": "Unconfined"}},
                "readinessProbe": {"httpGet": {"port": "http"}},
                "startupProbe": {"tcpSocket": {"port": 80}},
                "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": true},
                    {"name": "c", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
                    {"name": "v", "mountPath": "/logs", "subPathExpr": "logs/$(POD)"}]}],
            "volumes": [{"name": "v", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "c", "configMap": {"name": "web", "items": [{"key": "a", "path": "app.conf"}]}},
                {"name": "p", "projected": {"sources": [{"secret": {"name": "db"}}]}}],
        }));
        assert!(ok.is_empty(), "{ok:?}");
        let refused = messages(json!({
            "hostNetwork": true,
            "securityContext": {"sysctls": [{"name": "net.core.somaxconn", "value": "1024"}],
                "seLinuxOptions": {"level": "s0:c1"}, "runAsUser": -1},
            "containers": [{"name": "a", "image": "busybox",
                "securityContext": {"privileged": true, "procMount": "Unmasked",
                    "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}},
                "livenessProbe": {"grpc": {"port": 9000}},
                "startupProbe": {"grpc": {"port": 9000}},
                "readinessProbe": {"httpGet": {"port": 443, "scheme": "HTTPS"}},
                "lifecycle": {"preStop": {"httpGet": {"port": 443, "scheme": "HTTPS"}}},
                "volumeMounts": [{"name": "v", "mountPath": "/v", "mountPropagation": "Bidirectional"}]}],
            "volumes": [{"name": "v", "emptyDir": {"medium": "HugePages"}},
                {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 60}},
                    {"clusterTrustBundle": {"path": "b"}}, {"serviceAccountToken": {}}]}}],
        }));
        assert_eq!(
            refused,
            [
                "spec.hostNetwork: Invalid value: true: not supported by orc: every pod has its own network namespace",
                "spec.securityContext.seLinuxOptions: Forbidden: not supported by orc: orc nodes run without SELinux",
                "spec.securityContext.sysctls: Forbidden: not supported by orc: the agent sets no sysctls yet",
                "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
                "spec.containers[0].securityContext.privileged: Invalid value: true: not supported by orc: privileged containers (every host device and capability) are not built: add the capabilities the container needs",
                "spec.containers[0].securityContext.procMount: Invalid value: \"Unmasked\": not supported by orc: an unmasked /proc needs user namespaces, which orc does not run",
                "spec.containers[0].securityContext.seccompProfile: Invalid value: {\"localhostProfile\":\"p.json\",\"type\":\"Localhost\"}: not supported by orc: Localhost profiles are not built: use RuntimeDefault or Unconfined",
                "spec.containers[0].volumeMounts[0].mountPropagation: Invalid value: \"Bidirectional\": not supported by orc: the agent's bind mounts are rprivate",
                "spec.containers[0].livenessProbe.grpc: Forbidden: not supported by orc: gRPC probes are not built",
                "spec.containers[0].readinessProbe.httpGet.scheme: Invalid value: \"HTTPS\": not supported by orc: HTTPS probes are not built: use HTTP or a tcpSocket probe",
                "spec.containers[0].startupProbe.grpc: Forbidden: not supported by orc: gRPC probes are not built",
                "spec.containers[0].lifecycle.preStop.httpGet.scheme: Invalid value: \"HTTPS\": not supported by orc: HTTPS hooks are not built: use HTTP",
                "spec.volumes[0].emptyDir.medium: Invalid value: \"HugePages\": not supported by orc: huge pages are not built: leave medium out or use Memory",
                "spec.volumes[1].projected.sources[0].serviceAccountToken.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes",
                "spec.volumes[1].projected.sources[1].clusterTrustBundle: Forbidden: not supported by orc: ClusterTrustBundles are not built",
                "spec.volumes[1].projected.sources[2].serviceAccountToken.path: Required value",
            ]
        );
    }
}

//! Defaulting: fill in what the user left out, before validation.
//!
//! Kubernetes stores objects *complete*: a pod written without
//! `restartPolicy` reads back with `restartPolicy: Always`. Defaulting on
//! the server means every later reader (scheduler, agent, controllers) sees
//! one explicit value instead of each guessing the default on its own. orc
//! applies the defaults its own components read; the values are Kubernetes'.

use serde_json::{Value, json};

/// Sets `obj[key]` to `value` when it is absent or null.
fn default(obj: &mut Value, key: &str, value: Value) {
    if let Value::Object(map) = obj {
        let slot = map.entry(key.to_string()).or_insert(Value::Null);
        if slot.is_null() {
            *slot = value;
        }
    }
}

/// The mutable object at `obj[key]`, created empty if absent.
fn child<'a>(obj: &'a mut Value, key: &str) -> &'a mut Value {
    default(obj, key, json!({}));
    // `default` just made sure the key exists; a non-object parent yields Null.
    match obj {
        Value::Object(map) => map.entry(key.to_string()).or_insert(Value::Null),
        other => other,
    }
}

// ANCHOR: defaults
/// Applies the defaults of `kind` to a new or updated object.
pub fn apply(kind: &str, obj: &mut Value) {
    match kind {
        "Pod" => pod_spec(child(obj, "spec")),
        "Deployment" => {
            let spec = child(obj, "spec");
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            // Field by field, as Kubernetes' SetDefaults_Deployment: a client
            // may send `strategy: {}` (kubectl's typed create does).
            let strategy = child(spec, "strategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = child(strategy, "rollingUpdate");
                default(rolling, "maxUnavailable", json!("25%"));
                default(rolling, "maxSurge", json!("25%"));
            }
            pod_template(spec);
        }
        "ReplicaSet" => {
            let spec = child(obj, "spec");
            default(spec, "replicas", json!(1));
            pod_template(spec);
        }
        "DaemonSet" => {
            // As Kubernetes' SetDefaults_DaemonSet: roll one node at a time,
            // never two pods on a node, keep ten old revisions.
            let spec = child(obj, "spec");
            default(spec, "revisionHistoryLimit", json!(10));
            let strategy = child(spec, "updateStrategy");
            default(strategy, "type", json!("RollingUpdate"));
            if strategy["type"] == "RollingUpdate" {
                let rolling = child(strategy, "rollingUpdate");
                default(rolling, "maxUnavailable", json!(1));
                default(rolling, "maxSurge", json!(0));
            }
            pod_template(spec);
        }
        "StatefulSet" => {
            crate::statefulset::default_statefulset(obj);
            pod_template(child(obj, "spec"));
        }
        "Job" => {
            crate::batch::default_job(obj);
            pod_template(child(obj, "spec"));
        }
        "CronJob" => {
            crate::batch::default_cronjob(obj);
            if let Some(job_spec) = obj.pointer_mut("/spec/jobTemplate/spec") {
                pod_template(job_spec);
            }
        }
        "HorizontalPodAutoscaler" => crate::autoscaling::default_hpa(obj),
        "Service" => service_spec(child(obj, "spec")),
        "PriorityClass" => default(
            obj,
            "preemptionPolicy",
            json!(crate::priority::PREEMPT_LOWER),
        ),
        "Secret" => {
            // Kubernetes reads an empty type as no type: both become
            // `Opaque`, "arbitrary user data", which `kubectl get secrets`
            // shows in its TYPE column.
            if obj.get("type").and_then(Value::as_str) == Some("") {
                obj["type"] = Value::Null;
            }
            default(obj, "type", json!("Opaque"));
            merge_string_data(obj);
        }
        "RoleBinding" | "ClusterRoleBinding" => crate::authz::validation::default_subjects(obj),
        "PersistentVolume" | "PersistentVolumeClaim" | "StorageClass" => {
            crate::volumes::apply_defaults(kind, obj)
        }
        _ => {}
    }
}
// ANCHOR_END: defaults

/// A Secret's `stringData` is write-only convenience: Kubernetes merges
/// it into `data`, base64-encoded, on every write (a key in both takes
/// `stringData`'s value) and never stores it, so `kubectl get secret`
/// counts its keys and a reader finds every value in one place.
fn merge_string_data(secret: &mut Value) {
    use base64::Engine;
    // Only a map is merged; anything else stays for validation to name.
    if !secret.get("stringData").is_some_and(Value::is_object) {
        return;
    }
    let Some(Value::Object(strings)) = secret.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    let data = child(secret, "data");
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        if let Value::Object(map) = data {
            map.insert(key, Value::from(encoded));
        }
    }
}

fn pod_template(spec: &mut Value) {
    if let Some(template_spec) = spec.pointer_mut("/template/spec") {
        pod_spec(template_spec);
    }
}

fn pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    for list in ["containers", "initContainers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut().filter(|c| c.is_object()) {
            // `:latest` (or no tag) means "whatever is newest": pull every
            // time. A digest without a tag names one image for ever; a `:`
            // before the last `/` is a registry's port. (The agent repeats
            // this rule for static pods: orc-pod's `image_pull::default_policy`.)
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let name = image.split('@').next().unwrap_or("");
            let last = name.rsplit('/').next().unwrap_or("");
            let latest = match last.split_once(':') {
                Some((_, tag)) => tag == "latest",
                None => !image.contains('@'),
            };
            let policy = if latest { "Always" } else { "IfNotPresent" };
            default(c, "imagePullPolicy", json!(policy));
            default(c, "terminationMessagePath", json!("/dev/termination-log"));
            default(c, "terminationMessagePolicy", json!("File"));
            // `SetDefaults_HTTPGetAction` covers a hook's GET as a probe's.
            for hook in ["postStart", "preStop"] {
                let path = format!("/lifecycle/{hook}/httpGet");
                if let Some(http) = c.pointer_mut(&path).filter(|h| h.is_object()) {
                    default(http, "path", json!("/"));
                    default(http, "scheme", json!("HTTP"));
                }
            }
            requests_from_limits(c);
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if let Some(probe) = c.get_mut(probe).filter(|p| p.is_object()) {
                    probe_defaults(probe);
                }
            }
            // `fieldRef: {fieldPath: metadata.name}` reads v1's field.
            for var in c
                .get_mut("env")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(field_ref) = var.pointer_mut("/valueFrom/fieldRef") {
                    default(field_ref, "apiVersion", json!("v1"));
                }
            }
            for p in c
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                default(p, "protocol", json!("TCP"));
            }
        }
    }
}

/// A probe's timing, as `SetDefaults_Probe` and `SetDefaults_HTTPGetAction`
/// fill it in: the agent reads the same numbers, and `kubectl describe`
/// prints them (`delay=0s timeout=1s period=10s #success=1 #failure=3`).
fn probe_defaults(probe: &mut Value) {
    default(probe, "timeoutSeconds", json!(1));
    default(probe, "periodSeconds", json!(10));
    default(probe, "successThreshold", json!(1));
    default(probe, "failureThreshold", json!(3));
    if let Some(http) = probe.get_mut("httpGet").filter(|h| h.is_object()) {
        default(http, "path", json!("/"));
        default(http, "scheme", json!("HTTP"));
    }
}

/// A container that sets a limit but no request for a resource requests
/// its limit (Kubernetes' `SetDefaults_Container`): the scheduler counts
/// requests, and a pod limited to 1 CPU should not count as asking for none.
fn requests_from_limits(container: &mut Value) {
    let Some(limits) = container
        .pointer("/resources/limits")
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let requests = child(child(container, "resources"), "requests");
    for (name, limit) in limits {
        default(requests, &name, limit);
    }
}

/// Kubernetes' `SetDefaults_Service`. (The cluster IP, its families and
/// the node ports are the allocator's: `services/`.)
fn service_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    let kind = spec["type"].as_str().unwrap_or("").to_string();
    if matches!(kind.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if spec["sessionAffinity"] == "ClientIP" {
        // Three hours, as Kubernetes' `DefaultClientIPServiceAffinitySeconds`.
        let client_ip = child(child(spec, "sessionAffinityConfig"), "clientIP");
        default(client_ip, "timeoutSeconds", json!(10800));
    }
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        default(p, "protocol", json!("TCP"));
        // targetPort defaults to port: "send to the pod on the same number".
        if let Some(port) = p.get("port").cloned() {
            default(p, "targetPort", port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_data_becomes_base64_data_and_wins() {
        let mut secret = json!({"metadata": {"name": "db"},
            "data": {"user": "YWRtaW4=", "password": "b2xk"},
            "stringData": {"password": "s3cr3t", "host": "db.local"}});
        apply("Secret", &mut secret);
        assert_eq!(
            secret,
            json!({"metadata": {"name": "db"}, "type": "Opaque", "data": {
                "user": "YWRtaW4=", "password": "czNjcjN0", "host": "ZGIubG9jYWw="}})
        );
    }

    #[test]
    fn pods_get_kubernetes_defaults() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}});
        apply("Pod", &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        // The scheduler places only the pods that name it; unnamed is the
        // default scheduler.
        assert_eq!(pod["spec"]["schedulerName"], "default-scheduler");
        assert_eq!(
            pod["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
    }

    #[test]
    fn a_hooks_get_is_defaulted_as_a_probes() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "image": "b",
            "lifecycle": {"preStop": {"httpGet": {"port": "web"}}}}]}});
        apply("Pod", &mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["lifecycle"]["preStop"],
            json!({"httpGet": {"port": "web", "path": "/", "scheme": "HTTP"}})
        );
    }

    #[test]
    fn probes_get_kubernetes_timing() {
        let mut pod = json!({"spec": {"initContainers": [{"name": "s", "image": "b",
            "restartPolicy": "Always", "startupProbe": {"httpGet": {"port": 80}, "periodSeconds": 2}}],
            "containers": [{"name": "a", "image": "b"}]}});
        apply("Pod", &mut pod);
        assert_eq!(
            pod["spec"]["initContainers"][0]["startupProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "periodSeconds": 2,
                "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3})
        );
        assert!(pod["spec"]["containers"][0].get("livenessProbe").is_none());
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        let policy = |image: &str| {
            let mut pod = json!({"spec": {"containers": [{"name": "a", "image": image}]}});
            apply("Pod", &mut pod);
            pod["spec"]["containers"][0]["imagePullPolicy"].clone()
        };
        assert_eq!(policy("busybox"), "Always");
        assert_eq!(policy("127.0.0.1:5000/app"), "Always");
        assert_eq!(policy("app:latest@sha256:ab"), "Always");
        assert_eq!(policy("app@sha256:ab"), "IfNotPresent");
        assert_eq!(policy("127.0.0.1:5000/app:v2"), "IfNotPresent");
    }

    #[test]
    fn requests_default_to_limits() {
        let mut pod = json!({"spec": {"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "250m"}}}]}});
        apply("Pod", &mut pod);
        let requests = &pod["spec"]["containers"][0]["resources"]["requests"];
        assert_eq!(requests, &json!({"cpu": "250m", "memory": "1Gi"}));
        let mut plain = json!({"spec": {"containers": [{"name": "a"}]}});
        apply("Pod", &mut plain);
        assert!(plain["spec"]["containers"][0].get("resources").is_none());
    }

    #[test]
    fn a_deployment_strategy_is_defaulted_field_by_field() {
        let mut d = json!({"spec": {"strategy": {}}});
        apply("Deployment", &mut d);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
        );
        let mut d = json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1}}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 1);
        assert_eq!(
            d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            "25%"
        );
        let mut d = json!({"spec": {"strategy": {"type": "Recreate"}}});
        apply("Deployment", &mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn secrets_default_to_opaque() {
        for mut secret in [json!({"data": {}}), json!({"type": ""})] {
            apply("Secret", &mut secret);
            assert_eq!(secret["type"], "Opaque");
        }
        let mut tls = json!({"type": "kubernetes.io/tls"});
        apply("Secret", &mut tls);
        assert_eq!(tls["type"], "kubernetes.io/tls");
    }

    #[test]
    fn services_default_target_port() {
        let mut svc = json!({"spec": {"ports": [{"port": 80}]}});
        apply("Service", &mut svc);
        assert_eq!(svc["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(svc["spec"]["type"], "ClusterIP");
    }
}

//! Known fields, so unknown ones can be named instead of silently dropped.
//!
//! A typo like `spec.contianers` is the classic Kubernetes mistake: the
//! object is accepted without the field, and the user wonders why nothing
//! runs. Since v1.27 Kubernetes answers such a write with an HTTP `Warning`
//! header (`299 - "unknown field \"spec.contianers\""`), which kubectl
//! prints. orc does the same. Unlike Kubernetes, orc *keeps* the unknown
//! field in storage (orc types only the fields it implements, so "unknown to
//! orc" may still mean something to a real tool reading the object back).
//!
//! The lists below are the fields of the Kubernetes types, for the parts of
//! objects orc checks: the top level, `metadata`, and the specs and
//! containers of the workload kinds. Everything deeper is not checked.

use serde_json::Value;

#[rustfmt::skip]
const TOP: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];

#[rustfmt::skip]
const META: &[&str] = &[
    "name", "generateName", "namespace", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields", "selfLink",
];

#[rustfmt::skip]
const POD_SPEC: &[&str] = &[
    "activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers",
    "dnsConfig", "dnsPolicy", "enableServiceLinks", "ephemeralContainers", "hostAliases",
    "hostIPC", "hostNetwork", "hostPID", "hostUsers", "hostname", "imagePullSecrets",
    "initContainers", "nodeName", "nodeSelector", "os", "overhead", "preemptionPolicy",
    "priority", "priorityClassName", "readinessGates", "resourceClaims", "resources",
    "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates",
    "securityContext", "serviceAccount", "serviceAccountName", "setHostnameAsFQDN",
    "shareProcessNamespace", "subdomain", "terminationGracePeriodSeconds", "tolerations",
    "topologySpreadConstraints", "volumes",
];

#[rustfmt::skip]
const CONTAINER: &[&str] = &[
    "args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle",
    "livenessProbe", "name", "ports", "readinessProbe", "resizePolicy", "resources",
    "restartPolicy", "securityContext", "startupProbe", "stdin", "stdinOnce",
    "terminationMessagePath", "terminationMessagePolicy", "tty", "volumeDevices",
    "volumeMounts", "workingDir",
];

#[rustfmt::skip]
const DEPLOYMENT_SPEC: &[&str] = &[
    "minReadySeconds", "paused", "progressDeadlineSeconds", "replicas",
    "revisionHistoryLimit", "selector", "strategy", "template",
];
#[rustfmt::skip]
const REPLICASET_SPEC: &[&str] = &["minReadySeconds", "replicas", "selector", "template"];
#[rustfmt::skip]
const DAEMONSET_SPEC: &[&str] = &["minReadySeconds", "revisionHistoryLimit", "selector", "template", "updateStrategy"];
#[rustfmt::skip]
const STATEFULSET_SPEC: &[&str] = &[
    "minReadySeconds", "ordinals", "persistentVolumeClaimRetentionPolicy",
    "podManagementPolicy", "replicas", "revisionHistoryLimit", "selector", "serviceName",
    "template", "updateStrategy", "volumeClaimTemplates",
];
#[rustfmt::skip]
const JOB_SPEC: &[&str] = &[
    "activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "completionMode",
    "completions", "managedBy", "manualSelector", "maxFailedIndexes", "parallelism",
    "podFailurePolicy", "podReplacementPolicy", "selector", "successPolicy", "suspend",
    "template", "ttlSecondsAfterFinished",
];
#[rustfmt::skip]
const SERVICE_SPEC: &[&str] = &[
    "allocateLoadBalancerNodePorts", "clusterIP", "clusterIPs", "externalIPs",
    "externalName", "externalTrafficPolicy", "healthCheckNodePort", "internalTrafficPolicy",
    "ipFamilies", "ipFamilyPolicy", "loadBalancerClass", "loadBalancerIP",
    "loadBalancerSourceRanges", "ports", "publishNotReadyAddresses", "selector",
    "sessionAffinity", "sessionAffinityConfig", "trafficDistribution", "type",
];

/// Top-level fields of kinds without `spec`.
fn top_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "ConfigMap" => &["data", "binaryData", "immutable"],
        "Secret" => &["data", "stringData", "type", "immutable"],
        "Endpoints" => &["subsets"],
        "PriorityClass" => &["value", "globalDefault", "description", "preemptionPolicy"],
        "ControllerRevision" => &["data", "revision"],
        "Role" => &["rules"],
        "ClusterRole" => &["rules", "aggregationRule"],
        "RoleBinding" | "ClusterRoleBinding" => &["roleRef", "subjects"],
        "EndpointSlice" => &["addressType", "endpoints", "ports"],
        "StorageClass" => &[
            "allowVolumeExpansion",
            "allowedTopologies",
            "mountOptions",
            "parameters",
            "provisioner",
            "reclaimPolicy",
            "volumeBindingMode",
        ],
        "Event" => &[
            "action",
            "count",
            "eventTime",
            "firstTimestamp",
            "involvedObject",
            "lastTimestamp",
            "message",
            "reason",
            "related",
            "reportingComponent",
            "reportingInstance",
            "series",
            "source",
            "type",
        ],
        _ => &[],
    }
}

fn check(obj: &Value, path: &str, known: &[&str], out: &mut Vec<String>) {
    if let Value::Object(map) = obj {
        for key in map.keys().filter(|k| !known.contains(&k.as_str())) {
            out.push(if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            });
        }
    }
}

fn check_pod_spec(spec: &Value, path: &str, out: &mut Vec<String>) {
    check(spec, path, POD_SPEC, out);
    for list in ["containers", "initContainers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            check(c, &format!("{path}.{list}[{i}]"), CONTAINER, out);
        }
    }
}

// ANCHOR: unknown_fields
/// The paths of fields in `obj` that a `kind` object does not have.
pub fn unknown_fields(kind: &str, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let top: Vec<&str> = TOP.iter().chain(top_fields(kind)).copied().collect();
    check(obj, "", &top, &mut out);
    check(
        obj.get("metadata").unwrap_or(&Value::Null),
        "metadata",
        META,
        &mut out,
    );
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let workload = match kind {
        "Pod" => {
            check_pod_spec(spec, "spec", &mut out);
            None
        }
        "Deployment" => Some(DEPLOYMENT_SPEC),
        "ReplicaSet" => Some(REPLICASET_SPEC),
        "DaemonSet" => Some(DAEMONSET_SPEC),
        "StatefulSet" => Some(STATEFULSET_SPEC),
        "Job" => Some(JOB_SPEC),
        "Service" => {
            check(spec, "spec", SERVICE_SPEC, &mut out);
            None
        }
        "PodDisruptionBudget" => {
            let known = [
                "maxUnavailable",
                "minAvailable",
                "selector",
                "unhealthyPodEvictionPolicy",
            ];
            check(spec, "spec", &known, &mut out);
            None
        }
        "HorizontalPodAutoscaler" => {
            // autoscaling/v2's spec: a v1 body is converted before this.
            let known = [
                "scaleTargetRef",
                "minReplicas",
                "maxReplicas",
                "metrics",
                "behavior",
            ];
            check(spec, "spec", &known, &mut out);
            None
        }
        _ => None,
    };
    if let Some(known) = workload {
        check(spec, "spec", known, &mut out);
        if let Some(template) = spec.pointer("/template/spec") {
            check_pod_spec(template, "spec.template.spec", &mut out);
        }
    }
    out
}
// ANCHOR_END: unknown_fields

/// The `Warning` header value for one warning (`unknown field "spec.x"`):
/// RFC 7234 warn-code 299, "miscellaneous persistent warning", which is
/// what Kubernetes sends, and the text as a quoted string.
pub fn warning_header(text: &str) -> String {
    let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("299 - \"{quoted}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_unknown_fields_with_paths() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "colour": 1},
            "spec": {"contianers": [], "containers": [{"name": "c", "image": "i", "imagee": "x"}]}});
        assert_eq!(
            unknown_fields("Pod", &pod),
            [
                "metadata.colour",
                "spec.contianers",
                "spec.containers[0].imagee"
            ]
        );
        assert_eq!(
            warning_header("unknown field \"spec.foo\""),
            r#"299 - "unknown field \"spec.foo\"""#
        );
    }
}

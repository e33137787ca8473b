//! Protobuf tables for core `v1`: Pod, PodSpec and everything in a container.
//!
//! The largest table, because a pod template sits inside every workload:
//! containers and init containers, env, ports, resources, probes (whose
//! `ProbeHandler` is embedded: its `exec`/`httpGet`/... sit next to
//! `periodSeconds` in JSON), security contexts, affinity, tolerations and
//! the pod status a node agent writes.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::{core, meta, volume};
use crate::protobuf::message::Kind::{Bool, I32, I64, IntOrString, Msg, Quantity, Str, Time};
use crate::protobuf::message::{Message, inline, list, map, one, opt};

pub static AFFINITY: Message = Message::new(
    "Affinity",
    &[
        opt(1, "nodeAffinity", Msg(&NODE_AFFINITY)),
        opt(2, "podAffinity", Msg(&POD_AFFINITY)),
        opt(3, "podAntiAffinity", Msg(&POD_ANTI_AFFINITY)),
    ],
);

pub static APP_ARMOR_PROFILE: Message = Message::new(
    "AppArmorProfile",
    &[one(1, "type", Str), opt(2, "localhostProfile", Str)],
);

pub static CAPABILITIES: Message =
    Message::new("Capabilities", &[list(1, "add", Str), list(2, "drop", Str)]);

pub static CONFIG_MAP_ENV_SOURCE: Message = Message::new(
    "ConfigMapEnvSource",
    &[
        inline(1, "localObjectReference", &core::LOCAL_OBJECT_REFERENCE),
        opt(2, "optional", Bool),
    ],
);

pub static CONFIG_MAP_KEY_SELECTOR: Message = Message::new(
    "ConfigMapKeySelector",
    &[
        inline(1, "localObjectReference", &core::LOCAL_OBJECT_REFERENCE),
        one(2, "key", Str),
        opt(3, "optional", Bool),
    ],
);

pub static CONTAINER: Message = Message::new(
    "Container",
    &[
        one(1, "name", Str),
        one(2, "image", Str),
        list(3, "command", Str),
        list(4, "args", Str),
        one(5, "workingDir", Str),
        list(6, "ports", Msg(&CONTAINER_PORT)),
        list(7, "env", Msg(&ENV_VAR)),
        one(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        list(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        opt(10, "livenessProbe", Msg(&PROBE)),
        opt(11, "readinessProbe", Msg(&PROBE)),
        opt(12, "lifecycle", Msg(&LIFECYCLE)),
        one(13, "terminationMessagePath", Str),
        one(14, "imagePullPolicy", Str),
        opt(15, "securityContext", Msg(&SECURITY_CONTEXT)),
        one(16, "stdin", Bool),
        one(17, "stdinOnce", Bool),
        one(18, "tty", Bool),
        list(19, "envFrom", Msg(&ENV_FROM_SOURCE)),
        one(20, "terminationMessagePolicy", Str),
        list(21, "volumeDevices", Msg(&VOLUME_DEVICE)),
        opt(22, "startupProbe", Msg(&PROBE)),
        list(23, "resizePolicy", Msg(&CONTAINER_RESIZE_POLICY)),
        opt(24, "restartPolicy", Str),
    ],
);

pub static CONTAINER_PORT: Message = Message::new(
    "ContainerPort",
    &[
        one(1, "name", Str),
        one(2, "hostPort", I32),
        one(3, "containerPort", I32),
        one(4, "protocol", Str),
        one(5, "hostIP", Str),
    ],
);

pub static CONTAINER_RESIZE_POLICY: Message = Message::new(
    "ContainerResizePolicy",
    &[one(1, "resourceName", Str), one(2, "restartPolicy", Str)],
);

pub static CONTAINER_STATE: Message = Message::new(
    "ContainerState",
    &[
        opt(1, "waiting", Msg(&CONTAINER_STATE_WAITING)),
        opt(2, "running", Msg(&CONTAINER_STATE_RUNNING)),
        opt(3, "terminated", Msg(&CONTAINER_STATE_TERMINATED)),
    ],
);

pub static CONTAINER_STATE_RUNNING: Message =
    Message::new("ContainerStateRunning", &[one(1, "startedAt", Time)]);

pub static CONTAINER_STATE_TERMINATED: Message = Message::new(
    "ContainerStateTerminated",
    &[
        one(1, "exitCode", I32),
        one(2, "signal", I32),
        one(3, "reason", Str),
        one(4, "message", Str),
        one(5, "startedAt", Time),
        one(6, "finishedAt", Time),
        one(7, "containerID", Str),
    ],
);

pub static CONTAINER_STATE_WAITING: Message = Message::new(
    "ContainerStateWaiting",
    &[one(1, "reason", Str), one(2, "message", Str)],
);

pub static CONTAINER_STATUS: Message = Message::new(
    "ContainerStatus",
    &[
        one(1, "name", Str),
        one(2, "state", Msg(&CONTAINER_STATE)),
        one(3, "lastState", Msg(&CONTAINER_STATE)),
        one(4, "ready", Bool),
        one(5, "restartCount", I32),
        one(6, "image", Str),
        one(7, "imageID", Str),
        one(8, "containerID", Str),
        opt(9, "started", Bool),
        map(10, "allocatedResources", Quantity),
        opt(11, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        list(12, "volumeMounts", Msg(&VOLUME_MOUNT_STATUS)),
        opt(13, "user", Msg(&CONTAINER_USER)),
        list(14, "allocatedResourcesStatus", Msg(&RESOURCE_STATUS)),
    ],
);

pub static CONTAINER_USER: Message = Message::new(
    "ContainerUser",
    &[opt(1, "linux", Msg(&LINUX_CONTAINER_USER))],
);

pub static ENV_FROM_SOURCE: Message = Message::new(
    "EnvFromSource",
    &[
        one(1, "prefix", Str),
        opt(2, "configMapRef", Msg(&CONFIG_MAP_ENV_SOURCE)),
        opt(3, "secretRef", Msg(&SECRET_ENV_SOURCE)),
    ],
);

pub static ENV_VAR: Message = Message::new(
    "EnvVar",
    &[
        one(1, "name", Str),
        one(2, "value", Str),
        opt(3, "valueFrom", Msg(&ENV_VAR_SOURCE)),
    ],
);

pub static ENV_VAR_SOURCE: Message = Message::new(
    "EnvVarSource",
    &[
        opt(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        opt(2, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        opt(3, "configMapKeyRef", Msg(&CONFIG_MAP_KEY_SELECTOR)),
        opt(4, "secretKeyRef", Msg(&SECRET_KEY_SELECTOR)),
    ],
);

pub static EPHEMERAL_CONTAINER: Message = Message::new(
    "EphemeralContainer",
    &[
        inline(1, "ephemeralContainerCommon", &EPHEMERAL_CONTAINER_COMMON),
        one(2, "targetContainerName", Str),
    ],
);

pub static EPHEMERAL_CONTAINER_COMMON: Message = Message::new(
    "EphemeralContainerCommon",
    &[
        one(1, "name", Str),
        one(2, "image", Str),
        list(3, "command", Str),
        list(4, "args", Str),
        one(5, "workingDir", Str),
        list(6, "ports", Msg(&CONTAINER_PORT)),
        list(7, "env", Msg(&ENV_VAR)),
        one(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        list(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        opt(10, "livenessProbe", Msg(&PROBE)),
        opt(11, "readinessProbe", Msg(&PROBE)),
        opt(12, "lifecycle", Msg(&LIFECYCLE)),
        one(13, "terminationMessagePath", Str),
        one(14, "imagePullPolicy", Str),
        opt(15, "securityContext", Msg(&SECURITY_CONTEXT)),
        one(16, "stdin", Bool),
        one(17, "stdinOnce", Bool),
        one(18, "tty", Bool),
        list(19, "envFrom", Msg(&ENV_FROM_SOURCE)),
        one(20, "terminationMessagePolicy", Str),
        list(21, "volumeDevices", Msg(&VOLUME_DEVICE)),
        opt(22, "startupProbe", Msg(&PROBE)),
        list(23, "resizePolicy", Msg(&CONTAINER_RESIZE_POLICY)),
        opt(24, "restartPolicy", Str),
    ],
);

pub static EXEC_ACTION: Message = Message::new("ExecAction", &[list(1, "command", Str)]);

pub static GRPC_ACTION: Message =
    Message::new("GRPCAction", &[one(1, "port", I32), opt(2, "service", Str)]);

pub static HTTP_GET_ACTION: Message = Message::new(
    "HTTPGetAction",
    &[
        one(1, "path", Str),
        one(2, "port", IntOrString),
        one(3, "host", Str),
        one(4, "scheme", Str),
        list(5, "httpHeaders", Msg(&HTTP_HEADER)),
    ],
);

pub static HTTP_HEADER: Message =
    Message::new("HTTPHeader", &[one(1, "name", Str), one(2, "value", Str)]);

pub static HOST_ALIAS: Message =
    Message::new("HostAlias", &[one(1, "ip", Str), list(2, "hostnames", Str)]);

pub static HOST_IP: Message = Message::new("HostIP", &[one(1, "ip", Str)]);

pub static LIFECYCLE: Message = Message::new(
    "Lifecycle",
    &[
        opt(1, "postStart", Msg(&LIFECYCLE_HANDLER)),
        opt(2, "preStop", Msg(&LIFECYCLE_HANDLER)),
    ],
);

pub static LIFECYCLE_HANDLER: Message = Message::new(
    "LifecycleHandler",
    &[
        opt(1, "exec", Msg(&EXEC_ACTION)),
        opt(2, "httpGet", Msg(&HTTP_GET_ACTION)),
        opt(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
        opt(4, "sleep", Msg(&SLEEP_ACTION)),
    ],
);

pub static LINUX_CONTAINER_USER: Message = Message::new(
    "LinuxContainerUser",
    &[
        one(1, "uid", I64),
        one(2, "gid", I64),
        list(3, "supplementalGroups", I64),
    ],
);

pub static NODE_AFFINITY: Message = Message::new(
    "NodeAffinity",
    &[
        opt(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&NODE_SELECTOR),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&PREFERRED_SCHEDULING_TERM),
        ),
    ],
);

pub static NODE_SELECTOR: Message = Message::new(
    "NodeSelector",
    &[list(1, "nodeSelectorTerms", Msg(&NODE_SELECTOR_TERM))],
);

pub static NODE_SELECTOR_REQUIREMENT: Message = Message::new(
    "NodeSelectorRequirement",
    &[
        one(1, "key", Str),
        one(2, "operator", Str),
        list(3, "values", Str),
    ],
);

pub static NODE_SELECTOR_TERM: Message = Message::new(
    "NodeSelectorTerm",
    &[
        list(1, "matchExpressions", Msg(&NODE_SELECTOR_REQUIREMENT)),
        list(2, "matchFields", Msg(&NODE_SELECTOR_REQUIREMENT)),
    ],
);

pub static OBJECT_FIELD_SELECTOR: Message = Message::new(
    "ObjectFieldSelector",
    &[one(1, "apiVersion", Str), one(2, "fieldPath", Str)],
);

pub static POD: Message = Message::new(
    "Pod",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&POD_SPEC)),
        one(3, "status", Msg(&POD_STATUS)),
    ],
);

pub static POD_AFFINITY: Message = Message::new(
    "PodAffinity",
    &[
        list(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&POD_AFFINITY_TERM),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
);

pub static POD_AFFINITY_TERM: Message = Message::new(
    "PodAffinityTerm",
    &[
        opt(1, "labelSelector", Msg(&meta::LABEL_SELECTOR)),
        list(2, "namespaces", Str),
        one(3, "topologyKey", Str),
        opt(4, "namespaceSelector", Msg(&meta::LABEL_SELECTOR)),
        list(5, "matchLabelKeys", Str),
        list(6, "mismatchLabelKeys", Str),
    ],
);

pub static POD_ANTI_AFFINITY: Message = Message::new(
    "PodAntiAffinity",
    &[
        list(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&POD_AFFINITY_TERM),
        ),
        list(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
);

pub static POD_CONDITION: Message = Message::new(
    "PodCondition",
    &[
        one(1, "type", Str),
        one(2, "status", Str),
        one(3, "lastProbeTime", Time),
        one(4, "lastTransitionTime", Time),
        one(5, "reason", Str),
        one(6, "message", Str),
    ],
);

pub static POD_DNS_CONFIG: Message = Message::new(
    "PodDNSConfig",
    &[
        list(1, "nameservers", Str),
        list(2, "searches", Str),
        list(3, "options", Msg(&POD_DNS_CONFIG_OPTION)),
    ],
);

pub static POD_DNS_CONFIG_OPTION: Message = Message::new(
    "PodDNSConfigOption",
    &[one(1, "name", Str), opt(2, "value", Str)],
);

pub static POD_IP: Message = Message::new("PodIP", &[one(1, "ip", Str)]);

pub static POD_OS: Message = Message::new("PodOS", &[one(1, "name", Str)]);

pub static POD_READINESS_GATE: Message =
    Message::new("PodReadinessGate", &[one(1, "conditionType", Str)]);

pub static POD_RESOURCE_CLAIM: Message = Message::new(
    "PodResourceClaim",
    &[
        one(1, "name", Str),
        opt(3, "resourceClaimName", Str),
        opt(4, "resourceClaimTemplateName", Str),
    ],
);

pub static POD_RESOURCE_CLAIM_STATUS: Message = Message::new(
    "PodResourceClaimStatus",
    &[one(1, "name", Str), opt(2, "resourceClaimName", Str)],
);

pub static POD_SCHEDULING_GATE: Message = Message::new("PodSchedulingGate", &[one(1, "name", Str)]);

pub static POD_SECURITY_CONTEXT: Message = Message::new(
    "PodSecurityContext",
    &[
        opt(1, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
        opt(2, "runAsUser", I64),
        opt(3, "runAsNonRoot", Bool),
        list(4, "supplementalGroups", I64),
        opt(5, "fsGroup", I64),
        opt(6, "runAsGroup", I64),
        list(7, "sysctls", Msg(&SYSCTL)),
        opt(8, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        opt(9, "fsGroupChangePolicy", Str),
        opt(10, "seccompProfile", Msg(&SECCOMP_PROFILE)),
        opt(11, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
        opt(12, "supplementalGroupsPolicy", Str),
        opt(13, "seLinuxChangePolicy", Str),
    ],
);

pub static POD_SPEC: Message = Message::new(
    "PodSpec",
    &[
        list(1, "volumes", Msg(&VOLUME)),
        list(2, "containers", Msg(&CONTAINER)),
        one(3, "restartPolicy", Str),
        opt(4, "terminationGracePeriodSeconds", I64),
        opt(5, "activeDeadlineSeconds", I64),
        one(6, "dnsPolicy", Str),
        map(7, "nodeSelector", Str),
        one(8, "serviceAccountName", Str),
        one(9, "serviceAccount", Str),
        one(10, "nodeName", Str),
        one(11, "hostNetwork", Bool),
        one(12, "hostPID", Bool),
        one(13, "hostIPC", Bool),
        opt(14, "securityContext", Msg(&POD_SECURITY_CONTEXT)),
        list(15, "imagePullSecrets", Msg(&core::LOCAL_OBJECT_REFERENCE)),
        one(16, "hostname", Str),
        one(17, "subdomain", Str),
        opt(18, "affinity", Msg(&AFFINITY)),
        one(19, "schedulerName", Str),
        list(20, "initContainers", Msg(&CONTAINER)),
        opt(21, "automountServiceAccountToken", Bool),
        list(22, "tolerations", Msg(&TOLERATION)),
        list(23, "hostAliases", Msg(&HOST_ALIAS)),
        one(24, "priorityClassName", Str),
        opt(25, "priority", I32),
        opt(26, "dnsConfig", Msg(&POD_DNS_CONFIG)),
        opt(27, "shareProcessNamespace", Bool),
        list(28, "readinessGates", Msg(&POD_READINESS_GATE)),
        opt(29, "runtimeClassName", Str),
        opt(30, "enableServiceLinks", Bool),
        opt(31, "preemptionPolicy", Str),
        map(32, "overhead", Quantity),
        list(
            33,
            "topologySpreadConstraints",
            Msg(&TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        list(34, "ephemeralContainers", Msg(&EPHEMERAL_CONTAINER)),
        opt(35, "setHostnameAsFQDN", Bool),
        opt(36, "os", Msg(&POD_OS)),
        opt(37, "hostUsers", Bool),
        list(38, "schedulingGates", Msg(&POD_SCHEDULING_GATE)),
        list(39, "resourceClaims", Msg(&POD_RESOURCE_CLAIM)),
        opt(40, "resources", Msg(&RESOURCE_REQUIREMENTS)),
    ],
);

pub static POD_STATUS: Message = Message::new(
    "PodStatus",
    &[
        one(1, "phase", Str),
        list(2, "conditions", Msg(&POD_CONDITION)),
        one(3, "message", Str),
        one(4, "reason", Str),
        one(5, "hostIP", Str),
        one(6, "podIP", Str),
        opt(7, "startTime", Time),
        list(8, "containerStatuses", Msg(&CONTAINER_STATUS)),
        one(9, "qosClass", Str),
        list(10, "initContainerStatuses", Msg(&CONTAINER_STATUS)),
        one(11, "nominatedNodeName", Str),
        list(12, "podIPs", Msg(&POD_IP)),
        list(13, "ephemeralContainerStatuses", Msg(&CONTAINER_STATUS)),
        one(14, "resize", Str),
        list(15, "resourceClaimStatuses", Msg(&POD_RESOURCE_CLAIM_STATUS)),
        list(16, "hostIPs", Msg(&HOST_IP)),
    ],
);

pub static POD_TEMPLATE_SPEC: Message = Message::new(
    "PodTemplateSpec",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&POD_SPEC)),
    ],
);

pub static PREFERRED_SCHEDULING_TERM: Message = Message::new(
    "PreferredSchedulingTerm",
    &[
        one(1, "weight", I32),
        one(2, "preference", Msg(&NODE_SELECTOR_TERM)),
    ],
);

pub static PROBE: Message = Message::new(
    "Probe",
    &[
        inline(1, "handler", &PROBE_HANDLER),
        one(2, "initialDelaySeconds", I32),
        one(3, "timeoutSeconds", I32),
        one(4, "periodSeconds", I32),
        one(5, "successThreshold", I32),
        one(6, "failureThreshold", I32),
        opt(7, "terminationGracePeriodSeconds", I64),
    ],
);

pub static PROBE_HANDLER: Message = Message::new(
    "ProbeHandler",
    &[
        opt(1, "exec", Msg(&EXEC_ACTION)),
        opt(2, "httpGet", Msg(&HTTP_GET_ACTION)),
        opt(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
        opt(4, "grpc", Msg(&GRPC_ACTION)),
    ],
);

pub static RESOURCE_CLAIM: Message = Message::new(
    "ResourceClaim",
    &[one(1, "name", Str), one(2, "request", Str)],
);

pub static RESOURCE_FIELD_SELECTOR: Message = Message::new(
    "ResourceFieldSelector",
    &[
        one(1, "containerName", Str),
        one(2, "resource", Str),
        one(3, "divisor", Quantity),
    ],
);

pub static RESOURCE_HEALTH: Message = Message::new(
    "ResourceHealth",
    &[one(1, "resourceID", Str), one(2, "health", Str)],
);

pub static RESOURCE_REQUIREMENTS: Message = Message::new(
    "ResourceRequirements",
    &[
        map(1, "limits", Quantity),
        map(2, "requests", Quantity),
        list(3, "claims", Msg(&RESOURCE_CLAIM)),
    ],
);

pub static RESOURCE_STATUS: Message = Message::new(
    "ResourceStatus",
    &[
        one(1, "name", Str),
        list(2, "resources", Msg(&RESOURCE_HEALTH)),
    ],
);

pub static SE_LINUX_OPTIONS: Message = Message::new(
    "SELinuxOptions",
    &[
        one(1, "user", Str),
        one(2, "role", Str),
        one(3, "type", Str),
        one(4, "level", Str),
    ],
);

pub static SECCOMP_PROFILE: Message = Message::new(
    "SeccompProfile",
    &[one(1, "type", Str), opt(2, "localhostProfile", Str)],
);

pub static SECRET_ENV_SOURCE: Message = Message::new(
    "SecretEnvSource",
    &[
        inline(1, "localObjectReference", &core::LOCAL_OBJECT_REFERENCE),
        opt(2, "optional", Bool),
    ],
);

pub static SECRET_KEY_SELECTOR: Message = Message::new(
    "SecretKeySelector",
    &[
        inline(1, "localObjectReference", &core::LOCAL_OBJECT_REFERENCE),
        one(2, "key", Str),
        opt(3, "optional", Bool),
    ],
);

pub static SECURITY_CONTEXT: Message = Message::new(
    "SecurityContext",
    &[
        opt(1, "capabilities", Msg(&CAPABILITIES)),
        opt(2, "privileged", Bool),
        opt(3, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
        opt(4, "runAsUser", I64),
        opt(5, "runAsNonRoot", Bool),
        opt(6, "readOnlyRootFilesystem", Bool),
        opt(7, "allowPrivilegeEscalation", Bool),
        opt(8, "runAsGroup", I64),
        opt(9, "procMount", Str),
        opt(10, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        opt(11, "seccompProfile", Msg(&SECCOMP_PROFILE)),
        opt(12, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
    ],
);

pub static SLEEP_ACTION: Message = Message::new("SleepAction", &[one(1, "seconds", I64)]);

pub static SYSCTL: Message = Message::new("Sysctl", &[one(1, "name", Str), one(2, "value", Str)]);

pub static TCP_SOCKET_ACTION: Message = Message::new(
    "TCPSocketAction",
    &[one(1, "port", IntOrString), one(2, "host", Str)],
);

pub static TOLERATION: Message = Message::new(
    "Toleration",
    &[
        one(1, "key", Str),
        one(2, "operator", Str),
        one(3, "value", Str),
        one(4, "effect", Str),
        opt(5, "tolerationSeconds", I64),
    ],
);

pub static TOPOLOGY_SPREAD_CONSTRAINT: Message = Message::new(
    "TopologySpreadConstraint",
    &[
        one(1, "maxSkew", I32),
        one(2, "topologyKey", Str),
        one(3, "whenUnsatisfiable", Str),
        opt(4, "labelSelector", Msg(&meta::LABEL_SELECTOR)),
        opt(5, "minDomains", I32),
        opt(6, "nodeAffinityPolicy", Str),
        opt(7, "nodeTaintsPolicy", Str),
        list(8, "matchLabelKeys", Str),
    ],
);

pub static VOLUME: Message = Message::new(
    "Volume",
    &[
        one(1, "name", Str),
        inline(2, "volumeSource", &volume::VOLUME_SOURCE),
    ],
);

pub static VOLUME_DEVICE: Message = Message::new(
    "VolumeDevice",
    &[one(1, "name", Str), one(2, "devicePath", Str)],
);

pub static VOLUME_MOUNT: Message = Message::new(
    "VolumeMount",
    &[
        one(1, "name", Str),
        one(2, "readOnly", Bool),
        one(3, "mountPath", Str),
        one(4, "subPath", Str),
        opt(5, "mountPropagation", Str),
        one(6, "subPathExpr", Str),
        opt(7, "recursiveReadOnly", Str),
    ],
);

pub static VOLUME_MOUNT_STATUS: Message = Message::new(
    "VolumeMountStatus",
    &[
        one(1, "name", Str),
        one(2, "mountPath", Str),
        one(3, "readOnly", Bool),
        opt(4, "recursiveReadOnly", Str),
    ],
);

pub static WEIGHTED_POD_AFFINITY_TERM: Message = Message::new(
    "WeightedPodAffinityTerm",
    &[
        one(1, "weight", I32),
        one(2, "podAffinityTerm", Msg(&POD_AFFINITY_TERM)),
    ],
);

pub static WINDOWS_SECURITY_CONTEXT_OPTIONS: Message = Message::new(
    "WindowsSecurityContextOptions",
    &[
        opt(1, "gmsaCredentialSpecName", Str),
        opt(2, "gmsaCredentialSpec", Str),
        opt(3, "runAsUserName", Str),
        opt(4, "hostProcess", Bool),
    ],
);

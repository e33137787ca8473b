//! Protobuf tables for core `v1`: Pod, PodSpec and the pod status.
//!
//! A pod template sits inside every workload, so these tables serve
//! Deployments, ReplicaSets, DaemonSets and Jobs too: the spec's volumes,
//! scheduling (affinity, tolerations, topology spread), DNS, the pod
//! security context, and the status a node agent writes. Containers are in
//! `container.rs`, volume sources in `volume.rs`.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::{container, core, meta, volume};
use crate::protobuf::message::Kind::{Bool, I32, I64, Msg, Quantity, Str, Time};
use crate::protobuf::message::{Message, inline, list, map, one, opt};

pub static AFFINITY: Message = Message::new(
    "Affinity",
    &[
        opt(1, "nodeAffinity", Msg(&NODE_AFFINITY)),
        opt(2, "podAffinity", Msg(&POD_AFFINITY)),
        opt(3, "podAntiAffinity", Msg(&POD_ANTI_AFFINITY)),
    ],
);

pub static HOST_ALIAS: Message =
    Message::new("HostAlias", &[one(1, "ip", Str), list(2, "hostnames", Str)]);

pub static HOST_IP: Message = Message::new("HostIP", &[one(1, "ip", Str)]);

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
        opt(1, "seLinuxOptions", Msg(&container::SE_LINUX_OPTIONS)),
        opt(2, "runAsUser", I64),
        opt(3, "runAsNonRoot", Bool),
        list(4, "supplementalGroups", I64),
        opt(5, "fsGroup", I64),
        opt(6, "runAsGroup", I64),
        list(7, "sysctls", Msg(&SYSCTL)),
        opt(
            8,
            "windowsOptions",
            Msg(&container::WINDOWS_SECURITY_CONTEXT_OPTIONS),
        ),
        opt(9, "fsGroupChangePolicy", Str),
        opt(10, "seccompProfile", Msg(&container::SECCOMP_PROFILE)),
        opt(11, "appArmorProfile", Msg(&container::APP_ARMOR_PROFILE)),
        opt(12, "supplementalGroupsPolicy", Str),
        opt(13, "seLinuxChangePolicy", Str),
    ],
);

pub static POD_SPEC: Message = Message::new(
    "PodSpec",
    &[
        list(1, "volumes", Msg(&VOLUME)),
        list(2, "containers", Msg(&container::CONTAINER)),
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
        list(20, "initContainers", Msg(&container::CONTAINER)),
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
        list(
            34,
            "ephemeralContainers",
            Msg(&container::EPHEMERAL_CONTAINER),
        ),
        opt(35, "setHostnameAsFQDN", Bool),
        opt(36, "os", Msg(&POD_OS)),
        opt(37, "hostUsers", Bool),
        list(38, "schedulingGates", Msg(&POD_SCHEDULING_GATE)),
        list(39, "resourceClaims", Msg(&POD_RESOURCE_CLAIM)),
        opt(40, "resources", Msg(&container::RESOURCE_REQUIREMENTS)),
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
        list(8, "containerStatuses", Msg(&container::CONTAINER_STATUS)),
        one(9, "qosClass", Str),
        list(
            10,
            "initContainerStatuses",
            Msg(&container::CONTAINER_STATUS),
        ),
        one(11, "nominatedNodeName", Str),
        list(12, "podIPs", Msg(&POD_IP)),
        list(
            13,
            "ephemeralContainerStatuses",
            Msg(&container::CONTAINER_STATUS),
        ),
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

pub static SYSCTL: Message = Message::new("Sysctl", &[one(1, "name", Str), one(2, "value", Str)]);

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

pub static WEIGHTED_POD_AFFINITY_TERM: Message = Message::new(
    "WeightedPodAffinityTerm",
    &[
        one(1, "weight", I32),
        one(2, "podAffinityTerm", Msg(&POD_AFFINITY_TERM)),
    ],
);

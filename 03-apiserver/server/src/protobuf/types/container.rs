//! Protobuf tables for core `v1`: everything inside a container.
//!
//! Image, command, ports, env (and where a value comes from: a ConfigMap or
//! Secret key, a field, a resource), resources, mounts, probes (whose
//! `ProbeHandler` is embedded: `exec`/`httpGet`/`tcpSocket`/`grpc` sit next
//! to `periodSeconds` in JSON), lifecycle hooks, the security context, and
//! the container statuses a node agent reports.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::core;
use crate::protobuf::message::Kind::{Bool, I32, I64, IntOrString, Msg, Quantity, Str, Time};
use crate::protobuf::message::{Field, Message, inline, list, map, one, opt};

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

/// A container's fields: `Container` and `EphemeralContainerCommon` share
/// them number for number.
static CONTAINER_FIELDS: &[Field] = &[
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
];

pub static CONTAINER: Message = Message::new("Container", CONTAINER_FIELDS);

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

pub static EPHEMERAL_CONTAINER_COMMON: Message =
    Message::new("EphemeralContainerCommon", CONTAINER_FIELDS);

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

pub static OBJECT_FIELD_SELECTOR: Message = Message::new(
    "ObjectFieldSelector",
    &[one(1, "apiVersion", Str), one(2, "fieldPath", Str)],
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

pub static TCP_SOCKET_ACTION: Message = Message::new(
    "TCPSocketAction",
    &[one(1, "port", IntOrString), one(2, "host", Str)],
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

pub static WINDOWS_SECURITY_CONTEXT_OPTIONS: Message = Message::new(
    "WindowsSecurityContextOptions",
    &[
        opt(1, "gmsaCredentialSpecName", Str),
        opt(2, "gmsaCredentialSpec", Str),
        opt(3, "runAsUserName", Str),
        opt(4, "hostProcess", Bool),
    ],
);

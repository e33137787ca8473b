//! Protobuf tables for core `v1`: Node, its spec (taints, podCIDR) and its status.
//!
//! What a node agent built on client-go writes when it registers and
//! reports: addresses, capacity and allocatable quantities, conditions,
//! system info, images.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::meta;
use crate::protobuf::message::Kind::{Bool, I32, I64, Msg, Quantity, Str, Time};
use crate::protobuf::message::{Message, list, map, one, opt};

pub static ATTACHED_VOLUME: Message = Message::new(
    "AttachedVolume",
    &[one(1, "name", Str), one(2, "devicePath", Str)],
);

pub static CONFIG_MAP_NODE_CONFIG_SOURCE: Message = Message::new(
    "ConfigMapNodeConfigSource",
    &[
        one(1, "namespace", Str),
        one(2, "name", Str),
        one(3, "uid", Str),
        one(4, "resourceVersion", Str),
        one(5, "kubeletConfigKey", Str),
    ],
);

pub static CONTAINER_IMAGE: Message = Message::new(
    "ContainerImage",
    &[list(1, "names", Str), one(2, "sizeBytes", I64)],
);

pub static DAEMON_ENDPOINT: Message = Message::new("DaemonEndpoint", &[one(1, "Port", I32)]);

pub static NODE: Message = Message::new(
    "Node",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&NODE_SPEC)),
        one(3, "status", Msg(&NODE_STATUS)),
    ],
);

pub static NODE_ADDRESS: Message = Message::new(
    "NodeAddress",
    &[one(1, "type", Str), one(2, "address", Str)],
);

pub static NODE_CONDITION: Message = Message::new(
    "NodeCondition",
    &[
        one(1, "type", Str),
        one(2, "status", Str),
        one(3, "lastHeartbeatTime", Time),
        one(4, "lastTransitionTime", Time),
        one(5, "reason", Str),
        one(6, "message", Str),
    ],
);

pub static NODE_CONFIG_SOURCE: Message = Message::new(
    "NodeConfigSource",
    &[opt(2, "configMap", Msg(&CONFIG_MAP_NODE_CONFIG_SOURCE))],
);

pub static NODE_CONFIG_STATUS: Message = Message::new(
    "NodeConfigStatus",
    &[
        opt(1, "assigned", Msg(&NODE_CONFIG_SOURCE)),
        opt(2, "active", Msg(&NODE_CONFIG_SOURCE)),
        opt(3, "lastKnownGood", Msg(&NODE_CONFIG_SOURCE)),
        one(4, "error", Str),
    ],
);

pub static NODE_DAEMON_ENDPOINTS: Message = Message::new(
    "NodeDaemonEndpoints",
    &[one(1, "kubeletEndpoint", Msg(&DAEMON_ENDPOINT))],
);

pub static NODE_FEATURES: Message =
    Message::new("NodeFeatures", &[opt(1, "supplementalGroupsPolicy", Bool)]);

pub static NODE_RUNTIME_HANDLER: Message = Message::new(
    "NodeRuntimeHandler",
    &[
        one(1, "name", Str),
        opt(2, "features", Msg(&NODE_RUNTIME_HANDLER_FEATURES)),
    ],
);

pub static NODE_RUNTIME_HANDLER_FEATURES: Message = Message::new(
    "NodeRuntimeHandlerFeatures",
    &[
        opt(1, "recursiveReadOnlyMounts", Bool),
        opt(2, "userNamespaces", Bool),
    ],
);

pub static NODE_SPEC: Message = Message::new(
    "NodeSpec",
    &[
        one(1, "podCIDR", Str),
        one(2, "externalID", Str),
        one(3, "providerID", Str),
        one(4, "unschedulable", Bool),
        list(5, "taints", Msg(&TAINT)),
        opt(6, "configSource", Msg(&NODE_CONFIG_SOURCE)),
        list(7, "podCIDRs", Str),
    ],
);

pub static NODE_STATUS: Message = Message::new(
    "NodeStatus",
    &[
        map(1, "capacity", Quantity),
        map(2, "allocatable", Quantity),
        one(3, "phase", Str),
        list(4, "conditions", Msg(&NODE_CONDITION)),
        list(5, "addresses", Msg(&NODE_ADDRESS)),
        one(6, "daemonEndpoints", Msg(&NODE_DAEMON_ENDPOINTS)),
        one(7, "nodeInfo", Msg(&NODE_SYSTEM_INFO)),
        list(8, "images", Msg(&CONTAINER_IMAGE)),
        list(9, "volumesInUse", Str),
        list(10, "volumesAttached", Msg(&ATTACHED_VOLUME)),
        opt(11, "config", Msg(&NODE_CONFIG_STATUS)),
        list(12, "runtimeHandlers", Msg(&NODE_RUNTIME_HANDLER)),
        opt(13, "features", Msg(&NODE_FEATURES)),
    ],
);

pub static NODE_SYSTEM_INFO: Message = Message::new(
    "NodeSystemInfo",
    &[
        one(1, "machineID", Str),
        one(2, "systemUUID", Str),
        one(3, "bootID", Str),
        one(4, "kernelVersion", Str),
        one(5, "osImage", Str),
        one(6, "containerRuntimeVersion", Str),
        one(7, "kubeletVersion", Str),
        one(8, "kubeProxyVersion", Str),
        one(9, "operatingSystem", Str),
        one(10, "architecture", Str),
    ],
);

pub static TAINT: Message = Message::new(
    "Taint",
    &[
        one(1, "key", Str),
        one(2, "value", Str),
        one(3, "effect", Str),
        opt(4, "timeAdded", Time),
    ],
);

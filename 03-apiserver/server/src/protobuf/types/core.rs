//! Protobuf tables for core `v1`: the objects that are not pods or nodes.
//!
//! ConfigMap, Secret, Namespace, Service, Endpoints, Event, Binding and the
//! references they share. Secret `data` and ConfigMap `binaryData` are maps
//! of `bytes`: base64 strings in JSON, as Go encodes `[]byte`.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::meta;
use crate::protobuf::message::Kind::{Bool, Bytes, I32, IntOrString, MicroTime, Msg, Str, Time};
use crate::protobuf::message::{Message, list, map, one, opt};

pub static BINDING: Message = Message::new(
    "Binding",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "target", Msg(&OBJECT_REFERENCE)),
    ],
);

pub static CLIENT_IP_CONFIG: Message =
    Message::new("ClientIPConfig", &[opt(1, "timeoutSeconds", I32)]);

pub static CONFIG_MAP: Message = Message::new(
    "ConfigMap",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        map(2, "data", Str),
        map(3, "binaryData", Bytes),
        opt(4, "immutable", Bool),
    ],
);

pub static ENDPOINT_ADDRESS: Message = Message::new(
    "EndpointAddress",
    &[
        one(1, "ip", Str),
        opt(2, "targetRef", Msg(&OBJECT_REFERENCE)),
        one(3, "hostname", Str),
        opt(4, "nodeName", Str),
    ],
);

pub static ENDPOINT_PORT: Message = Message::new(
    "EndpointPort",
    &[
        one(1, "name", Str),
        one(2, "port", I32),
        one(3, "protocol", Str),
        opt(4, "appProtocol", Str),
    ],
);

pub static ENDPOINT_SUBSET: Message = Message::new(
    "EndpointSubset",
    &[
        list(1, "addresses", Msg(&ENDPOINT_ADDRESS)),
        list(2, "notReadyAddresses", Msg(&ENDPOINT_ADDRESS)),
        list(3, "ports", Msg(&ENDPOINT_PORT)),
    ],
);

pub static ENDPOINTS: Message = Message::new(
    "Endpoints",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        list(2, "subsets", Msg(&ENDPOINT_SUBSET)),
    ],
);

pub static EVENT: Message = Message::new(
    "Event",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "involvedObject", Msg(&OBJECT_REFERENCE)),
        one(3, "reason", Str),
        one(4, "message", Str),
        one(5, "source", Msg(&EVENT_SOURCE)),
        one(6, "firstTimestamp", Time),
        one(7, "lastTimestamp", Time),
        one(8, "count", I32),
        one(9, "type", Str),
        one(10, "eventTime", MicroTime),
        opt(11, "series", Msg(&EVENT_SERIES)),
        one(12, "action", Str),
        opt(13, "related", Msg(&OBJECT_REFERENCE)),
        one(14, "reportingComponent", Str),
        one(15, "reportingInstance", Str),
    ],
);

pub static EVENT_SERIES: Message = Message::new(
    "EventSeries",
    &[one(1, "count", I32), one(2, "lastObservedTime", MicroTime)],
);

pub static EVENT_SOURCE: Message = Message::new(
    "EventSource",
    &[one(1, "component", Str), one(2, "host", Str)],
);

pub static LOAD_BALANCER_INGRESS: Message = Message::new(
    "LoadBalancerIngress",
    &[
        one(1, "ip", Str),
        one(2, "hostname", Str),
        opt(3, "ipMode", Str),
        list(4, "ports", Msg(&PORT_STATUS)),
    ],
);

pub static LOAD_BALANCER_STATUS: Message = Message::new(
    "LoadBalancerStatus",
    &[list(1, "ingress", Msg(&LOAD_BALANCER_INGRESS))],
);

pub static LOCAL_OBJECT_REFERENCE: Message =
    Message::new("LocalObjectReference", &[one(1, "name", Str)]);

pub static NAMESPACE: Message = Message::new(
    "Namespace",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&NAMESPACE_SPEC)),
        one(3, "status", Msg(&NAMESPACE_STATUS)),
    ],
);

pub static NAMESPACE_CONDITION: Message = Message::new(
    "NamespaceCondition",
    &[
        one(1, "type", Str),
        one(2, "status", Str),
        one(4, "lastTransitionTime", Time),
        one(5, "reason", Str),
        one(6, "message", Str),
    ],
);

pub static NAMESPACE_SPEC: Message = Message::new("NamespaceSpec", &[list(1, "finalizers", Str)]);

pub static NAMESPACE_STATUS: Message = Message::new(
    "NamespaceStatus",
    &[
        one(1, "phase", Str),
        list(2, "conditions", Msg(&NAMESPACE_CONDITION)),
    ],
);

pub static OBJECT_REFERENCE: Message = Message::new(
    "ObjectReference",
    &[
        one(1, "kind", Str),
        one(2, "namespace", Str),
        one(3, "name", Str),
        one(4, "uid", Str),
        one(5, "apiVersion", Str),
        one(6, "resourceVersion", Str),
        one(7, "fieldPath", Str),
    ],
);

pub static PORT_STATUS: Message = Message::new(
    "PortStatus",
    &[
        one(1, "port", I32),
        one(2, "protocol", Str),
        opt(3, "error", Str),
    ],
);

pub static SECRET: Message = Message::new(
    "Secret",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        map(2, "data", Bytes),
        one(3, "type", Str),
        map(4, "stringData", Str),
        opt(5, "immutable", Bool),
    ],
);

pub static SERVICE: Message = Message::new(
    "Service",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&SERVICE_SPEC)),
        one(3, "status", Msg(&SERVICE_STATUS)),
    ],
);

pub static SERVICE_PORT: Message = Message::new(
    "ServicePort",
    &[
        one(1, "name", Str),
        one(2, "protocol", Str),
        one(3, "port", I32),
        one(4, "targetPort", IntOrString),
        one(5, "nodePort", I32),
        opt(6, "appProtocol", Str),
    ],
);

pub static SERVICE_SPEC: Message = Message::new(
    "ServiceSpec",
    &[
        list(1, "ports", Msg(&SERVICE_PORT)),
        map(2, "selector", Str),
        one(3, "clusterIP", Str),
        one(4, "type", Str),
        list(5, "externalIPs", Str),
        one(7, "sessionAffinity", Str),
        one(8, "loadBalancerIP", Str),
        list(9, "loadBalancerSourceRanges", Str),
        one(10, "externalName", Str),
        one(11, "externalTrafficPolicy", Str),
        one(12, "healthCheckNodePort", I32),
        one(13, "publishNotReadyAddresses", Bool),
        opt(14, "sessionAffinityConfig", Msg(&SESSION_AFFINITY_CONFIG)),
        opt(17, "ipFamilyPolicy", Str),
        list(18, "clusterIPs", Str),
        list(19, "ipFamilies", Str),
        opt(20, "allocateLoadBalancerNodePorts", Bool),
        opt(21, "loadBalancerClass", Str),
        opt(22, "internalTrafficPolicy", Str),
        opt(23, "trafficDistribution", Str),
    ],
);

pub static SERVICE_STATUS: Message = Message::new(
    "ServiceStatus",
    &[
        one(1, "loadBalancer", Msg(&LOAD_BALANCER_STATUS)),
        list(2, "conditions", Msg(&meta::CONDITION)),
    ],
);

pub static SESSION_AFFINITY_CONFIG: Message = Message::new(
    "SessionAffinityConfig",
    &[opt(1, "clientIP", Msg(&CLIENT_IP_CONFIG))],
);

pub static TYPED_LOCAL_OBJECT_REFERENCE: Message = Message::new(
    "TypedLocalObjectReference",
    &[
        opt(1, "apiGroup", Str),
        one(2, "kind", Str),
        one(3, "name", Str),
    ],
);

pub static TYPED_OBJECT_REFERENCE: Message = Message::new(
    "TypedObjectReference",
    &[
        opt(1, "apiGroup", Str),
        one(2, "kind", Str),
        one(3, "name", Str),
        opt(4, "namespace", Str),
    ],
);

//! Protobuf tables for `networking.k8s.io/v1`: Ingress.
//!
//! `IngressRule` embeds `IngressRuleValue` (field 2), so `http` sits next to
//! `host` in JSON; a backend port is a `name` or a `number`.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::{core, meta};
use crate::protobuf::message::Kind::{I32, Msg, Str};
use crate::protobuf::message::{Message, inline, list, one, opt};

pub static HTTP_INGRESS_PATH: Message = Message::new(
    "HTTPIngressPath",
    &[
        one(1, "path", Str),
        one(2, "backend", Msg(&INGRESS_BACKEND)),
        opt(3, "pathType", Str),
    ],
);

pub static HTTP_INGRESS_RULE_VALUE: Message = Message::new(
    "HTTPIngressRuleValue",
    &[list(1, "paths", Msg(&HTTP_INGRESS_PATH))],
);

pub static INGRESS: Message = Message::new(
    "Ingress",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&INGRESS_SPEC)),
        one(3, "status", Msg(&INGRESS_STATUS)),
    ],
);

pub static INGRESS_BACKEND: Message = Message::new(
    "IngressBackend",
    &[
        opt(3, "resource", Msg(&core::TYPED_LOCAL_OBJECT_REFERENCE)),
        opt(4, "service", Msg(&INGRESS_SERVICE_BACKEND)),
    ],
);

pub static INGRESS_LOAD_BALANCER_INGRESS: Message = Message::new(
    "IngressLoadBalancerIngress",
    &[
        one(1, "ip", Str),
        one(2, "hostname", Str),
        list(4, "ports", Msg(&INGRESS_PORT_STATUS)),
    ],
);

pub static INGRESS_LOAD_BALANCER_STATUS: Message = Message::new(
    "IngressLoadBalancerStatus",
    &[list(1, "ingress", Msg(&INGRESS_LOAD_BALANCER_INGRESS))],
);

pub static INGRESS_PORT_STATUS: Message = Message::new(
    "IngressPortStatus",
    &[
        one(1, "port", I32),
        one(2, "protocol", Str),
        opt(3, "error", Str),
    ],
);

pub static INGRESS_RULE: Message = Message::new(
    "IngressRule",
    &[
        one(1, "host", Str),
        inline(2, "ingressRuleValue", &INGRESS_RULE_VALUE),
    ],
);

pub static INGRESS_RULE_VALUE: Message = Message::new(
    "IngressRuleValue",
    &[opt(1, "http", Msg(&HTTP_INGRESS_RULE_VALUE))],
);

pub static INGRESS_SERVICE_BACKEND: Message = Message::new(
    "IngressServiceBackend",
    &[
        one(1, "name", Str),
        one(2, "port", Msg(&SERVICE_BACKEND_PORT)),
    ],
);

pub static INGRESS_SPEC: Message = Message::new(
    "IngressSpec",
    &[
        opt(1, "defaultBackend", Msg(&INGRESS_BACKEND)),
        list(2, "tls", Msg(&INGRESS_TLS)),
        list(3, "rules", Msg(&INGRESS_RULE)),
        opt(4, "ingressClassName", Str),
    ],
);

pub static INGRESS_STATUS: Message = Message::new(
    "IngressStatus",
    &[one(1, "loadBalancer", Msg(&INGRESS_LOAD_BALANCER_STATUS))],
);

pub static INGRESS_TLS: Message = Message::new(
    "IngressTLS",
    &[list(1, "hosts", Str), one(2, "secretName", Str)],
);

pub static SERVICE_BACKEND_PORT: Message = Message::new(
    "ServiceBackendPort",
    &[one(1, "name", Str), one(2, "number", I32)],
);

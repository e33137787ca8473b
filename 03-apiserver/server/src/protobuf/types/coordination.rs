//! Protobuf tables for `coordination.k8s.io/v1`: Lease.
//!
//! Leader election and node heartbeats; its times are `MicroTime`s.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::meta;
use crate::protobuf::message::Kind::{I32, MicroTime, Msg, Str};
use crate::protobuf::message::{Message, one, opt};

pub static LEASE: Message = Message::new(
    "Lease",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&LEASE_SPEC)),
    ],
);

pub static LEASE_SPEC: Message = Message::new(
    "LeaseSpec",
    &[
        opt(1, "holderIdentity", Str),
        opt(2, "leaseDurationSeconds", I32),
        opt(3, "acquireTime", MicroTime),
        opt(4, "renewTime", MicroTime),
        opt(5, "leaseTransitions", I32),
        opt(6, "strategy", Str),
        opt(7, "preferredHolder", Str),
    ],
);

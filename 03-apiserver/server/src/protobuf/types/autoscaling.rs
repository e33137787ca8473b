//! Protobuf tables for `autoscaling/v1`: Scale, the body of the `scale` subresource.
//!
//! `spec.replicas` is a Go value with `omitempty`, so zero replicas arrive
//! as an empty spec, exactly as in JSON.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::meta;
use crate::protobuf::message::Kind::{I32, Msg, Str};
use crate::protobuf::message::{Message, one};

pub static SCALE: Message = Message::new(
    "Scale",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&SCALE_SPEC)),
        one(3, "status", Msg(&SCALE_STATUS)),
    ],
);

pub static SCALE_SPEC: Message = Message::new("ScaleSpec", &[one(1, "replicas", I32)]);

pub static SCALE_STATUS: Message = Message::new(
    "ScaleStatus",
    &[one(1, "replicas", I32), one(2, "selector", Str)],
);

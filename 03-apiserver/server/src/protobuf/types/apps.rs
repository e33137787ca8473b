//! Protobuf tables for `apps/v1`: Deployment, ReplicaSet, DaemonSet.
//!
//! Each is metadata, a spec holding a selector and a pod template
//! (`pod::POD_TEMPLATE_SPEC`), and a status of counters and conditions.
//! `replicas` is a pointer in Go: present (even as 0) only when set.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::{meta, pod};
use crate::protobuf::message::Kind::{Bool, I32, I64, IntOrString, Msg, Str, Time};
use crate::protobuf::message::{Message, list, one, opt};

pub static DAEMON_SET: Message = Message::new(
    "DaemonSet",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&DAEMON_SET_SPEC)),
        one(3, "status", Msg(&DAEMON_SET_STATUS)),
    ],
);

pub static DAEMON_SET_CONDITION: Message = Message::new(
    "DaemonSetCondition",
    &[
        one(1, "type", Str),
        one(2, "status", Str),
        one(3, "lastTransitionTime", Time),
        one(4, "reason", Str),
        one(5, "message", Str),
    ],
);

pub static DAEMON_SET_SPEC: Message = Message::new(
    "DaemonSetSpec",
    &[
        opt(1, "selector", Msg(&meta::LABEL_SELECTOR)),
        one(2, "template", Msg(&pod::POD_TEMPLATE_SPEC)),
        one(3, "updateStrategy", Msg(&DAEMON_SET_UPDATE_STRATEGY)),
        one(4, "minReadySeconds", I32),
        opt(6, "revisionHistoryLimit", I32),
    ],
);

pub static DAEMON_SET_STATUS: Message = Message::new(
    "DaemonSetStatus",
    &[
        one(1, "currentNumberScheduled", I32),
        one(2, "numberMisscheduled", I32),
        one(3, "desiredNumberScheduled", I32),
        one(4, "numberReady", I32),
        one(5, "observedGeneration", I64),
        one(6, "updatedNumberScheduled", I32),
        one(7, "numberAvailable", I32),
        one(8, "numberUnavailable", I32),
        opt(9, "collisionCount", I32),
        list(10, "conditions", Msg(&DAEMON_SET_CONDITION)),
    ],
);

pub static DAEMON_SET_UPDATE_STRATEGY: Message = Message::new(
    "DaemonSetUpdateStrategy",
    &[
        one(1, "type", Str),
        opt(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DAEMON_SET)),
    ],
);

pub static DEPLOYMENT: Message = Message::new(
    "Deployment",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&DEPLOYMENT_SPEC)),
        one(3, "status", Msg(&DEPLOYMENT_STATUS)),
    ],
);

pub static DEPLOYMENT_CONDITION: Message = Message::new(
    "DeploymentCondition",
    &[
        one(1, "type", Str),
        one(2, "status", Str),
        one(4, "reason", Str),
        one(5, "message", Str),
        one(6, "lastUpdateTime", Time),
        one(7, "lastTransitionTime", Time),
    ],
);

pub static DEPLOYMENT_SPEC: Message = Message::new(
    "DeploymentSpec",
    &[
        opt(1, "replicas", I32),
        opt(2, "selector", Msg(&meta::LABEL_SELECTOR)),
        one(3, "template", Msg(&pod::POD_TEMPLATE_SPEC)),
        one(4, "strategy", Msg(&DEPLOYMENT_STRATEGY)),
        one(5, "minReadySeconds", I32),
        opt(6, "revisionHistoryLimit", I32),
        one(7, "paused", Bool),
        opt(9, "progressDeadlineSeconds", I32),
    ],
);

pub static DEPLOYMENT_STATUS: Message = Message::new(
    "DeploymentStatus",
    &[
        one(1, "observedGeneration", I64),
        one(2, "replicas", I32),
        one(3, "updatedReplicas", I32),
        one(4, "availableReplicas", I32),
        one(5, "unavailableReplicas", I32),
        list(6, "conditions", Msg(&DEPLOYMENT_CONDITION)),
        one(7, "readyReplicas", I32),
        opt(8, "collisionCount", I32),
    ],
);

pub static DEPLOYMENT_STRATEGY: Message = Message::new(
    "DeploymentStrategy",
    &[
        one(1, "type", Str),
        opt(2, "rollingUpdate", Msg(&ROLLING_UPDATE_DEPLOYMENT)),
    ],
);

pub static REPLICA_SET: Message = Message::new(
    "ReplicaSet",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&REPLICA_SET_SPEC)),
        one(3, "status", Msg(&REPLICA_SET_STATUS)),
    ],
);

pub static REPLICA_SET_CONDITION: Message = Message::new(
    "ReplicaSetCondition",
    &[
        one(1, "type", Str),
        one(2, "status", Str),
        one(3, "lastTransitionTime", Time),
        one(4, "reason", Str),
        one(5, "message", Str),
    ],
);

pub static REPLICA_SET_SPEC: Message = Message::new(
    "ReplicaSetSpec",
    &[
        opt(1, "replicas", I32),
        opt(2, "selector", Msg(&meta::LABEL_SELECTOR)),
        one(3, "template", Msg(&pod::POD_TEMPLATE_SPEC)),
        one(4, "minReadySeconds", I32),
    ],
);

pub static REPLICA_SET_STATUS: Message = Message::new(
    "ReplicaSetStatus",
    &[
        one(1, "replicas", I32),
        one(2, "fullyLabeledReplicas", I32),
        one(3, "observedGeneration", I64),
        one(4, "readyReplicas", I32),
        one(5, "availableReplicas", I32),
        list(6, "conditions", Msg(&REPLICA_SET_CONDITION)),
    ],
);

pub static ROLLING_UPDATE_DAEMON_SET: Message = Message::new(
    "RollingUpdateDaemonSet",
    &[
        opt(1, "maxUnavailable", IntOrString),
        opt(2, "maxSurge", IntOrString),
    ],
);

pub static ROLLING_UPDATE_DEPLOYMENT: Message = Message::new(
    "RollingUpdateDeployment",
    &[
        opt(1, "maxUnavailable", IntOrString),
        opt(2, "maxSurge", IntOrString),
    ],
);

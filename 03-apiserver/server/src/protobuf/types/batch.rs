//! Protobuf tables for `batch/v1`: Job.
//!
//! A pod template plus completion rules; `kubectl create job` sends it.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::{meta, pod};
use crate::protobuf::message::Kind::{Bool, I32, I64, Msg, Str, Time};
use crate::protobuf::message::{Message, list, one, opt};

pub static JOB: Message = Message::new(
    "Job",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&JOB_SPEC)),
        one(3, "status", Msg(&JOB_STATUS)),
    ],
);

pub static JOB_CONDITION: Message = Message::new(
    "JobCondition",
    &[
        one(1, "type", Str),
        one(2, "status", Str),
        one(3, "lastProbeTime", Time),
        one(4, "lastTransitionTime", Time),
        one(5, "reason", Str),
        one(6, "message", Str),
    ],
);

pub static JOB_SPEC: Message = Message::new(
    "JobSpec",
    &[
        opt(1, "parallelism", I32),
        opt(2, "completions", I32),
        opt(3, "activeDeadlineSeconds", I64),
        opt(4, "selector", Msg(&meta::LABEL_SELECTOR)),
        opt(5, "manualSelector", Bool),
        one(6, "template", Msg(&pod::POD_TEMPLATE_SPEC)),
        opt(7, "backoffLimit", I32),
        opt(8, "ttlSecondsAfterFinished", I32),
        opt(9, "completionMode", Str),
        opt(10, "suspend", Bool),
        opt(11, "podFailurePolicy", Msg(&POD_FAILURE_POLICY)),
        opt(12, "backoffLimitPerIndex", I32),
        opt(13, "maxFailedIndexes", I32),
        opt(14, "podReplacementPolicy", Str),
        opt(15, "managedBy", Str),
        opt(16, "successPolicy", Msg(&SUCCESS_POLICY)),
    ],
);

pub static JOB_STATUS: Message = Message::new(
    "JobStatus",
    &[
        list(1, "conditions", Msg(&JOB_CONDITION)),
        opt(2, "startTime", Time),
        opt(3, "completionTime", Time),
        one(4, "active", I32),
        one(5, "succeeded", I32),
        one(6, "failed", I32),
        one(7, "completedIndexes", Str),
        opt(
            8,
            "uncountedTerminatedPods",
            Msg(&UNCOUNTED_TERMINATED_PODS),
        ),
        opt(9, "ready", I32),
        opt(10, "failedIndexes", Str),
        opt(11, "terminating", I32),
    ],
);

pub static POD_FAILURE_POLICY: Message = Message::new(
    "PodFailurePolicy",
    &[list(1, "rules", Msg(&POD_FAILURE_POLICY_RULE))],
);

pub static POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: Message = Message::new(
    "PodFailurePolicyOnExitCodesRequirement",
    &[
        opt(1, "containerName", Str),
        one(2, "operator", Str),
        list(3, "values", I32),
    ],
);

pub static POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: Message = Message::new(
    "PodFailurePolicyOnPodConditionsPattern",
    &[one(1, "type", Str), one(2, "status", Str)],
);

pub static POD_FAILURE_POLICY_RULE: Message = Message::new(
    "PodFailurePolicyRule",
    &[
        one(1, "action", Str),
        opt(
            2,
            "onExitCodes",
            Msg(&POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT),
        ),
        list(
            3,
            "onPodConditions",
            Msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN),
        ),
    ],
);

pub static SUCCESS_POLICY: Message = Message::new(
    "SuccessPolicy",
    &[list(1, "rules", Msg(&SUCCESS_POLICY_RULE))],
);

pub static SUCCESS_POLICY_RULE: Message = Message::new(
    "SuccessPolicyRule",
    &[
        opt(1, "succeededIndexes", Str),
        opt(2, "succeededCount", I32),
    ],
);

pub static UNCOUNTED_TERMINATED_PODS: Message = Message::new(
    "UncountedTerminatedPods",
    &[list(1, "succeeded", Str), list(2, "failed", Str)],
);

//! Protobuf tables for apimachinery `meta/v1`: the parts every object shares.
//!
//! `ObjectMeta` (name 1, namespace 3, labels 11, ...), owner references,
//! label selectors, and the `DeleteOptions` a typed client may send with a
//! DELETE. `Time`, `MicroTime`, `Quantity` and `IntOrString` are JSON
//! strings or numbers, not objects: the tables at the end describe their
//! wire shape and `decode.rs` converts them.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use crate::protobuf::message::Kind::{Bool, FieldsV1, I32, I64, Msg, Str, Time};
use crate::protobuf::message::{Message, list, map, one, opt};

pub static CONDITION: Message = Message::new(
    "Condition",
    &[
        one(1, "type", Str),
        one(2, "status", Str),
        one(3, "observedGeneration", I64),
        one(4, "lastTransitionTime", Time),
        one(5, "reason", Str),
        one(6, "message", Str),
    ],
);

pub static DELETE_OPTIONS: Message = Message::new(
    "DeleteOptions",
    &[
        opt(1, "gracePeriodSeconds", I64),
        opt(2, "preconditions", Msg(&PRECONDITIONS)),
        opt(3, "orphanDependents", Bool),
        opt(4, "propagationPolicy", Str),
        list(5, "dryRun", Str),
        opt(6, "ignoreStoreReadErrorWithClusterBreakingPotential", Bool),
    ],
);

pub static LABEL_SELECTOR: Message = Message::new(
    "LabelSelector",
    &[
        map(1, "matchLabels", Str),
        list(2, "matchExpressions", Msg(&LABEL_SELECTOR_REQUIREMENT)),
    ],
);

pub static LABEL_SELECTOR_REQUIREMENT: Message = Message::new(
    "LabelSelectorRequirement",
    &[
        one(1, "key", Str),
        one(2, "operator", Str),
        list(3, "values", Str),
    ],
);

pub static MANAGED_FIELDS_ENTRY: Message = Message::new(
    "ManagedFieldsEntry",
    &[
        one(1, "manager", Str),
        one(2, "operation", Str),
        one(3, "apiVersion", Str),
        opt(4, "time", Time),
        one(6, "fieldsType", Str),
        opt(7, "fieldsV1", FieldsV1),
        one(8, "subresource", Str),
    ],
);

pub static OBJECT_META: Message = Message::new(
    "ObjectMeta",
    &[
        one(1, "name", Str),
        one(2, "generateName", Str),
        one(3, "namespace", Str),
        one(4, "selfLink", Str),
        one(5, "uid", Str),
        one(6, "resourceVersion", Str),
        one(7, "generation", I64),
        one(8, "creationTimestamp", Time),
        opt(9, "deletionTimestamp", Time),
        opt(10, "deletionGracePeriodSeconds", I64),
        map(11, "labels", Str),
        map(12, "annotations", Str),
        list(13, "ownerReferences", Msg(&OWNER_REFERENCE)),
        list(14, "finalizers", Str),
        list(17, "managedFields", Msg(&MANAGED_FIELDS_ENTRY)),
    ],
);

pub static OWNER_REFERENCE: Message = Message::new(
    "OwnerReference",
    &[
        one(1, "kind", Str),
        one(3, "name", Str),
        one(4, "uid", Str),
        one(5, "apiVersion", Str),
        opt(6, "controller", Bool),
        opt(7, "blockOwnerDeletion", Bool),
    ],
);

pub static PRECONDITIONS: Message = Message::new(
    "Preconditions",
    &[opt(1, "uid", Str), opt(2, "resourceVersion", Str)],
);

// The wrappers below are not JSON objects; `decode.rs` reads them with
// these tables and converts them to their JSON form.

/// `metav1.Time` and `MicroTime` on the wire (the shape of protobuf's `Timestamp`).
pub static TIMESTAMP: Message =
    Message::new("Timestamp", &[one(1, "seconds", I64), one(2, "nanos", I32)]);

/// `resource.Quantity`: its canonical string.
pub static QUANTITY: Message = Message::new("Quantity", &[one(1, "string", Str)]);

/// `intstr.IntOrString`: which of the two, and the value.
pub static INT_OR_STRING: Message = Message::new(
    "IntOrString",
    &[
        one(1, "type", I64),
        one(2, "intVal", I32),
        one(3, "strVal", Str),
    ],
);

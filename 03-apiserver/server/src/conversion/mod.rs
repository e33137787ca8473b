//! Kinds served in a version etcd does not hold, converted on the way in
//! and out (chapter 03, "One Event, two APIs"; chapter 05, "Autoscaling").
//!
//! Kubernetes keeps one *storage version* of a kind and serves every other
//! version by conversion: a body in the URL's version is turned into the
//! stored one before defaults, validation and etcd see it, and every object
//! that leaves is turned back into the URL's version. The rest of the
//! server (storage keys, the watch cache, leases, admission) only ever sees
//! the stored shape, so a write through one version is read, listed and
//! watched through the other with nothing kept twice.
//!
//! The resource table (`orc_client::resources`) marks a converted row with
//! `converts_to: Some(<stored apiVersion>)`; [`CONVERSIONS`] names the
//! [`Conversion`] of each such row. The handlers call [`stored`] on every
//! body and [`served`] on every object they answer, for every row: both
//! leave the stored rows' objects alone.
//!
//! ## Layout
//!
//! - [`autoscaling_v1`]: `autoscaling/v1` HorizontalPodAutoscalers from the
//!   stored `autoscaling/v2` (one CPU metric against a list).
//! - [`events_v1`]: `events.k8s.io/v1` Events from the stored core `v1`
//!   Events (renamed fields; the group differs, the etcd key does not).

pub mod autoscaling_v1;
pub mod events_v1;

use serde_json::{Value, json};

use orc_client::resources::Resource;
use orc_client::selectors::fields::{self, FieldSelector, FieldSelectorError};

// ANCHOR: conversion
/// How one object of a kind crosses between a served version and the
/// stored one. Both directions take and give a single object (never a
/// list): [`stored`] and [`served`] handle lists and `apiVersion`.
pub trait Conversion: Sync {
    /// The stored object a body of the served version stands for. Fields
    /// the stored version has no place for must survive a round trip
    /// (kept in annotations, as `autoscaling/v1` does).
    fn to_stored(&self, obj: Value) -> Value;

    /// One stored object as the served version.
    fn to_served(&self, obj: Value) -> Value;

    /// The fields of a body of the served version that [`to_stored`]
    /// drops because the served version has no such field, though the
    /// stored one has (a core `message` sent to `events.k8s.io/v1`): the
    /// handlers name them as unknown fields, a warning or, with
    /// `fieldValidation=Strict`, an error, as for any unknown field.
    ///
    /// [`to_stored`]: Conversion::to_stored
    fn foreign_fields(&self, _served: &Value) -> Vec<String> {
        Vec::new()
    }

    /// The stored object's field a field selector's `label` names
    /// (`None`: the served version cannot be selected by it). Most
    /// versions select only by `metadata.name` and `metadata.namespace`.
    fn field_label(&self, label: &str) -> Option<String> {
        matches!(label, "metadata.name" | "metadata.namespace").then(|| label.to_string())
    }
}

/// Every row served by conversion: its `apiVersion`, its kind, and how.
/// A row with `converts_to` and no entry here is a bug the unit tests
/// catch (`every_converted_row_has_a_conversion`).
pub static CONVERSIONS: &[(&str, &str, &dyn Conversion)] = &[
    (
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        &autoscaling_v1::AutoscalingV1,
    ),
    ("events.k8s.io/v1", "Event", &events_v1::EventsV1),
];
// ANCHOR_END: conversion

/// The conversion of `resource` and the stored `apiVersion` it converts
/// to; `None` for every row etcd holds itself.
fn conversion_of(resource: &Resource) -> Option<(&'static dyn Conversion, &'static str)> {
    let stored_version = resource.converts_to?;
    let api_version = resource.api_version();
    CONVERSIONS
        .iter()
        .find(|(v, kind, _)| *v == api_version && *kind == resource.kind)
        .map(|(_, _, conversion)| (*conversion, stored_version))
}

/// The stored object a body sent to `resource`'s URL stands for (a body
/// of a stored row: as it is).
pub fn stored(resource: &Resource, obj: Value) -> Value {
    let Some((conversion, stored_version)) = conversion_of(resource) else {
        return obj;
    };
    let mut obj = conversion.to_stored(obj);
    obj["apiVersion"] = json!(stored_version);
    obj
}

/// The fields of `served`, a body sent to `resource`'s URL, that its
/// version does not have and the conversion drops
/// ([`Conversion::foreign_fields`]); none for a stored row.
pub fn foreign_fields(resource: &Resource, served: &Value) -> Vec<String> {
    conversion_of(resource).map_or_else(Vec::new, |(conversion, _)| {
        conversion.foreign_fields(served)
    })
}

/// The `fieldSelector` of a LIST or WATCH of `resource`, its fields named
/// as the stored objects it is matched against name them.
pub fn field_selector(
    resource: &Resource,
    input: &str,
) -> Result<FieldSelector, FieldSelectorError> {
    match conversion_of(resource) {
        Some((conversion, _)) => fields::parse_with(input, |label| conversion.field_label(label)),
        None => fields::parse(input, resource.kind),
    }
}

/// `obj` as the client asked for it: a stored object (or a list of them)
/// turned into `resource`'s version when the URL was a converted row's;
/// anything else as it is (a Table, a Status, a stored row's object).
pub fn served(resource: &Resource, mut obj: Value) -> Value {
    let Some((conversion, _)) = conversion_of(resource) else {
        return obj;
    };
    let api_version = json!(resource.api_version());
    let one = |item: Value| {
        let mut item = conversion.to_served(item);
        item["apiVersion"] = api_version.clone();
        item
    };
    match obj["kind"].as_str() {
        Some(kind) if kind == resource.kind => one(obj),
        Some(kind) if kind == resource.list_kind() => {
            obj["apiVersion"] = api_version.clone();
            if let Some(items) = obj.get_mut("items").and_then(Value::as_array_mut) {
                for item in items.iter_mut() {
                    *item = one(item.take());
                }
            }
            obj
        }
        _ => obj,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::resources::{RESOURCES, by_kind};

    #[test]
    fn every_converted_row_has_a_conversion() {
        for r in RESOURCES.iter().filter(|r| !r.is_stored()) {
            assert!(
                conversion_of(r).is_some(),
                "{} {} has converts_to but no entry in CONVERSIONS",
                r.api_version(),
                r.kind
            );
        }
        for (api_version, kind, _) in CONVERSIONS {
            let row = by_kind(api_version, kind).expect("a row of the resource table");
            assert!(!row.is_stored(), "{api_version} {kind} is stored");
        }
    }

    #[test]
    fn stored_rows_tables_and_statuses_pass_through() {
        let v2 = by_kind("autoscaling/v2", "HorizontalPodAutoscaler").unwrap();
        let obj = json!({"kind": "HorizontalPodAutoscaler", "spec": {"metrics": []}});
        assert_eq!(served(v2, obj.clone()), obj);
        assert_eq!(stored(v2, obj.clone()), obj);
        let core = by_kind("v1", "Event").unwrap();
        let event = json!({"kind": "Event", "message": "m"});
        assert_eq!(served(core, event.clone()), event);
        let events = by_kind("events.k8s.io/v1", "Event").unwrap();
        for other in [
            json!({"kind": "Table", "rows": []}),
            json!({"kind": "Status", "code": 404}),
        ] {
            assert_eq!(served(events, other.clone()), other);
        }
    }

    #[test]
    fn lists_are_converted_item_by_item() {
        let events = by_kind("events.k8s.io/v1", "Event").unwrap();
        let list = json!({"apiVersion": "v1", "kind": "EventList", "metadata": {},
            "items": [{"apiVersion": "v1", "kind": "Event", "message": "a"},
                      {"apiVersion": "v1", "kind": "Event", "message": "b"}]});
        let out = served(events, list);
        assert_eq!(out["apiVersion"], "events.k8s.io/v1");
        assert_eq!(out["items"][1]["note"], "b");
        assert_eq!(out["items"][1]["apiVersion"], "events.k8s.io/v1");
    }
}

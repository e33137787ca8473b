//! `events.k8s.io/v1` Events, served by conversion from the core `v1`
//! Events etcd holds (chapter 03, "One Event, two APIs").
//!
//! Kubernetes has one Event type and two APIs for it. The core `v1` API is
//! the one `kubectl get events` and the old recorder (client-go's
//! `tools/record`) use; `events.k8s.io/v1` is the newer one, written by
//! client-go's `tools/events` recorder, which the scheduler and the kubelet
//! use. Both are stored in the same place, `/registry/events/<ns>/<name>`,
//! in the core shape, so an Event written through one API is read, listed
//! and watched through the other, and expires on the same lease
//! (`handlers/write.rs`, `expiry`).
//!
//! The two versions hold the same fields under different names: the newer
//! API renamed the ones whose meaning it sharpened (`note`, `regarding`,
//! `reportingController`) and marked the series-counting fields the old
//! recorder used as deprecated. Converting is renaming, in [`RENAMED`];
//! every other field (`eventTime`, `series`, `action`, `reason`, `related`,
//! `type`, `reportingInstance`, `metadata`) has one name in both.

use serde_json::{Map, Value};

use super::Conversion;

// ANCHOR: renamed
/// Each field of `events.k8s.io/v1` whose core `v1` name differs:
/// (served name, stored name).
pub const RENAMED: &[(&str, &str)] = &[
    ("note", "message"),
    ("regarding", "involvedObject"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];
// ANCHOR_END: renamed

/// The `events.k8s.io/v1` row's entry in [`super::CONVERSIONS`].
pub struct EventsV1;

impl Conversion for EventsV1 {
    fn to_stored(&self, obj: Value) -> Value {
        rename(obj, |(served, stored)| (served, stored))
    }

    fn to_served(&self, obj: Value) -> Value {
        rename(obj, |(served, stored)| (stored, served))
    }

    /// The core names of the renamed fields: `events.k8s.io/v1` has none
    /// of them (its `note` is core's `message`).
    fn foreign_fields(&self, served: &Value) -> Vec<String> {
        RENAMED
            .iter()
            .map(|(_, stored)| *stored)
            .filter(|stored| served.get(*stored).is_some())
            .map(str::to_string)
            .collect()
    }

    /// The newer API selects by what it calls the fields: `regarding.*`,
    /// `reportingController`, `reason`, `type` (core's `involvedObject.*`,
    /// `reportingComponent`, `reason`, `type`), and the metadata.
    fn field_label(&self, label: &str) -> Option<String> {
        const REGARDING: &[&str] = &[
            "kind",
            "namespace",
            "name",
            "uid",
            "apiVersion",
            "resourceVersion",
            "fieldPath",
        ];
        match label {
            "metadata.name" | "metadata.namespace" | "reason" | "type" => Some(label.to_string()),
            "reportingController" => Some("reportingComponent".to_string()),
            _ => label
                .strip_prefix("regarding.")
                .filter(|field| REGARDING.contains(field))
                .map(|field| format!("involvedObject.{field}")),
        }
    }
}

/// `obj` with each field of [`RENAMED`] moved from the name `direction`
/// gives first to the one it gives second. A field that already has the
/// target name is not a field of the source version (a core `message`
/// sent to `events.k8s.io`, say): it is dropped, as Kubernetes' decoder
/// drops fields its type does not have, so that it cannot stand in for
/// the renamed field.
fn rename(
    mut obj: Value,
    direction: impl Fn((&'static str, &'static str)) -> (&'static str, &'static str),
) -> Value {
    let Some(fields) = obj.as_object_mut() else {
        return obj;
    };
    let moves: Vec<(&str, &str)> = RENAMED.iter().map(|pair| direction(*pair)).collect();
    for (_, to) in &moves {
        fields.remove(*to);
    }
    let mut moved = Map::new();
    for (from, to) in &moves {
        if let Some(value) = fields.remove(*from) {
            moved.insert((*to).to_string(), value);
        }
    }
    fields.extend(moved);
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversion::{served, stored};
    use orc_client::resources::{Resource, by_kind};
    use serde_json::json;

    fn events_v1() -> &'static Resource {
        by_kind("events.k8s.io/v1", "Event").unwrap()
    }

    /// An `events.k8s.io/v1` Event with every field set.
    fn full() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "eventTime": "2026-01-01T00:00:00.000001Z",
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"},
            "reportingController": "orc.dev/scheduler",
            "reportingInstance": "scheduler-node-1",
            "action": "Binding",
            "reason": "Scheduled",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "web"},
            "related": {"kind": "Node", "name": "node-1"},
            "note": "assigned default/web to node-1",
            "type": "Normal",
            "deprecatedSource": {"component": "scheduler", "host": "node-1"},
            "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z",
            "deprecatedLastTimestamp": "2026-01-01T00:01:00Z",
            "deprecatedCount": 2,
        })
    }

    #[test]
    fn core_names_sent_to_the_newer_api_are_named_as_foreign() {
        let mut body = full();
        body["message"] = json!("a core field");
        body["count"] = json!(3);
        assert_eq!(
            crate::conversion::foreign_fields(events_v1(), &body),
            ["message", "count"]
        );
        assert!(crate::conversion::foreign_fields(events_v1(), &full()).is_empty());
        let core = by_kind("v1", "Event").unwrap();
        assert!(crate::conversion::foreign_fields(core, &body).is_empty());
    }

    #[test]
    fn every_field_maps_to_its_core_name_and_back() {
        let core = stored(events_v1(), full());
        assert_eq!(
            core,
            json!({
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "web.1", "namespace": "default"},
                "eventTime": "2026-01-01T00:00:00.000001Z",
                "series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"},
                "reportingComponent": "orc.dev/scheduler",
                "reportingInstance": "scheduler-node-1",
                "action": "Binding",
                "reason": "Scheduled",
                "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
                "related": {"kind": "Node", "name": "node-1"},
                "message": "assigned default/web to node-1",
                "type": "Normal",
                "source": {"component": "scheduler", "host": "node-1"},
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": "2026-01-01T00:01:00Z",
                "count": 2,
            })
        );
        assert_eq!(served(events_v1(), core), full());
    }

    #[test]
    fn field_selectors_name_the_new_apis_fields() {
        let selector = crate::conversion::field_selector(
            events_v1(),
            "regarding.name=web,reportingController=orc.dev/scheduler,type!=Warning",
        )
        .unwrap();
        let core = stored(events_v1(), full());
        assert!(selector.matches(&core));
        let fields: Vec<&str> = selector
            .requirements
            .iter()
            .map(|r| r.field.as_str())
            .collect();
        assert_eq!(
            fields,
            ["involvedObject.name", "reportingComponent", "type"]
        );
        // Core's names are not the newer API's.
        assert!(crate::conversion::field_selector(events_v1(), "involvedObject.name=web").is_err());
        assert!(crate::conversion::field_selector(events_v1(), "regarding.color=red").is_err());
    }

    #[test]
    fn a_field_of_the_other_version_does_not_stand_in_for_a_renamed_one() {
        let mut body = full();
        body["message"] = json!("not a field of events.k8s.io/v1");
        let core = stored(events_v1(), body);
        assert_eq!(core["message"], "assigned default/web to node-1");
        let mut kept = core.clone();
        kept["note"] = json!("an unknown field a core client sent");
        assert_eq!(
            served(events_v1(), kept)["note"],
            "assigned default/web to node-1"
        );
    }
}

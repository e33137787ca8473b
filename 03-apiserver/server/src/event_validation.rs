//! The rules of `events.k8s.io/v1` Events (chapter 03, "One Event, two
//! APIs").
//!
//! The newer Event API is strict where the core one is lenient, because
//! its recorder (client-go's `tools/events`) always knows who reports what
//! and when. Kubernetes validates a write by the version it came through;
//! so does orc: these rules apply to writes through `events.k8s.io/v1`
//! only; core `v1` Events are checked for their metadata alone (the few
//! lenient rules Kubernetes has for them are not checked here).
//!
//! - Every Event says when (`eventTime`), who (`reportingController`, a
//!   qualified name such as `kubernetes.io/kubelet`, and
//!   `reportingInstance`), what was done (`action`) and why (`reason`).
//! - `type` is `Normal` or `Warning`; a `series` has a `count` of at least
//!   2 (a single occurrence is no series) and a `lastObservedTime`.
//! - The fields kept for the old recorder (`deprecated*`) are not for new
//!   Events: a create that sets one is refused.
//! - An Event about a cluster-scoped object (no `regarding.namespace`)
//!   lives in `default` or `kube-system`; an old Event (no `eventTime`)
//!   lives in its object's namespace.
//! - Once written, an Event changes only its `series` (and metadata): a
//!   recorder that sees the same thing again bumps the series.
//!
//! The rules read the object as the client sent it, `events.k8s.io/v1`
//! ([`EventsV1`] converts the stored shape back), so every field path in
//! the 422 is a field the client knows.

use serde_json::Value;

use crate::conversion::Conversion;
use crate::conversion::events_v1::EventsV1;
use crate::status::FieldCause;
use orc_client::names::check_label_key;

/// The longest `reportingInstance`, `action` and `reason`, in bytes.
const NAME_LIKE_LIMIT: usize = 128;
/// The longest `note`, in bytes: a note is a sentence, not a log.
const NOTE_LIMIT: usize = 1024;
/// What `type` may be.
const TYPES: &[&str] = &["Normal", "Warning"];
/// The fields that never change after a create through `events.k8s.io/v1`.
const IMMUTABLE: &[&str] = &[
    "regarding",
    "reason",
    "note",
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
    "type",
    "eventTime",
    "action",
    "related",
    "reportingController",
    "reportingInstance",
];
/// The fields a new Event may not set.
const DEPRECATED: &[&str] = &[
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
];

/// A string field of the served Event, `""` when absent.
fn text<'a>(event: &'a Value, field: &str) -> &'a str {
    event.get(field).and_then(Value::as_str).unwrap_or("")
}

/// Whether a field is set: present, not null, and not a zero value.
fn is_set(event: &Value, field: &str) -> bool {
    match event.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::Object(m)) => m.values().any(|v| !v.is_null() && v != ""),
        Some(_) => true,
    }
}

/// The rules every write through `events.k8s.io/v1` keeps; `stored` is
/// the Event as etcd will hold it (core `v1`).
pub fn validate(stored: &Value, causes: &mut Vec<FieldCause>) {
    let event = EventsV1.to_served(stored.clone());
    validate_namespace(&event, causes);
    if is_set(&event, "eventTime") {
        for field in [
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
        ] {
            if text(&event, field).is_empty() {
                causes.push(FieldCause::required(field));
            }
        }
    }
    let controller = text(&event, "reportingController");
    if !controller.is_empty() {
        if let Err(why) = check_label_key(controller) {
            causes.push(FieldCause::invalid(
                "reportingController",
                &Value::from(controller),
                why,
            ));
        }
    }
    for field in ["reportingInstance", "action", "reason"] {
        if text(&event, field).len() > NAME_LIKE_LIMIT {
            causes.push(FieldCause::too_long(field, NAME_LIKE_LIMIT));
        }
    }
    if text(&event, "note").len() > NOTE_LIMIT {
        causes.push(FieldCause::too_long("note", NOTE_LIMIT));
    }
    validate_series(&event, causes);
}

// ANCHOR: create
/// What a create through `events.k8s.io/v1` must also say: when, of which
/// type, and none of the old recorder's fields.
pub fn validate_create(stored: &Value, causes: &mut Vec<FieldCause>) {
    let event = EventsV1.to_served(stored.clone());
    if !is_set(&event, "eventTime") {
        causes.push(FieldCause::required("eventTime"));
    }
    let kind = text(&event, "type");
    if !TYPES.contains(&kind) {
        causes.push(FieldCause::not_supported("type", kind, TYPES));
    }
    for field in DEPRECATED.iter().filter(|f| is_set(&event, f)) {
        causes.push(FieldCause::forbidden(
            *field,
            "a new Event may not set it (it is kept for core v1's recorder)",
        ));
    }
}

// ANCHOR_END: create

/// An update through `events.k8s.io/v1` changes only the series.
pub fn validate_update(old: &Value, new: &Value, causes: &mut Vec<FieldCause>) {
    let (old, new) = (
        EventsV1.to_served(old.clone()),
        EventsV1.to_served(new.clone()),
    );
    for field in IMMUTABLE {
        if old.get(*field) != new.get(*field) {
            causes.push(FieldCause::invalid(
                *field,
                new.get(*field).unwrap_or(&Value::Null),
                "field is immutable",
            ));
        }
    }
}

/// An Event about a cluster-scoped object (a Node) lives in `default` or,
/// for the system's own, `kube-system`. An old Event (no `eventTime`, as
/// the core recorder wrote them) lives in its object's namespace; a new
/// one may report on an object elsewhere.
fn validate_namespace(event: &Value, causes: &mut Vec<FieldCause>) {
    let namespace = event
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let regarding = event
        .pointer("/regarding/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let fits = match (regarding, is_set(event, "eventTime")) {
        ("", true) => matches!(namespace, "default" | "kube-system"),
        ("", false) => matches!(namespace, "" | "default"),
        (_, true) => true,
        (_, false) => regarding == namespace,
    };
    if !fits {
        causes.push(FieldCause::invalid(
            "regarding.namespace",
            &Value::from(regarding),
            format!("does not match the Event's namespace {namespace:?}"),
        ));
    }
}

/// A series counts repeats: at least two, the last one timed.
fn validate_series(event: &Value, causes: &mut Vec<FieldCause>) {
    let Some(series) = event.get("series").filter(|s| !s.is_null()) else {
        return;
    };
    let count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    if count < 2 {
        causes.push(FieldCause::invalid(
            "series.count",
            &Value::from(count),
            "a series counts at least 2 occurrences",
        ));
    }
    if !is_set(series, "lastObservedTime") {
        causes.push(FieldCause::required("series.lastObservedTime"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A valid Event as `events.k8s.io/v1` carries it.
    fn served() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "default"},
            "eventTime": "2026-01-01T00:00:00.000001Z",
            "reportingController": "orc.dev/scheduler",
            "reportingInstance": "scheduler-node-1",
            "action": "Binding",
            "reason": "Scheduled",
            "regarding": {"kind": "Pod", "namespace": "default", "name": "web"},
            "note": "assigned default/web to node-1",
            "type": "Normal",
        })
    }

    /// The field paths a create of `event` is refused for.
    fn create_errors(event: Value) -> Vec<String> {
        let stored = EventsV1.to_stored(event);
        let mut causes = Vec::new();
        validate(&stored, &mut causes);
        validate_create(&stored, &mut causes);
        causes.into_iter().map(|c| c.field).collect()
    }

    #[test]
    fn a_complete_event_is_valid() {
        assert_eq!(create_errors(served()), Vec::<String>::new());
    }

    #[test]
    fn a_new_event_says_when_who_what_and_why() {
        let mut event = served();
        for field in [
            "eventTime",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "type",
        ] {
            event.as_object_mut().unwrap().remove(field);
        }
        assert_eq!(create_errors(event), ["eventTime", "type"]);
        let mut event = served();
        for field in [
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
        ] {
            event.as_object_mut().unwrap().remove(field);
        }
        assert_eq!(
            create_errors(event),
            [
                "reportingController",
                "reportingInstance",
                "action",
                "reason"
            ]
        );
    }

    #[test]
    fn limits_types_series_and_the_old_recorders_fields() {
        let mut event = served();
        event["note"] = json!("n".repeat(NOTE_LIMIT + 1));
        event["action"] = json!("a".repeat(NAME_LIKE_LIMIT + 1));
        event["reportingController"] = json!("not a qualified name!");
        event["type"] = json!("Info");
        event["series"] = json!({"count": 1});
        event["deprecatedCount"] = json!(3);
        assert_eq!(
            create_errors(event),
            [
                "reportingController",
                "action",
                "note",
                "series.count",
                "series.lastObservedTime",
                "type",
                "deprecatedCount",
            ]
        );
    }

    #[test]
    fn a_cluster_scoped_objects_events_live_in_default_or_kube_system() {
        let mut event = served();
        event["regarding"] = json!({"kind": "Node", "name": "node-1"});
        assert_eq!(create_errors(event.clone()), Vec::<String>::new());
        event["metadata"]["namespace"] = json!("shop");
        assert_eq!(create_errors(event), ["regarding.namespace"]);
        // A new Event may report on an object of another namespace; an
        // old one (no eventTime) may not.
        let mut elsewhere = served();
        elsewhere["regarding"]["namespace"] = json!("other");
        assert_eq!(create_errors(elsewhere.clone()), Vec::<String>::new());
        elsewhere.as_object_mut().unwrap().remove("eventTime");
        assert_eq!(
            create_errors(elsewhere),
            ["regarding.namespace", "eventTime"]
        );
    }

    #[test]
    fn an_update_changes_only_the_series() {
        let old = EventsV1.to_stored(served());
        let mut next = served();
        next["series"] = json!({"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"});
        let mut causes = Vec::new();
        validate_update(&old, &EventsV1.to_stored(next.clone()), &mut causes);
        assert!(causes.is_empty(), "{causes:?}");
        next["note"] = json!("something else");
        validate_update(&old, &EventsV1.to_stored(next), &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["note"]);
    }
}

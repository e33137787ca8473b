//! Events: what a component did, where `kubectl describe` shows it.
//!
//! An Event is an object like any other (`v1/events`), in the namespace of
//! the object it is about (`involvedObject`). `kubectl describe deployment
//! web` lists the events whose `involvedObject` is that Deployment, which is
//! how a user sees "Scaled up replica set web-7d4b9c to 3" or "0/3 nodes
//! are available: 3 Insufficient cpu." without reading a component's log.
//! Recording is best effort: an event that cannot be written is logged and
//! forgotten, never a reason to fail the work it reports.
//!
//! [`record`] writes one event. [`Recorder`] also folds repeats, as
//! client-go's event correlator does: the same reason and message about the
//! same object again raises the first event's `count` and `lastTimestamp`
//! (`kubectl describe` prints `(x4 over 2m)`) instead of adding an object
//! each time, which matters for a scheduler retrying a pod that does not fit.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::names::random_suffix;
use crate::resources::Resource;
use crate::resources::by_kind;
use crate::time;
use crate::{Client, ClientError};

/// `Normal` (something happened) or `Warning` (something went wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// What an event says, apart from the object it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Note {
    pub kind: EventType,
    /// One CamelCase word: `Scheduled`, `FailedScheduling`.
    pub reason: String,
    pub message: String,
}

impl Note {
    /// A `Normal` note.
    pub fn normal(reason: &str, message: String) -> Note {
        Note {
            kind: EventType::Normal,
            reason: reason.into(),
            message,
        }
    }

    /// A `Warning` note.
    pub fn warning(reason: &str, message: String) -> Note {
        Note {
            kind: EventType::Warning,
            reason: reason.into(),
            message,
        }
    }
}

/// Who writes an event: a component (`kubelet`), and for a component
/// that runs on every node, the node (`source.host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub component: String,
    pub host: Option<String>,
}

impl Source {
    fn json(&self) -> Value {
        match &self.host {
            Some(host) => json!({"component": self.component, "host": host}),
            None => json!({"component": self.component}),
        }
    }
}

/// The Event object for `note` about `object` (of `kind` in `api_version`),
/// or about the part of it at `field_path` (`spec.containers{web}`),
/// written by `source`, named `event_name` (`web.<suffix>`).
fn event(
    source: &Source,
    object: &Value,
    (api_version, kind): (&str, &str),
    field_path: Option<&str>,
    note: &Note,
    event_name: String,
) -> Value {
    let component = &source.component;
    let meta = &object["metadata"];
    let ns = meta["namespace"].as_str().unwrap_or("default");
    let name = meta["name"].as_str().unwrap_or("");
    let now = time::format(Timestamp::now());
    let mut involved = json!({
        "apiVersion": api_version,
        "kind": kind,
        "namespace": ns,
        "name": name,
        "uid": meta["uid"],
        "resourceVersion": meta["resourceVersion"],
    });
    if let Some(path) = field_path {
        involved["fieldPath"] = json!(path);
    }
    let mut event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name, "namespace": ns},
        "involvedObject": involved,
        "reason": note.reason,
        "message": note.message,
        "type": note.kind.as_str(),
        "source": source.json(),
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    if let Some(host) = &source.host {
        event["reportingInstance"] = json!(host);
    }
    event
}

/// Records a `Normal` event `reason` about `object` (of `kind` in
/// `api_version`), written by `component`.
pub async fn record(
    client: &Client,
    component: &str,
    object: &Value,
    kind: (&str, &str),
    reason: &str,
    message: String,
) {
    let source = Source {
        component: component.into(),
        host: None,
    };
    let note = Note::normal(reason, message);
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let event = event(
        &source,
        object,
        kind,
        None,
        &note,
        format!("{name}.{}", random_suffix()),
    );
    let Some(events) = by_kind("v1", "Event") else {
        return;
    };
    let ns = event["metadata"]["namespace"].as_str();
    if let Err(error) = client.create(events, ns, &event).await {
        tracing::warn!(%error, reason = %event["reason"], "recording an event");
    }
}

/// How many distinct events a [`Recorder`] remembers before it starts
/// afresh (client-go's correlator keeps an LRU of 4096).
const REMEMBERED: usize = 4096;

/// How many writes a [`Recorder`] tries for one event before it gives up
/// and logs it (client-go's `maxTriesPerEvent`). Each lost race means
/// another writer's write went through, so `n` writers of one event at
/// once all succeed within `n` tries.
pub const MAX_TRIES: usize = 12;

/// An event as last written or read: where it is, its count, and the
/// `resourceVersion` that count was read at (the next write's
/// precondition). Decoded from the server's answer, which echoes the
/// whole event, without the rest of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
struct Written {
    #[serde(rename = "metadata")]
    at: WrittenAt,
    count: u64,
}

impl Default for Written {
    /// An event without a count counts once.
    fn default() -> Written {
        Written {
            at: WrittenAt::default(),
            count: 1,
        }
    }
}

/// The metadata of a [`Written`] event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WrittenAt {
    namespace: String,
    name: String,
    resource_version: String,
}

impl Written {
    /// `event` as the API server answered it.
    fn of(event: &Value) -> Written {
        Written::deserialize(event).unwrap_or_default()
    }
}

/// (object uid, field path, note) → the event written for it. The
/// source is the recorder's own, so this is client-go's aggregation key:
/// the same source, object (and part of it), type, reason and message.
type Key = (String, Option<String>, Note);
type Seen = HashMap<Key, Written>;

// ANCHOR: event_name
/// The name of the event for `key` written by `source` about the object
/// named `object_name`: the object's name and 16 hex digits of a SHA-256
/// of the whole aggregation key. Every writer of the same event names the
/// same object, so a second create is refused (409) instead of making a
/// second event; different keys get different names. (client-go names an
/// event `<object>.<the time in hex>`: the same shape, but unique per
/// writer, which is why its folding happens only inside one process.)
fn event_name(source: &Source, object_name: &str, key: &Key) -> String {
    let (uid, field_path, note) = key;
    let mut hash = Sha256::new();
    let parts = [
        source.component.as_str(),
        source.host.as_deref().unwrap_or(""),
        uid,
        field_path.as_deref().unwrap_or(""),
        note.kind.as_str(),
        &note.reason,
        &note.message,
    ];
    for part in parts {
        // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{object_name}.{hex}")
}
// ANCHOR_END: event_name

/// Writes events for one component, folding repeats into one event.
pub struct Recorder {
    client: Client,
    source: Source,
    /// A std Mutex: held for a map lookup, never across an `.await`.
    seen: Mutex<Seen>,
}

impl Recorder {
    /// A recorder writing as `component` (`default-scheduler`).
    pub fn new(client: Client, component: &str) -> Recorder {
        Recorder {
            client,
            source: Source {
                component: component.into(),
                host: None,
            },
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// A recorder writing as `component` on node `host` (the kubelet's
    /// `source.host`).
    pub fn on_host(client: Client, component: &str, host: &str) -> Recorder {
        let mut recorder = Recorder::new(client, component);
        recorder.source.host = Some(host.into());
        recorder
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, key: Key, written: Written) {
        let mut seen = self.seen();
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(key, written);
    }

    /// Records `note` about `object`; a repeat raises the count of the
    /// event it repeats.
    pub async fn record(&self, object: &Value, kind: (&str, &str), note: Note) {
        self.record_about(object, kind, None, note).await;
    }

    // ANCHOR: record_about
    /// [`Recorder::record`] about the part of `object` at `field_path`
    /// (`spec.containers{web}`): repeats fold only with the same part.
    pub async fn record_about(
        &self,
        object: &Value,
        kind: (&str, &str),
        field_path: Option<&str>,
        note: Note,
    ) {
        let Some(events) = by_kind("v1", "Event") else {
            return;
        };
        let uid = object["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let key = (uid, field_path.map(String::from), note);
        let object_name = object["metadata"]["name"].as_str().unwrap_or("");
        let name = event_name(&self.source, object_name, &key);
        // What this recorder last wrote saves a read; if another writer
        // has written since, the precondition fails and we read then.
        let mut known = self.seen().get(&key).cloned();
        for _ in 0..MAX_TRIES {
            let written = match &known {
                // Seen before: one more, at the version it was read at.
                Some(earlier) => self.raise(events, earlier).await.map(|e| Written::of(&e)),
                // New to us: create it; a 409 means another writer did.
                // Of the event the server echoes, only what `Written`
                // keeps is decoded.
                None => {
                    let event = event(&self.source, object, kind, field_path, &key.2, name.clone());
                    let ns = event["metadata"]["namespace"].as_str();
                    self.client.create_as(events, ns, &event).await
                }
            };
            match written {
                Ok(written) => return self.remember(key, written),
                // Lost a race (or the event already exists): read what won.
                Err(error) if error.is_conflict() => {
                    let ns = object["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("default");
                    known = match self.client.get(events, Some(ns), &name).await {
                        Ok(current) => Some(Written::of(&current)),
                        Err(error) if error.is_not_found() => None,
                        Err(error) => return self.give_up(&key.2, &error),
                    };
                }
                // Deleted since (events expire): write it afresh.
                Err(error) if error.is_not_found() => known = None,
                Err(error) => return self.give_up(&key.2, &error),
            }
        }
        tracing::warn!(
            reason = %key.2.reason,
            event = %name,
            "recording an event: still conflicting after {MAX_TRIES} tries, dropped"
        );
    }
    // ANCHOR_END: record_about

    /// Raises `earlier`'s count by one, if it is still at the
    /// `resourceVersion` it was read at (a merge patch that names a
    /// `resourceVersion` is refused with 409 when the object moved on).
    async fn raise(&self, events: &Resource, earlier: &Written) -> Result<Value, ClientError> {
        let now = time::format(Timestamp::now());
        let patch = json!({
            "metadata": {"resourceVersion": earlier.at.resource_version},
            "count": earlier.count + 1,
            "lastTimestamp": now,
        });
        let ns = Some(earlier.at.namespace.as_str());
        self.client
            .merge_patch(events, ns, &earlier.at.name, None, &patch)
            .await
    }

    /// Events are best effort: one that cannot be written is logged.
    fn give_up(&self, note: &Note, error: &ClientError) {
        tracing::warn!(%error, reason = %note.reason, "recording an event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(message: &str) -> Key {
        (
            "uid-1".into(),
            None,
            Note::warning("BackOff", message.into()),
        )
    }

    #[test]
    fn only_where_and_how_often_is_kept_of_the_answer() {
        let answer = r#"{"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "d", "resourceVersion": "42",
                "uid": "x", "creationTimestamp": "2026-12-07T00:00:00Z"},
            "involvedObject": {"kind": "Pod", "name": "web"}, "reason": "Scheduled",
            "message": "Successfully assigned d/web to n1", "count": 3}"#;
        let written: Written = serde_json::from_str(answer).unwrap();
        assert_eq!(
            (written.at.namespace.as_str(), written.at.name.as_str()),
            ("d", "web.1")
        );
        assert_eq!(
            (written.count, written.at.resource_version.as_str()),
            (3, "42")
        );
        let without_count = json!({"metadata": {"name": "web.1"}});
        assert_eq!(Written::of(&without_count).count, 1);
    }

    #[test]
    fn one_aggregation_key_names_one_event() {
        let kubelet = Source {
            component: "kubelet".into(),
            host: Some("node-1".into()),
        };
        let name = event_name(&kubelet, "web", &key("back-off"));
        assert_eq!(name, event_name(&kubelet, "web", &key("back-off")));
        assert!(
            name.starts_with("web.") && name.len() == "web.".len() + 16,
            "{name}"
        );
        // Any part of the key changes the name.
        assert_ne!(name, event_name(&kubelet, "web", &key("back-off 2")));
        let elsewhere = Source {
            host: Some("node-2".into()),
            ..kubelet.clone()
        };
        assert_ne!(name, event_name(&elsewhere, "web", &key("back-off")));
        let mut part = key("back-off");
        part.1 = Some("spec.containers{app}".into());
        assert_ne!(name, event_name(&kubelet, "web", &part));
    }
}

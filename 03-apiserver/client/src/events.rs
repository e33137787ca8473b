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
use serde_json::{Value, json};

use crate::Client;
use crate::names::random_suffix;
use crate::resources::by_kind;
use crate::time;

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
/// written by `source`.
fn event(
    source: &Source,
    object: &Value,
    (api_version, kind): (&str, &str),
    field_path: Option<&str>,
    note: &Note,
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
        "metadata": {"name": format!("{name}.{}", random_suffix()), "namespace": ns},
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
    create(client, &event(&source, object, kind, None, &note)).await;
}

async fn create(client: &Client, event: &Value) -> Option<String> {
    let events = by_kind("v1", "Event")?;
    let ns = event["metadata"]["namespace"].as_str();
    match client.create(events, ns, event).await {
        Ok(created) => created["metadata"]["name"].as_str().map(String::from),
        Err(error) => {
            tracing::warn!(%error, reason = %event["reason"], "recording an event");
            None
        }
    }
}

/// How many distinct events a [`Recorder`] remembers before it starts
/// afresh (client-go's correlator keeps an LRU of 4096).
const REMEMBERED: usize = 4096;

/// An event already written: its namespace, its name, its count.
#[derive(Debug, Clone)]
struct Written {
    namespace: String,
    name: String,
    count: u64,
}

/// (object uid, field path, note) → the event written for it. The
/// source is the recorder's own, so this is client-go's aggregation key:
/// the same source, object (and part of it), type, reason and message.
type Seen = HashMap<(String, Option<String>, Note), Written>;

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

    /// Records `note` about `object`; a repeat raises the count of the
    /// event it repeats.
    pub async fn record(&self, object: &Value, kind: (&str, &str), note: Note) {
        self.record_about(object, kind, None, note).await;
    }

    /// [`Recorder::record`] about the part of `object` at `field_path`
    /// (`spec.containers{web}`): repeats fold only with the same part.
    pub async fn record_about(
        &self,
        object: &Value,
        kind: (&str, &str),
        field_path: Option<&str>,
        note: Note,
    ) {
        let uid = object["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let key = (uid, field_path.map(String::from), note);
        let earlier = self.seen().get(&key).cloned();
        if let (Some(mut written), Some(events)) = (earlier, by_kind("v1", "Event")) {
            written.count += 1;
            let now = time::format(Timestamp::now());
            let patch = json!({"count": written.count, "lastTimestamp": now});
            let (ns, name) = (Some(written.namespace.as_str()), written.name.as_str());
            let patched = self
                .client
                .merge_patch(events, ns, name, None, &patch)
                .await;
            if patched.is_ok() {
                self.seen().insert(key, written);
                return;
            }
        }
        // First time (or the earlier event is gone): a new event.
        let event = event(&self.source, object, kind, field_path, &key.2);
        let ns = event["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if let Some(name) = create(&self.client, &event).await {
            let mut seen = self.seen();
            if seen.len() >= REMEMBERED {
                seen.clear();
            }
            let written = Written {
                namespace: ns,
                name,
                count: 1,
            };
            seen.insert(key, written);
        }
    }
}

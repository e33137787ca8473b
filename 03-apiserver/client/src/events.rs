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

/// The Event object for `note` about `object` (of `kind` in `api_version`),
/// written by `component`.
fn event(component: &str, object: &Value, (api_version, kind): (&str, &str), note: &Note) -> Value {
    let meta = &object["metadata"];
    let ns = meta["namespace"].as_str().unwrap_or("default");
    let name = meta["name"].as_str().unwrap_or("");
    let now = time::format(Timestamp::now());
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{name}.{}", random_suffix()), "namespace": ns},
        "involvedObject": {
            "apiVersion": api_version,
            "kind": kind,
            "namespace": ns,
            "name": name,
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
        },
        "reason": note.reason,
        "message": note.message,
        "type": note.kind.as_str(),
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    })
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
    create(
        client,
        &event(component, object, kind, &Note::normal(reason, message)),
    )
    .await;
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

/// (object uid, note) → the event written for it.
type Seen = HashMap<(String, Note), Written>;

/// Writes events for one component, folding repeats into one event.
pub struct Recorder {
    client: Client,
    component: String,
    /// A std Mutex: held for a map lookup, never across an `.await`.
    seen: Mutex<Seen>,
}

impl Recorder {
    /// A recorder writing as `component` (`default-scheduler`).
    pub fn new(client: Client, component: &str) -> Recorder {
        Recorder {
            client,
            component: component.into(),
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records `note` about `object`; a repeat raises the count of the
    /// event it repeats.
    pub async fn record(&self, object: &Value, kind: (&str, &str), note: Note) {
        let uid = object["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let key = (uid, note);
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
        let event = event(&self.component, object, kind, &key.1);
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

//! Events: what a controller did, where `kubectl describe` shows it.
//!
//! An Event is an object like any other (`v1/events`), in the namespace of
//! the object it is about (`involvedObject`). `kubectl describe deployment
//! web` lists the events whose `involvedObject` is that Deployment, which is
//! how a user sees "Scaled up replica set web-7d4b9c to 3" without reading
//! the controller's log. Recording is best effort: an event that cannot be
//! written is logged and forgotten, never a reason to fail a reconcile.

use jiff::Timestamp;
use orc_client::Client;
use orc_client::names::random_suffix;
use orc_client::resources::by_kind;
use orc_client::time;
use serde_json::{Value, json};

/// Records a `Normal` event `reason` about `object` (of `kind` in
/// `api_version`), written by `component`.
pub async fn record(
    client: &Client,
    component: &str,
    object: &Value,
    (api_version, kind): (&str, &str),
    reason: &str,
    message: String,
) {
    let Some(events) = by_kind("v1", "Event") else {
        return;
    };
    let meta = &object["metadata"];
    let ns = meta["namespace"].as_str().unwrap_or("default");
    let name = meta["name"].as_str().unwrap_or("");
    let now = time::format(Timestamp::now());
    let event = json!({
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
        "reason": reason,
        "message": message,
        "type": "Normal",
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    });
    if let Err(error) = client.create(events, Some(ns), &event).await {
        tracing::warn!(%error, reason, "recording an event");
    }
}

//! The agent's pod events as Event objects: chapter 02's
//! [`EventSink`] written through orc-client's [`Recorder`], as component
//! `kubelet` on this node (`source.host`), each about the container it
//! names (`involvedObject.fieldPath`), so `kubectl describe pod` lists
//! them and a repeat (a crash loop's `BackOff`, a failing probe's
//! `Unhealthy`) is one line with a count.

use orc_client::Client;
use orc_client::events::{Note, Recorder};
use orc_pod::agent::events::{EventSink, EventType, PodEvent};
use orc_pod::pod_spec::Pod;
use serde_json::json;
use std::sync::Arc;

/// Writes pod events in the background.
pub struct KubeletEvents {
    recorder: Arc<Recorder>,
    /// The runtime the writes run on: [`EventSink::pod_event`] is called
    /// from the sync loop and from pod tasks, and must not wait for the API.
    runtime: tokio::runtime::Handle,
}

impl KubeletEvents {
    /// A sink writing with `client` as node `node`'s kubelet; call it
    /// inside the tokio runtime.
    pub fn new(client: Client, node: &str) -> KubeletEvents {
        KubeletEvents {
            recorder: Arc::new(Recorder::on_host(client, "kubelet", node)),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

// ANCHOR: pod_event
impl EventSink for KubeletEvents {
    fn pod_event(&self, pod: &Pod, event: PodEvent) {
        let meta = &pod.metadata;
        // The Recorder needs only the involved object's identity.
        let object = json!({"metadata": {
            "name": meta.name, "namespace": meta.namespace, "uid": meta.uid}});
        let note = match event.kind {
            EventType::Normal => Note::normal(event.reason, event.message),
            EventType::Warning => Note::warning(event.reason, event.message),
        };
        let field_path = event.field_path;
        let recorder = self.recorder.clone();
        self.runtime.spawn(async move {
            let part = field_path.as_deref();
            recorder
                .record_about(&object, ("v1", "Pod"), part, note)
                .await;
        });
    }
}
// ANCHOR_END: pod_event

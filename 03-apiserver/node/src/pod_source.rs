//! The agent's second pod source: the pods the API server binds to its node.
//!
//! Chapter 02's agent asks a [`PodSource`] for the whole set of pods it
//! should run, at every sync. [`ApiPodSource`] answers from an informer
//! over pods with the field selector `spec.nodeName=<node>`, the very
//! query a kubelet makes: the informer lists once, then watches, and the
//! agent reads its cache, never the API, so a sync costs no request.
//!
//! Each API pod is turned into chapter 02's [`Pod`] through the same parser
//! and validation as a static manifest, so a pod orc cannot run (a named
//! probe port, init containers: what the API server lets through) is reported the same way, with its field
//! path, and skipped. Its uid is the API object's: deleting a pod and
//! creating one with the same name is a new pod, as in Kubernetes.
//!
//! A pod with a `deletionTimestamp` is being deleted gracefully: it is
//! reported as [`Terminating`] with its `deletionGracePeriodSeconds`, and
//! the agent stops it.
//!
//! A pod the agent cannot run must not look merely slow: like a kubelet
//! whose admission refuses a pod, the source has its status set to
//! `Failed`, with the reason in the message (through the status sink, once
//! per pod).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orc_pod::pod_spec::Pod;
use orc_pod::source::{
    ManifestError, PodSource, SOURCE_FILE, SourceSnapshot, Terminating, parse_manifest,
};
use serde_json::Value;

use super::status_sync::ApiStatusSink;
use orc_client::informer::Cache;

/// Desired pods from an informer's cache of the node's pods.
pub struct ApiPodSource {
    node: String,
    cache: Arc<Cache>,
    /// Where pods that cannot run are reported as `Failed`.
    rejections: Option<Arc<ApiStatusSink>>,
}

impl ApiPodSource {
    /// A source reading `cache`, the informer over pods bound to `node`.
    pub fn new(node: &str, cache: Arc<Cache>) -> ApiPodSource {
        ApiPodSource {
            node: node.into(),
            cache,
            rejections: None,
        }
    }

    /// Also marks the pods it cannot run `Failed` through `sink`.
    pub fn rejecting_through(mut self, sink: Arc<ApiStatusSink>) -> ApiPodSource {
        self.rejections = Some(sink);
        self
    }
}

impl PodSource for ApiPodSource {
    fn name(&self) -> String {
        format!("api:spec.nodeName={}", self.node)
    }

    fn snapshot(&self) -> SourceSnapshot {
        let mut snapshot = SourceSnapshot::default();
        for object in self.cache.list() {
            // The informer's selector already filters; this guards a cache
            // filled by a wider informer.
            if object.pointer("/spec/nodeName").and_then(Value::as_str) != Some(&self.node) {
                continue;
            }
            if let Some(terminating) = terminating(&object) {
                snapshot.terminating.push(terminating);
                continue;
            }
            match agent_pod(&object) {
                Ok(pod) => snapshot.pods.push(pod),
                Err(errors) => {
                    if let Some(sink) = &self.rejections {
                        let why: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                        sink.reject(&object, &why.join("; "));
                    }
                    snapshot.errors.extend(errors);
                }
            }
        }
        snapshot
    }
}

// ANCHOR: terminating
/// A pod marked for deletion: its uid and the grace period it was given.
pub fn terminating(object: &Value) -> Option<Terminating> {
    let meta = object.get("metadata")?;
    meta.get("deletionTimestamp")?.as_str()?;
    let grace = meta
        .get("deletionGracePeriodSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(Terminating {
        uid: meta.get("uid")?.as_str()?.to_string(),
        grace: Duration::from_secs(grace),
    })
}
// ANCHOR_END: terminating

// ANCHOR: agent_pod
/// An API pod as chapter 02's agent runs it, or why it cannot run. The
/// object goes through the static-manifest parser as JSON text (JSON is
/// YAML), so errors carry the same field paths; their `file` is the pod's
/// API path.
pub fn agent_pod(object: &Value) -> Result<Pod, Vec<ManifestError>> {
    let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    let origin = PathBuf::from(format!(
        "/api/v1/namespaces/{}/pods/{}",
        text("/metadata/namespace"),
        text("/metadata/name")
    ));
    let json = serde_json::to_string_pretty(object).unwrap_or_default();
    let mut parsed = SourceSnapshot::default();
    parse_manifest(&origin, &json, &mut parsed);
    match parsed.pods.pop() {
        Some(mut pod)
            if !pod.metadata.uid.is_empty() && text("/metadata/uid") == pod.metadata.uid =>
        {
            // Not a file: the static pods' annotation does not apply.
            pod.metadata.annotations.remove(SOURCE_FILE);
            Ok(pod)
        }
        Some(_) => Err(vec![ManifestError {
            file: origin,
            document: 0,
            field: "metadata.uid".into(),
            location: None,
            reason: "an API pod must have a uid".into(),
        }]),
        None => Err(parsed.errors),
    }
}
// ANCHOR_END: agent_pod

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api_pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "web", "namespace": "shop", "uid": "1234-abcd",
                "resourceVersion": "17", "creationTimestamp": "2024-05-01T12:00:00Z",
            },
            "spec": {
                "nodeName": "n1",
                "terminationGracePeriodSeconds": 5,
                "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent"}],
            },
            "status": {"phase": "Pending"},
        })
    }

    #[test]
    fn an_api_pod_keeps_its_uid_and_fields() {
        let pod = agent_pod(&api_pod()).unwrap();
        assert_eq!(pod.metadata.uid, "1234-abcd");
        assert_eq!(pod.full_name(), "shop/web");
        assert_eq!(pod.spec.termination_grace_period_seconds, 5);
        assert!(pod.metadata.annotations.is_empty());
    }

    #[test]
    fn a_pod_orc_cannot_run_is_reported_with_its_field() {
        let mut object = api_pod();
        object["spec"]["hostNetwork"] = json!(true);
        let errors = agent_pod(&object).unwrap_err();
        assert_eq!(errors[0].field, "spec.hostNetwork");
        assert_eq!(
            errors[0].file,
            PathBuf::from("/api/v1/namespaces/shop/pods/web")
        );
        object["spec"]["hostNetwork"] = json!(false);
        object["spec"]["volumes"] = json!([{"name": "v"}]);
        let errors = agent_pod(&object).unwrap_err();
        assert_eq!(errors[0].field, "spec.volumes[0]");
    }

    #[test]
    fn a_marked_pod_is_terminating() {
        let mut object = api_pod();
        assert_eq!(terminating(&object), None);
        object["metadata"]["deletionTimestamp"] = json!("2024-05-01T12:00:05Z");
        object["metadata"]["deletionGracePeriodSeconds"] = json!(5);
        let cache = Arc::new(Cache::default());
        cache.replace(vec![object]);
        let snapshot = ApiPodSource::new("n1", cache).snapshot();
        assert!(snapshot.pods.is_empty());
        assert_eq!(
            snapshot.terminating,
            vec![Terminating {
                uid: "1234-abcd".into(),
                grace: Duration::from_secs(5)
            }]
        );
    }
}

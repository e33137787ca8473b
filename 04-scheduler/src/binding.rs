//! Bind: the scheduler's one write that places a pod (the `DefaultBinder`
//! plugin's work), `POST .../pods/{name}/binding`.
//!
//! The API server sets `spec.nodeName` and the `PodScheduled` condition
//! in one update, and refuses a second binding (409): two schedulers
//! racing for one pod cannot both win.

use orc_client::resources::by_kind;
use orc_client::{Client, ClientError, Method, path};
use serde_json::json;

use crate::objects::PodInfo;
use crate::objects::volumes::SELECTED_NODE;

/// Bindings the scheduler writes at once, at most. Enough to keep the API
/// server and etcd busy (the bench's bind floor reaches its rate with as
/// many), and well under the API server's limit on writes in flight
/// (`--max-mutating-requests-inflight`, 200), which answers 429 past it.
pub const MAX_IN_FLIGHT: usize = 64;

// ANCHOR: select_node
/// Writes `node` on each of `claims` (in the pod's namespace) that waits
/// for its first consumer (`volume.kubernetes.io/selected-node`), before
/// the pod is bound: the local-path provisioner then makes the claim's
/// volume on that node (Kubernetes' `VolumeBinding` PreBind).
pub async fn select_node(
    client: &Client,
    pod: &PodInfo,
    claims: &[String],
    node: &str,
) -> Result<(), ClientError> {
    let Some(resource) = by_kind("v1", "PersistentVolumeClaim") else {
        return Ok(());
    };
    let patch = json!({"metadata": {"annotations": {SELECTED_NODE: node}}});
    for claim in claims {
        client
            .merge_patch(resource, Some(&pod.namespace), claim, None, &patch)
            .await?;
    }
    Ok(())
}
// ANCHOR_END: select_node

// ANCHOR: bind
/// Binds `pod` to `node`.
pub async fn bind(client: &Client, pod: &PodInfo, node: &str) -> Result<(), ClientError> {
    let Some(pods) = by_kind("v1", "Pod") else {
        return Err(ClientError::Decode(
            "pods are not in the resource table".into(),
        ));
    };
    let url = format!(
        "{}/binding",
        path(pods, Some(&pod.namespace), Some(&pod.name))
    );
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    client
        .send_path(
            Method::POST,
            &url,
            None,
            Some(("application/json", binding.to_string())),
        )
        .await
        .map(|_| ())
}
// ANCHOR_END: bind

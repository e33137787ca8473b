//! The load-balancer controller: type `LoadBalancer` on a cluster with no
//! cloud, in the manner of k3s' ServiceLB.
//!
//! In a cloud, Kubernetes' service controller asks the provider for a load
//! balancer and writes its address into `status.loadBalancer.ingress`.
//! Here there is no provider, so the addresses are the nodes' own
//! ([`ingress`], pure): a `LoadBalancer` Service answers on every Ready
//! node's `InternalIP` at its own port, and every node's proxy catches
//! that address and port as it catches a node port. orc picks this over
//! MetalLB's L2 mode (an address from a configured pool, announced with
//! ARP by one node) because it needs no pool to configure and no ARP
//! speaker: the nodes' addresses are already reachable, and the rules
//! that catch them are the ones chapter 06 already teaches. The price is
//! ServiceLB's too: two `LoadBalancer` Services cannot share a port.
//!
//! The shell is level-triggered: at any change of a Service or a Node it
//! looks at every Service and writes the status of those whose ingress is
//! not what it should be.

pub mod ingress;

use std::sync::Arc;
use std::time::Duration;

use orc_client::informer as informers;
use orc_client::resources::{Resource, by_kind};
use orc_client::{Client, ClientError};
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How long to wait before trying again after a write failed.
const RETRY_AFTER: Duration = Duration::from_secs(2);

fn resource(kind: &str) -> &'static Resource {
    by_kind("v1", kind).expect("the resource table serves Services and Nodes")
}

// ANCHOR: run
/// Follows Services and Nodes through `client` and keeps every
/// `LoadBalancer` Service's `status.loadBalancer` in step with the Ready
/// nodes' addresses, until dropped.
pub async fn run(client: Client) {
    let services = informers::everything(&client, resource("Service"));
    let nodes = informers::everything(&client, resource("Node"));
    let (service_cache, node_cache) = (services.cache(), nodes.cache());
    let changed = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    // Before both lists are in, every node would look absent and every
    // address would be taken back.
    if !informers::follow_changes(&mut tasks, vec![services, nodes], &changed).await {
        return;
    }
    loop {
        let nodes = node_cache.list();
        let mut failed = false;
        for service in service_cache.list() {
            if let Err(error) = reconcile(&client, &service, &nodes).await {
                tracing::warn!(%error, "writing a load balancer's status failed; retrying");
                failed = true;
            }
        }
        if failed {
            tokio::select! {
                () = changed.notified() => {}
                () = tokio::time::sleep(RETRY_AFTER) => {}
            }
        } else {
            changed.notified().await;
        }
    }
}
// ANCHOR_END: run

/// Writes `service`'s load-balancer status if it is not what `nodes` make it.
async fn reconcile(client: &Client, service: &Value, nodes: &[Value]) -> Result<(), ClientError> {
    let Some(desired) = ingress::desired_ingress(service, nodes) else {
        return Ok(());
    };
    let Some(patch) = ingress::status_patch(service, &desired) else {
        return Ok(());
    };
    let namespace = service["metadata"]["namespace"].as_str().unwrap_or("");
    let name = service["metadata"]["name"].as_str().unwrap_or("");
    let result = client
        .merge_patch(
            resource("Service"),
            Some(namespace),
            name,
            Some("status"),
            &patch,
        )
        .await;
    match result {
        Ok(_) => {
            tracing::info!(service = %format!("{namespace}/{name}"), ingress = %desired, "load balancer status written");
            Ok(())
        }
        // Deleted meanwhile: nothing to balance.
        Err(e) if e.code() == Some(404) => Ok(()),
        Err(e) => Err(e),
    }
}

//! The node's heartbeat: a Lease renewed every few seconds.
//!
//! Posting the whole Node status every 10 s made large clusters slow (a
//! Node is kilobytes, and every watcher of nodes gets each update), so
//! Kubernetes gave each node a small Lease (`coordination.k8s.io/v1`) in
//! the `kube-node-lease` namespace, named after the node. The agent renews
//! it every 10 s (a quarter of its 40 s duration); the node lifecycle
//! controller (chapter 05) marks a node not heard from for its grace
//! period (50 s) `Unknown` and taints it, and taint eviction moves its
//! pods.
//!
//! `renewTime` is a `MicroTime`: RFC 3339 with six fractional digits,
//! `2024-05-01T12:00:00.123456Z`. The Lease is owned by its Node (an
//! owner reference with the Node's uid), so deleting the Node lets the
//! garbage collector delete the Lease.

use jiff::Timestamp;
use orc_client::resources::{Resource, lookup};
use orc_client::time::format_micro;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};

/// Where node leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How long a lease holds without renewal: the kubelet's 40 s.
pub const LEASE_DURATION_SECONDS: u64 = 40;

/// The `leases` row of the resource table.
pub fn leases() -> &'static Resource {
    lookup("coordination.k8s.io", "v1", "leases").expect("leases are in the resource table")
}

// ANCHOR: lease_object
/// A node's Lease, renewed at `now`, owned by the Node with uid `node_uid`.
pub fn lease_object(node: &str, node_uid: &str, now: Timestamp) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node,
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [{
                "apiVersion": "v1",
                "kind": "Node",
                "name": node,
                "uid": node_uid,
            }],
        },
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": format_micro(now),
        },
    })
}
// ANCHOR_END: lease_object

/// Renews one node's Lease; remembers the last stored copy so a renewal
/// is one PUT (compare-and-swap on its resourceVersion), as the kubelet's
/// lease controller does.
#[derive(Debug)]
pub struct NodeLease {
    node: String,
    node_uid: String,
    /// The Lease as last stored; `None` until the first renewal or after a
    /// failed one (then the next renewal reads it again).
    current: Option<Value>,
}

impl NodeLease {
    pub fn new(node: &str, node_uid: &str) -> NodeLease {
        NodeLease {
            node: node.into(),
            node_uid: node_uid.into(),
            current: None,
        }
    }

    // ANCHOR: renew
    /// Sets `renewTime` to now: creates the Lease if it is missing, else
    /// updates the stored one. A failure (a conflict with another writer,
    /// the server away) forgets the cached copy; the next tick reads again.
    pub async fn renew(&mut self, client: &Client) -> Result<Value, ClientError> {
        let result = self.try_renew(client).await;
        self.current = result.as_ref().ok().cloned();
        result
    }

    async fn try_renew(&self, client: &Client) -> Result<Value, ClientError> {
        let fresh = lease_object(&self.node, &self.node_uid, Timestamp::now());
        let current = match &self.current {
            Some(lease) => lease.clone(),
            None => match client
                .get(leases(), Some(LEASE_NAMESPACE), &self.node)
                .await
            {
                Ok(lease) => lease,
                Err(e) if e.is_not_found() => {
                    return client.create(leases(), Some(LEASE_NAMESPACE), &fresh).await;
                }
                Err(e) => return Err(e),
            },
        };
        let mut next = current;
        next["spec"] = fresh["spec"].clone();
        next["metadata"]["ownerReferences"] = fresh["metadata"]["ownerReferences"].clone();
        client.update(leases(), Some(LEASE_NAMESPACE), &next).await
    }
    // ANCHOR_END: renew
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_names_its_holder_and_owner() {
        let lease = lease_object("n1", "uid-1", Timestamp::UNIX_EPOCH);
        assert_eq!(lease["spec"]["holderIdentity"], "n1");
        assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
        assert_eq!(lease["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    }
}

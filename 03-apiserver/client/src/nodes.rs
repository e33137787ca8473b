//! A Node's addresses, read one way by every component that needs them:
//! the routes to other nodes' pods, a `LoadBalancer` Service's and an
//! Ingress's published addresses.
//!
//! The kubelet reports `status.addresses` as a list of `{type, address}`
//! (`InternalIP`, `ExternalIP`, `Hostname`, ...); Kubernetes' own readers
//! (`nodeutil.GetNodeHostIPs`, the service controller) take the first of
//! a type, and so does orc.

use serde_json::Value;

// ANCHOR: internal_ip
/// The node's first `InternalIP`, as written (the caller parses it, and
/// says which node's was unreadable), if it reported one.
pub fn internal_ip(node: &Value) -> Option<&str> {
    node.pointer("/status/addresses")?
        .as_array()?
        .iter()
        .find(|a| a["type"] == "InternalIP")?["address"]
        .as_str()
}
// ANCHOR_END: internal_ip

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_internal_ip_is_the_nodes_address() {
        let node = json!({"status": {"addresses": [
            {"type": "Hostname", "address": "node-1"},
            {"type": "InternalIP", "address": "192.168.50.1"},
            {"type": "InternalIP", "address": "fd00::1"}]}});
        assert_eq!(internal_ip(&node), Some("192.168.50.1"));
        let hostname_only =
            json!({"status": {"addresses": [{"type": "Hostname", "address": "n"}]}});
        assert_eq!(internal_ip(&hostname_only), None);
        assert_eq!(internal_ip(&json!({"status": {}})), None);
        assert_eq!(
            internal_ip(&json!({"status": {"addresses": "10.0.0.1"}})),
            None
        );
    }
}

//! What a Node may say about where its agent is.
//!
//! The API server dials a node's agent for `kubectl logs` and `kubectl
//! exec` (`handlers/logs.rs`, `handlers/streaming.rs`), at an address it
//! reads from the Node object. Whoever can write a Node could otherwise
//! make the API server fetch any URL it can reach (issue 18): an address
//! like `169.254.169.254/latest/meta-data?` or `http://db:5432/` turns the
//! log relay into a request forgery (SSRF). So, before storage:
//!
//! - each `status.addresses[i].address` is an IP address, or for the
//!   `Hostname` and DNS types a DNS-1123 hostname: no scheme, port, path,
//!   query or spaces; an `InternalIP` or `ExternalIP` is one host's
//!   address, not `0.0.0.0`, `::` (which Linux dials as this host) or a
//!   multicast or broadcast group;
//! - `status.daemonEndpoints.kubeletEndpoint.Port` is a port, 1 to 65535
//!   (0 or absent: the default);
//!
//! and the relay dials only an IP address (`InternalIP`, then
//! `ExternalIP`) with that port, never a hostname from the object, over
//! TLS, checking the agent's certificate against the cluster CA when the
//! API server has `--kubelet-certificate-authority` (`agent_client.rs`).

use std::net::IpAddr;

use serde_json::Value;

use crate::status::FieldCause;

/// The address types that must hold IP addresses.
const IP_TYPES: &[&str] = &["InternalIP", "ExternalIP"];

/// The address types a Node may report (Kubernetes' `NodeAddressType`).
const TYPES: &[&str] = &[
    "Hostname",
    "InternalIP",
    "ExternalIP",
    "InternalDNS",
    "ExternalDNS",
];

// ANCHOR: validate_node
/// The causes a Node's addresses and agent port give for refusing it.
pub fn validate(node: &Value, causes: &mut Vec<FieldCause>) {
    let addresses = node.pointer("/status/addresses").and_then(Value::as_array);
    for (i, address) in addresses.into_iter().flatten().enumerate() {
        let path = format!("status.addresses[{i}]");
        let kind = address["type"].as_str().unwrap_or("");
        if !TYPES.contains(&kind) {
            causes.push(FieldCause::not_supported(
                format!("{path}.type"),
                kind,
                TYPES,
            ));
            continue;
        }
        let value = address["address"].as_str().unwrap_or("");
        if let Some(why) = address_problem(kind, value) {
            causes.push(FieldCause::invalid(
                format!("{path}.address"),
                &address["address"],
                why,
            ));
        }
    }
    let port = node.pointer("/status/daemonEndpoints/kubeletEndpoint/Port");
    if let Some(port) = port.filter(|p| !p.is_null()) {
        let valid = port.as_u64().is_some_and(|p| p <= 65535);
        if !valid {
            causes.push(FieldCause::invalid(
                "status.daemonEndpoints.kubeletEndpoint.Port",
                port,
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
}
// ANCHOR_END: validate_node

/// What is wrong with `value` as an address of type `kind`, if anything.
fn address_problem(kind: &str, value: &str) -> Option<&'static str> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        if IP_TYPES.contains(&kind) && (ip.is_unspecified() || ip.is_multicast() || broadcast) {
            return Some("must be one host's address, not unspecified, multicast or broadcast");
        }
        return None;
    }
    if IP_TYPES.contains(&kind) {
        return Some("must be a valid IP address");
    }
    // Hostnames are case-insensitive; a machine's may have capitals.
    match orc_client::names::check_dns1123_subdomain(&value.to_ascii_lowercase()) {
        Ok(()) => None,
        Err(_) => {
            Some("must be an IP address or a DNS-1123 hostname (no scheme, port, path or query)")
        }
    }
}

/// The IP address a relay may dial for `node`: its first `InternalIP`,
/// else its first `ExternalIP`, parsed. Never a hostname: a name from the
/// object could resolve anywhere.
pub fn agent_ip(node: &Value) -> Option<IpAddr> {
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?;
    IP_TYPES.iter().find_map(|kind| {
        addresses
            .iter()
            .filter(|a| a["type"] == *kind)
            .find_map(|a| a["address"].as_str()?.parse().ok())
            // Stored before validation refused them: still never dialled.
            .filter(|ip: &IpAddr| !ip.is_unspecified() && !ip.is_multicast())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(addresses: Value, port: Value) -> Value {
        json!({"status": {"addresses": addresses,
                          "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}})
    }

    fn fields(node: &Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate(node, &mut causes);
        causes.into_iter().map(|c| c.field).collect()
    }

    #[test]
    fn ips_and_hostnames_pass() {
        let good = json!([
            {"type": "InternalIP", "address": "10.0.0.5"},
            {"type": "ExternalIP", "address": "2001:db8::1"},
            {"type": "Hostname", "address": "Node-1.example"},
        ]);
        assert!(fields(&node(good, json!(10250))).is_empty());
    }

    #[test]
    fn urls_paths_ports_and_bad_ports_are_refused() {
        let bad = json!([
            {"type": "InternalIP", "address": "169.254.169.254/latest/meta-data?"},
            {"type": "Hostname", "address": "http://db:5432/"},
            {"type": "Hostname", "address": "db:5432"},
            {"type": "InternalIP", "address": "n1.example"},
            {"type": "Elsewhere", "address": "10.0.0.1"},
            {"type": "InternalIP", "address": "0.0.0.0"},
            {"type": "ExternalIP", "address": "224.0.0.1"},
        ]);
        assert_eq!(
            fields(&node(bad, json!(70000))),
            [
                "status.addresses[0].address",
                "status.addresses[1].address",
                "status.addresses[2].address",
                "status.addresses[3].address",
                "status.addresses[4].type",
                "status.addresses[5].address",
                "status.addresses[6].address",
                "status.daemonEndpoints.kubeletEndpoint.Port",
            ]
        );
        assert_eq!(
            fields(&node(json!([]), json!("10250"))).len(),
            1,
            "a port is a number"
        );
    }

    #[test]
    fn the_relay_dials_only_an_ip() {
        let both = json!([
            {"type": "Hostname", "address": "n1.example"},
            {"type": "ExternalIP", "address": "192.0.2.7"},
            {"type": "InternalIP", "address": "10.0.0.5"},
        ]);
        assert_eq!(
            agent_ip(&node(both, Value::Null)),
            Some("10.0.0.5".parse().unwrap())
        );
        let name_only = json!([{"type": "Hostname", "address": "n1.example"}]);
        assert_eq!(agent_ip(&node(name_only, Value::Null)), None);
    }
}

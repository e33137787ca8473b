//! The v1 `Endpoints` object: the older, single-object form of a Service's
//! backends, which Kubernetes still keeps up to date beside the slices
//! (and which `kubectl get endpoints` shows).
//!
//! Its rules differ from the slices' in two ways that the Endpoints
//! controller has always had: a terminating pod is left out entirely
//! (unless the Service publishes not-ready addresses), and the others are
//! listed under `addresses` when ready and `notReadyAddresses` when not.
//! Backends are grouped into *subsets* by their set of ports, as
//! Kubernetes' `RepackSubsets` does.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::backends::Backend;
use super::slices::{ports_json, service_labels};

/// One entry of `addresses` or `notReadyAddresses`.
fn address(backend: &Backend) -> Value {
    let mut address = json!({"ip": backend.ip.to_string(), "targetRef": backend.target_ref});
    if let Some(hostname) = &backend.hostname {
        address["hostname"] = json!(hostname);
    }
    if let Some(node) = &backend.node_name {
        address["nodeName"] = json!(node);
    }
    address
}

// ANCHOR: subsets
/// The `subsets` for `backends` of a Service (`publish_not_ready`: its
/// `publishNotReadyAddresses`).
pub fn subsets(backends: &[Backend], publish_not_ready: bool) -> Value {
    // Per set of ports: (ports, ready addresses, not-ready addresses).
    let mut groups: BTreeMap<String, (Value, Vec<Value>, Vec<Value>)> = BTreeMap::new();
    for backend in backends
        .iter()
        .filter(|b| publish_not_ready || !b.terminating)
    {
        let ports = ports_json(&backend.ports);
        let group = groups
            .entry(ports.to_string())
            .or_insert((ports, Vec::new(), Vec::new()));
        match backend.ready {
            true => group.1.push(address(backend)),
            false => group.2.push(address(backend)),
        }
    }
    groups
        .into_values()
        .map(|(ports, ready, not_ready)| {
            let mut subset = json!({});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            if ports.as_array().is_some_and(|p| !p.is_empty()) {
                subset["ports"] = ports;
            }
            subset
        })
        .collect()
}
// ANCHOR_END: subsets

/// The Endpoints object `svc` should have (without server-set metadata).
pub fn desired(svc: &Value, backends: &[Backend]) -> Value {
    let publish = svc.pointer("/spec/publishNotReadyAddresses") == Some(&json!(true));
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": svc["metadata"]["name"],
            "namespace": svc["metadata"]["namespace"],
            "labels": service_labels(svc),
        },
        "subsets": subsets(backends, publish),
    })
}

/// The stored Endpoints with `desired`'s content, or `None` when it
/// already has it: no write when nothing changed.
pub fn updated(stored: &Value, desired: &Value) -> Option<Value> {
    let subsets = |o: &Value| match o.get("subsets") {
        None | Some(Value::Null) => json!([]),
        Some(s) => s.clone(),
    };
    let labels = |o: &Value| o.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
    if subsets(stored) == subsets(desired) && labels(stored) == labels(desired) {
        return None;
    }
    let mut next = stored.clone();
    next["subsets"] = subsets(desired);
    next["metadata"]["labels"] = labels(desired);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::endpoints::backends::test_backend as backend;

    #[test]
    fn ready_and_not_ready_addresses_are_grouped_by_ports() {
        let all = [
            backend(2, 8080, true, false),
            backend(3, 8080, false, false),
            backend(4, 8081, true, false),
            backend(5, 8080, false, true),
        ];
        let subsets = subsets(&all, false);
        let ips = |s: &Value, f: &str| -> Vec<String> {
            s[f].as_array()
                .into_iter()
                .flatten()
                .map(|a| a["ip"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(subsets.as_array().unwrap().len(), 2);
        assert_eq!(ips(&subsets[0], "addresses"), ["10.244.1.2"]);
        assert_eq!(
            ips(&subsets[0], "notReadyAddresses"),
            ["10.244.1.3"],
            "terminating .5 left out"
        );
        assert_eq!(
            subsets[0]["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(ips(&subsets[1], "addresses"), ["10.244.1.4"]);
    }

    #[test]
    fn an_unchanged_endpoints_is_not_written() {
        let svc = json!({"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}}});
        let desired = desired(&svc, &[backend(2, 8080, true, false)]);
        let mut stored = desired.clone();
        stored["metadata"]["resourceVersion"] = json!("7");
        assert_eq!(updated(&stored, &desired), None);
        let next = updated(&stored, &super::desired(&svc, &[])).unwrap();
        assert_eq!(next["subsets"], json!([]));
        assert_eq!(next["metadata"]["resourceVersion"], "7");
    }
}

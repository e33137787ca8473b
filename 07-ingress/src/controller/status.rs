//! `status.loadBalancer.ingress` of a claimed Ingress: where it is served.
//!
//! orc's proxy listens on the nodes' own addresses (as k3s' ServiceLB and
//! chapter 06's `LoadBalancer` Services do), so those addresses are what
//! an Ingress publishes, and what `kubectl get ingress` shows as ADDRESS.

use std::net::IpAddr;

use serde_json::{Value, json};

// ANCHOR: status_patch
/// The merge patch that makes `ingress`'s published addresses
/// `addresses` (sorted, so the same set is the same list), or `None` when
/// they already are.
pub fn status_patch(ingress: &Value, addresses: &[IpAddr]) -> Option<Value> {
    let mut sorted = addresses.to_vec();
    sorted.sort();
    sorted.dedup();
    let desired: Vec<Value> = sorted
        .iter()
        .map(|ip| json!({"ip": ip.to_string()}))
        .collect();
    let current = ingress.pointer("/status/loadBalancer/ingress");
    let empty = current.is_none_or(|c| c.is_null() || c.as_array().is_some_and(Vec::is_empty));
    let same = match current.and_then(Value::as_array) {
        Some(current) => *current == desired,
        None => empty && desired.is_empty(),
    };
    (!same).then(|| json!({"status": {"loadBalancer": {"ingress": desired}}}))
}
// ANCHOR_END: status_patch

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_once_and_sorted() {
        let ips: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        let fresh = json!({"metadata": {"name": "web"}});
        let patch = status_patch(&fresh, &ips).unwrap();
        assert_eq!(
            patch,
            json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}}})
        );
        let written = json!({"status": patch["status"]});
        assert_eq!(status_patch(&written, &ips), None);
        assert_eq!(status_patch(&fresh, &[]), None);
    }
}

//! The names of orc-proxy's chains, and the numbers in its rules.
//!
//! kube-proxy's layout, with `ORC-` for `KUBE-`:
//!
//! ```text
//! nat    PREROUTING, OUTPUT ─▶ ORC-SERVICES ─▶ ORC-SVC-<hash> (one per Service port: picks an endpoint)
//!                               │                 └─▶ ORC-SEP-<hash> (one per endpoint: DNAT)
//!                               └─▶ ORC-NODEPORTS ─▶ ORC-EXT-<hash> ─▶ ORC-SVC-… or ORC-SVL-… (Local policy)
//!        POSTROUTING ─▶ ORC-PROXY-POSTROUTING (MASQUERADE what ORC-MARK-MASQ marked)
//! filter INPUT, FORWARD, OUTPUT ─▶ ORC-SERVICES, ORC-EXTERNAL-SERVICES (REJECT: no endpoints)
//!        FORWARD ─▶ ORC-PROXY-FORWARD (ACCEPT marked and established traffic)
//! ```
//!
//! Per-Service chain names are hashes, as kube-proxy's: an iptables chain
//! name has at most 28 characters, and `namespace/name:port` can be 300.
//! The two chains that share chapter 02's names (`ORC-POSTROUTING`,
//! `ORC-FORWARD`, the pod network's) are `ORC-PROXY-…` here.

use sha2::{Digest, Sha256};

/// nat and filter: the entry from the built-in chains.
pub const SERVICES: &str = "ORC-SERVICES";
/// filter: refusals for node-port and external traffic.
pub const EXTERNAL_SERVICES: &str = "ORC-EXTERNAL-SERVICES";
/// nat: node ports, jumped to last from [`SERVICES`].
pub const NODEPORTS: &str = "ORC-NODEPORTS";
/// nat: masquerades what [`MARK_MASQ`] marked (kube-proxy's `KUBE-POSTROUTING`).
pub const POSTROUTING: &str = "ORC-PROXY-POSTROUTING";
/// nat: marks a packet for masquerading.
pub const MARK_MASQ: &str = "ORC-MARK-MASQ";
/// filter: lets marked and established traffic through `FORWARD`
/// (kube-proxy's `KUBE-FORWARD`), whose policy Docker sets to DROP.
pub const FORWARD: &str = "ORC-PROXY-FORWARD";
/// The mark bit for "masquerade this": kube-proxy's default, bit 14.
pub const MASQ_MARK: &str = "0x4000";

/// The prefixes of the per-Service chains: what `--cleanup` and the stale
/// chain sweep look for.
pub const SERVICE_CHAIN_PREFIXES: &[&str] = &["ORC-SVC-", "ORC-SVL-", "ORC-EXT-", "ORC-SEP-"];

/// Whether `chain` is one of orc-proxy's per-Service chains.
pub fn is_service_chain(chain: &str) -> bool {
    SERVICE_CHAIN_PREFIXES.iter().any(|p| chain.starts_with(p))
}

/// RFC 4648 base32 of the first 10 bytes of `bytes`: 16 characters.
fn base32_16(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    // 10 bytes are 80 bits: exactly 16 groups of 5, no padding.
    let mut bits: u128 = 0;
    for byte in &bytes[..10] {
        bits = (bits << 8) | u128::from(*byte);
    }
    (0..16)
        .rev()
        .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
        .collect()
}

// ANCHOR: hash
/// The 16 characters that name a Service port's chains: base32 of the
/// SHA-256 of `namespace/name:port` and the protocol (kube-proxy's
/// `portProtoHash`), so the same port always gets the same chain.
pub fn port_proto_hash(service_port: &str, protocol: &str) -> String {
    let digest = Sha256::digest(format!("{service_port}{protocol}"));
    base32_16(&digest)
}
// ANCHOR_END: hash

/// The chain that picks among all usable endpoints (Cluster policy).
pub fn service_chain(service_port: &str, protocol: &str) -> String {
    format!("ORC-SVC-{}", port_proto_hash(service_port, protocol))
}

/// The chain that picks among this node's endpoints (Local policy).
pub fn local_chain(service_port: &str, protocol: &str) -> String {
    format!("ORC-SVL-{}", port_proto_hash(service_port, protocol))
}

/// The chain node-port traffic enters first.
pub fn external_chain(service_port: &str, protocol: &str) -> String {
    format!("ORC-EXT-{}", port_proto_hash(service_port, protocol))
}

/// The chain of one endpoint (`ip:port`) of a Service port: it DNATs.
pub fn endpoint_chain(service_port: &str, protocol: &str, endpoint: &str) -> String {
    let digest = Sha256::digest(format!("{service_port}{protocol}{endpoint}"));
    format!("ORC-SEP-{}", base32_16(&digest))
}

// ANCHOR: probability
/// The probability the rule for endpoint `i` of `n` matches with, so that
/// each endpoint is picked with the same chance 1/n: the first rule takes
/// 1/n of all packets, the second 1/(n-1) of the rest, ..., the last all
/// that is left. Written as kube-proxy writes it (Go's `%0.10f`).
pub fn probability(i: usize, n: usize) -> String {
    format!("{:.10}", 1.0 / (n - i) as f64)
}
// ANCHOR_END: probability

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_are_kube_proxys_hashes() {
        // kube-proxy names default/kubernetes:https's chain
        // KUBE-SVC-NPX46M4PTMTKRN6Y (visible in any cluster's iptables-save).
        assert_eq!(
            port_proto_hash("default/kubernetes:https", "tcp"),
            "NPX46M4PTMTKRN6Y"
        );
        assert_eq!(
            service_chain("default/kubernetes:https", "tcp"),
            "ORC-SVC-NPX46M4PTMTKRN6Y"
        );
        // And kube-system/kube-dns:dns (udp) is KUBE-SVC-TCOU7JCQXEZGVUNU.
        assert_eq!(
            port_proto_hash("kube-system/kube-dns:dns", "udp"),
            "TCOU7JCQXEZGVUNU"
        );
        assert!(endpoint_chain("default/web:http", "tcp", "10.244.1.2:8080").len() <= 28);
        assert!(is_service_chain("ORC-SEP-AAAA") && !is_service_chain("ORC-SERVICES"));
    }

    #[test]
    fn probabilities_give_every_endpoint_the_same_chance() {
        let rules: Vec<String> = (0..3).map(|i| probability(i, 3)).collect();
        assert_eq!(rules, ["0.3333333333", "0.5000000000", "1.0000000000"]);
        // Chance of endpoint i: its rule's probability times the chance
        // that every rule before it missed.
        let mut missed = 1.0;
        for i in 0..4 {
            let p = 1.0 / (4 - i) as f64;
            assert!((missed * p - 0.25_f64).abs() < 1e-12);
            missed *= 1.0 - p;
        }
    }
}

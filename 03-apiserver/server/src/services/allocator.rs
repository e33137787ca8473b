//! Cluster IPs and node ports, allocated in the Service's own transaction.
//!
//! Every value a Service holds is an etcd key of its own, written in the
//! same transaction as the Service ([`Reservations`]):
//!
//! ```text
//! /registry/ranges/serviceips/10.96.14.7        {"kind":"Service","namespace":"default","name":"web","uid":"…"}
//! /registry/ranges/servicenodeports/30080       (the same holder)
//! ```
//!
//! The transaction creates the keys only if none exists, so of two
//! concurrent creates that drew the same address exactly one wins; the
//! loser learns which key was taken, draws again and retries. A client
//! that *named* the value gets Kubernetes' 422 instead. Deleting the
//! Service deletes its keys in the same transaction, each only if it
//! still names that Service.
//!
//! The choice itself ([`choose`]) is pure: random offsets into the range,
//! skipping what is known to be taken, with the random source passed in.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::range::{PortRange, ServiceCidr};
use super::spec::{self, Ask, Wants};
use crate::status::FieldCause;
use crate::storage::{Reservation, Reservations, StorageError, Store};

/// Where each cluster IP's key lives.
pub const IP_PREFIX: &str = "/registry/ranges/serviceips/";
/// Where each node port's key lives.
pub const PORT_PREFIX: &str = "/registry/ranges/servicenodeports/";

/// How many random draws a choice makes before it scans the range: in a
/// range with any room left, a random draw almost always hits.
const RANDOM_DRAWS: usize = 32;
/// How many times a write is retried after losing values to other writes.
const ATTEMPTS: usize = 16;

/// The ranges a Service's values come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocator {
    /// Cluster IPs.
    pub cidr: ServiceCidr,
    /// Node ports.
    pub node_ports: PortRange,
}

/// What a stored Service holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Its cluster IP (not for headless or ExternalName Services).
    pub cluster_ip: Option<Ipv4Addr>,
    /// Its node ports.
    pub node_ports: BTreeSet<u16>,
}

impl Holdings {
    /// What `svc` holds, read from its spec.
    pub fn of(svc: &Value) -> Holdings {
        let cluster_ip = match spec::needs_cluster_ip(svc) {
            true => spec::cluster_ip(svc).parse().ok(),
            false => None,
        };
        Holdings {
            cluster_ip,
            node_ports: spec::node_ports(svc)
                .into_iter()
                .filter_map(|n| u16::try_from(n).ok())
                .collect(),
        }
    }

    /// The etcd key of each value.
    pub fn keys(&self) -> Vec<String> {
        let ip = self.cluster_ip.map(|ip| format!("{IP_PREFIX}{ip}"));
        let ports = self.node_ports.iter().map(|p| format!("{PORT_PREFIX}{p}"));
        ip.into_iter().chain(ports).collect()
    }
}

/// The value stored under a key a Service holds: which Service, down to
/// its uid (a new Service of the same name is another holder).
pub fn holder(svc: &Value) -> Vec<u8> {
    let meta = &svc["metadata"];
    let holder = json!({
        "kind": "Service",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta["uid"],
    });
    holder.to_string().into_bytes()
}

/// What a write moving a Service from `before` to `after` takes and gives
/// back: only the difference, so a value kept is neither.
pub fn reservations(before: &Holdings, after: &Holdings, holder: &[u8]) -> Reservations {
    let (old, new): (BTreeSet<String>, BTreeSet<String>) = (
        before.keys().into_iter().collect(),
        after.keys().into_iter().collect(),
    );
    let reservation = |key: &String| Reservation {
        key: key.clone(),
        holder: holder.to_vec(),
    };
    Reservations {
        take: new.difference(&old).map(reservation).collect(),
        release: old.difference(&new).map(reservation).collect(),
    }
}

/// Values known to be taken by other Services.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// Cluster IPs.
    pub ips: BTreeSet<Ipv4Addr>,
    /// Node ports.
    pub ports: BTreeSet<u16>,
    /// Whether these are *all* of them (read from etcd), not just the ones
    /// lost in races so far.
    pub complete: bool,
}

/// The values picked for a Service's wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choice {
    /// The cluster IP.
    pub cluster_ip: Option<Ipv4Addr>,
    /// Each node port with the `spec.ports` indices that get it.
    pub node_ports: Vec<(Vec<usize>, u16)>,
}

impl Choice {
    /// The holdings a Service with these values has.
    pub fn holdings(&self) -> Holdings {
        Holdings {
            cluster_ip: self.cluster_ip,
            node_ports: self.node_ports.iter().map(|(_, p)| *p).collect(),
        }
    }

    /// Writes the values into the Service: `clusterIP`, `clusterIPs` and
    /// each port's `nodePort`.
    pub fn apply(&self, svc: &mut Value) {
        if let Some(ip) = self.cluster_ip {
            svc["spec"]["clusterIP"] = json!(ip.to_string());
            svc["spec"]["clusterIPs"] = json!([ip.to_string()]);
        }
        for (indices, port) in &self.node_ports {
            for i in indices {
                if let Some(p) = svc.pointer_mut(&format!("/spec/ports/{i}")) {
                    p["nodePort"] = json!(port);
                }
            }
        }
    }
}

/// Which range ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// No cluster IP is free.
    ClusterIp,
    /// No node port is free.
    NodePort,
}

/// Picks a free offset in `0..size` for which `free` holds: random draws
/// first, then (when `scan`) every offset from a random start. `None`
/// when nothing was found.
fn pick(
    size: u32,
    free: impl Fn(u32) -> bool,
    scan: bool,
    random: &mut impl FnMut(u32) -> u32,
) -> Option<u32> {
    if size == 0 {
        return None;
    }
    for _ in 0..RANDOM_DRAWS {
        let offset = random(size);
        if free(offset) {
            return Some(offset);
        }
    }
    if !scan {
        return None;
    }
    let start = random(size);
    (0..size).map(|i| (start + i) % size).find(|o| free(*o))
}

// ANCHOR: choose
/// Picks values for `wants` from the allocator's ranges: what the client
/// named is kept, the rest drawn at random among the values not `known`
/// to be taken. Random draws never give the reserved addresses (`.1`, the
/// `kubernetes` Service's, and `.10`, cluster DNS's). `random(n)` answers
/// a number below `n`.
pub fn choose(
    allocator: &Allocator,
    wants: &Wants,
    known: &Known,
    random: &mut impl FnMut(u32) -> u32,
) -> Result<Choice, Exhausted> {
    let cidr = allocator.cidr;
    let cluster_ip = match wants.cluster_ip {
        None => None,
        Some(Ask::Exactly(ip)) => Some(ip),
        Some(Ask::Any) => {
            let free = |offset: u32| {
                let ip = cidr.nth(offset);
                cidr.holds(ip) && !cidr.is_reserved(ip) && !known.ips.contains(&ip)
            };
            let offset = pick(cidr.size(), free, known.complete, random);
            Some(cidr.nth(offset.ok_or(Exhausted::ClusterIp)?))
        }
    };
    let range = allocator.node_ports;
    let mut node_ports: Vec<(Vec<usize>, u16)> = Vec::new();
    for want in &wants.node_ports {
        let port = match want.ask {
            // Validation and the range check have refused the rest.
            Ask::Exactly(port) => u16::try_from(port).unwrap_or_default(),
            Ask::Any => {
                let free = |offset: u32| {
                    let port = range.nth(offset);
                    !known.ports.contains(&port)
                        && !wants
                            .node_ports
                            .iter()
                            .any(|w| w.ask == Ask::Exactly(i64::from(port)))
                        && !node_ports.iter().any(|(_, p)| *p == port)
                };
                let offset = pick(range.size(), free, known.complete, random);
                range.nth(offset.ok_or(Exhausted::NodePort)?)
            }
        };
        node_ports.push((want.indices.clone(), port));
    }
    Ok(Choice {
        cluster_ip,
        node_ports,
    })
}
// ANCHOR_END: choose

/// Why a Service's values could not be allocated.
#[derive(Debug, thiserror::Error)]
pub enum AllocError {
    /// A value the client named is outside the range or held by another
    /// Service: 422, in Kubernetes' words.
    #[error("{}", .0.iter().map(|c| format!("{}: {}", c.field, c.message)).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldCause>),
    /// A range has no free value left: 500, as in Kubernetes.
    #[error("{0}")]
    Full(String),
    /// etcd refused the write for another reason.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Allocator {
    /// The named values that lie outside the ranges, as Kubernetes words it.
    pub fn check_ranges(&self, wants: &Wants) -> Vec<FieldCause> {
        let mut causes = Vec::new();
        if let Some(Ask::Exactly(ip)) = wants.cluster_ip
            && !self.cidr.holds(ip)
        {
            causes.push(ip_cause(
                ip,
                &format!(
                    "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                    self.cidr
                ),
            ));
        }
        for want in &wants.node_ports {
            if let Ask::Exactly(port) = want.ask
                && !self.node_ports.contains(port)
            {
                causes.push(port_cause(
                    want.indices[0],
                    port,
                    &format!(
                        "provided port is not in the valid range. The range of valid ports is {}",
                        self.node_ports
                    ),
                ));
            }
        }
        causes
    }

    // ANCHOR: write
    /// Writes the Service `next` (a create when `before` is `None`, else an
    /// update from `before` at `revision`) with the values it asks for,
    /// retrying with other random values when a race took them. Answers
    /// the stored object.
    pub async fn write(
        &self,
        store: &Store,
        key: &str,
        next: Value,
        before: Option<(&Value, i64)>,
        parent: Option<&str>,
    ) -> Result<Value, AllocError> {
        let wants = spec::wants(&next);
        if let Some(first) = self.check_ranges(&wants).into_iter().next() {
            // The first refusal only, as Kubernetes (see below).
            return Err(AllocError::Invalid(vec![first]));
        }
        let held = before.map(|(old, _)| Holdings::of(old)).unwrap_or_default();
        let holder = holder(&next);
        let mut known = Known::default();
        for _ in 0..ATTEMPTS {
            let choice = match choose(self, &wants, &known, &mut |n| fastrand::u32(0..n)) {
                Ok(choice) => choice,
                Err(_) if !known.complete => {
                    // The random draws met only taken values: learn them all.
                    known = self.read_taken(store).await?;
                    continue;
                }
                Err(Exhausted::ClusterIp) => {
                    return Err(AllocError::Full(
                        "failed to allocate a serviceIP: range is full".into(),
                    ));
                }
                Err(Exhausted::NodePort) => {
                    return Err(AllocError::Full(
                        "failed to allocate a nodePort: range is full".into(),
                    ));
                }
            };
            let mut obj = next.clone();
            choice.apply(&mut obj);
            let reservations = reservations(&held, &choice.holdings(), &holder);
            let written = match before {
                None => {
                    store
                        .create_reserving(key, obj, parent, &reservations)
                        .await
                }
                Some((_, revision)) => {
                    store
                        .update_reserving(key, &obj, revision, &reservations)
                        .await
                }
            };
            match written {
                Ok(stored) => return Ok(stored),
                Err(StorageError::Taken(keys)) => {
                    // Kubernetes allocates the address, then the ports in
                    // order, and stops at the first refusal: so do we.
                    let named = learn(&mut known, &keys, &wants);
                    if let Some(first) = named.into_iter().next() {
                        return Err(AllocError::Invalid(vec![first]));
                    }
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(AllocError::Storage(StorageError::Conflict))
    }
    // ANCHOR_END: write

    /// Every value held in etcd.
    async fn read_taken(&self, store: &Store) -> Result<Known, StorageError> {
        let mut known = Known {
            complete: true,
            ..Known::default()
        };
        for (key, _, _) in store.raw_range_at(IP_PREFIX, 0).await? {
            if let Some(ip) = key.strip_prefix(IP_PREFIX).and_then(|ip| ip.parse().ok()) {
                known.ips.insert(ip);
            }
        }
        for (key, _, _) in store.raw_range_at(PORT_PREFIX, 0).await? {
            if let Some(port) = key.strip_prefix(PORT_PREFIX).and_then(|p| p.parse().ok()) {
                known.ports.insert(port);
            }
        }
        Ok(known)
    }
}

/// Records taken `keys` in `known`; answers the 422 causes for the ones
/// the client named (those will not be free on a retry).
fn learn(known: &mut Known, keys: &[String], wants: &Wants) -> Vec<FieldCause> {
    let mut named = Vec::new();
    for key in keys {
        if let Some(ip) = key
            .strip_prefix(IP_PREFIX)
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        {
            if wants.cluster_ip == Some(Ask::Exactly(ip)) {
                named.push(ip_cause(ip, "provided IP is already allocated"));
            }
            known.ips.insert(ip);
        }
        if let Some(port) = key
            .strip_prefix(PORT_PREFIX)
            .and_then(|p| p.parse::<u16>().ok())
        {
            let asked = wants
                .node_ports
                .iter()
                .find(|w| w.ask == Ask::Exactly(i64::from(port)));
            if let Some(want) = asked {
                named.push(port_cause(
                    want.indices[0],
                    i64::from(port),
                    "provided port is already allocated",
                ));
            }
            known.ports.insert(port);
        }
    }
    named
}

/// `spec.clusterIPs: Invalid value: ["10.0.0.5"]: failed to allocate IP 10.0.0.5: …`
fn ip_cause(ip: Ipv4Addr, why: &str) -> FieldCause {
    FieldCause::invalid(
        "spec.clusterIPs",
        &json!([ip.to_string()]),
        format!("failed to allocate IP {ip}: {why}"),
    )
}

/// `spec.ports[0].nodePort: Invalid value: 30080: …`
fn port_cause(index: usize, port: i64, why: &str) -> FieldCause {
    FieldCause::invalid(format!("spec.ports[{index}].nodePort"), &json!(port), why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::spec::NodePortWant;

    /// A random source that answers `values` in turn, then 0s.
    fn scripted(values: &[u32]) -> impl FnMut(u32) -> u32 + '_ {
        let mut next = values.iter();
        move |n| next.next().copied().unwrap_or(0) % n
    }

    fn small() -> Allocator {
        Allocator {
            cidr: "10.0.0.0/28".parse().unwrap(),
            node_ports: "30000-30002".parse().unwrap(),
        }
    }

    #[test]
    fn random_draws_skip_reserved_and_known_values() {
        let wants = Wants {
            cluster_ip: Some(Ask::Any),
            node_ports: vec![NodePortWant {
                indices: vec![0],
                ask: Ask::Any,
            }],
        };
        let known = Known {
            ips: [Ipv4Addr::new(10, 0, 0, 2)].into(),
            ports: [30000].into(),
            complete: false,
        };
        // Draws: .0 (network), .1 and .10 (reserved), .2 (taken), then .3;
        // port offset 0 (taken), then 1.
        let choice = choose(
            &small(),
            &wants,
            &known,
            &mut scripted(&[0, 1, 10, 2, 3, 0, 1]),
        )
        .unwrap();
        assert_eq!(choice.cluster_ip, Some(Ipv4Addr::new(10, 0, 0, 3)));
        assert_eq!(choice.node_ports, [(vec![0], 30001)]);
    }

    #[test]
    fn a_full_range_is_found_by_the_scan_once_everything_is_known() {
        let wants = Wants {
            cluster_ip: Some(Ask::Any),
            node_ports: vec![],
        };
        let cidr = small().cidr;
        let mut known = Known {
            ips: (2..15).filter(|o| *o != 10).map(|o| cidr.nth(o)).collect(),
            ..Known::default()
        };
        // Random draws alone may miss the one free address; the scan finds it.
        known.ips.remove(&cidr.nth(7));
        assert_eq!(
            choose(&small(), &wants, &known, &mut scripted(&[])),
            Err(Exhausted::ClusterIp)
        );
        known.complete = true;
        let choice = choose(&small(), &wants, &known, &mut scripted(&[])).unwrap();
        assert_eq!(choice.cluster_ip, Some(cidr.nth(7)));
        known.ips.insert(cidr.nth(7));
        assert_eq!(
            choose(&small(), &wants, &known, &mut scripted(&[])),
            Err(Exhausted::ClusterIp)
        );
    }

    #[test]
    fn named_values_outside_the_ranges_are_refused_in_kubernetes_words() {
        let allocator = Allocator::default();
        let wants = Wants {
            cluster_ip: Some(Ask::Exactly(Ipv4Addr::new(10, 0, 0, 5))),
            node_ports: vec![NodePortWant {
                indices: vec![1],
                ask: Ask::Exactly(80),
            }],
        };
        let messages: Vec<String> = allocator
            .check_ranges(&wants)
            .into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            messages,
            [
                "spec.clusterIPs: Invalid value: [\"10.0.0.5\"]: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12",
                "spec.ports[1].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
            ]
        );
    }

    #[test]
    fn an_update_takes_and_gives_back_only_the_difference() {
        let before = Holdings {
            cluster_ip: Some(Ipv4Addr::new(10, 96, 0, 20)),
            node_ports: [30080, 30081].into(),
        };
        let after = Holdings {
            cluster_ip: Some(Ipv4Addr::new(10, 96, 0, 20)),
            node_ports: [30081, 30082].into(),
        };
        let r = reservations(&before, &after, b"me");
        let keys = |rs: &[Reservation]| rs.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&r.take), ["/registry/ranges/servicenodeports/30082"]);
        assert_eq!(
            keys(&r.release),
            ["/registry/ranges/servicenodeports/30080"]
        );
    }

    #[test]
    fn losing_a_named_value_is_a_422_and_a_drawn_one_is_remembered() {
        let wants = Wants {
            cluster_ip: Some(Ask::Any),
            node_ports: vec![NodePortWant {
                indices: vec![2],
                ask: Ask::Exactly(30080),
            }],
        };
        let mut known = Known::default();
        let causes = learn(
            &mut known,
            &[
                format!("{IP_PREFIX}10.96.0.7"),
                format!("{PORT_PREFIX}30080"),
            ],
            &wants,
        );
        assert_eq!(known.ips, [Ipv4Addr::new(10, 96, 0, 7)].into());
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.ports[2].nodePort");
        assert_eq!(
            causes[0].message,
            "Invalid value: 30080: provided port is already allocated"
        );
    }
}

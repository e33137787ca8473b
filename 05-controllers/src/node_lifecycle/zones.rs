//! Zones and their disruption states, decided purely: how fast the node
//! lifecycle controller may start evictions, and when it must not.
//!
//! Kubernetes' node lifecycle controller does not taint every silent node
//! `NoExecute` at once. It groups nodes into zones (the
//! `topology.kubernetes.io/region` and `zone` labels), and judges each zone
//! from its nodes' `Ready` conditions:
//!
//! - **Normal**: most nodes are Ready. Evictions start at
//!   `--node-eviction-rate` nodes per second (0.1: one node every 10 s).
//! - **PartialDisruption**: more than two nodes, and at least
//!   `--unhealthy-zone-threshold` (55 %) of them, are not Ready. Something
//!   bigger than one machine is wrong; a large zone (more than
//!   `--large-cluster-size-threshold`, 50 nodes) slows to
//!   `--secondary-node-eviction-rate` (0.01), a small one stops.
//! - **FullDisruption**: no node is Ready. The zone's evictions go on at
//!   the normal rate, since its pods are better off elsewhere...
//! - ...unless *every* zone is fully disrupted. Then the likeliest story is
//!   that the control plane lost its own network, not that every machine
//!   died at once; evicting would empty a healthy cluster. The controller
//!   enters *master disruption mode*: it removes the `NoExecute` taints it
//!   put and adds none until some node is Ready again.
//!
//! A node labelled `node.kubernetes.io/exclude-disruption` counts in no
//! zone (a control plane node, say, whose health says nothing about the
//! zone's).

use std::collections::BTreeMap;

use serde_json::Value;

/// The label that keeps a node out of its zone's count.
pub const EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// The eviction rates and thresholds, as kube-controller-manager's flags
/// name them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvictionRates {
    /// `--node-eviction-rate`: nodes per second whose pods may start
    /// leaving, in a healthy zone (0.1).
    pub node_eviction_rate: f64,
    /// `--secondary-node-eviction-rate`: the rate in a partially disrupted
    /// zone of a large cluster (0.01).
    pub secondary_node_eviction_rate: f64,
    /// `--unhealthy-zone-threshold`: the share of not-Ready nodes (of more
    /// than two) that makes a zone partially disrupted (0.55).
    pub unhealthy_zone_threshold: f64,
    /// `--large-cluster-size-threshold`: above this many nodes a zone is
    /// large, and a partial disruption only slows evictions (50).
    pub large_cluster_size_threshold: usize,
}

impl Default for EvictionRates {
    fn default() -> EvictionRates {
        EvictionRates {
            node_eviction_rate: 0.1,
            secondary_node_eviction_rate: 0.01,
            unhealthy_zone_threshold: 0.55,
            large_cluster_size_threshold: 50,
        }
    }
}

/// A zone's health, as Kubernetes names the states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// A zone seen for the first time, not judged yet.
    Initial,
    Normal,
    PartialDisruption,
    FullDisruption,
}

/// The zone of `node`: `region:\0:zone` from the topology labels (the
/// older `failure-domain.beta.kubernetes.io/` ones first, as Kubernetes'
/// `GetZoneKey`), or `""` without either.
pub fn zone_key(node: &Value) -> String {
    let label = |key: &str| node.pointer("/metadata/labels")?.get(key)?.as_str();
    let zone = label("failure-domain.beta.kubernetes.io/zone")
        .or_else(|| label("topology.kubernetes.io/zone"))
        .unwrap_or("");
    let region = label("failure-domain.beta.kubernetes.io/region")
        .or_else(|| label("topology.kubernetes.io/region"))
        .unwrap_or("");
    if zone.is_empty() && region.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

/// A zone key as people read it (`region/zone`, `zone`, or `(no zone)`).
pub fn display(zone: &str) -> String {
    match zone.split_once(":\0:") {
        None => "(no zone)".to_string(),
        Some(("", zone)) => zone.to_string(),
        Some((region, zone)) => format!("{region}/{zone}"),
    }
}

/// Whether `node` counts in its zone.
pub fn counted(node: &Value) -> bool {
    node.pointer("/metadata/labels")
        .and_then(|l| l.get(EXCLUDE_DISRUPTION))
        .is_none()
}

// ANCHOR: zone_state
/// The state of a zone whose nodes' `Ready` statuses are `ready` (`None`:
/// no `Ready` condition), and how many of them are not Ready: Kubernetes'
/// `ComputeZoneState`.
pub fn zone_state(ready: &[Option<&str>], threshold: f64) -> (usize, ZoneState) {
    let healthy = ready.iter().filter(|r| **r == Some("True")).count();
    let unhealthy = ready.len() - healthy;
    let state = if healthy == 0 && unhealthy > 0 {
        ZoneState::FullDisruption
    } else if unhealthy > 2 && unhealthy as f64 / ready.len() as f64 >= threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    };
    (unhealthy, state)
}
// ANCHOR_END: zone_state

/// The eviction rate (nodes per second) of a zone of `size` nodes in
/// `state`, outside master disruption mode.
pub fn rate(state: ZoneState, size: usize, rates: &EvictionRates) -> f64 {
    match state {
        ZoneState::PartialDisruption if size > rates.large_cluster_size_threshold => {
            rates.secondary_node_eviction_rate
        }
        ZoneState::PartialDisruption => 0.0,
        ZoneState::Initial | ZoneState::Normal | ZoneState::FullDisruption => {
            rates.node_eviction_rate
        }
    }
}

/// What a look at every zone changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Nothing.
    Same,
    /// Every zone just went dark: stop all evictions, and lift the
    /// `NoExecute` taints already put.
    EnterMasterDisruption,
    /// Some node is Ready again after master disruption mode: every node
    /// gets a fresh grace period, and each zone its rate (zone, rate).
    ExitMasterDisruption(Vec<(String, f64)>),
    /// Zones whose state changed, each with its new rate.
    Zones(Vec<(String, ZoneState, f64)>),
}

// ANCHOR: handle_disruption
/// Kubernetes' `handleDisruption`: the zones' `previous` states, and their
/// nodes' `Ready` statuses now (by zone), give the new states and what
/// changes.
pub fn handle_disruption(
    previous: &BTreeMap<String, ZoneState>,
    now: &BTreeMap<String, Vec<Option<&str>>>,
    rates: &EvictionRates,
) -> (BTreeMap<String, ZoneState>, Transition) {
    let judged: BTreeMap<String, (usize, ZoneState)> = now
        .iter()
        .map(|(zone, ready)| {
            let state = zone_state(ready, rates.unhealthy_zone_threshold).1;
            (zone.clone(), (ready.len(), state))
        })
        .collect();
    let dark = |s: ZoneState| s == ZoneState::FullDisruption;
    let all_are = judged.values().all(|(_, s)| dark(*s));
    // Zones without nodes left are forgotten; a new one starts `Initial`,
    // which is not dark (so a cluster seen dark at start enters the mode).
    let was = |zone: &String| previous.get(zone).copied().unwrap_or(ZoneState::Initial);
    let all_were = judged.keys().all(|zone| dark(was(zone)));
    let states: BTreeMap<String, ZoneState> = judged
        .iter()
        .map(|(zone, (_, s))| (zone.clone(), *s))
        .collect();
    if all_are && all_were {
        // Still dark everywhere (or no zone at all): nothing to change.
        return (states, Transition::Same);
    }
    if all_are {
        return (states, Transition::EnterMasterDisruption);
    }
    let rate_of = |(size, state): &(usize, ZoneState)| rate(*state, *size, rates);
    if all_were {
        let reset = judged
            .iter()
            .map(|(zone, judged)| (zone.clone(), rate_of(judged)))
            .collect();
        return (states, Transition::ExitMasterDisruption(reset));
    }
    let changed: Vec<(String, ZoneState, f64)> = judged
        .iter()
        .filter(|(zone, (_, state))| was(zone) != *state)
        .map(|(zone, judged)| (zone.clone(), judged.1, rate_of(judged)))
        .collect();
    if changed.is_empty() {
        (states, Transition::Same)
    } else {
        (states, Transition::Zones(changed))
    }
}
// ANCHOR_END: handle_disruption

#[cfg(test)]
mod tests {
    use super::*;
    use ZoneState::*;
    use serde_json::json;

    const T: Option<&str> = Some("True");
    const F: Option<&str> = Some("False");
    const U: Option<&str> = Some("Unknown");

    #[test]
    fn zones_come_from_the_topology_labels() {
        let node = |labels: Value| json!({"metadata": {"labels": labels}});
        assert_eq!(zone_key(&node(json!({}))), "");
        let a = zone_key(&node(json!({"topology.kubernetes.io/zone": "a"})));
        assert_eq!(a, ":\0:a");
        assert_eq!(display(&a), "a");
        let both = node(json!({"topology.kubernetes.io/region": "eu",
            "topology.kubernetes.io/zone": "a", "failure-domain.beta.kubernetes.io/zone": "old"}));
        assert_eq!(display(&zone_key(&both)), "eu/old", "the beta label first");
        assert_eq!(display(""), "(no zone)");
        assert!(counted(&node(json!({}))));
        assert!(!counted(&node(json!({EXCLUDE_DISRUPTION: ""}))));
    }

    #[test]
    fn a_zone_is_judged_by_its_ready_nodes() {
        assert_eq!(zone_state(&[T, T, F], 0.55), (1, Normal));
        assert_eq!(
            zone_state(&[U, U, T], 0.55),
            (2, Normal),
            "two are not enough"
        );
        assert_eq!(zone_state(&[U, U, F, T], 0.55), (3, PartialDisruption));
        assert_eq!(
            zone_state(&[U, U, F, T, T, T], 0.55),
            (3, Normal),
            "half is under the threshold"
        );
        assert_eq!(zone_state(&[U, None], 0.55), (2, FullDisruption));
        assert_eq!(zone_state(&[], 0.55), (0, Normal));
    }

    #[test]
    fn a_partial_disruption_slows_a_large_zone_and_stops_a_small_one() {
        let rates = EvictionRates::default();
        assert_eq!(rate(Normal, 3, &rates), 0.1);
        assert_eq!(rate(FullDisruption, 3, &rates), 0.1);
        assert_eq!(rate(PartialDisruption, 50, &rates), 0.0);
        assert_eq!(rate(PartialDisruption, 51, &rates), 0.01);
    }

    fn zones(
        list: &[(&str, &[Option<&'static str>])],
    ) -> BTreeMap<String, Vec<Option<&'static str>>> {
        list.iter()
            .map(|(z, r)| (z.to_string(), r.to_vec()))
            .collect()
    }

    fn states(list: &[(&str, ZoneState)]) -> BTreeMap<String, ZoneState> {
        list.iter().map(|(z, s)| (z.to_string(), *s)).collect()
    }

    #[test]
    fn every_zone_dark_enters_and_a_ready_node_exits_master_disruption() {
        let rates = EvictionRates::default();
        let dark = zones(&[("a", &[U, U, U]), ("b", &[F])]);
        // Seen dark from the start: the mode begins at once.
        let (now, t) = handle_disruption(&BTreeMap::new(), &dark, &rates);
        assert_eq!(t, Transition::EnterMasterDisruption);
        assert_eq!(now, states(&[("a", FullDisruption), ("b", FullDisruption)]));
        let (_, t) = handle_disruption(&now, &dark, &rates);
        assert_eq!(t, Transition::Same, "and stays");
        let one_back = zones(&[("a", &[U, U, T]), ("b", &[F])]);
        let (after, t) = handle_disruption(&now, &one_back, &rates);
        assert_eq!(
            t,
            Transition::ExitMasterDisruption(vec![("a".into(), 0.1), ("b".into(), 0.1)])
        );
        assert_eq!(after, states(&[("a", Normal), ("b", FullDisruption)]));
    }

    #[test]
    fn one_dark_zone_among_others_keeps_evicting() {
        let rates = EvictionRates::default();
        let before = states(&[("a", Normal), ("b", Normal)]);
        let now = zones(&[("a", &[U, U]), ("b", &[T, T])]);
        let (after, t) = handle_disruption(&before, &now, &rates);
        assert_eq!(
            t,
            Transition::Zones(vec![("a".into(), FullDisruption, 0.1)])
        );
        assert_eq!(after["a"], FullDisruption);
        let partial = zones(&[("a", &[U, U, U, T]), ("b", &[T, T])]);
        let (_, t) = handle_disruption(&after, &partial, &rates);
        assert_eq!(
            t,
            Transition::Zones(vec![("a".into(), PartialDisruption, 0.0)])
        );
        let (_, t) = handle_disruption(&before, &zones(&[("a", &[T]), ("b", &[T])]), &rates);
        assert_eq!(t, Transition::Same);
    }
}

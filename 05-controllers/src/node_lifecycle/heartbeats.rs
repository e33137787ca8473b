//! When each node was last heard from, on the controller's own clock.
//!
//! A node says it is alive two ways: its agent renews a Lease in
//! `kube-node-lease` every 10 s, and now and then posts its status, which
//! refreshes the `Ready` condition's `lastHeartbeatTime`. The times the
//! node writes are the node's clock, which may be off by minutes; so, as
//! Kubernetes' `tryUpdateNodeHealth` does, the controller never compares
//! them with its own time. It only notices that one of them *changed*, and
//! writes down its own "now" at that moment: the probe time.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;
use serde_json::Value;

/// The two heartbeats last seen for one node, and when either last moved.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The Lease's `spec.renewTime`, as the node wrote it.
    lease_renewed: Option<String>,
    /// The `Ready` condition's `lastHeartbeatTime`, as the node wrote it.
    status_heartbeat: Option<String>,
    /// The controller's time when one of the two last changed (or when it
    /// first saw the node).
    pub seen: Timestamp,
}

/// Which heartbeat a notification carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    Lease,
    Status,
}

// ANCHOR: observe
impl Probe {
    /// Takes note of heartbeat `value` of kind `beat` at `now`: the probe
    /// time moves only when the value differs from the one last seen.
    pub fn observe(&mut self, beat: Beat, value: Option<String>, now: Timestamp) {
        let last = match beat {
            Beat::Lease => &mut self.lease_renewed,
            Beat::Status => &mut self.status_heartbeat,
        };
        if value.is_some() && *last != value {
            *last = value;
            self.seen = now;
        }
    }
}
// ANCHOR_END: observe

/// The heartbeat a Node object carries: its `Ready` condition's
/// `lastHeartbeatTime`.
pub fn status_heartbeat(node: &Value) -> Option<String> {
    ready_condition(node)?
        .get("lastHeartbeatTime")?
        .as_str()
        .map(String::from)
}

/// The heartbeat a Lease carries: `spec.renewTime`.
pub fn lease_renewal(lease: &Value) -> Option<String> {
    lease.pointer("/spec/renewTime")?.as_str().map(String::from)
}

/// The `Ready` condition of a Node.
pub fn ready_condition(node: &Value) -> Option<&Value> {
    node.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// Every node's probe. A std Mutex: it is held for a map update, never
/// across an await.
#[derive(Debug, Default)]
pub struct Heartbeats {
    probes: Mutex<HashMap<String, Probe>>,
}

impl Heartbeats {
    /// Records heartbeat `value` of `node` at `now`; the first sight of a
    /// node counts as a heartbeat (Kubernetes gives a node it just met the
    /// whole grace period too).
    pub fn observe(&self, node: &str, beat: Beat, value: Option<String>, now: Timestamp) {
        let mut probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        let probe = probes.entry(node.to_string()).or_insert(Probe {
            lease_renewed: None,
            status_heartbeat: None,
            seen: now,
        });
        probe.observe(beat, value, now);
    }

    /// When `node` was last heard from, if ever.
    pub fn last_seen(&self, node: &str) -> Option<Timestamp> {
        let probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        probes.get(node).map(|p| p.seen)
    }

    /// Counts every node as heard from at `now`: leaving master disruption
    /// mode gives each node a fresh grace period, as Kubernetes does, since
    /// the silence was (most likely) the control plane's own.
    pub fn reset_all(&self, now: Timestamp) {
        let mut probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        for probe in probes.values_mut() {
            probe.seen = now;
        }
    }

    /// Forgets a deleted node.
    pub fn forget(&self, node: &str) {
        let mut probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        probes.remove(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_changed_heartbeat_moves_the_probe() {
        let t0 = Timestamp::UNIX_EPOCH;
        let t1 = t0 + jiff::SignedDuration::from_secs(30);
        let t2 = t0 + jiff::SignedDuration::from_secs(60);
        let beats = Heartbeats::default();
        beats.observe("n", Beat::Lease, Some("a".into()), t0);
        assert_eq!(beats.last_seen("n"), Some(t0));
        // The same renewTime again (a resync, or the controller's own
        // status write): not a heartbeat.
        beats.observe("n", Beat::Lease, Some("a".into()), t1);
        assert_eq!(beats.last_seen("n"), Some(t0));
        beats.observe("n", Beat::Status, Some("s".into()), t1);
        assert_eq!(beats.last_seen("n"), Some(t1));
        beats.observe("n", Beat::Lease, Some("b".into()), t2);
        assert_eq!(beats.last_seen("n"), Some(t2));
        beats.forget("n");
        assert_eq!(beats.last_seen("n"), None);
    }
}

//! The consistency pass: make the allocation keys agree with the Services.
//!
//! Writes keep them in step (one transaction for a Service and its keys),
//! but some states can still disagree: Services stored by an older orc
//! that had no keys, a namespace swept at once (`handlers/namespaces.rs`
//! deletes whole prefixes), a key written by hand with `etcdctl`. Like
//! Kubernetes' `repair` controllers for cluster IPs and node ports, the
//! API server runs this pass when it starts and then every few minutes:
//!
//! - a Service's value without a key gets its key;
//! - a key whose holder is no longer there is deleted (only if it has not
//!   changed since it was read, so a create racing the pass is safe);
//! - a value held by two Services is reported: it cannot be repaired
//!   without breaking one of them (Kubernetes asks to recreate one).
//!
//! What to do is decided by a pure function ([`plan`]) of what was read.

use std::collections::BTreeMap;

use serde_json::Value;

use super::allocator::{Allocator, Holdings, IP_PREFIX, PORT_PREFIX, holder};
use crate::storage::{StorageError, Store};

/// What the pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repair {
    /// Keys written for Services that had none.
    pub restored: Vec<String>,
    /// Keys deleted because their holder is gone.
    pub freed: Vec<String>,
    /// Values held by more than one Service, or outside the ranges:
    /// one sentence each, also logged.
    pub problems: Vec<String>,
}

/// One key as read: its value and its revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Who holds it.
    pub holder: Vec<u8>,
    /// Its last write, for the compare-and-delete.
    pub revision: i64,
}

/// The steps a pass takes, from the Services and the keys it read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Keys to write, with their holder.
    pub restore: Vec<(String, Vec<u8>)>,
    /// Keys to delete, with the revision they were read at.
    pub free: Vec<(String, i64)>,
    /// What cannot be repaired.
    pub problems: Vec<String>,
}

// ANCHOR: plan
/// What to repair, given every Service (stored objects) and every key
/// under the two prefixes.
pub fn plan(allocator: &Allocator, services: &[Value], keys: &BTreeMap<String, Held>) -> Plan {
    let mut plan = Plan::default();
    let mut wanted: BTreeMap<String, (Vec<u8>, String)> = BTreeMap::new();
    for svc in services {
        let name = format!(
            "{}/{}",
            svc["metadata"]["namespace"].as_str().unwrap_or(""),
            svc["metadata"]["name"].as_str().unwrap_or("")
        );
        let holdings = Holdings::of(svc);
        if let Some(ip) = holdings.cluster_ip.filter(|ip| !allocator.cidr.holds(*ip)) {
            plan.problems.push(format!(
                "the cluster IP {ip} of Service {name} is not within the service CIDR {}; please recreate the Service",
                allocator.cidr
            ));
        }
        for key in holdings.keys() {
            if let Some((_, other)) = wanted.get(&key) {
                plan.problems.push(format!(
                    "{} is held by both Service {other} and Service {name}; please recreate one of them",
                    key.rsplit('/').next().unwrap_or(&key)
                ));
                continue;
            }
            wanted.insert(key, (holder(svc), name.clone()));
        }
    }
    for (key, (holder, _)) in &wanted {
        match keys.get(key) {
            None => plan.restore.push((key.clone(), holder.clone())),
            Some(held) if held.holder != *holder => {
                // The key names another holder (a Service since deleted and
                // recreated under the same name has a new uid): it is ours.
                plan.free.push((key.clone(), held.revision));
                plan.restore.push((key.clone(), holder.clone()));
            }
            Some(_) => {}
        }
    }
    for (key, held) in keys {
        if !wanted.contains_key(key) {
            plan.free.push((key.clone(), held.revision));
        }
    }
    plan
}
// ANCHOR_END: plan

/// Reads the Services and the keys, and carries out [`plan`].
pub async fn run(store: &Store, allocator: &Allocator) -> Result<Repair, StorageError> {
    let services = orc_client::resources::lookup("", "v1", "services")
        .map(|r| crate::storage::prefix(r, None))
        .unwrap_or_default();
    let page = store.list(&services, "", 0, 0).await?;
    let mut keys = BTreeMap::new();
    for prefix in [IP_PREFIX, PORT_PREFIX] {
        // At the Services' revision: both reads see the same moment.
        for (key, holder, revision) in store.raw_range_at(prefix, page.revision).await? {
            keys.insert(key, Held { holder, revision });
        }
    }
    let objects: Vec<Value> = page.items.into_iter().map(|(_, obj)| obj).collect();
    let plan = plan(allocator, &objects, &keys);
    let mut done = Repair {
        problems: plan.problems.clone(),
        ..Repair::default()
    };
    for problem in &plan.problems {
        tracing::warn!(problem, "service allocations");
    }
    for (key, revision) in &plan.free {
        // Only if unchanged since the read: a create may have taken it since.
        if store.delete_if_unchanged(key, *revision).await? {
            done.freed.push(key.clone());
        }
    }
    for (key, holder) in &plan.restore {
        if store.put_if_absent(key, holder.clone()).await? {
            done.restored.push(key.clone());
        }
    }
    if !done.freed.is_empty() || !done.restored.is_empty() {
        tracing::info!(freed = ?done.freed, restored = ?done.restored, "repaired service allocations");
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(name: &str, uid: &str, ip: &str, node_port: Option<i64>) -> Value {
        let mut port = json!({"port": 80});
        if let Some(np) = node_port {
            port["nodePort"] = json!(np);
        }
        json!({"metadata": {"namespace": "default", "name": name, "uid": uid},
            "spec": {"type": if node_port.is_some() { "NodePort" } else { "ClusterIP" },
                "clusterIP": ip, "ports": [port]}})
    }

    #[test]
    fn missing_keys_are_restored_and_orphans_freed() {
        let web = svc("web", "u1", "10.96.0.20", Some(30080));
        let mut keys = BTreeMap::new();
        keys.insert(
            format!("{IP_PREFIX}10.96.0.20"),
            Held {
                holder: holder(&web),
                revision: 5,
            },
        );
        keys.insert(
            format!("{IP_PREFIX}10.96.0.99"),
            Held {
                holder: b"gone".to_vec(),
                revision: 7,
            },
        );
        let plan = plan(&Allocator::default(), std::slice::from_ref(&web), &keys);
        assert_eq!(
            plan.restore,
            [(format!("{PORT_PREFIX}30080"), holder(&web))]
        );
        assert_eq!(plan.free, [(format!("{IP_PREFIX}10.96.0.99"), 7)]);
        assert!(plan.problems.is_empty());
    }

    #[test]
    fn a_value_held_twice_is_reported_not_reassigned() {
        let a = svc("a", "u1", "10.96.0.20", None);
        let b = svc("b", "u2", "10.96.0.20", None);
        let outside = svc("c", "u3", "10.0.0.1", None);
        let plan = plan(
            &Allocator::default(),
            &[a.clone(), b, outside],
            &BTreeMap::new(),
        );
        assert_eq!(
            plan.problems,
            [
                "10.96.0.20 is held by both Service default/a and Service default/b; please recreate one of them",
                "the cluster IP 10.0.0.1 of Service default/c is not within the service CIDR 10.96.0.0/12; please recreate the Service",
            ]
        );
        assert_eq!(
            plan.restore[1],
            (format!("{IP_PREFIX}10.96.0.20"), holder(&a))
        );
    }
}

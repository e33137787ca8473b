//! EndpointSlices: a Service's backends cut into slices of at most 100,
//! and the smallest set of writes that gets the stored slices there.
//!
//! Kubernetes replaced the one `Endpoints` object per Service by slices
//! because a Service with 5 000 pods had one object of 5 000 addresses,
//! sent whole to every node at every change. Slices bound that: a change
//! rewrites one slice of at most 100 endpoints (`--max-endpoints-per-slice`).
//!
//! The plan keeps churn low the way Kubernetes' reconciler does: an
//! endpoint stays in the slice it is already in (updated in place when
//! its conditions change), endpoints that left are dropped from their
//! slice, new ones fill slices with room before a new slice is created,
//! and a slice left empty is deleted. All endpoints of a slice share one
//! set of ports, so pods whose named port resolves to another number go
//! to other slices. A Service with no backends at all keeps one empty
//! *placeholder* slice, as in Kubernetes. Nothing is written when nothing
//! changed.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::backends::{Backend, BackendPort};

/// Kubernetes' default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages a slice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// Kubernetes' controller's value for [`MANAGED_BY_LABEL`]: orc's
/// controller takes its place, so tools that look for it find orc's slices.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// The label a headless Service's slices and Endpoints carry.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// The writes that bring a Service's slices where they should be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlicePlan {
    /// New slices (with `generateName`), to POST.
    pub create: Vec<Value>,
    /// Stored slices with new content (their resourceVersion kept), to PUT.
    pub update: Vec<Value>,
    /// Stored slices to DELETE.
    pub delete: Vec<Value>,
}

impl SlicePlan {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The `ports` of a slice (and of an Endpoints subset) for backends
/// with these ports.
pub fn ports_json(ports: &[BackendPort]) -> Value {
    ports
        .iter()
        .map(|p| {
            let mut port = json!({"name": p.name, "port": p.port, "protocol": p.protocol});
            if let Some(app) = &p.app_protocol {
                port["appProtocol"] = json!(app);
            }
            port
        })
        .collect()
}

/// One entry of a slice's `endpoints`.
pub fn endpoint_json(backend: &Backend) -> Value {
    let mut endpoint = json!({
        "addresses": [backend.ip.to_string()],
        "conditions": {"ready": backend.ready, "serving": backend.serving, "terminating": backend.terminating},
        "targetRef": backend.target_ref,
    });
    if let Some(node) = &backend.node_name {
        endpoint["nodeName"] = json!(node);
    }
    if let Some(hostname) = &backend.hostname {
        endpoint["hostname"] = json!(hostname);
    }
    endpoint
}

/// The first address of an endpoint, which identifies it within a slice.
fn address(endpoint: &Value) -> &str {
    endpoint["addresses"][0].as_str().unwrap_or("")
}

/// The Service's own labels, with the headless marker set or cleared:
/// what both its slices and its Endpoints carry.
pub(crate) fn service_labels(svc: &Value) -> serde_json::Map<String, Value> {
    let mut labels = svc
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if svc.pointer("/spec/clusterIP") == Some(&json!("None")) {
        labels.insert(HEADLESS_LABEL.into(), json!(""));
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

/// The labels every slice of `svc` carries: the Service's own, whether it
/// is headless, its name and this controller.
pub fn labels(svc: &Value) -> Value {
    let mut labels = service_labels(svc);
    let name = svc.pointer("/metadata/name").cloned().unwrap_or_default();
    labels.insert(SERVICE_NAME_LABEL.into(), name);
    labels.insert(MANAGED_BY_LABEL.into(), json!(MANAGED_BY));
    Value::Object(labels)
}

/// The reference from a slice to its Service: the Service controls it,
/// and the garbage collector deletes it with the Service.
pub fn owner(svc: &Value) -> Value {
    json!([{
        "apiVersion": "v1", "kind": "Service",
        "name": svc["metadata"]["name"], "uid": svc["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    }])
}

/// A new slice for `svc` with these ports and endpoints.
pub fn new_slice(svc: &Value, ports: &Value, endpoints: Vec<Value>) -> Value {
    let name = svc["metadata"]["name"].as_str().unwrap_or("");
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": format!("{name}-"),
            "namespace": svc["metadata"]["namespace"],
            "labels": labels(svc),
            "ownerReferences": owner(svc),
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    })
}

/// Sorts a slice's endpoints by address, so equal content is equal JSON.
fn sorted(mut endpoints: Vec<Value>) -> Vec<Value> {
    endpoints.sort_by_key(|e| address(e).parse::<std::net::Ipv4Addr>().ok());
    endpoints
}

// ANCHOR: plan
/// The writes that make `existing` (the stored slices this controller
/// manages for `svc`) hold exactly `backends`. Every kept slice is in
/// `update`; [`without_unchanged`] drops those that would not change.
pub fn plan(svc: &Value, backends: &[Backend], existing: &[Value]) -> SlicePlan {
    // What should exist: per set of ports, its endpoints by address.
    let mut wanted: BTreeMap<String, (Value, BTreeMap<String, Value>)> = BTreeMap::new();
    for backend in backends {
        let ports = ports_json(&backend.ports);
        let group = wanted
            .entry(ports.to_string())
            .or_insert((ports, BTreeMap::new()));
        group
            .1
            .insert(backend.ip.to_string(), endpoint_json(backend));
    }
    if backends.is_empty() {
        // No backends: one slice without ports or endpoints still says
        // "this Service exists and has none" (Kubernetes' placeholder).
        wanted.insert("[]".into(), (json!([]), BTreeMap::new()));
    }
    let mut plan = SlicePlan::default();
    let mut kept: Vec<(String, Value)> = Vec::new();
    let mut existing: Vec<&Value> = existing.iter().collect();
    existing.sort_by_key(|s| s["metadata"]["name"].as_str().unwrap_or("").to_string());
    // 1. Every stored slice keeps the endpoints it has that are still
    //    wanted with its ports, in their new form; the rest leave it.
    for slice in existing {
        let ports = slice
            .get("ports")
            .filter(|p| !p.is_null())
            .cloned()
            .unwrap_or(json!([]));
        let Some((_, endpoints)) = wanted.get_mut(&ports.to_string()) else {
            plan.delete.push(slice.clone());
            continue;
        };
        let stays: Vec<Value> = slice["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| endpoints.remove(address(e)))
            .collect();
        let mut next = slice.clone();
        next["endpoints"] = json!(stays);
        next["ports"] = ports.clone();
        kept.push((ports.to_string(), next));
    }
    // 2. Endpoints not placed yet fill slices with room, then new slices.
    for (group, (ports, endpoints)) in wanted {
        let mut left: Vec<Value> = endpoints.into_values().collect();
        for (_, slice) in kept.iter_mut().filter(|(g, _)| *g == group) {
            let list = slice["endpoints"].as_array_mut().expect("set above");
            let room = MAX_ENDPOINTS_PER_SLICE
                .saturating_sub(list.len())
                .min(left.len());
            list.extend(left.drain(..room));
        }
        for chunk in left.chunks(MAX_ENDPOINTS_PER_SLICE) {
            plan.create
                .push(new_slice(svc, &ports, sorted(chunk.to_vec())));
        }
    }
    // 3. Empty slices go, except one placeholder for a Service without
    //    backends; the rest are written only if they changed.
    let mut placeholder_kept = false;
    for (_, mut slice) in kept {
        let endpoints = slice["endpoints"].as_array().cloned().unwrap_or_default();
        if endpoints.is_empty() {
            let placeholder = backends.is_empty() && !placeholder_kept;
            if !placeholder {
                plan.delete.push(slice);
                continue;
            }
            placeholder_kept = true;
        }
        slice["endpoints"] = json!(sorted(endpoints));
        slice["metadata"]["labels"] = labels(svc);
        slice["metadata"]["ownerReferences"] = owner(svc);
        slice["addressType"] = json!("IPv4");
        plan.update.push(slice);
    }
    if backends.is_empty() && !placeholder_kept {
        plan.create.push(new_slice(svc, &json!([]), Vec::new()));
    }
    plan
}
// ANCHOR_END: plan

/// Drops from `plan.update` the slices equal to what is stored: no write
/// when nothing changed.
pub fn without_unchanged(mut plan: SlicePlan, existing: &[Value]) -> SlicePlan {
    plan.update.retain(|next| {
        let name = &next["metadata"]["name"];
        existing
            .iter()
            .find(|s| s["metadata"]["name"] == *name)
            .is_none_or(|stored| !same_content(stored, next))
    });
    plan
}

/// Whether two slices hold the same: endpoints, ports, labels, owners.
fn same_content(a: &Value, b: &Value) -> bool {
    let normalized = |s: &Value, field: &str| match s.get(field) {
        None | Some(Value::Null) => json!([]),
        Some(v) => v.clone(),
    };
    ["endpoints", "ports"]
        .iter()
        .all(|f| normalized(a, f) == normalized(b, f))
        && a["addressType"] == b["addressType"]
        && a["metadata"]["labels"] == b["metadata"]["labels"]
        && a["metadata"]["ownerReferences"] == b["metadata"]["ownerReferences"]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}}})
    }

    fn backend(last: u8, port: u16, ready: bool) -> Backend {
        crate::endpoints::backends::test_backend(last, port, ready, false)
    }

    /// The stored form of planned slices: named `web-N`, as the API server
    /// would have named them.
    fn stored(plan: &SlicePlan) -> Vec<Value> {
        let mut all: Vec<Value> = plan.update.clone();
        for (i, slice) in plan.create.iter().enumerate() {
            let mut slice = slice.clone();
            slice["metadata"]["name"] = json!(format!("web-{i}"));
            all.push(slice);
        }
        all
    }

    /// Plans `before` from nothing, stores it, then plans `after` against
    /// what was stored, dropping what would not change.
    fn replan(before: &[Backend], after: &[Backend]) -> SlicePlan {
        let existing = stored(&plan(&svc(), before, &[]));
        without_unchanged(plan(&svc(), after, &existing), &existing)
    }

    fn addresses(slice: &Value) -> Vec<String> {
        slice["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| address(e).to_string())
            .collect()
    }

    #[test]
    fn a_new_service_gets_slices_of_at_most_a_hundred() {
        let backends: Vec<Backend> = (1..=250)
            .map(|i| backend((i % 250) as u8 + 1, 8080, true))
            .collect();
        let plan = plan(&svc(), &backends, &[]);
        let sizes: Vec<usize> = plan
            .create
            .iter()
            .map(|s| s["endpoints"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [100, 100, 50]);
        let slice = &plan.create[0];
        assert_eq!(slice["metadata"]["generateName"], "web-");
        assert_eq!(
            slice["metadata"]["labels"]["kubernetes.io/service-name"],
            "web"
        );
        assert_eq!(
            slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
            MANAGED_BY
        );
        assert_eq!(slice["metadata"]["labels"]["app"], "web");
        assert_eq!(slice["metadata"]["ownerReferences"][0]["uid"], "svc-uid");
        assert_eq!(
            slice["ports"],
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        );
        assert_eq!(
            slice["endpoints"][0],
            json!({"addresses": ["10.244.1.1"], "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "p1"}})
        );
    }

    #[test]
    fn nothing_changed_means_no_write() {
        let backends = [backend(2, 8080, true), backend(3, 8080, false)];
        let first = plan(&svc(), &backends, &[]);
        let existing = stored(&first);
        let again = without_unchanged(plan(&svc(), &backends, &existing), &existing);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn endpoints_stay_in_their_slice_and_new_ones_fill_the_room() {
        // .2 becomes not ready, .3 leaves, .4 arrives.
        let next = replan(
            &[backend(2, 8080, true), backend(3, 8080, true)],
            &[backend(2, 8080, false), backend(4, 8080, true)],
        );
        assert!(next.create.is_empty() && next.delete.is_empty(), "{next:?}");
        assert_eq!(next.update.len(), 1);
        assert_eq!(addresses(&next.update[0]), ["10.244.1.2", "10.244.1.4"]);
        assert_eq!(next.update[0]["endpoints"][0]["conditions"]["ready"], false);
    }

    #[test]
    fn other_port_numbers_go_to_other_slices_and_empty_ones_are_deleted() {
        // Every pod now listens on 8081: a slice for the new ports, the
        // old one deleted.
        let next = replan(
            &[backend(2, 8080, true), backend(3, 8080, true)],
            &[backend(2, 8081, true), backend(3, 8081, true)],
        );
        assert_eq!(next.delete.len(), 1);
        assert_eq!(next.create.len(), 1);
        assert_eq!(next.create[0]["ports"][0]["port"], 8081);
    }

    #[test]
    fn a_service_without_backends_keeps_one_placeholder() {
        let first = plan(&svc(), &[], &[]);
        assert_eq!(first.create.len(), 1);
        assert_eq!(first.create[0]["endpoints"], json!([]));
        assert_eq!(first.create[0]["ports"], json!([]));
        let existing = stored(&first);
        assert!(without_unchanged(plan(&svc(), &[], &existing), &existing).is_empty());
        // Backends arrive: the placeholder is replaced.
        let next = without_unchanged(
            plan(&svc(), &[backend(2, 8080, true)], &existing),
            &existing,
        );
        assert_eq!((next.create.len(), next.delete.len()), (1, 1));
        // And leave again: the slice with ports goes, a placeholder comes.
        let existing = stored(&next);
        let empty = without_unchanged(plan(&svc(), &[], &existing), &existing);
        assert_eq!(
            (empty.create.len(), empty.delete.len()),
            (1, 1),
            "{empty:?}"
        );
        assert_eq!(empty.create[0]["endpoints"], json!([]));
    }
}

//! A backend: a Service port resolved to the addresses that serve it.
//!
//! An Ingress names a Service and one of its ports, by number or by name.
//! orc's controller does not send traffic to the Service's cluster IP (that
//! would hand balancing to chapter 06's iptables rules, which pick at
//! random); like ingress-nginx it reads the Service's EndpointSlices and
//! balances over the ready endpoints itself. A slice lists its ports by
//! the *Service* port's name with the *target* port's number, so the
//! Service port's name is the key that joins the two.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;
use serde_json::Value;

use crate::balance::Algorithm;

/// The annotation on a Service or a pod (from its template) that gives
/// its endpoints a weight for the weighted algorithms.
pub const WEIGHT_ANNOTATION: &str = "orc.dev/weight";

/// One Service port of one Service, as the proxy balances over it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backend {
    /// `namespace/name` of the Service: labels the metrics and the access log.
    pub service: String,
    /// The Service port as the Ingress names it (`80` or `http`).
    pub port: String,
    /// How a request picks among `endpoints`.
    pub algorithm: Algorithm,
    /// The ready endpoints, sorted by address, so the same objects always
    /// give the same table (and round robin the same order).
    pub endpoints: Vec<Endpoint>,
}

/// One ready pod behind a backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// The pod's address and the Service's target port.
    pub address: SocketAddr,
    /// From `orc.dev/weight` on the pod, else on the Service, else 1.
    pub weight: u32,
}

/// The objects a backend is resolved from, indexed by `namespace/name`.
pub struct Index<'a> {
    pub services: HashMap<String, &'a Value>,
    /// A Service's slices, by the Service's `namespace/name`.
    pub slices: HashMap<String, Vec<&'a Value>>,
    pub pods: HashMap<String, &'a Value>,
}

/// Why a backend could not be resolved; the Ingress gets it as an Event.
pub type Reason = String;

// ANCHOR: resolve
/// The backend for `service` (an IngressServiceBackend) in `namespace`.
/// A missing Service or port is an error for the Ingress's Events; the
/// caller keeps the rule with no endpoints, so its requests get 503.
pub fn resolve(namespace: &str, service: &Value, index: &Index) -> Result<Backend, Reason> {
    let name = service["name"].as_str().unwrap_or_default();
    let key = format!("{namespace}/{name}");
    let port = &service["port"];
    let by_name = port["name"].as_str().filter(|n| !n.is_empty());
    let by_number = port["number"].as_i64();
    let wanted = match (by_name, by_number) {
        (Some(n), _) => n.to_string(),
        (None, Some(n)) => n.to_string(),
        (None, None) => return Err(format!("backend of service {key:?} names no port")),
    };
    let svc = index
        .services
        .get(&key)
        .ok_or_else(|| format!("service {key:?} not found"))?;
    // The Service port's name ("" for a single unnamed port) keys the slices' ports.
    let port_name = service_ports(svc)
        .find(|p| match by_name {
            Some(name) => p["name"].as_str() == Some(name),
            None => p["port"].as_i64() == by_number,
        })
        .map(|p| p["name"].as_str().unwrap_or_default())
        .ok_or_else(|| format!("service {key:?} has no port {wanted}"))?;
    let default_weight = weight_of(svc)?.unwrap_or(1);
    let mut endpoints = Vec::new();
    for slice in index.slices.get(&key).into_iter().flatten() {
        let Some(target) = slice_port(slice, port_name) else {
            continue;
        };
        for ep in ready_endpoints(slice) {
            let Some(ip) = ep.pointer("/addresses/0").and_then(Value::as_str) else {
                continue;
            };
            let Ok(ip) = ip.parse::<IpAddr>() else {
                continue;
            };
            let pod = pod_of(ep, index);
            let weight = pod
                .map(weight_of)
                .transpose()?
                .flatten()
                .unwrap_or(default_weight);
            endpoints.push(Endpoint {
                address: SocketAddr::new(ip, target),
                weight,
            });
        }
    }
    endpoints.sort_by_key(|e| e.address);
    endpoints.dedup_by_key(|e| e.address);
    Ok(Backend {
        service: key,
        port: wanted,
        algorithm: Algorithm::default(),
        endpoints,
    })
}
// ANCHOR_END: resolve

fn service_ports(svc: &Value) -> impl Iterator<Item = &Value> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The number of the slice's port named `name` (the Service port's name).
fn slice_port(slice: &Value, name: &str) -> Option<u16> {
    let ports = slice.get("ports").and_then(Value::as_array)?;
    let port = ports
        .iter()
        .find(|p| p["name"].as_str().unwrap_or_default() == name)?;
    port["port"].as_u64().and_then(|p| u16::try_from(p).ok())
}

/// Endpoints whose `ready` condition is not false (unset means ready, as
/// the EndpointSlice API says consumers should read it).
fn ready_endpoints(slice: &Value) -> impl Iterator<Item = &Value> {
    let all = slice
        .get("endpoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    all.filter(|e| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false))
}

/// The pod an endpoint points at, through its `targetRef`.
fn pod_of<'a>(ep: &Value, index: &Index<'a>) -> Option<&'a Value> {
    let target = ep.get("targetRef")?;
    if target["kind"].as_str() != Some("Pod") {
        return None;
    }
    let key = format!(
        "{}/{}",
        target["namespace"].as_str()?,
        target["name"].as_str()?
    );
    index.pods.get(&key).copied()
}

/// The `orc.dev/weight` annotation of an object: a whole number from 1 to
/// 1000 (nginx's own bounds for `weight=`), or an error naming it.
fn weight_of(obj: &Value) -> Result<Option<u32>, Reason> {
    let Some(text) = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a[WEIGHT_ANNOTATION].as_str())
    else {
        return Ok(None);
    };
    match text.trim().parse::<u32>() {
        Ok(w @ 1..=1000) => Ok(Some(w)),
        _ => Err(format!(
            "annotation {WEIGHT_ANNOTATION}: {text:?} on {} {} is not a whole number from 1 to 1000",
            obj["kind"].as_str().unwrap_or("object"),
            obj.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
        )),
    }
}

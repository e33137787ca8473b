//! The `kubernetes` Service: how pods find the API server.
//!
//! Every Kubernetes cluster has a Service `kubernetes` in `default` at the
//! first address of the service range (`10.96.0.1`), port 443, whose
//! endpoints are the API servers themselves. Pods (and client libraries'
//! "in-cluster" configuration) reach the API through it without knowing
//! where the control plane runs. kube-apiserver creates it when it starts
//! and keeps its Endpoints and EndpointSlice pointing at itself; orc does
//! the same at start-up.
//!
//! The Service has no selector, so the endpoint controllers leave its
//! endpoints alone: they are written here. With several API servers the
//! last one started wins (Kubernetes keeps every live one through leases).

use std::net::SocketAddrV4;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::allocator::{AllocError, Allocator};
use super::spec;
use crate::storage::{self, Expiry, StorageError, Store};
use orc_client::resources::by_kind;

/// The Service's name, in `default`.
pub const NAME: &str = "kubernetes";
/// The port the Service listens on, and its name.
pub const PORT: (&str, u16) = ("https", 443);

/// A new object of `kind` named `kubernetes` in `default`, with the
/// metadata the server owns filled in, and `body` merged in.
fn object(api_version: &str, kind: &str, labels: Value, body: Value) -> Value {
    let mut obj = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": NAME,
            "namespace": "default",
            "uid": crate::meta::new_uid(),
            "generation": 1,
            "creationTimestamp": orc_client::time::format(Timestamp::now()),
            "labels": labels,
        },
    });
    if let (Some(obj), Value::Object(body)) = (obj.as_object_mut(), body) {
        obj.extend(body);
    }
    obj
}

/// The Service as Kubernetes writes it: ClusterIP `.1`, 443 to the API
/// server's own port.
pub fn service(allocator: &Allocator, api: SocketAddrV4) -> Value {
    let mut svc = object(
        "v1",
        "Service",
        json!({"component": "apiserver", "provider": "kubernetes"}),
        json!({"spec": {
            "type": "ClusterIP",
            "clusterIP": allocator.cidr.kubernetes_ip().to_string(),
            "sessionAffinity": "None",
            "ports": [{"name": PORT.0, "port": PORT.1, "protocol": "TCP", "targetPort": api.port()}],
        }}),
    );
    crate::defaults::apply("Service", &mut svc);
    spec::normalize(&mut svc, None);
    svc
}

/// The Endpoints: this API server's address and port. Marked so that
/// Kubernetes' mirroring controller would not copy it into a slice (the
/// slice is written below).
pub fn endpoints(api: SocketAddrV4) -> Value {
    object(
        "v1",
        "Endpoints",
        json!({"endpointslice.kubernetes.io/skip-mirror": "true"}),
        json!({"subsets": [{
            "addresses": [{"ip": api.ip().to_string()}],
            "ports": [{"name": PORT.0, "port": api.port(), "protocol": "TCP"}],
        }]}),
    )
}

/// The EndpointSlice with the same address and port.
pub fn endpoint_slice(api: SocketAddrV4) -> Value {
    object(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        json!({"kubernetes.io/service-name": NAME}),
        json!({
            "addressType": "IPv4",
            "endpoints": [{"addresses": [api.ip().to_string()], "conditions": {"ready": true}}],
            "ports": [{"name": PORT.0, "port": api.port(), "protocol": "TCP"}],
        }),
    )
}

/// Why the `kubernetes` Service could not be made.
#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    /// etcd failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Its address could not be allocated (held by another Service, or
    /// outside a range changed since).
    #[error("the kubernetes Service: {0}")]
    Allocation(String),
}

// ANCHOR: ensure
/// Creates the `kubernetes` Service, Endpoints and EndpointSlice, or
/// brings the ones stored up to date with this API server's address `api`.
pub async fn ensure(
    store: &Store,
    allocator: &Allocator,
    api: SocketAddrV4,
) -> Result<(), EnsureError> {
    let svc = service(allocator, api);
    let key = key_of("v1", "Service");
    match store.get(&key).await {
        Err(StorageError::NotFound) => match allocator.write(store, &key, svc, None, None).await {
            Ok(_) | Err(AllocError::Storage(StorageError::AlreadyExists)) => {}
            Err(AllocError::Storage(e)) => return Err(e.into()),
            Err(other) => return Err(EnsureError::Allocation(other.to_string())),
        },
        Ok(stored) => keep(store, &key, stored, &["spec", "ports"], &svc).await?,
        Err(e) => return Err(e.into()),
    }
    for desired in [endpoints(api), endpoint_slice(api)] {
        let key = key_of(
            desired["apiVersion"].as_str().unwrap_or(""),
            desired["kind"].as_str().unwrap_or(""),
        );
        match store.get(&key).await {
            Err(StorageError::NotFound) => {
                match store.create(&key, desired, None, Expiry::Never).await {
                    Ok(_) | Err(StorageError::AlreadyExists) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(_) => {
                // Field by field, each from a fresh read (a slice has two).
                for field in ["subsets", "endpoints", "ports"] {
                    if desired.get(field).is_some() {
                        let stored = store.get(&key).await?;
                        keep(store, &key, stored, &[field], &desired).await?;
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
// ANCHOR_END: ensure

/// The key of the `kubernetes` object of a kind.
fn key_of(api_version: &str, kind: &str) -> String {
    by_kind(api_version, kind)
        .map(|r| storage::key(r, Some("default"), NAME))
        .unwrap_or_default()
}

/// Makes the field at `path` of the stored object equal `desired`'s, if
/// it differs. A lost race is fine: another API server just wrote it.
async fn keep(
    store: &Store,
    key: &str,
    mut stored: Value,
    path: &[&str],
    desired: &Value,
) -> Result<(), StorageError> {
    let pointer = format!("/{}", path.join("/"));
    let want = desired.pointer(&pointer).cloned().unwrap_or(Value::Null);
    if stored.pointer(&pointer) == Some(&want) {
        return Ok(());
    }
    let revision = stored
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let mut slot = &mut stored;
    for step in path {
        slot = &mut slot[*step];
    }
    *slot = want;
    match store.update(key, &stored, revision, Expiry::Never).await {
        Ok(_) | Err(StorageError::Conflict) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_points_443_at_the_api_servers_port() {
        let api: SocketAddrV4 = "192.168.1.5:6443".parse().unwrap();
        let svc = service(&Allocator::default(), api);
        assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
        assert_eq!(svc["spec"]["clusterIPs"], json!(["10.96.0.1"]));
        assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(
            svc["spec"]["ports"],
            json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}])
        );
        assert_eq!(
            endpoints(api)["subsets"][0]["addresses"][0]["ip"],
            "192.168.1.5"
        );
        assert_eq!(endpoint_slice(api)["ports"][0]["port"], 6443);
    }
}

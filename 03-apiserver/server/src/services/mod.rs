//! Services: the API server's part of chapter 06.
//!
//! A Service is a stable name and a stable virtual address in front of a
//! changing set of pods. Most of that is other components' work (the
//! endpoint controllers pick the pods, a proxy on every node turns the
//! address into iptables rules, both in `orc-services`); what only the API
//! server can do is hand out the *values*: a cluster IP from the service
//! range and node ports from the node-port range, so that no two Services
//! ever get the same one, even when they are created at the same moment
//! through two API servers.
//!
//! ## Layout
//!
//! - [`range`]: the service CIDR and the node-port range.
//! - [`spec`]: what Kubernetes fills in on a Service before allocating
//!   (kept values on update, values given back on a type change, IP
//!   families), and what the Service asks for. Pure.
//! - [`validation`]: the rules a Service keeps, in Kubernetes' words.
//! - [`allocator`]: the choice of free values (pure) and the write that
//!   takes them in the Service's own etcd transaction.
//! - [`repair`]: the pass at start-up (and every few minutes) that makes
//!   the allocation keys agree with the Services.
//! - [`kubernetes`]: the `kubernetes` Service in `default`, whose
//!   endpoints are this API server.
//!
//! The handlers call [`create`], [`update`] and [`delete`] for Services
//! instead of writing to the store directly.

pub mod allocator;
pub mod kubernetes;
pub mod range;
pub mod repair;
pub mod spec;
pub mod validation;

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::Value;

pub use allocator::{AllocError, Allocator};
pub use range::{PortRange, ServiceCidr};

use crate::server::{AppState, Config};
use crate::status::{ApiError, Target};
use crate::storage::{Reservations, StorageError};

/// How often the repair pass runs after the first one (Kubernetes' repair
/// controllers run every three minutes).
pub const REPAIR_INTERVAL: Duration = Duration::from_secs(180);

/// The service flags of `orc-apiserver` and `orc server`, named as
/// kube-apiserver names them.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceFlags {
    /// The block cluster IPs come from. Its first address is the
    /// `kubernetes` Service's; its tenth is kept for cluster DNS.
    #[arg(long, default_value_t = ServiceCidr::default())]
    pub service_cluster_ip_range: ServiceCidr,
    /// The ports NodePort Services open on every node.
    #[arg(long, default_value_t = PortRange::default())]
    pub service_node_port_range: PortRange,
    /// The address the `kubernetes` Service's endpoints name: where pods
    /// reach this API server (default: the --listen address, or 127.0.0.1
    /// when that is 0.0.0.0).
    #[arg(long)]
    pub advertise_address: Option<Ipv4Addr>,
}

impl ServiceFlags {
    /// `config` with these options set.
    pub fn apply(&self, mut config: Config) -> Config {
        config.services = Allocator {
            cidr: self.service_cluster_ip_range,
            node_ports: self.service_node_port_range,
        };
        config.advertise_address = self.advertise_address;
        config
    }
}

/// The 422 or 500 an allocation failure answers; a storage failure is
/// handed back for the caller to match (a lost race is retried).
fn answer(error: AllocError, name: &str) -> Result<StorageError, ApiError> {
    match error {
        AllocError::Invalid(causes) => Err(ApiError::Invalid(
            Target {
                group: String::new(),
                kind: "Service".into(),
                name: name.into(),
            },
            causes,
        )),
        AllocError::Full(message) => Err(ApiError::Internal(message)),
        AllocError::Storage(e) => Ok(e),
    }
}

fn name_of(svc: &Value) -> &str {
    svc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Stores a new Service with its cluster IP and node ports. A refused
/// allocation is the outer error; the storage outcome the inner result.
pub async fn create(
    state: &AppState,
    key: &str,
    svc: Value,
    parent: Option<&str>,
) -> Result<Result<Value, StorageError>, ApiError> {
    let name = name_of(&svc).to_string();
    match state
        .allocator
        .write(&state.store, key, svc, None, parent)
        .await
    {
        Ok(stored) => Ok(Ok(stored)),
        Err(e) => answer(e, &name).map(Err),
    }
}

/// Replaces `current` (read at `revision`) with `next`, taking the values
/// `next` adds and giving back those it drops, in one transaction.
pub async fn update(
    state: &AppState,
    key: &str,
    current: &Value,
    next: &Value,
    revision: i64,
) -> Result<Result<Value, StorageError>, ApiError> {
    let before = Some((current, revision));
    let name = name_of(next);
    match state
        .allocator
        .write(&state.store, key, next.clone(), before, None)
        .await
    {
        Ok(stored) => Ok(Ok(stored)),
        Err(e) => answer(e, name).map(Err),
    }
}

/// Deletes `current` (read at `revision`) and gives back its values in
/// the same transaction.
pub async fn delete(
    state: &AppState,
    key: &str,
    current: &Value,
    revision: i64,
) -> Result<i64, StorageError> {
    let held = allocator::Holdings::of(current);
    let holder = allocator::holder(current);
    let reservations: Reservations =
        allocator::reservations(&held, &allocator::Holdings::default(), &holder);
    state
        .store
        .delete_reserving(key, revision, &reservations)
        .await
}

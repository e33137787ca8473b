//! orc-proxy, the kube-proxy of this course: every node turns Services
//! into iptables rules, so that a packet to a cluster IP (or to a node
//! port on any node) reaches one of the Service's ready pods.
//!
//! It follows Services and EndpointSlices through the API, and at each
//! sync renders the *whole* ruleset from them ([`render`], pure) and hands
//! it to `iptables-restore` in one payload ([`payload`]): the kernel
//! switches from the old rules to the new ones atomically, however many
//! Services there are. When only some Services changed, only their chains
//! are in the payload (a partial sync); when nothing changed, nothing is
//! written. [`sync::SyncTimer`] decides when to sync.
//!
//! `orc agent` runs one for its node; the `orc-proxy` binary runs one
//! alone, and `orc-proxy --cleanup` removes everything it made.

pub mod chains;
pub mod iptables;
pub mod model;
pub mod payload;
pub mod render;
pub mod sync;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use orc_client::Client;
use orc_client::informer as informers;
use orc_client::informer::Informer;
use orc_client::resources::by_kind;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use iptables::{IptablesError, Tables};
use payload::Scope;
use render::{RenderConfig, RuleSet};
use sync::{FULL_SYNC_PERIOD, Next, SyncTimer};

/// Where and how a proxy runs.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// This node's name: endpoints on it are local (the `Local` policies).
    pub node_name: String,
    /// Every pod's range; traffic to a cluster IP from outside it is
    /// masqueraded. `None`: none is.
    pub cluster_cidr: Option<orc_pod::Ipv4Cidr>,
    /// The network namespace whose tables the proxy writes.
    pub netns: PathBuf,
    /// The least time between two syncs (`--iptables-min-sync-period`).
    pub min_sync_period: Duration,
    /// The time between two checks that the jumps into orc's chains are
    /// in place (`--iptables-sync-period`); a missing one brings a full
    /// sync. Full syncs also come every [`sync::FULL_SYNC_PERIOD`].
    pub sync_period: Duration,
}

impl ProxyConfig {
    /// kube-proxy's defaults (1 s, 30 s) for `node_name`, in this process's
    /// own network namespace.
    pub fn new(node_name: impl Into<String>) -> ProxyConfig {
        ProxyConfig {
            node_name: node_name.into(),
            cluster_cidr: None,
            netns: orc_pod::netns::HOST_NETNS.into(),
            min_sync_period: Duration::from_secs(1),
            sync_period: Duration::from_secs(30),
        }
    }
}

/// What a sync did, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synced {
    /// Everything was written.
    Full,
    /// Only these many Service ports' chains were written.
    Partial(usize),
    /// Nothing had changed: nothing was written.
    Unchanged,
}

/// The proxy's state between syncs: what [`run`] drives, and what the
/// `rule_sync` benchmark times.
pub struct Proxy {
    config: ProxyConfig,
    tables: Tables,
    /// What the last successful sync applied.
    applied: Option<RuleSet>,
}

impl Proxy {
    /// A proxy that has applied nothing yet: its first sync is full.
    pub fn new(config: ProxyConfig) -> Proxy {
        Proxy {
            tables: Tables::new(&config.netns),
            applied: None,
            config,
        }
    }

    /// Whether every jump from the built-in chains into orc's is in place.
    pub fn jumps_in_place(&self) -> bool {
        self.tables.jumps_in_place()
    }

    /// Renders the rules for `routes` and applies them: everything when
    /// `full`, else only what changed since the last sync.
    pub fn sync(&mut self, routes: &[model::Routed], full: bool) -> Result<Synced, IptablesError> {
        let render_config = RenderConfig {
            cluster_cidr: self.config.cluster_cidr.map(|c| c.to_string()),
        };
        let next = render::render(routes, &render_config);
        let outcome = match (&self.applied, full) {
            (Some(applied), false) => {
                let Some(text) = payload::partial(&next, applied) else {
                    return Ok(Synced::Unchanged);
                };
                let changed = payload::changes(&next, applied).services.len();
                self.tables.restore(&text)?;
                Synced::Partial(changed)
            }
            _ => {
                // Chains of Services gone while the proxy was not looking
                // (or before a restart) are found in the tables themselves.
                let wanted = next.service_chains();
                let stale: BTreeSet<String> = self
                    .tables
                    .chains()?
                    .into_iter()
                    .filter(|(table, chain)| table == "nat" && chains::is_service_chain(chain))
                    .map(|(_, chain)| chain)
                    .filter(|chain| !wanted.contains(chain))
                    .collect();
                self.tables
                    .restore(&payload::payload(&next, Scope::Full, &stale))?;
                self.tables.ensure_jumps()?;
                Synced::Full
            }
        };
        self.applied = Some(next);
        Ok(outcome)
    }
}

// ANCHOR: run
/// Runs the proxy until dropped: follows Services and EndpointSlices and
/// keeps the node's tables in step with them.
pub async fn run(client: Client, config: ProxyConfig) {
    let resource =
        |v, k| by_kind(v, k).expect("the resource table serves Services and EndpointSlices");
    let services = informers::everything(&client, resource("v1", "Service"));
    let slices = Informer::new(
        client.clone(),
        resource("discovery.k8s.io/v1", "EndpointSlice"),
        None,
        "",
    );
    let (service_cache, slice_cache) = (services.cache(), slices.cache());
    let changed = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    // Rules from half a picture would drop traffic to Services whose
    // slices are not listed yet: wait for both lists (kube-proxy's
    // "initialized").
    if !informers::follow_changes(&mut tasks, vec![services, slices], &changed).await {
        return;
    }
    let mut timer = SyncTimer::new(config.min_sync_period, config.sync_period, FULL_SYNC_PERIOD);
    let proxy = Arc::new(std::sync::Mutex::new(Proxy::new(config.clone())));
    loop {
        match timer.next(Instant::now()) {
            Next::WaitUntil(at) => tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = changed.notified() => timer.changed(),
            },
            Next::Check => {
                let proxy = proxy.clone();
                let in_place = tokio::task::spawn_blocking(move || {
                    proxy
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .jumps_in_place()
                })
                .await
                .unwrap_or(false);
                if !in_place {
                    tracing::warn!("a jump into orc-proxy's chains is gone; a full sync follows");
                }
                timer.checked(Instant::now(), in_place);
            }
            Next::Sync { full } => {
                let routes = model::routes(
                    &service_cache.list(),
                    &slice_cache.list(),
                    &config.node_name,
                );
                let proxy = proxy.clone();
                // iptables runs as child processes on a thread in the
                // node's namespace: off the async workers.
                let result = tokio::task::spawn_blocking(move || {
                    proxy
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .sync(&routes, full)
                })
                .await;
                let ok = match result {
                    Ok(Ok(outcome)) => {
                        tracing::debug!(?outcome, "proxy rules synced");
                        true
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "syncing proxy rules failed; a full sync follows");
                        false
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the proxy sync task failed");
                        false
                    }
                };
                timer.synced(Instant::now(), full, ok);
            }
        }
    }
}
// ANCHOR_END: run

/// Removes every rule and chain a proxy made in the namespace at `netns`.
pub fn cleanup(netns: impl Into<PathBuf>) -> Result<(), IptablesError> {
    Tables::new(netns).cleanup()
}

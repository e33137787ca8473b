//! The controller: from the API's objects to the proxy's table.
//!
//! Level-triggered like every orc controller: informers keep caches of
//! Ingresses, IngressClasses, Services, EndpointSlices, Pods and Secrets, and any
//! change to any of them rebuilds the whole table ([`crate::routes::build`],
//! pure) and sends it to the proxy on a `watch` channel. Then it makes the
//! world agree: each claimed Ingress publishes the addresses of the nodes
//! that serve it (a cache of Nodes, whose changes, heartbeats above all,
//! only recompute those addresses), and each new problem (a missing
//! Service, an unknown algorithm) becomes a Warning Event on its Ingress.
//!
//! Layout: `status.rs` (which nodes serve, the `status.loadBalancer`
//! patch; pure), this file (informers, the rebuild loop, writing status
//! and Events).

pub mod status;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use orc_client::events::{Note, Recorder};
use orc_client::informer::{self as informers, Cache, Informer};
use orc_client::resources::{Resource, by_kind};
use orc_client::{Client, ClientError};
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use self::status::Publish;
use crate::routes::class::Claims;
use crate::routes::{Objects, Problem, RouteTable, build};

/// How long to wait before writing again after a status write failed.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// What the controller needs to know of where it runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The `spec.controller` of the IngressClasses it serves.
    pub controller: String,
    /// What `status.loadBalancer.ingress` says.
    pub publish: Publish,
}

fn resource(api_version: &str, kind: &str) -> &'static Resource {
    by_kind(api_version, kind).expect("the resource table serves the ingress controller's kinds")
}

/// The six caches the table is built from.
struct Caches([Arc<Cache>; 6]);

impl Caches {
    fn objects(&self) -> Objects {
        let [ingresses, classes, services, slices, pods, secrets] = &self.0;
        Objects {
            ingresses: ingresses.list(),
            classes: classes.list(),
            services: services.list(),
            slices: slices.list(),
            pods: pods.list(),
            secrets: secrets.list(),
        }
    }
}

// ANCHOR: run
/// Follows the API through `client`, sends every new table to `tables`,
/// and keeps the claimed Ingresses' status and Events true, until dropped.
pub async fn run(client: Client, config: ControllerConfig, tables: watch::Sender<Arc<RouteTable>>) {
    let informers: Vec<Informer> = [
        ("networking.k8s.io/v1", "Ingress"),
        ("networking.k8s.io/v1", "IngressClass"),
        ("v1", "Service"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("v1", "Pod"),
        ("v1", "Secret"),
    ]
    .into_iter()
    .map(|(version, kind)| informers::everything(&client, resource(version, kind)))
    .collect();
    let caches = Caches(std::array::from_fn(|i| informers[i].cache()));
    let changed = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    // Before every list is in, Services would look missing and routes empty.
    if !informers::follow_changes(&mut tasks, informers, &changed).await {
        return;
    }
    // Nodes only when they decide the addresses; before their list is
    // in, every Ingress would lose its addresses and get them back.
    let nodes_changed = Arc::new(Notify::new());
    let addresses = match &config.publish {
        Publish::ProxyNodes => {
            let nodes = informers::everything(&client, resource("v1", "Node"));
            let cache = nodes.cache();
            if !informers::follow_changes(&mut tasks, vec![nodes], &nodes_changed).await {
                return;
            }
            Addresses::Nodes(cache)
        }
        Publish::Fixed(fixed) => Addresses::Fixed(fixed.clone()),
    };
    let recorder = Recorder::new(client.clone(), "orc-ingress");
    let mut reported = HashSet::new();
    let mut rebuild = true;
    loop {
        let objects = caches.objects();
        if rebuild {
            let (table, problems) = build(&objects, &config.controller);
            tracing::debug!(rules = table.rules.len(), "routing table rebuilt");
            tables.send_replace(Arc::new(table));
            report(&recorder, &objects, problems, &mut reported).await;
        }
        // Writes only what differs: a node's heartbeat writes nothing.
        let written = publish(&client, &config.controller, &objects, &addresses.now()).await;
        let retry = async {
            match written {
                Ok(()) => std::future::pending().await,
                Err(error) => {
                    tracing::warn!(%error, "writing an Ingress's status failed; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        };
        // A change to the table's objects rebuilds it; a Node's only
        // recomputes the addresses; a failed write is tried again.
        rebuild = tokio::select! {
            () = changed.notified() => true,
            () = nodes_changed.notified() => false,
            () = retry => false,
        };
    }
}
// ANCHOR_END: run

/// Where the addresses come from, once the informers run.
enum Addresses {
    /// The cache of Nodes, read at every change.
    Nodes(Arc<Cache>),
    Fixed(Vec<IpAddr>),
}

impl Addresses {
    fn now(&self) -> Vec<IpAddr> {
        match self {
            Addresses::Nodes(nodes) => status::serving_addresses(&nodes.list()),
            Addresses::Fixed(fixed) => fixed.clone(),
        }
    }
}

/// Writes each claimed Ingress's addresses where they differ.
async fn publish(
    client: &Client,
    controller: &str,
    objects: &Objects,
    addresses: &[IpAddr],
) -> Result<(), ClientError> {
    let claims = Claims::new(&objects.classes, controller);
    for ingress in objects.ingresses.iter().filter(|i| claims.claims(i)) {
        let Some(patch) = status::status_patch(ingress, addresses) else {
            continue;
        };
        let namespace = ingress
            .pointer("/metadata/namespace")
            .and_then(Value::as_str);
        let name = ingress
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ingresses = resource("networking.k8s.io/v1", "Ingress");
        match client
            .merge_patch(ingresses, namespace, name, Some("status"), &patch)
            .await
        {
            Ok(_) => {
                tracing::info!(ingress = %format!("{}/{name}", namespace.unwrap_or_default()), "status written")
            }
            Err(e) if e.is_not_found() => {} // Deleted meanwhile.
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A Warning Event for each problem not reported at the last rebuild; a
/// problem that goes away and comes back is reported again.
async fn report(
    recorder: &Recorder,
    objects: &Objects,
    problems: Vec<Problem>,
    reported: &mut HashSet<Problem>,
) {
    let now: HashSet<Problem> = problems.into_iter().collect();
    for problem in now.difference(reported) {
        tracing::warn!(ingress = %problem.ingress, reason = problem.reason, "{}", problem.message);
        let ingress = objects.ingresses.iter().find(|i| key(i) == problem.ingress);
        if let Some(ingress) = ingress {
            let note = Note::warning(problem.reason, problem.message.clone());
            recorder
                .record(ingress, ("networking.k8s.io/v1", "Ingress"), note)
                .await;
        }
    }
    *reported = now;
}

fn key(obj: &Value) -> String {
    let text = |p| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    format!("{}/{}", text("/metadata/namespace"), text("/metadata/name"))
}

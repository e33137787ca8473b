//! `metrics.k8s.io/v1beta1`: what `kubectl top` and the autoscaler read.
//!
//! In Kubernetes this API is not the API server's: metrics-server, a
//! separate Deployment, scrapes every kubelet's `/metrics/resource` every
//! 15 s, keeps the latest figures in memory, and serves them as an
//! *aggregated API*: kube-apiserver forwards `/apis/metrics.k8s.io/...`
//! to it (an APIService object says where). orc serves it in process:
//! the scraper is a task of the API server and the handlers read its
//! memory directly. The wire is the same (paths, JSON, discovery), so
//! `kubectl top` cannot tell; what orc leaves out is the aggregation layer
//! (APIService objects, proxying with front-proxy certificates), which
//! would teach TLS plumbing rather than metrics (ARCHITECTURE.md).
//!
//! ## Layout
//!
//! - [`window`]: pure: readings in, rates over a window out; the store of
//!   the latest readings and points.
//! - [`scraper`]: every `--metric-resolution`, each Node's agent asked for
//!   its `/stats/summary` (chapter 02's `agent/stats.rs`).
//! - [`objects`]: NodeMetrics and PodMetrics JSON, quantities, discovery.
//! - this file: the read-only handlers (get and list, label and field
//!   selectors, namespaces), joining the points with the Node and Pod
//!   objects for names and labels.

pub mod objects;
pub mod scraper;
pub mod window;

use std::sync::{Arc, RwLock};

use axum::Json;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::Value;

use crate::handlers::{ApiRequest, read};
use crate::server::AppState;
use crate::status::{ApiError, Target};
use orc_client::resources::{Resource, lookup};
use window::UsageStore;

/// The group this module serves.
pub const GROUP: &str = "metrics.k8s.io";

/// How often agents are scraped unless told (`--metric-resolution`):
/// metrics-server's recommended setting.
pub const DEFAULT_RESOLUTION: std::time::Duration = std::time::Duration::from_secs(15);

/// The Metrics API's option as a command-line flag, shared by
/// `orc-apiserver` and `orc server` (metrics-server's name for it).
#[derive(Debug, Clone, clap::Args)]
pub struct MetricsFlags {
    /// How often every node's agent is scraped for `kubectl top` (e.g.
    /// `15s`); CPU is the rate between the last two scrapes.
    #[arg(long, default_value = "15s", value_parser = crate::limits::parse_duration)]
    pub metric_resolution: std::time::Duration,
}

/// The scraper's findings, shared with the handlers. A std lock, not
/// tokio's: it is held only to copy points in or out, never across an
/// `.await`.
pub type SharedUsage = Arc<RwLock<UsageStore>>;

/// Whether `path` (under `/apis`) is this group's.
pub fn serves(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    path == GROUP || path.starts_with(&format!("{GROUP}/"))
}

/// What a request under `/apis/metrics.k8s.io` asks for.
#[derive(Debug, PartialEq, Eq)]
enum Wanted<'a> {
    Group,
    Resources,
    Nodes(Option<&'a str>),
    /// Namespace (`None`: all), name (`None`: a list).
    Pods(Option<&'a str>, Option<&'a str>),
}

fn parse(path: &str) -> Option<Wanted<'_>> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    Some(match segments.as_slice() {
        [GROUP] => Wanted::Group,
        [GROUP, "v1beta1"] => Wanted::Resources,
        [GROUP, "v1beta1", "nodes"] => Wanted::Nodes(None),
        [GROUP, "v1beta1", "nodes", name] => Wanted::Nodes(Some(name)),
        [GROUP, "v1beta1", "pods"] => Wanted::Pods(None, None),
        [GROUP, "v1beta1", "namespaces", ns, "pods"] => Wanted::Pods(Some(ns), None),
        [GROUP, "v1beta1", "namespaces", ns, "pods", name] => Wanted::Pods(Some(ns), Some(name)),
        _ => return None,
    })
}

// ANCHOR: serve
/// Serves a request under `/apis/metrics.k8s.io` (`path` is what follows
/// `/apis`). Only reads: metrics are observed, never written.
pub async fn serve(state: &AppState, path: &str, request: &ApiRequest) -> Response {
    if request.method != Method::GET {
        return ApiError::MethodNotAllowed.into_response();
    }
    let answer = match parse(path) {
        Some(Wanted::Group) => Ok(objects::api_group()),
        Some(Wanted::Resources) => Ok(objects::resource_list()),
        Some(Wanted::Nodes(name)) => nodes(state, name, request).await,
        Some(Wanted::Pods(ns, name)) => pods(state, ns, name, request).await,
        None => Err(ApiError::NotFound(Target {
            kind: "path".into(),
            ..Target::default()
        })),
    };
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}
// ANCHOR_END: serve

/// NodeMetrics: one, or the list of those the selectors pick. A node with
/// no point yet (scraped once, or unreachable) is left out of a list and
/// not found alone, as metrics-server answers.
async fn nodes(
    state: &AppState,
    name: Option<&str>,
    request: &ApiRequest,
) -> Result<Value, ApiError> {
    let resource = core("nodes")?;
    let objects = matching(state, resource, None, name, request).await?;
    let now = Timestamp::now();
    let usage = state.usage.read().expect("usage lock poisoned");
    let items: Vec<Value> = objects
        .iter()
        .filter_map(|node| {
            let name = node["metadata"]["name"].as_str()?;
            let point = usage.nodes.get(name)?.point()?;
            Some(objects::node_metrics(node, &point, now))
        })
        .collect();
    one_or_list("NodeMetrics", "nodemetrics", name, items)
}

/// PodMetrics: one, or the list of a namespace (or all) the selectors pick.
async fn pods(
    state: &AppState,
    ns: Option<&str>,
    name: Option<&str>,
    request: &ApiRequest,
) -> Result<Value, ApiError> {
    let resource = core("pods")?;
    let objects = matching(state, resource, ns, name, request).await?;
    let now = Timestamp::now();
    let usage = state.usage.read().expect("usage lock poisoned");
    let items: Vec<Value> = objects
        .iter()
        .filter_map(|pod| {
            let key = (
                pod["metadata"]["namespace"].as_str()?.to_string(),
                pod["metadata"]["name"].as_str()?.to_string(),
            );
            let series = usage.pods.get(&key)?;
            // The object under this name now is the pod that was measured.
            if pod["metadata"]["uid"].as_str() != Some(series.uid.as_str()) {
                return None;
            }
            Some(objects::pod_metrics(pod, &series.points()?, now))
        })
        .collect();
    one_or_list("PodMetrics", "podmetrics", name, items)
}

/// The Node or Pod objects a request is about: the one named, or those
/// its namespace, `labelSelector` and `fieldSelector` pick (read from
/// etcd: their labels are the ones a selector matches against).
async fn matching(
    state: &AppState,
    resource: &'static Resource,
    ns: Option<&str>,
    name: Option<&str>,
    request: &ApiRequest,
) -> Result<Vec<Value>, ApiError> {
    if let Some(name) = name {
        return match read::get(state, resource, ns, name).await {
            Ok(found) => Ok(vec![found.body]),
            // No such object: no metrics either (answered below).
            Err(ApiError::NotFound(_)) => Ok(vec![]),
            Err(e) => Err(e),
        };
    }
    let filter = read::filter(resource, ns, request)?;
    let prefix = crate::storage::prefix(resource, ns);
    let page = state
        .store
        .list(&prefix, "", 0, 0)
        .await
        .map_err(|e| read::storage_error(e, resource, ""))?;
    Ok(page
        .items
        .into_iter()
        .map(|(_, obj)| obj)
        .filter(|obj| filter.matches(obj))
        .collect())
}

/// The answer's shape: the one object asked for (404 without it, worded
/// as metrics-server's `podmetrics.metrics.k8s.io "web" not found`), or
/// the list.
fn one_or_list(
    kind: &str,
    resource: &str,
    name: Option<&str>,
    mut items: Vec<Value>,
) -> Result<Value, ApiError> {
    match name {
        None => Ok(objects::list(kind, items)),
        Some(name) if items.is_empty() => Err(ApiError::NotFound(Target {
            group: GROUP.into(),
            kind: resource.into(),
            name: name.into(),
        })),
        Some(_) => Ok(items.swap_remove(0)),
    }
}

/// A core resource of the table.
fn core(plural: &str) -> Result<&'static Resource, ApiError> {
    lookup("", "v1", plural).ok_or_else(|| ApiError::Internal(format!("no {plural} resource")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_what_they_ask_for() {
        assert_eq!(parse("/metrics.k8s.io"), Some(Wanted::Group));
        assert_eq!(parse("/metrics.k8s.io/v1beta1"), Some(Wanted::Resources));
        assert_eq!(
            parse("/metrics.k8s.io/v1beta1/nodes/n1"),
            Some(Wanted::Nodes(Some("n1")))
        );
        assert_eq!(
            parse("/metrics.k8s.io/v1beta1/pods"),
            Some(Wanted::Pods(None, None))
        );
        assert_eq!(
            parse("/metrics.k8s.io/v1beta1/namespaces/a/pods/web"),
            Some(Wanted::Pods(Some("a"), Some("web")))
        );
        assert_eq!(parse("/metrics.k8s.io/v1/nodes"), None);
        assert!(serves("/metrics.k8s.io/v1beta1") && !serves("/metrics.k8s.iox/v1"));
    }
}

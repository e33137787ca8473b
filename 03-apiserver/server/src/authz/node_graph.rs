//! The Node authorizer's graph: which objects each node's pods name.
//!
//! Kubernetes' Node authorizer keeps a graph of vertices (pods, Secrets,
//! ConfigMaps, claims, ServiceAccounts, nodes) and edges (`secret -> pod
//! -> node`), fed by informers, and allows a node to read an object when
//! a path leads from the object to the node. orc's pods only ever name
//! objects directly, so the graph here is flat: a count of the pods bound
//! to node `n` that name object `o`, kept in memory and updated by every
//! pod event from the watch hub (the RBAC cache's way, `cache.rs`), never
//! by reading etcd on a request. A pod bound a moment ago makes its Secret
//! readable as soon as its event arrives; the count falls to zero, and the
//! Secret is unreadable again, when the last such pod is deleted.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::cache::{Mirror, follow};
use crate::storage::{self, StorageError, Store};
use crate::watch::{Feed, StoredEvent};
use orc_client::pod_references::references;
use orc_client::resources::lookup;

/// The kinds of object a node may be related to through its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vertex {
    Pod,
    Secret,
    ConfigMap,
    PersistentVolumeClaim,
    ServiceAccount,
}

/// "A pod bound to `node` is, or names, `vertex` `namespace/name`."
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Edge {
    node: String,
    vertex: Vertex,
    namespace: String,
    name: String,
}

// ANCHOR: graph
/// Each node's relationships, as of the last pod event seen.
#[derive(Debug, Default)]
pub struct Graph {
    /// The edges each pod gave, by etcd key: what its next event (an
    /// update, a delete) takes back before adding its new ones.
    pods: HashMap<String, Vec<Edge>>,
    /// How many pods give each edge.
    edges: HashMap<Edge, usize>,
}

impl Graph {
    /// Records `pod` (stored at `key`), or its deletion (`None`).
    pub fn set_pod(&mut self, key: &str, pod: Option<&Value>) {
        for edge in self.pods.remove(key).unwrap_or_default() {
            if let Some(count) = self.edges.get_mut(&edge) {
                *count -= 1;
                if *count == 0 {
                    self.edges.remove(&edge);
                }
            }
        }
        let edges = pod.map(edges_of).unwrap_or_default();
        for edge in &edges {
            *self.edges.entry(edge.clone()).or_default() += 1;
        }
        if !edges.is_empty() {
            self.pods.insert(key.to_string(), edges);
        }
    }

    /// Whether a pod bound to `node` is, or names, `vertex` `namespace/name`.
    pub fn related(&self, node: &str, vertex: Vertex, namespace: &str, name: &str) -> bool {
        let edge = Edge {
            node: node.into(),
            vertex,
            namespace: namespace.into(),
            name: name.into(),
        };
        self.edges.contains_key(&edge)
    }
}

/// The edges of one pod: none until it is bound to a node.
fn edges_of(pod: &Value) -> Vec<Edge> {
    let text = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (node, namespace) = (text("/spec/nodeName"), text("/metadata/namespace"));
    if node.is_empty() {
        return Vec::new();
    }
    let refs = references(pod);
    let edge = |vertex, name: &str| Edge {
        node: node.into(),
        vertex,
        namespace: namespace.into(),
        name: name.into(),
    };
    let mut edges = vec![edge(Vertex::Pod, text("/metadata/name"))];
    edges.extend(refs.secrets.iter().map(|s| edge(Vertex::Secret, s)));
    edges.extend(refs.config_maps.iter().map(|c| edge(Vertex::ConfigMap, c)));
    let claims = refs.claims.iter();
    edges.extend(claims.map(|c| edge(Vertex::PersistentVolumeClaim, c)));
    if !refs.service_account.is_empty() {
        edges.push(edge(Vertex::ServiceAccount, &refs.service_account));
    }
    edges
}
// ANCHOR_END: graph

/// The graph, shared by every request and kept current from the pods'
/// feed until dropped.
pub struct GraphCache {
    /// std's RwLock: a decision holds it for one hash lookup; an event
    /// holds it to move a pod's few edges.
    graph: Arc<RwLock<Graph>>,
    /// The etcd revision the graph has applied every pod event up to.
    applied: tokio::sync::watch::Receiver<i64>,
    /// The pods' feed, to see what it has delivered that the graph has not
    /// applied yet.
    feed: Arc<Feed>,
    task: tokio::task::AbortHandle,
}

impl Drop for GraphCache {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The etcd prefix of every pod.
pub fn pods_prefix() -> String {
    let pods = lookup("", "v1", "pods").expect("the resource table serves pods");
    storage::prefix(pods, None)
}

/// How long a node's refused request waits for the graph to apply the
/// pod events already delivered before it is refused for good.
const CATCH_UP: Duration = Duration::from_secs(2);

impl GraphCache {
    /// Lists every pod (so the first decision sees them all), then follows
    /// `feed`, the hub's feed of [`pods_prefix`].
    pub async fn start(store: Store, feed: Arc<Feed>) -> Result<GraphCache, StorageError> {
        let prefix = pods_prefix();
        let page = store.list(&prefix, "", 0, 0).await?;
        let graph: Arc<RwLock<Graph>> = Arc::default();
        let (applied_tx, applied) = tokio::sync::watch::channel(page.revision);
        let mut mirror = GraphMirror {
            graph: graph.clone(),
            applied: applied_tx,
        };
        mirror.reset(page.items, page.revision);
        let task = tokio::spawn(follow(store, feed.clone(), prefix, mirror, page.revision));
        Ok(GraphCache {
            graph,
            applied,
            feed,
            task: task.abort_handle(),
        })
    }

    /// Runs `decide` on the current graph.
    pub fn read<T>(&self, decide: impl FnOnce(&Graph) -> T) -> T {
        decide(&self.graph.read().unwrap_or_else(|p| p.into_inner()))
    }

    // ANCHOR: caught_up
    /// Waits (a little) until the graph has applied every pod event the
    /// feed has delivered. An agent reads a new pod's Secret as soon as its
    /// own watch shows the pod bound; that watch and this graph are fed by
    /// the same feed, but a busy machine may run the agent's request first.
    /// Before refusing a node, the authorizer lets the graph catch up.
    pub async fn caught_up(&self) {
        let applied = *self.applied.borrow();
        let newest = match self.feed.subscribe(applied) {
            Ok((backlog, _)) => backlog.last().map_or(applied, |e| e.revision),
            // Cut off: the follower is listing again; nothing to wait for.
            Err(_) => return,
        };
        let mut applied = self.applied.clone();
        let wait = applied.wait_for(|revision| *revision >= newest);
        let _ = tokio::time::timeout(CATCH_UP, wait).await;
    }
    // ANCHOR_END: caught_up
}

/// Pod events applied to the shared graph as they come: each is one
/// pod's edges, so there is nothing to rebuild or publish.
struct GraphMirror {
    graph: Arc<RwLock<Graph>>,
    applied: tokio::sync::watch::Sender<i64>,
}

impl Mirror for GraphMirror {
    fn reset(&mut self, items: Vec<(String, Value)>, revision: i64) {
        let mut graph = Graph::default();
        for (key, pod) in &items {
            graph.set_pod(key, Some(pod));
        }
        *self.graph.write().unwrap_or_else(|p| p.into_inner()) = graph;
        self.applied.send_replace(revision);
    }

    fn apply(&mut self, event: &StoredEvent) {
        let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
        graph.set_pod(&event.key, event.object.as_ref());
        drop(graph);
        self.applied.send_replace(event.revision);
    }

    fn publish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, secret: &str) -> Value {
        json!({"metadata": {"namespace": "shop", "name": name},
            "spec": {"nodeName": node, "serviceAccountName": "web",
                "volumes": [{"name": "s", "secret": {"secretName": secret}}]}})
    }

    #[test]
    fn edges_follow_binding_moves_and_deletes() {
        let mut graph = Graph::default();
        graph.set_pod("/registry/pods/shop/a", Some(&pod("a", "", "db")));
        assert!(
            !graph.related("n1", Vertex::Secret, "shop", "db"),
            "unbound"
        );
        graph.set_pod("/registry/pods/shop/a", Some(&pod("a", "n1", "db")));
        assert!(graph.related("n1", Vertex::Secret, "shop", "db"));
        assert!(graph.related("n1", Vertex::Pod, "shop", "a"));
        assert!(graph.related("n1", Vertex::ServiceAccount, "shop", "web"));
        assert!(!graph.related("n2", Vertex::Secret, "shop", "db"));
        assert!(!graph.related("n1", Vertex::Secret, "other", "db"));
        // Two pods name it; it stays readable until both are gone.
        graph.set_pod("/registry/pods/shop/b", Some(&pod("b", "n1", "db")));
        graph.set_pod("/registry/pods/shop/a", None);
        assert!(graph.related("n1", Vertex::Secret, "shop", "db"));
        graph.set_pod("/registry/pods/shop/b", Some(&pod("b", "n1", "other")));
        assert!(!graph.related("n1", Vertex::Secret, "shop", "db"));
        graph.set_pod("/registry/pods/shop/b", None);
        assert!(graph.edges.is_empty() && graph.pods.is_empty());
    }
}

//! The Node authorizer's graph: which objects each node's pods name.
//!
//! Kubernetes' Node authorizer keeps a graph of vertices (pods, Secrets,
//! ConfigMaps, claims, volumes, ServiceAccounts, nodes) and edges
//! (`secret -> pod -> node`, `pv -> pvc -> pod -> node`), fed by
//! informers, and allows a node to read an object when a path leads from
//! the object to the node. orc's pods name objects directly, so most of
//! the graph here is flat: a count of the pods bound to node `n` that name
//! object `o`, kept in memory and updated by every pod event from the
//! watch hub (the RBAC cache's way, `cache.rs`), never by reading etcd on
//! a request. A pod bound a moment ago makes its Secret readable as soon
//! as its event arrives; the count falls to zero, and the Secret is
//! unreadable again, when the last such pod is deleted.
//!
//! PersistentVolumes are one step further: the graph also follows every
//! volume, and a volume is the node's when it is bound to (its
//! `spec.claimRef` names) a claim one of the node's pods names. Kubernetes
//! takes the claim's side of the binding (`spec.volumeName`); the two
//! agree once bound, and following volumes alone is one feed, not two.
//! orc adds one edge of its own: a volume orc's local-path provisioner
//! made for a node (its `pv.kubernetes.io/provisioned-by` annotation, and
//! its `nodeAffinity` naming that one node) is that node's, bound or not:
//! the node removes its directory when it is deleted (`node.rs`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;

use super::cache::{Mirror, follow};
use crate::storage::{self, StorageError, Store};
use crate::watch::{Feed, StoredEvent};
use orc_client::local_path::{PROVISIONED_BY, PROVISIONER};
use orc_client::pod_references::references;
use orc_client::resources::lookup;

/// The kinds of object a node may be related to through its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vertex {
    Pod,
    Secret,
    ConfigMap,
    PersistentVolumeClaim,
    PersistentVolume,
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
    /// Every PersistentVolume's ties, by name.
    volumes: HashMap<String, VolumeTies>,
}

/// What ties a PersistentVolume to nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct VolumeTies {
    /// The claim it is bound to (`spec.claimRef`): namespace, name.
    claim: Option<(String, String)>,
    /// The node orc's local-path provisioner made it on.
    local_node: Option<String>,
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

    /// Records PersistentVolume `volume` (stored at `key`), or its
    /// deletion (`None`).
    pub fn set_volume(&mut self, key: &str, volume: Option<&Value>) {
        let name = key.rsplit('/').next().unwrap_or_default().to_string();
        match volume.map(ties_of) {
            Some(ties) if ties != VolumeTies::default() => {
                self.volumes.insert(name, ties);
            }
            _ => {
                self.volumes.remove(&name);
            }
        }
    }

    /// Whether PersistentVolume `name` is one orc's local-path provisioner
    /// made on `node`.
    pub fn local_volume_of(&self, node: &str, name: &str) -> bool {
        self.volumes
            .get(name)
            .is_some_and(|ties| ties.local_node.as_deref() == Some(node))
    }

    /// Whether a pod bound to `node` is, or names, `vertex` `namespace/name`
    /// (for a PersistentVolume: is bound to a claim such a pod names, or
    /// is one of the node's local-path volumes).
    pub fn related(&self, node: &str, vertex: Vertex, namespace: &str, name: &str) -> bool {
        if vertex == Vertex::PersistentVolume {
            let Some(ties) = self.volumes.get(name) else {
                return false;
            };
            let claimed = ties.claim.as_ref().is_some_and(|(ns, claim)| {
                self.related(node, Vertex::PersistentVolumeClaim, ns, claim)
            });
            return claimed || ties.local_node.as_deref() == Some(node);
        }
        let edge = Edge {
            node: node.into(),
            vertex,
            namespace: namespace.into(),
            name: name.into(),
        };
        self.edges.contains_key(&edge)
    }
}

/// What ties a PersistentVolume to nodes.
fn ties_of(volume: &Value) -> VolumeTies {
    let text = |p: &str| volume.pointer(p).and_then(Value::as_str).unwrap_or("");
    let claim = match (
        text("/spec/claimRef/namespace"),
        text("/spec/claimRef/name"),
    ) {
        ("", _) | (_, "") => None,
        (ns, name) => Some((ns.to_string(), name.to_string())),
    };
    let provisioned = volume
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(PROVISIONED_BY))
        .and_then(Value::as_str)
        == Some(PROVISIONER);
    let local_node = provisioned.then(|| only_node(volume)).flatten();
    VolumeTies { claim, local_node }
}

/// The one node a volume's required node affinity allows, if it names
/// exactly one (`kubernetes.io/hostname In [node]`, as the local-path
/// provisioner writes it).
fn only_node(volume: &Value) -> Option<String> {
    let terms = volume
        .pointer("/spec/nodeAffinity/required/nodeSelectorTerms")?
        .as_array()?;
    let [term] = terms.as_slice() else {
        return None;
    };
    let expressions = term.get("matchExpressions")?.as_array()?;
    let [expression] = expressions.as_slice() else {
        return None;
    };
    let values = expression.get("values")?.as_array()?;
    match (
        expression.get("key")?.as_str()?,
        expression.get("operator")?.as_str()?,
        values.as_slice(),
    ) {
        ("kubernetes.io/hostname", "In", [node]) => node.as_str().map(str::to_string),
        _ => None,
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
/// and the PersistentVolumes' feeds until dropped.
pub struct GraphCache {
    /// std's RwLock: a decision holds it for one hash lookup; an event
    /// holds it to move a pod's few edges.
    graph: Arc<RwLock<Graph>>,
    /// For each feed: the etcd revision the graph has applied every event
    /// up to, and the feed, to see what it has delivered that the graph
    /// has not applied yet.
    followed: Vec<(tokio::sync::watch::Receiver<i64>, Arc<Feed>)>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for GraphCache {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The etcd prefix of every pod.
pub fn pods_prefix() -> String {
    let pods = lookup("", "v1", "pods").expect("the resource table serves pods");
    storage::prefix(pods, None)
}

/// The etcd prefix of every PersistentVolume.
pub fn volumes_prefix() -> String {
    let volumes =
        lookup("", "v1", "persistentvolumes").expect("the resource table serves PersistentVolumes");
    storage::prefix(volumes, None)
}

/// How long a node's refused request waits for the graph to apply the
/// events already delivered before it is refused for good.
const CATCH_UP: Duration = Duration::from_secs(2);

impl GraphCache {
    /// Lists every pod and PersistentVolume (so the first decision sees
    /// them all), then follows `pods` and `volumes`, the hub's feeds of
    /// [`pods_prefix`] and [`volumes_prefix`].
    pub async fn start(
        store: Store,
        pods: Arc<Feed>,
        volumes: Arc<Feed>,
    ) -> Result<GraphCache, StorageError> {
        let graph: Arc<RwLock<Graph>> = Arc::default();
        let mut followed = Vec::new();
        let mut tasks = Vec::new();
        for (kind, prefix, feed) in [
            (Kind::Pods, pods_prefix(), pods),
            (Kind::Volumes, volumes_prefix(), volumes),
        ] {
            let page = store.list(&prefix, "", 0, 0).await?;
            let (applied_tx, applied) = tokio::sync::watch::channel(page.revision);
            let mut mirror = GraphMirror {
                kind,
                graph: graph.clone(),
                applied: applied_tx,
            };
            mirror.reset(page.items, page.revision);
            let task = tokio::spawn(follow(
                store.clone(),
                feed.clone(),
                prefix,
                mirror,
                page.revision,
            ));
            followed.push((applied, feed));
            tasks.push(task.abort_handle());
        }
        Ok(GraphCache {
            graph,
            followed,
            tasks,
        })
    }

    /// Runs `decide` on the current graph.
    pub fn read<T>(&self, decide: impl FnOnce(&Graph) -> T) -> T {
        decide(&self.graph.read().unwrap_or_else(|p| p.into_inner()))
    }

    // ANCHOR: caught_up
    /// Waits (a little) until the graph has applied every event its feeds
    /// have delivered. An agent reads a new pod's Secret as soon as its
    /// own watch shows the pod bound; that watch and this graph are fed by
    /// the same feed, but a busy machine may run the agent's request first.
    /// Before refusing a node, the authorizer lets the graph catch up.
    pub async fn caught_up(&self) {
        for (applied, feed) in &self.followed {
            let revision = *applied.borrow();
            let newest = match feed.subscribe(revision) {
                Ok((backlog, _)) => backlog.last().map_or(revision, |e| e.revision),
                // Cut off: the follower is listing again; nothing to wait for.
                Err(_) => continue,
            };
            let mut applied = applied.clone();
            let wait = applied.wait_for(|revision| *revision >= newest);
            let _ = tokio::time::timeout(CATCH_UP, wait).await;
        }
    }
    // ANCHOR_END: caught_up
}

/// Which objects a mirror applies.
#[derive(Clone, Copy)]
enum Kind {
    Pods,
    Volumes,
}

/// Events applied to the shared graph as they come: each is one pod's
/// edges or one volume's ties, so there is nothing to rebuild or publish.
struct GraphMirror {
    kind: Kind,
    graph: Arc<RwLock<Graph>>,
    applied: tokio::sync::watch::Sender<i64>,
}

impl Mirror for GraphMirror {
    fn reset(&mut self, items: Vec<(String, Value)>, revision: i64) {
        let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
        match self.kind {
            Kind::Pods => {
                graph.pods.clear();
                graph.edges.clear();
                for (key, pod) in &items {
                    graph.set_pod(key, Some(pod));
                }
            }
            Kind::Volumes => {
                graph.volumes.clear();
                for (key, volume) in &items {
                    graph.set_volume(key, Some(volume));
                }
            }
        }
        drop(graph);
        self.applied.send_replace(revision);
    }

    fn apply(&mut self, event: &StoredEvent) {
        let mut graph = self.graph.write().unwrap_or_else(|p| p.into_inner());
        match self.kind {
            Kind::Pods => graph.set_pod(&event.key, event.object().as_ref()),
            Kind::Volumes => graph.set_volume(&event.key, event.object().as_ref()),
        }
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

    fn volume(claim: Option<&str>, local_node: Option<&str>) -> Value {
        let mut volume = json!({"metadata": {"name": "pv1"}, "spec": {}});
        if let Some(claim) = claim {
            volume["spec"]["claimRef"] = json!({"namespace": "shop", "name": claim});
        }
        if let Some(node) = local_node {
            volume["metadata"]["annotations"] = json!({PROVISIONED_BY: PROVISIONER});
            volume["spec"]["nodeAffinity"] = json!({"required": {"nodeSelectorTerms": [{
                "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                    "values": [node]}]}]}});
        }
        volume
    }

    #[test]
    fn a_volume_is_the_nodes_through_its_claim_or_as_its_local_volume() {
        let mut graph = Graph::default();
        let mut pod = pod("a", "n1", "db");
        pod["spec"]["volumes"] =
            json!([{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]);
        graph.set_pod("/registry/pods/shop/a", Some(&pod));
        assert!(graph.related("n1", Vertex::PersistentVolumeClaim, "shop", "data"));
        let key = "/registry/persistentvolumes/pv1";
        graph.set_volume(key, Some(&volume(Some("data"), None)));
        assert!(graph.related("n1", Vertex::PersistentVolume, "", "pv1"));
        assert!(!graph.related("n2", Vertex::PersistentVolume, "", "pv1"));
        assert!(
            !graph.local_volume_of("n1", "pv1"),
            "not a local-path volume"
        );
        graph.set_volume(key, Some(&volume(Some("other"), None)));
        assert!(!graph.related("n1", Vertex::PersistentVolume, "", "pv1"));
        // A local-path volume is its node's, claimed or not.
        graph.set_volume(key, Some(&volume(None, Some("n2"))));
        assert!(graph.related("n2", Vertex::PersistentVolume, "", "pv1"));
        assert!(graph.local_volume_of("n2", "pv1"));
        assert!(!graph.local_volume_of("n1", "pv1"));
        graph.set_volume(key, None);
        assert!(!graph.related("n2", Vertex::PersistentVolume, "", "pv1"));
        assert!(graph.volumes.is_empty());
    }
}

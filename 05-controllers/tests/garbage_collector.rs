//! The garbage collector against a real etcd and a real API server: owners
//! and dependents are ConfigMaps (any kind works the same), deleted with
//! each propagation policy through HTTP, as kubectl sends them, and through
//! the installed kubectl itself.

use std::net::SocketAddr;
use std::time::Duration;

use orc_apiserver::{Config, Server};
use orc_testkit::Etcd;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// etcd, an API server and the garbage collector; all stop when dropped.
struct Cluster {
    _etcd: Etcd,
    addr: SocketAddr,
    http: reqwest::Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Cluster {
    async fn start() -> Cluster {
        let etcd = Etcd::start();
        let config = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let server = Server::bind(config).await.expect("the API server binds");
        let addr = server.local_addr().unwrap();
        let serving = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        let controllers = orc_controllers::Config::new(format!("http://{addr}"));
        let collecting = tokio::spawn(orc_controllers::run(controllers));
        Cluster {
            _etcd: etcd,
            addr,
            http: reqwest::Client::new(),
            tasks: vec![serving, collecting],
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the API server answers");
        let code = response.status().as_u16();
        (code, response.json().await.unwrap_or(Value::Null))
    }

    /// Creates ConfigMap `name` with `finalizers`, owned by `owners`
    /// (each with its blockOwnerDeletion flag).
    async fn configmap(&self, name: &str, owners: &[(&Owned, bool)], finalizers: &[&str]) -> Owned {
        let refs: Vec<Value> = owners
            .iter()
            .map(|(owner, block)| {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "name": owner.name,
                    "uid": owner.uid, "blockOwnerDeletion": block})
            })
            .collect();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "ownerReferences": refs, "finalizers": finalizers}});
        let url = format!("http://{}{CMS}", self.addr);
        let (code, created) = self.send(self.http.post(url).json(&body)).await;
        assert_eq!(code, 201, "{created}");
        Owned {
            name: name.to_string(),
            uid: created["metadata"]["uid"].as_str().unwrap().to_string(),
        }
    }

    async fn get(&self, name: &str) -> Option<Value> {
        let url = format!("http://{}{CMS}/{name}", self.addr);
        match self.send(self.http.get(url)).await {
            (200, obj) => Some(obj),
            (404, _) => None,
            (code, body) => panic!("GET {name}: {code} {body}"),
        }
    }

    async fn delete(&self, name: &str, options: Value) -> u16 {
        let url = format!("http://{}{CMS}/{name}", self.addr);
        self.send(self.http.delete(url).json(&options)).await.0
    }

    /// Waits until `check` holds for ConfigMap `name` (None: gone).
    async fn until(&self, name: &str, what: &str, check: impl Fn(Option<&Value>) -> bool) {
        for _ in 0..200 {
            if check(self.get(name).await.as_ref()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{name}: still not {what} after 10 s: {:?}",
            self.get(name).await
        );
    }

    async fn until_gone(&self, name: &str) {
        self.until(name, "gone", |obj| obj.is_none()).await;
    }
}

/// An object as an owner reference names it.
struct Owned {
    name: String,
    uid: String,
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(String::from))
        .collect()
}

fn references(obj: &Value) -> usize {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map_or(0, Vec::len)
}

#[tokio::test]
async fn background_deletion_collects_dependents_after_their_owner() {
    let c = Cluster::start().await;
    let owner = c.configmap("owner", &[], &[]).await;
    let child = c.configmap("child", &[(&owner, true)], &[]).await;
    c.configmap("grandchild", &[(&child, false)], &[]).await;
    // kubectl's default: propagationPolicy Background. The owner goes at once.
    assert_eq!(
        c.delete("owner", json!({"propagationPolicy": "Background"}))
            .await,
        200
    );
    assert!(
        c.get("owner").await.is_none(),
        "no finalizer holds the owner"
    );
    c.until_gone("child").await;
    c.until_gone("grandchild").await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let c = Cluster::start().await;
    let owner = c.configmap("owner", &[], &[]).await;
    // A dependent that something else holds (its own finalizer), and one
    // that does not block its owner.
    c.configmap("held", &[(&owner, true)], &["example.com/hold"])
        .await;
    c.configmap("loose", &[(&owner, false)], &[]).await;
    assert_eq!(
        c.delete("owner", json!({"propagationPolicy": "Foreground"}))
            .await,
        200
    );
    // The collector deletes the dependents; the held one is only marked.
    c.until("held", "marked", |o| {
        o.is_some_and(|o| o["metadata"]["deletionTimestamp"].is_string())
    })
    .await;
    let marked = c.get("owner").await.expect("the owner waits for `held`");
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(finalizers(&marked), ["foregroundDeletion"]);
    // Let `held` go: the owner follows.
    let url = format!("http://{}{CMS}/held", c.addr);
    let release = c
        .http
        .patch(url)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"metadata":{"finalizers":null}}"#);
    assert_eq!(c.send(release).await.0, 200);
    c.until_gone("held").await;
    c.until_gone("owner").await;
    c.until_gone("loose").await;
}

#[tokio::test]
async fn orphaning_keeps_dependents_without_their_reference() {
    let c = Cluster::start().await;
    let owner = c.configmap("owner", &[], &[]).await;
    let other = c.configmap("other-owner", &[], &[]).await;
    c.configmap("a", &[(&owner, true)], &[]).await;
    c.configmap("b", &[(&owner, true), (&other, false)], &[])
        .await;
    assert_eq!(
        c.delete("owner", json!({"propagationPolicy": "Orphan"}))
            .await,
        200
    );
    c.until_gone("owner").await;
    let a = c.get("a").await.expect("an orphan lives on");
    assert_eq!(references(&a), 0);
    let b = c.get("b").await.expect("an orphan lives on");
    assert_eq!(
        b["metadata"]["ownerReferences"][0]["uid"],
        other.uid.as_str()
    );
    assert_eq!(references(&b), 1, "only the deleted owner's reference goes");
}

#[tokio::test]
async fn a_reference_to_an_older_incarnation_or_a_missing_owner_dangles() {
    let c = Cluster::start().await;
    let first = c.configmap("owner", &[], &[]).await;
    assert_eq!(c.delete("owner", json!({})).await, 200);
    let second = c.configmap("owner", &[], &[]).await;
    assert_ne!(first.uid, second.uid);
    // Same name, old uid: not this owner's dependent.
    c.configmap("of-the-old-one", &[(&first, false)], &[]).await;
    // One solid owner keeps it; the dangling reference is dropped.
    c.configmap("shared", &[(&second, false), (&first, false)], &[])
        .await;
    // A kind orc does not serve can never be looked up: never collected.
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "unknown-owner",
        "ownerReferences": [{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "w-1"}]}});
    let url = format!("http://{}{CMS}", c.addr);
    assert_eq!(c.send(c.http.post(url).json(&body)).await.0, 201);
    c.until_gone("of-the-old-one").await;
    c.until("shared", "down to one reference", |o| {
        o.is_some_and(|o| references(o) == 1)
    })
    .await;
    let shared = c.get("shared").await.unwrap();
    assert_eq!(
        shared["metadata"]["ownerReferences"][0]["uid"],
        second.uid.as_str()
    );
    assert!(c.get("owner").await.is_some());
    assert!(c.get("unknown-owner").await.is_some());
}

#[tokio::test]
async fn kubectl_delete_cascades_as_asked() {
    let c = Cluster::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = orc_testkit::kubectl::kubeconfig(dir.path(), c.addr, "any");
    let kubectl = |args: &[&str]| {
        let mut command = orc_testkit::kubectl::command(dir.path(), &config);
        command.args(args);
        tokio::task::spawn_blocking(move || orc_testkit::kubectl::output(command))
    };
    let owner = c.configmap("fg", &[], &[]).await;
    c.configmap("fg-child", &[(&owner, true)], &[]).await;
    let (ok, out) = kubectl(&["delete", "configmap", "fg", "--cascade=foreground"])
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "configmap \"fg\" deleted");
    // kubectl waited for the owner, and the owner waited for its child.
    assert!(c.get("fg").await.is_none());
    assert!(c.get("fg-child").await.is_none());

    let owner = c.configmap("keep", &[], &[]).await;
    c.configmap("keep-child", &[(&owner, true)], &[]).await;
    let (ok, out) = kubectl(&["delete", "configmap", "keep", "--cascade=orphan"])
        .await
        .unwrap();
    assert!(ok, "{out}");
    assert!(c.get("keep").await.is_none());
    let child = c.get("keep-child").await.expect("orphaned, not deleted");
    assert_eq!(references(&child), 0);

    let (ok, out) = kubectl(&["delete", "configmap", "keep-child", "--cascade=sideways"])
        .await
        .unwrap();
    assert!(!ok, "kubectl refuses an unknown cascade itself: {out}");
}

#[tokio::test]
async fn bad_delete_options_are_refused_and_nothing_changes() {
    let c = Cluster::start().await;
    c.configmap("owner", &[], &[]).await;
    let url = format!("http://{}{CMS}/owner", c.addr);
    let (code, status) = c
        .send(
            c.http
                .delete(&url)
                .json(&json!({"propagationPolicy": "Sideways"})),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["causes"][0]["field"], "propagationPolicy");
    let both = json!({"propagationPolicy": "Orphan", "orphanDependents": true});
    assert_eq!(c.send(c.http.delete(&url).json(&both)).await.0, 422);
    let owner = c.get("owner").await.expect("nothing was deleted");
    assert!(owner["metadata"]["deletionTimestamp"].is_null());
}

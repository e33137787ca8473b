//! Lab 05's walkthrough: etcd, the API server and the garbage collector,
//! for real. An owner ConfigMap and its dependents are deleted with each
//! propagation policy, and the snapshots show what a reader sees with
//! `kubectl get -o json` along the way. uids, times and resourceVersions
//! are redacted.

use std::time::Duration;

use orc_testkit::Etcd;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

struct Cluster {
    _etcd: Etcd,
    base: String,
    http: reqwest::Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

impl Cluster {
    async fn start() -> Cluster {
        let etcd = Etcd::start();
        let config = orc_apiserver::Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let server = orc_apiserver::Server::bind(config).await.unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        let serving = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        let collector = tokio::spawn(orc_controllers::run(orc_controllers::Config::new(&base)));
        Cluster {
            _etcd: etcd,
            base,
            http: reqwest::Client::new(),
            tasks: vec![serving, collector],
        }
    }

    /// Creates ConfigMap `name` owned by `owner` (if any); answers it.
    async fn create(&self, name: &str, owner: Option<&Value>, finalizers: &[&str]) -> Value {
        let refs: Vec<Value> = owner
            .into_iter()
            .map(|o| {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"],
                    "uid": o["metadata"]["uid"], "blockOwnerDeletion": true})
            })
            .collect();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "ownerReferences": refs, "finalizers": finalizers}});
        let r = self.http.post(format!("{}{CMS}", self.base)).json(&body);
        r.send().await.unwrap().json().await.unwrap()
    }

    async fn get(&self, name: &str) -> Option<Value> {
        let r = self.http.get(format!("{}{CMS}/{name}", self.base));
        let response = r.send().await.unwrap();
        (response.status() == 200).then_some(response.json().await.unwrap())
    }

    async fn delete(&self, name: &str, policy: &str) {
        let r = self
            .http
            .delete(format!("{}{CMS}/{name}", self.base))
            .json(&json!({"propagationPolicy": policy}));
        assert_eq!(r.send().await.unwrap().status(), 200);
    }

    /// Waits until `check` holds for `name` (None: gone); answers it.
    async fn until(&self, name: &str, check: impl Fn(&Option<Value>) -> bool) -> Option<Value> {
        for _ in 0..200 {
            let now = self.get(name).await;
            if check(&now) {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name} never reached the expected state");
    }
}

fn metadata(obj: &Option<Value>) -> Value {
    obj.as_ref().map_or(Value::Null, |o| o["metadata"].clone())
}

macro_rules! snapshot_metadata {
    ($name:expr, $value:expr) => {
        insta::assert_json_snapshot!($name, $value, {
            ".uid" => "[uid]",
            ".creationTimestamp" => "[time]",
            ".deletionTimestamp" => "[time]",
            ".resourceVersion" => "[rv]",
            ".ownerReferences[].uid" => "[uid]",
        })
    };
}

#[tokio::test]
async fn deleting_an_owner_with_each_policy() {
    let c = Cluster::start().await;

    // Foreground: the owner waits, marked, for a dependent that something
    // else (its own finalizer) still holds.
    let owner = c.create("owner", None, &[]).await;
    c.create("child", Some(&owner), &["example.com/hold"]).await;
    c.delete("owner", "Foreground").await;
    // The collector deletes it in the foreground too; having no
    // dependents of its own, it keeps only the finalizer that holds it.
    let child = c
        .until("child", |o| {
            let meta = metadata(o);
            meta["deletionTimestamp"].is_string()
                && meta["finalizers"] == json!(["example.com/hold"])
        })
        .await;
    snapshot_metadata!("foreground_child_marked", metadata(&child));
    snapshot_metadata!("foreground_owner_waiting", metadata(&c.get("owner").await));
    let release = c
        .http
        .patch(format!("{}{CMS}/child", c.base))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"metadata":{"finalizers":null}}"#);
    assert_eq!(release.send().await.unwrap().status(), 200);
    c.until("owner", Option::is_none).await;
    assert!(c.get("child").await.is_none());

    // Orphan: the owner goes, the dependent stays without its reference.
    let owner = c.create("owner", None, &[]).await;
    c.create("orphan", Some(&owner), &[]).await;
    c.delete("owner", "Orphan").await;
    c.until("owner", Option::is_none).await;
    let orphan = c
        .until("orphan", |o| metadata(o).get("ownerReferences").is_none())
        .await;
    snapshot_metadata!("orphaned_child", metadata(&orphan));

    // Background: the owner goes at once, its dependent right after.
    let owner = c.create("owner", None, &[]).await;
    c.create("dependent", Some(&owner), &[]).await;
    c.delete("owner", "Background").await;
    assert!(c.get("owner").await.is_none(), "nothing holds the owner");
    c.until("dependent", Option::is_none).await;
}

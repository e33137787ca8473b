//! Lab 05's walkthrough: etcd, the API server and the controllers, for
//! real. An owner ConfigMap and its dependents are deleted with each
//! propagation policy, and the snapshots show what a reader sees with
//! `kubectl get -o json` along the way; the chapter's kubectl session does
//! the same with the installed kubectl. Then a Deployment is created and
//! rolled out with kubectl, a stand-in node marking its pods ready, and the
//! snapshots are what kubectl prints. uids, times, resourceVersions and
//! ages are redacted.

#[path = "../../../05-controllers/tests/common/stand_in_node.rs"]
mod stand_in_node;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use orc_testkit::Etcd;
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

struct Cluster {
    _etcd: Etcd,
    addr: SocketAddr,
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
        let addr = server.local_addr().unwrap();
        let base = format!("http://{addr}");
        let serving = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        let collector = tokio::spawn(orc_controllers::run(orc_controllers::Config::new(&base)));
        Cluster {
            _etcd: etcd,
            addr,
            base,
            http: orc_testkit::http_client(),
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

/// The installed kubectl on the cluster, keeping a transcript of what a
/// reader would type and see.
struct Kubectl {
    dir: tempfile::TempDir,
    config: PathBuf,
    transcript: Vec<String>,
}

impl Kubectl {
    fn new(c: &Cluster) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let config = orc_testkit::kubectl::kubeconfig(dir.path(), c.addr, "any");
        Kubectl {
            dir,
            config,
            transcript: vec![],
        }
    }

    /// Runs `kubectl ARGS` off the async runtime; records the command and
    /// its output; answers whether it succeeded, and the output.
    async fn run(&mut self, args: &[&str]) -> (bool, String) {
        let mut command = orc_testkit::kubectl::command(self.dir.path(), &self.config);
        command.args(args);
        let (ok, out) = tokio::task::spawn_blocking(move || orc_testkit::kubectl::output(command))
            .await
            .unwrap();
        // Quoted as a reader would type them.
        let typed: Vec<String> = args
            .iter()
            .map(|a| match a.split_once('=') {
                Some((key, value)) if value.contains(' ') => format!("{key}=\"{value}\""),
                _ => a.to_string(),
            })
            .collect();
        self.transcript
            .push(format!("$ kubectl {}\n{}", typed.join(" "), out.trim_end()));
        (ok, out)
    }

    /// Like [`Kubectl::run`], and the command must succeed.
    async fn ok(&mut self, args: &[&str]) -> String {
        let (ok, out) = self.run(args).await;
        assert!(ok, "kubectl {args:?}: {out}");
        out
    }

    /// The transcript so far, and a fresh one from here.
    fn take(&mut self) -> String {
        std::mem::take(&mut self.transcript).join("\n") + "\n"
    }
}

/// The chapter's session: a ConfigMap names another as its owner, and
/// `kubectl delete --cascade=foreground` waits until the collector has
/// deleted it too.
#[tokio::test]
async fn a_dependent_goes_with_its_owner() {
    let c = Cluster::start().await;
    let mut k = Kubectl::new(&c);
    k.ok(&["create", "configmap", "owner"]).await;
    let uid = k
        .ok(&[
            "get",
            "configmap",
            "owner",
            "-o",
            "jsonpath={.metadata.uid}",
        ])
        .await;
    k.transcript.pop(); // the uid is the reader's own; the chapter shows `$UID`
    let child = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: child\n  ownerReferences:\n  \
         - {{apiVersion: v1, kind: ConfigMap, name: owner, uid: {uid}, blockOwnerDeletion: true}}\n"
    );
    let file = k.dir.path().join("child.yaml");
    std::fs::write(&file, child).unwrap();
    k.ok(&["apply", "-f", file.to_str().unwrap()]).await;
    k.ok(&["delete", "configmap", "owner", "--cascade=foreground"])
        .await;
    let (found, _) = k.run(&["get", "configmap", "child"]).await;
    assert!(
        !found,
        "the collector deleted the child before kubectl returned"
    );
    let session = k.take();
    let dir = k.dir.path().display().to_string();
    insta::with_settings!({filters => vec![(dir.as_str(), ".")]}, {
        insta::assert_snapshot!("gc_session", session);
    });
}

/// A stand-in node: marks every new pod Running and Ready, as a node agent
/// would once its containers pass their readiness probes (the one chapter
/// 05's own tests use).
fn ready_every_pod(c: &Cluster) -> tokio::task::JoinHandle<()> {
    stand_in_node::ready_every_pod(c.http.clone(), c.base.clone())
}

/// Waits until Deployment `name` has rolled out `replicas` pods of its
/// current template, so that `kubectl rollout status` prints one line.
async fn until_rolled_out(c: &Cluster, name: &str, replicas: i64) {
    let url = format!(
        "{}/apis/apps/v1/namespaces/default/deployments/{name}",
        c.base
    );
    for _ in 0..400 {
        let d: Value = c.http.get(&url).send().await.unwrap().json().await.unwrap();
        let s = &d["status"];
        if s["observedGeneration"] == d["metadata"]["generation"]
            && [
                &s["replicas"],
                &s["updatedReplicas"],
                &s["availableReplicas"],
            ]
            .iter()
            .all(|n| n.as_i64() == Some(replicas))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deployment {name} never rolled out");
}

/// kubectl's ages ("3s", "12s") change from run to run. In `get`, AGE is
/// the last column, so the token moves nothing; `describe`'s events are
/// cut into cells and laid out again as kubectl does (each column as wide
/// as its widest cell, plus two spaces).
fn without_ages(text: &str) -> String {
    let mut out = Vec::new();
    let mut events: Vec<Vec<String>> = Vec::new();
    let flush = |events: &mut Vec<Vec<String>>, out: &mut Vec<String>| {
        let widths: Vec<usize> = (0..5)
            .map(|j| events.iter().map(|r| r[j].len()).max().unwrap_or(0) + 2)
            .collect();
        for row in events.drain(..) {
            let cells: Vec<String> = (0..4)
                .map(|j| format!("{:<width$}", row[j], width = widths[j]))
                .collect();
            out.push(format!("  {}{}", cells.concat(), row[4]));
        }
    };
    for line in text.lines() {
        let cells: Vec<String> = line
            .trim()
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(|c| c.trim().to_string())
            .collect();
        let is_event = line.starts_with("  ") && cells.len() == 5;
        if is_event {
            let mut row = cells;
            if row[0] == "Normal" || row[0] == "Warning" {
                row[2] = "<age>".into();
            }
            events.push(row);
            continue;
        }
        flush(&mut events, &mut out);
        out.push(trailing_age_as_token(line));
    }
    flush(&mut events, &mut out);
    out.join("\n") + "\n"
}

/// A `get` row's trailing age (`8s`, `2m3s`) as `<age>`.
fn trailing_age_as_token(line: &str) -> String {
    let Some((head, last)) = line.rsplit_once(' ') else {
        return line.to_string();
    };
    let is_age = !last.is_empty()
        && last.chars().next().is_some_and(|c| c.is_ascii_digit())
        && last
            .chars()
            .all(|c| c.is_ascii_digit() || "smhd".contains(c))
        && last.ends_with(|c: char| "smhd".contains(c));
    if is_age && !line.starts_with(' ') {
        format!("{head} <age>")
    } else {
        line.to_string()
    }
}

/// The chapter's Deployment session: create, wait for the rollout, the
/// ReplicaSet it made and the event that says so; then a new image rolled
/// out, its history, and an undo back to the first template.
#[tokio::test]
async fn a_deployment_rolls_out() {
    let c = Cluster::start().await;
    let _node = ready_every_pod(&c);
    let mut k = Kubectl::new(&c);
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox:1.36",
        "--replicas=3",
    ])
    .await;
    until_rolled_out(&c, "web", 3).await;
    k.ok(&["rollout", "status", "deployment/web"]).await;
    k.ok(&["get", "rs"]).await;
    insta::assert_snapshot!("deployment_created", without_ages(&k.take()));

    let described = k.ok(&["describe", "deployment", "web"]).await;
    k.take(); // the chapter shows only the events of it
    let events = described
        .split_once("Events:")
        .map(|(_, events)| format!("Events:{events}"))
        .expect("describe lists the events");
    insta::assert_snapshot!("deployment_events", without_ages(&events));

    k.ok(&["set", "image", "deployment/web", "busybox=busybox:1.37"])
        .await;
    k.ok(&[
        "annotate",
        "deployment/web",
        "kubernetes.io/change-cause=new image",
    ])
    .await;
    until_rolled_out(&c, "web", 3).await;
    k.ok(&["rollout", "status", "deployment/web"]).await;
    k.ok(&["rollout", "history", "deployment/web"]).await;
    insta::assert_snapshot!("deployment_new_image", k.take());

    k.ok(&["rollout", "undo", "deployment/web"]).await;
    until_rolled_out(&c, "web", 3).await;
    k.ok(&["rollout", "history", "deployment/web"]).await;
    insta::assert_snapshot!("deployment_undo", k.take());
}

//! Lab 03's walkthrough: chapter 03's API server on a real etcd, driven with
//! `curl` and looked at with `etcdctl`, as a reader does by hand.
//!
//! The snapshots are the chapter's expected output. uids, timestamps and
//! resourceVersions differ on every run and are redacted; everything else is
//! what the server answers today.

use std::process::{Command, Stdio};

use orc_testkit::{Etcd, require_command};
use serde_json::Value;

/// A pod manifest, as a reader would write it.
const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: busybox
";

/// etcd and an API server on free loopback ports, for one test.
struct Cluster {
    etcd: Etcd,
    base: String,
    /// Keeps the server's runtime (and so the server) alive.
    _runtime: tokio::runtime::Runtime,
}

impl Cluster {
    fn start() -> Cluster {
        require_command("curl");
        require_command("etcdctl");
        let etcd = Etcd::start();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let config = orc_apiserver::Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let server = runtime
            .block_on(orc_apiserver::Server::bind(config))
            .unwrap();
        let base = format!("http://{}", server.local_addr().unwrap());
        runtime.spawn(server.serve());
        Cluster {
            etcd,
            base,
            _runtime: runtime,
        }
    }

    /// `curl -s ARGS... URL`, returning the body.
    fn curl(&self, args: &[&str], path: &str) -> String {
        let output = Command::new("curl")
            .arg("-s")
            .args(args)
            .arg(format!("{}{path}", self.base))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "curl {args:?} {path} failed");
        String::from_utf8(output.stdout).unwrap()
    }

    /// `etcdctl --endpoints ETCD ARGS...`, returning its output.
    fn etcdctl(&self, args: &[&str]) -> String {
        let output = Command::new("etcdctl")
            .arg(format!("--endpoints={}", self.etcd.endpoint()))
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .unwrap();
        assert!(output.status.success(), "etcdctl {args:?} failed");
        String::from_utf8(output.stdout).unwrap()
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Snapshots a JSON object with what changes on every run redacted.
fn snapshot_object(name: &str, value: &Value) {
    insta::assert_json_snapshot!(name, value, {
        ".metadata.uid" => "[UID]",
        ".metadata.creationTimestamp" => "[TIME]",
        ".metadata.resourceVersion" => "[RV]",
    });
}

#[test]
fn create_read_and_store_a_pod() {
    let cluster = Cluster::start();
    let pods = "/api/v1/namespaces/default/pods";
    let create = [
        "-X",
        "POST",
        "-H",
        "Content-Type: application/yaml",
        "--data-binary",
        POD,
    ];

    let created = json(&cluster.curl(&create, pods));
    snapshot_object("created_pod", &created);

    let again = json(&cluster.curl(&create, pods));
    insta::assert_json_snapshot!("created_twice", again);

    let keys = cluster.etcdctl(&["get", "--prefix", "--keys-only", "/registry"]);
    // The default RBAC roles and bindings (chapter 03, "Who may do what")
    // are dozens of keys of their own: left out here.
    const RBAC: [&str; 4] = [
        "/registry/clusterroles/",
        "/registry/clusterrolebindings/",
        "/registry/roles/",
        "/registry/rolebindings/",
    ];
    let keys: Vec<&str> = keys
        .lines()
        .filter(|l| !l.is_empty() && !RBAC.iter().any(|rbac| l.starts_with(rbac)))
        .collect();
    insta::assert_snapshot!("etcd_keys", keys.join("\n"));

    let stored = cluster.etcdctl(&["get", "--print-value-only", "/registry/pods/default/web"]);
    let stored = json(stored.trim());
    assert_eq!(
        stored.pointer("/metadata/resourceVersion"),
        None,
        "the resourceVersion is etcd's revision, not stored in the value"
    );
    snapshot_object("stored_in_etcd", &stored);
}

#[test]
fn watch_sees_every_change() {
    let cluster = Cluster::start();
    let pods = "/api/v1/namespaces/default/pods";
    let created = json(&cluster.curl(
        &[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/yaml",
            "--data-binary",
            POD,
        ],
        pods,
    ));
    let version = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    // The watch starts from the version we just saw: only later changes.
    let watch = Command::new("curl")
        .args(["-sN", "--max-time", "10"])
        .arg(format!(
            "{}{pods}?watch=true&resourceVersion={version}&timeoutSeconds=3",
            cluster.base
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let patch = r#"{"metadata":{"labels":{"tier":"frontend"}}}"#;
    cluster.curl(
        &[
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/merge-patch+json",
            "-d",
            patch,
        ],
        &format!("{pods}/web"),
    );
    cluster.curl(&["-X", "DELETE"], &format!("{pods}/web"));

    let output = watch.wait_with_output().unwrap();
    let events: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let event = json(line);
            format!(
                "{} {} labels={}",
                event["type"].as_str().unwrap(),
                event["object"]["metadata"]["name"].as_str().unwrap(),
                event["object"]["metadata"]["labels"]
            )
        })
        .collect();
    insta::assert_snapshot!("watch_events", events.join("\n"));
}

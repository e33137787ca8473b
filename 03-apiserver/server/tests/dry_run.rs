//! `dryRun=All` (`kubectl ... --dry-run=server`): every step of a write
//! runs (admission, defaulting, validation, the checks against what is
//! stored) and nothing is written. Before it was honoured, each of these
//! commands really wrote, and `kubectl delete ns --dry-run=server` really
//! deleted a namespace.

mod common;

use std::path::PathBuf;

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl};
use serde_json::{Value, json};

const CM: &str = "/api/v1/namespaces/default/configmaps";

struct Session {
    server: TestServer,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Session {
    async fn start() -> Session {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start().await;
        let config = kubeconfig(dir.path(), &server, "unused");
        Session {
            server,
            dir,
            config,
        }
    }

    /// Runs kubectl, which must succeed; its trimmed output.
    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = kubectl(self.dir.path(), &self.config, args).await;
        assert!(ok, "kubectl {args:?}: {out}");
        out.trim().to_string()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Every key etcd holds, to show a dry run added or removed none.
    fn keys(&self) -> String {
        self.server
            .etcdctl(&["get", "/registry/", "--prefix", "--keys-only"])
    }
}

#[tokio::test]
async fn kubectl_create_and_apply_dry_run_write_nothing() {
    let s = Session::start().await;
    let before = s.keys();
    let out = s
        .ok(&[
            "create",
            "configmap",
            "x",
            "--from-literal=a=b",
            "--dry-run=server",
            "-o",
            "json",
        ])
        .await;
    let answered: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        answered["data"]["a"], "b",
        "the object that would be stored"
    );
    assert!(answered["metadata"]["uid"].is_string(), "{answered}");
    assert!(answered["metadata"]["creationTimestamp"].is_string());
    assert_eq!(s.server.get(&format!("{CM}/x")).await.0, 404);

    let manifest = s.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  colour: blue\n",
    );
    let out = s.ok(&["apply", "-f", &manifest, "--dry-run=server"]).await;
    assert_eq!(out, "configmap/web created (server dry run)");
    assert_eq!(s.server.get(&format!("{CM}/web")).await.0, 404);
    assert_eq!(s.keys(), before, "no key written");

    // A real apply, then a dry-run change of it.
    s.ok(&["apply", "-f", &manifest]).await;
    let (_, stored) = s.server.get(&format!("{CM}/web")).await;
    s.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  colour: red\n",
    );
    let out = s
        .ok(&["apply", "-f", &manifest, "--dry-run=server", "-o", "json"])
        .await;
    let answered: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answered["data"]["colour"], "red");
    let (_, after) = s.server.get(&format!("{CM}/web")).await;
    assert_eq!(after, stored, "the stored object did not change");
}

#[tokio::test]
async fn kubectl_delete_dry_run_deletes_nothing_not_even_a_namespace() {
    let s = Session::start().await;
    s.ok(&["create", "namespace", "dry"]).await;
    s.ok(&[
        "-n",
        "dry",
        "create",
        "configmap",
        "keep",
        "--from-literal=a=b",
    ])
    .await;
    let before = s.keys();
    let out = s
        .ok(&[
            "-n",
            "dry",
            "delete",
            "configmap",
            "keep",
            "--dry-run=server",
        ])
        .await;
    assert_eq!(out, "configmap \"keep\" deleted (server dry run)");
    let out = s
        .ok(&["delete", "namespace", "dry", "--dry-run=server"])
        .await;
    assert_eq!(out, "namespace \"dry\" deleted (server dry run)");
    assert_eq!(s.keys(), before, "no key removed");
    let (_, ns) = s.server.get("/api/v1/namespaces/dry").await;
    assert_eq!(ns["status"]["phase"], "Active");
    assert!(ns["metadata"].get("deletionTimestamp").is_none(), "{ns}");
    assert_eq!(
        s.server
            .get("/api/v1/namespaces/dry/configmaps/keep")
            .await
            .0,
        200
    );
}

/// PUT and PATCH answer what would be stored, at the stored version;
/// validation still refuses; a value other than `All` is refused, not
/// taken for a real write.
#[tokio::test]
async fn updates_rehearse_and_bad_values_are_refused() {
    let s = TestServer::start().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"n": "1"}});
    let (_, stored) = s.post(CM, &cm).await;
    let (code, patched) = s
        .patch(
            &format!("{CM}/c?dryRun=All"),
            "application/merge-patch+json",
            r#"{"data":{"n":"2"}}"#,
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(patched["data"]["n"], "2");
    assert_eq!(
        patched["metadata"]["resourceVersion"],
        stored["metadata"]["resourceVersion"]
    );
    let mut replaced = stored.clone();
    replaced["data"]["n"] = json!("3");
    let (code, answered) = s.put(&format!("{CM}/c?dryRun=All"), &replaced).await;
    assert_eq!((code, &answered["data"]["n"]), (200, &json!("3")));
    assert_eq!(s.get(&format!("{CM}/c")).await.1, stored);

    let invalid =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Name"}});
    assert_eq!(s.post(&format!("{CM}?dryRun=All"), &invalid).await.0, 422);
    let (code, status) = s.post(&format!("{CM}?dryRun=All"), &cm).await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    let (code, status) = s.delete(&format!("{CM}/c?dryRun=all")).await;
    assert_eq!(code, 422, "{status}");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains(r#"Unsupported value: "all""#)
    );
    assert_eq!(s.get(&format!("{CM}/c")).await.0, 200);
}

//! The verbs that change objects, through the installed kubectl: `apply`
//! (a three-way strategic merge on every run after the first), `patch` of
//! each type, `label`, `annotate`, `edit` and `delete`.
//!
//! Each step's kubectl output is snapshotted, and what it did to the stored
//! object is asserted through the API: merge keys (containers by name,
//! ports by containerPort, env by name) and removals from the file.

mod common;

use std::path::PathBuf;

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl, kubectl_with_env};
use serde_json::{Value, json};

struct Session {
    server: TestServer,
    dir: tempfile::TempDir,
    config: PathBuf,
    transcript: Vec<String>,
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
            transcript: Vec::new(),
        }
    }

    /// Runs kubectl, records `$ kubectl ...` and its output, and returns
    /// whether it succeeded with the output.
    async fn kubectl(&mut self, args: &[&str]) -> (bool, String) {
        let (ok, out) = kubectl(self.dir.path(), &self.config, args).await;
        self.record(args, &out);
        (ok, out)
    }

    /// Runs kubectl, which must succeed; its trimmed output.
    async fn ok(&mut self, args: &[&str]) -> String {
        let (ok, out) = self.kubectl(args).await;
        assert!(ok, "kubectl {args:?}: {out}");
        out.trim().to_string()
    }

    fn record(&mut self, args: &[&str], out: &str) {
        let dir = self.dir.path().to_str().unwrap();
        let line = format!("$ kubectl {}\n{}", args.join(" "), out.trim_end());
        self.transcript.push(line.replace(dir, "."));
    }

    /// Writes `text` to `name` in the test's directory; its path.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    async fn deployment(&self) -> Value {
        let (code, d) = self
            .server
            .get("/apis/apps/v1/namespaces/default/deployments/web")
            .await;
        assert_eq!(code, 200, "{d}");
        d
    }
}

/// A deployment manifest whose pod template has `containers` (YAML list items).
fn manifest(containers: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n{containers}"
    )
}

const NGINX_125: &str = "      - name: nginx\n        image: nginx:1.25\n        ports:\n        - containerPort: 80\n        - containerPort: 443\n        env:\n        - name: MODE\n          value: production\n        - name: DEBUG\n          value: \"0\"\n";
/// nginx 1.27, port 443 and env DEBUG removed from the file, env LEVEL added.
const NGINX_127: &str = "      - name: nginx\n        image: nginx:1.27\n        ports:\n        - containerPort: 80\n        env:\n        - name: MODE\n          value: production\n        - name: LEVEL\n          value: info\n";
const SIDECAR: &str = "      - name: log\n        image: busybox:1.36\n";

/// `(name, image, ports, env names)` of each container of the stored deployment.
fn containers(d: &Value) -> Vec<(String, String, Vec<i64>, Vec<String>)> {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let ports = c["ports"].as_array().into_iter().flatten();
            let env = c["env"].as_array().into_iter().flatten();
            (
                c["name"].as_str().unwrap().to_string(),
                c["image"].as_str().unwrap().to_string(),
                ports
                    .map(|p| p["containerPort"].as_i64().unwrap())
                    .collect(),
                env.map(|e| e["name"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

fn owned(
    name: &str,
    image: &str,
    ports: &[i64],
    env: &[&str],
) -> (String, String, Vec<i64>, Vec<String>) {
    (
        name.into(),
        image.into(),
        ports.to_vec(),
        env.iter().map(|e| e.to_string()).collect(),
    )
}

#[tokio::test]
async fn apply_merges_lists_by_key_and_removes_what_the_file_dropped() {
    let mut s = Session::start().await;
    let path = s.file("web.yaml", &manifest(NGINX_125));
    assert_eq!(
        s.ok(&["apply", "-f", &path]).await,
        "deployment.apps/web created"
    );
    assert_eq!(
        s.ok(&["apply", "-f", &path]).await,
        "deployment.apps/web unchanged"
    );
    let d = s.deployment().await;
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string(),
        "apply records what it applied: {d}"
    );

    // Someone else adds a label; apply leaves what it never owned alone.
    // -v=9 shows the patch kubectl computed from the last-applied
    // annotation, the file and the live object.
    s.ok(&["label", "deployment", "web", "team=blue"]).await;
    s.file("web.yaml", &(manifest(NGINX_127) + SIDECAR));
    let (ok, log) = kubectl(s.dir.path(), &s.config, &["apply", "-f", &path, "-v=9"]).await;
    assert!(ok, "{log}");
    assert!(log.contains("deployment.apps/web configured"), "{log}");
    s.record(&["apply", "-f", &path], "deployment.apps/web configured");
    insta::assert_snapshot!("apply_patch_sent", patch_sent(&log));
    let d = s.deployment().await;
    assert_eq!(
        containers(&d),
        [
            owned("nginx", "nginx:1.27", &[80], &["MODE", "LEVEL"]),
            owned("log", "busybox:1.36", &[], &[]),
        ]
    );
    assert_eq!(
        d["metadata"]["labels"]["team"], "blue",
        "not in the file, not applied: kept"
    );

    // The sidecar leaves the file: the three-way merge deletes it.
    s.file("web.yaml", &manifest(NGINX_127));
    assert_eq!(
        s.ok(&["apply", "-f", &path]).await,
        "deployment.apps/web configured"
    );
    assert_eq!(
        containers(&s.deployment().await),
        [owned("nginx", "nginx:1.27", &[80], &["MODE", "LEVEL"])]
    );
    s.ok(&["diff", "-f", &path]).await;
    insta::assert_snapshot!("apply", s.transcript.join("\n\n"));
}

#[tokio::test]
async fn patch_types_labels_annotations_and_edit() {
    let mut s = Session::start().await;
    let path = s.file("web.yaml", &(manifest(NGINX_125) + SIDECAR));
    s.ok(&["apply", "-f", &path]).await;

    // Strategic: the list merges by name, and a directive deletes.
    let strategic = r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.26"},{"name":"log","$patch":"delete"}]}}}}"#;
    assert_eq!(
        s.ok(&[
            "patch",
            "deployment",
            "web",
            "--type",
            "strategic",
            "-p",
            strategic
        ])
        .await,
        "deployment.apps/web patched"
    );
    assert_eq!(
        containers(&s.deployment().await),
        [owned("nginx", "nginx:1.26", &[80, 443], &["MODE", "DEBUG"])]
    );
    // Merge (RFC 7396): a list is replaced whole.
    let merge =
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}"#;
    s.ok(&["patch", "deployment", "web", "--type", "merge", "-p", merge])
        .await;
    assert_eq!(
        containers(&s.deployment().await),
        [owned("nginx", "nginx:1.27", &[], &[])]
    );
    // JSON (RFC 6902): operations on paths; a failed test stops the patch.
    let json_patch = r#"[{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/spec/template/spec/containers/0/ports","value":[{"containerPort":8080}]}]"#;
    s.ok(&[
        "patch",
        "deployment",
        "web",
        "--type",
        "json",
        "-p",
        json_patch,
    ])
    .await;
    let d = s.deployment().await;
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(containers(&d), [owned("nginx", "nginx:1.27", &[8080], &[])]);
    let failing = r#"[{"op":"test","path":"/spec/replicas","value":1}]"#;
    let (ok, _) = s
        .kubectl(&[
            "patch",
            "deployment",
            "web",
            "--type",
            "json",
            "-p",
            failing,
        ])
        .await;
    assert!(!ok);

    s.ok(&["label", "deployment", "web", "tier=front"]).await;
    let (ok, _) = s
        .kubectl(&["label", "deployment", "web", "tier=back"])
        .await;
    assert!(!ok, "an existing label needs --overwrite");
    s.ok(&["label", "deployment", "web", "tier=back", "--overwrite"])
        .await;
    s.ok(&["annotate", "deployment", "web", "owner=platform"])
        .await;
    s.ok(&["label", "deployment", "web", "app-"]).await;
    s.ok(&["annotate", "deployment", "web", "owner-"]).await;
    let d = s.deployment().await;
    assert_eq!(d["metadata"]["labels"], json!({"tier": "back"}));
    assert!(d["metadata"]["annotations"].get("owner").is_none(), "{d}");

    // edit: kubectl opens the object in $KUBE_EDITOR and sends what changed.
    let out = edit(&s, "s/replicas: 4/replicas: 5/").await;
    assert_eq!(out.trim(), "deployment.apps/web edited");
    s.record(&["edit", "deployment", "web"], &out);
    assert_eq!(s.deployment().await["spec"]["replicas"], 5);
    let out = edit(&s, "").await;
    assert_eq!(out.trim(), "Edit cancelled, no changes made.");
    s.record(&["edit", "deployment", "web"], &out);
    insta::assert_snapshot!("patch_label_edit", s.transcript.join("\n\n"));
}

/// The PATCH request in kubectl's `-v=9` log: method, path and query,
/// content type, and the body, pretty-printed.
fn patch_sent(log: &str) -> String {
    let url = regex::Regex::new(r"PATCH http://[^/]+(\S+) 200").unwrap();
    let url = &url.captures(log).expect("a PATCH in the log")[1];
    // The body is logged as a Go-quoted string just before the request.
    let body = log
        .lines()
        .rfind(|l| l.contains(r#""Request Body" body="{"#))
        .expect("the PATCH body in the log");
    let quoted = &body[body.find("body=").unwrap() + 5..];
    let text: String = serde_json::from_str(quoted).expect("a quoted string");
    let body: Value = serde_json::from_str(&text).unwrap();
    format!(
        "PATCH {url}\nContent-Type: application/strategic-merge-patch+json\n\n{}",
        serde_json::to_string_pretty(&body).unwrap()
    )
}

/// `kubectl edit deployment web` with an editor that runs `sed -i script`.
async fn edit(s: &Session, script: &str) -> String {
    let editor = s.dir.path().join("editor.sh");
    std::fs::write(&editor, format!("#!/bin/sh\nsed -i '{script}' \"$1\"\n")).unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (ok, text) = kubectl_with_env(
        s.dir.path(),
        &s.config,
        &["edit", "deployment", "web"],
        &[("KUBE_EDITOR", &editor)],
    )
    .await;
    assert!(ok, "{text}");
    text
}

#[tokio::test]
async fn delete_waits_and_selects() {
    let mut s = Session::start().await;
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": app}}});
        assert_eq!(
            s.server
                .post("/api/v1/namespaces/default/configmaps", &cm)
                .await
                .0,
            201
        );
    }
    assert_eq!(
        s.ok(&["delete", "configmap", "c"]).await,
        "configmap \"c\" deleted"
    );
    assert_eq!(
        s.server
            .get("/api/v1/namespaces/default/configmaps/c")
            .await
            .0,
        404,
        "gone when delete returns"
    );
    s.ok(&["delete", "configmaps", "-l", "app=x"]).await;
    let (_, list) = s.server.get("/api/v1/namespaces/default/configmaps").await;
    let left: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert!(!left.contains(&"a") && !left.contains(&"b"), "{left:?}");
    let (ok, _) = s.kubectl(&["delete", "configmap", "c"]).await;
    assert!(!ok);
    s.ok(&["delete", "configmap", "c", "--ignore-not-found"])
        .await;
    insta::assert_snapshot!("delete", s.transcript.join("\n\n"));
}

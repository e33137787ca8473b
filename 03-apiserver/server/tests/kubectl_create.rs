//! kubectl's typed commands against orc: `kubectl create configmap`,
//! `create deployment`, `create service ...` send protobuf bodies.
//!
//! The strongest check of the decoder is a twin: each object is created
//! twice, once by the typed command (protobuf on the wire) and once from
//! the same command's `--dry-run=client -o json` through `create -f`
//! (JSON on the wire), and the two stored objects must be equal but for
//! their names, uids, resourceVersions and creation times.

#[macro_use]
mod common;

use std::path::Path;

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl, self_signed_cert};
use serde_json::{Value, json};

/// One typed command: `kubectl create <words> NAME <flags> [-- command]`.
struct Case {
    /// The words before the name: `["secret", "generic"]`.
    words: &'static [&'static str],
    /// The flags after the name.
    flags: Vec<String>,
    /// After `--`: the container command (job), if any.
    command: &'static [&'static str],
    /// The object's URL without the name.
    collection: &'static str,
    /// What kubectl prints on success, before the name: `configmap/`.
    printed: &'static str,
}

impl Case {
    fn new(
        words: &'static [&'static str],
        flags: &[&str],
        collection: &'static str,
        printed: &'static str,
    ) -> Case {
        Case {
            words,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            command: &[],
            collection,
            printed,
        }
    }

    /// The arguments of `kubectl create ... name`, with `extra` flags.
    fn args(&self, name: &str, extra: &[&str]) -> Vec<String> {
        let mut args = vec!["create".to_string()];
        args.extend(self.words.iter().map(|w| w.to_string()));
        args.push(name.to_string());
        args.extend(self.flags.iter().cloned());
        args.extend(extra.iter().map(|e| e.to_string()));
        if !self.command.is_empty() {
            args.push("--".into());
            args.extend(self.command.iter().map(|c| c.to_string()));
        }
        args
    }
}

async fn run(dir: &Path, config: &Path, args: &[String]) -> (bool, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kubectl(dir, config, &args).await
}

/// The parts of a stored object that differ between twins by design.
fn comparable(mut object: Value, name: &str) -> Value {
    let meta = object["metadata"].as_object_mut().unwrap();
    let uid = meta.get("uid").and_then(Value::as_str).map(str::to_string);
    for key in ["uid", "resourceVersion", "creationTimestamp", "name"] {
        meta.remove(key);
    }
    // A Job's generated selector and labels carry its uid.
    if let Some(uid) = uid {
        let text = object.to_string().replace(&uid, "UID");
        object = serde_json::from_str(&text).unwrap();
    }
    // A Service's cluster IP and node ports are drawn at random, like uids.
    if object["kind"] == "Service" {
        let spec = object["spec"].as_object_mut().unwrap();
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        for port in spec["ports"].as_array_mut().into_iter().flatten() {
            port.as_object_mut().unwrap().remove("nodePort");
        }
    }
    // kubectl derives labels, selectors and container names from the name.
    let text = object.to_string().replace(name, "NAME");
    serde_json::from_str(&text).unwrap()
}

/// Every typed `create` kubectl v1.32 has for a kind orc serves.
fn cases(cert: &Path, key: &Path) -> Vec<Case> {
    let tls = [
        format!("--cert={}", cert.display()),
        format!("--key={}", key.display()),
    ];
    let mut job = Case::new(
        &["job"],
        &["--image=busybox"],
        "/apis/batch/v1/namespaces/default/jobs",
        "job.batch/",
    );
    job.command = &["sh", "-c", "echo done"];
    let mut tls_case = Case::new(
        &["secret", "tls"],
        &[],
        "/api/v1/namespaces/default/secrets",
        "secret/",
    );
    tls_case.flags = tls.to_vec();
    vec![
        Case::new(
            &["configmap"],
            &["--from-literal=a=b", "--from-literal=mode=prod"],
            "/api/v1/namespaces/default/configmaps",
            "configmap/",
        ),
        Case::new(
            &["secret", "generic"],
            &["--from-literal=user=admin", "--type=orc.dev/test"],
            "/api/v1/namespaces/default/secrets",
            "secret/",
        ),
        tls_case,
        Case::new(
            &["secret", "docker-registry"],
            &[
                "--docker-server=registry.example",
                "--docker-username=u",
                "--docker-password=p",
                "--docker-email=u@example.com",
            ],
            "/api/v1/namespaces/default/secrets",
            "secret/",
        ),
        Case::new(&["namespace"], &[], "/api/v1/namespaces", "namespace/"),
        Case::new(
            &["service", "clusterip"],
            &["--tcp=80:8080", "--tcp=443:https"],
            "/api/v1/namespaces/default/services",
            "service/",
        ),
        Case::new(
            &["service", "nodeport"],
            &["--tcp=80:8080", "--node-port=30080"],
            "/api/v1/namespaces/default/services",
            "service/",
        ),
        Case::new(
            &["service", "loadbalancer"],
            &["--tcp=5678:8080"],
            "/api/v1/namespaces/default/services",
            "service/",
        ),
        Case::new(
            &["service", "externalname"],
            &["--external-name=db.example.com", "--tcp=5432"],
            "/api/v1/namespaces/default/services",
            "service/",
        ),
        Case::new(
            &["deployment"],
            &[
                "--image=nginx:1.27",
                "--image=redis",
                "--port=80",
                "--replicas=3",
            ],
            "/apis/apps/v1/namespaces/default/deployments",
            "deployment.apps/",
        ),
        Case::new(
            &["deployment"],
            &["--image=nginx", "--replicas=0"],
            "/apis/apps/v1/namespaces/default/deployments",
            "deployment.apps/",
        ),
        job,
        Case::new(
            &["ingress"],
            &[
                "--class=orc",
                "--rule=shop.example/api*=api:8080,tls=shop-cert",
                "--rule=/static=files:http",
                "--default-backend=fallback:80",
                "--annotation=orc.dev/note=x",
            ],
            "/apis/networking.k8s.io/v1/namespaces/default/ingresses",
            "ingress.networking.k8s.io/",
        ),
    ]
}

#[tokio::test]
async fn typed_creates_store_what_their_json_twins_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let config = kubeconfig(dir.path(), &s, "unused");
    let (cert, key) = self_signed_cert(dir.path());
    for (i, case) in cases(&cert, &key).iter().enumerate() {
        let name = format!("typed-{i}");
        let twin = format!("twin-{i}");
        let (ok, out) = run(dir.path(), &config, &case.args(&name, &[])).await;
        assert!(ok, "{:?}: {out}", case.args(&name, &[]));
        assert_eq!(out.trim(), format!("{}{name} created", case.printed));
        let (code, typed) = s.get(&format!("{}/{name}", case.collection)).await;
        assert_eq!(code, 200, "{typed}");
        // Gone before its twin comes: a node port one holds, the other
        // may not take (Kubernetes refuses it as already allocated).
        let (code, gone) = s.delete(&format!("{}/{name}", case.collection)).await;
        assert_eq!(code, 200, "{gone}");

        let (ok, json) = run(
            dir.path(),
            &config,
            &case.args(&twin, &["--dry-run=client", "-o", "json"]),
        )
        .await;
        assert!(ok, "{json}");
        let file = dir.path().join(format!("{twin}.json"));
        std::fs::write(&file, json).unwrap();
        let (ok, out) = kubectl(
            dir.path(),
            &config,
            &["create", "-f", file.to_str().unwrap()],
        )
        .await;
        assert!(ok, "{out}");

        let (code, from_json) = s.get(&format!("{}/{twin}", case.collection)).await;
        assert_eq!(code, 200, "{from_json}");
        assert_eq!(
            comparable(typed, &name),
            comparable(from_json, &twin),
            "kubectl create {}",
            case.words.join(" ")
        );
    }
}

/// What a few typed commands store, as a reader of the chapter sees it.
#[tokio::test]
async fn typed_creates_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let config = kubeconfig(dir.path(), &s, "unused");
    let commands: &[(&[&str], &str, &str)] = &[
        (
            &[
                "deployment",
                "web",
                "--image=nginx:1.27",
                "--port=80",
                "--replicas=2",
            ],
            "/apis/apps/v1/namespaces/default/deployments/web",
            "deployment",
        ),
        (
            &[
                "service",
                "nodeport",
                "web",
                "--tcp=80:8080",
                "--node-port=30080",
            ],
            "/api/v1/namespaces/default/services/web",
            "service_nodeport",
        ),
        (
            &["secret", "generic", "creds", "--from-literal=user=admin"],
            "/api/v1/namespaces/default/secrets/creds",
            "secret",
        ),
        (
            &["ingress", "shop", "--rule=shop.example/api*=api:8080"],
            "/apis/networking.k8s.io/v1/namespaces/default/ingresses/shop",
            "ingress",
        ),
    ];
    for (args, path, snapshot) in commands {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        let (ok, out) = kubectl(dir.path(), &config, &all).await;
        assert!(ok, "{out}");
        let (code, stored) = s.get(path).await;
        assert_eq!(code, 200, "{stored}");
        snapshot!(*snapshot, stored);
    }
}

/// The verbs around `create`: `run` and `expose` send JSON; `scale`,
/// `label`, `annotate`, `set image`, `rollout restart`, `cordon` and
/// `drain` send patches. They work whatever the protobuf decoder does;
/// here they act on objects the typed commands made.
#[tokio::test]
async fn other_verbs_act_on_typed_objects() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start().await;
    let config = kubeconfig(dir.path(), &s, "unused");
    let node = dir.path().join("node.json");
    std::fs::write(
        &node,
        r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}"#,
    )
    .unwrap();
    let node = node.to_str().unwrap();
    let steps: &[(&[&str], &str)] = &[
        (
            &["create", "deployment", "web", "--image=nginx", "--port=80"],
            "deployment.apps/web created",
        ),
        (
            &["scale", "deployment", "web", "--replicas=4"],
            "deployment.apps/web scaled",
        ),
        (
            &[
                "expose",
                "deployment",
                "web",
                "--port=8080",
                "--target-port=80",
            ],
            "service/web exposed",
        ),
        (
            &["label", "deployment", "web", "tier=front"],
            "deployment.apps/web labeled",
        ),
        (
            &["annotate", "deployment", "web", "owner=shop"],
            "deployment.apps/web annotated",
        ),
        (
            &["set", "image", "deployment/web", "nginx=nginx:1.27"],
            "deployment.apps/web image updated",
        ),
        (
            &["rollout", "restart", "deployment/web"],
            "deployment.apps/web restarted",
        ),
        (
            &["run", "probe", "--image=busybox", "--labels=app=probe"],
            "pod/probe created",
        ),
        (
            &["expose", "pod", "probe", "--port=9000", "--name=probe-svc"],
            "service/probe-svc exposed",
        ),
        (&["create", "-f", node], "node/n1 created"),
        (&["cordon", "n1"], "node/n1 cordoned"),
        (
            &["drain", "n1", "--ignore-daemonsets"],
            "node/n1 already cordoned\nnode/n1 drained",
        ),
        (&["uncordon", "n1"], "node/n1 uncordoned"),
    ];
    for (args, printed) in steps {
        let (ok, out) = kubectl(dir.path(), &config, args).await;
        assert!(ok, "{args:?}: {out}");
        assert_eq!(out.trim(), *printed);
    }
    let (_, deployment) = s
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await;
    assert_eq!(deployment["spec"]["replicas"], 4);
    assert_eq!(deployment["metadata"]["labels"]["tier"], "front");
    assert_eq!(deployment["metadata"]["annotations"]["owner"], "shop");
    let template = &deployment["spec"]["template"];
    assert_eq!(template["spec"]["containers"][0]["image"], "nginx:1.27");
    assert!(
        template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string(),
        "{template}"
    );
    let (_, service) = s.get("/api/v1/namespaces/default/services/web").await;
    assert_eq!(service["spec"]["selector"], json!({"app": "web"}));
    assert_eq!(
        service["spec"]["ports"],
        json!([{"port": 8080, "protocol": "TCP", "targetPort": 80}])
    );
    let (_, service) = s.get("/api/v1/namespaces/default/services/probe-svc").await;
    assert_eq!(service["spec"]["selector"], json!({"app": "probe"}));
    let (_, node) = s.get("/api/v1/nodes/n1").await;
    assert!(
        node["spec"].get("unschedulable").is_none_or(|u| u == false),
        "{node}"
    );
}

/// `k8s\0` + `runtime.Unknown{typeMeta{apiVersion, kind}, raw}`, by hand.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, number: u8, bytes: &[u8]) {
        assert!(bytes.len() < 128, "one-byte lengths only");
        out.extend_from_slice(&[number << 3 | 2, bytes.len() as u8]);
        out.extend_from_slice(bytes);
    }
    let mut type_meta = Vec::new();
    field(&mut type_meta, 1, api_version.as_bytes());
    field(&mut type_meta, 2, kind.as_bytes());
    let mut body = b"k8s\0".to_vec();
    field(&mut body, 1, &type_meta);
    field(&mut body, 2, raw);
    body
}

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

#[tokio::test]
async fn protobuf_bodies_orc_cannot_read_are_refused_clearly() {
    let s = TestServer::start().await;
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let post = |body: Vec<u8>| s.raw(reqwest::Method::POST, path, PROTOBUF, body);

    let (code, status) = post(envelope("storage.k8s.io/v1", "CSIDriver", b"")).await;
    assert_eq!(code, 400, "{status}");
    assert_eq!(
        status["message"],
        "couldn't decode the protobuf request body: orc cannot decode a protobuf CSIDriver \
         of storage.k8s.io/v1: it has protobuf tables only for the kinds it serves; send the object as JSON \
         (Content-Type: application/json)"
    );

    // Deployment{metadata{name: "x"}, field 77: "?"}: a field orc cannot name.
    let raw = [0x0a, 0x03, 0x0a, 0x01, b'x', 0xea, 0x04, 0x01, b'?'];
    let (code, status) = post(envelope("apps/v1", "Deployment", &raw)).await;
    assert_eq!(code, 400, "{status}");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            "Deployment: field number 77 (length-delimited) is not a field of Deployment that orc \
             knows; orc cannot keep a field it has no name for, so send this object as JSON at byte 34 \
             (at the top of the object)"
        ),
        "{message}"
    );

    // Cut inside the object: the envelope's length runs past the end.
    let mut cut = envelope("apps/v1", "Deployment", &raw);
    cut.truncate(cut.len() - 3);
    let (code, status) = post(cut).await;
    assert_eq!(code, 400, "{status}");
    assert!(
        status["message"].as_str().unwrap().ends_with(
            "a length of 9 bytes, but only 6 are left at byte 28 \
                 (in the envelope (runtime.Unknown))"
        ),
        "{status}"
    );

    let (code, status) = post(b"{\"kind\": \"Deployment\"}".to_vec()).await;
    assert_eq!(code, 400, "{status}");
    assert!(
        status["message"].as_str().unwrap().contains("magic bytes"),
        "{status}"
    );

    // Nothing of the above reached etcd.
    let (_, list) = s.get(path).await;
    assert_eq!(list["items"], json!([]));
}

/// A client-go program configured for protobuf sends `DeleteOptions` as
/// protobuf too; a stale precondition inside it must still be honoured.
#[tokio::test]
async fn protobuf_delete_options_are_read() {
    let s = TestServer::start().await;
    let (code, _) = s
        .post(
            "/api/v1/namespaces/default/configmaps",
            &json!({"metadata": {"name": "x"}, "data": {"a": "b"}}),
        )
        .await;
    assert_eq!(code, 201);
    let path = "/api/v1/namespaces/default/configmaps/x";
    // DeleteOptions{preconditions{resourceVersion: "1"}}: stale.
    let stale = [0x12, 0x03, 0x12, 0x01, b'1'];
    let body = envelope("meta.k8s.io/v1", "DeleteOptions", &stale);
    let (code, status) = s.raw(reqwest::Method::DELETE, path, PROTOBUF, body).await;
    assert_eq!(code, 409, "{status}");
    // DeleteOptions{propagationPolicy: "Background"}: deletes.
    let background = [
        0x22, 0x0a, b'B', b'a', b'c', b'k', b'g', b'r', b'o', b'u', b'n', b'd',
    ];
    let body = envelope("meta.k8s.io/v1", "DeleteOptions", &background);
    let (code, status) = s.raw(reqwest::Method::DELETE, path, PROTOBUF, body).await;
    assert_eq!(code, 200, "{status}");
    let (code, _) = s.get(path).await;
    assert_eq!(code, 404);
}

/// What a client-go scheduler and autoscaler send with protobuf clients:
/// a `Binding` to `pods/<name>/binding`, a `Scale` to `.../scale`.
#[tokio::test]
async fn protobuf_subresource_bodies_are_read() {
    let s = TestServer::start().await;
    let (code, _) = s
        .post("/api/v1/namespaces/default/pods", &common::pod("web"))
        .await;
    assert_eq!(code, 201);
    // Binding{metadata{name: "web"}, target{kind: "Node", name: "node-1"}}.
    let binding = [
        0x0a, 0x05, 0x0a, 0x03, b'w', b'e', b'b', // metadata
        0x12, 0x0e, 0x0a, 0x04, b'N', b'o', b'd', b'e', // target.kind
        0x1a, 0x06, b'n', b'o', b'd', b'e', b'-', b'1', // target.name
    ];
    let body = envelope("v1", "Binding", &binding);
    let path = "/api/v1/namespaces/default/pods/web/binding";
    let (code, status) = s.raw(reqwest::Method::POST, path, PROTOBUF, body).await;
    assert_eq!(code, 201, "{status}");
    let (_, pod) = s.get("/api/v1/namespaces/default/pods/web").await;
    assert_eq!(pod["spec"]["nodeName"], "node-1");

    let deployment = json!({"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}}});
    let (code, _) = s
        .post("/apis/apps/v1/namespaces/default/deployments", &deployment)
        .await;
    assert_eq!(code, 201);
    // Scale{metadata{name: "web"}, spec{replicas: 5}}.
    let scale = [
        0x0a, 0x05, 0x0a, 0x03, b'w', b'e', b'b', 0x12, 0x02, 0x08, 0x05,
    ];
    let body = envelope("autoscaling/v1", "Scale", &scale);
    let path = "/apis/apps/v1/namespaces/default/deployments/web/scale";
    let (code, reply) = s.raw(reqwest::Method::PUT, path, PROTOBUF, body).await;
    assert_eq!(code, 200, "{reply}");
    assert_eq!(reply["spec"]["replicas"], 5);
    // Scale{..., spec{replicas: 0}}: a zero the JSON form leaves out, so
    // the decoded spec is empty, and an empty spec asks for zero.
    let zero = [
        0x0a, 0x05, 0x0a, 0x03, b'w', b'e', b'b', 0x12, 0x02, 0x08, 0x00,
    ];
    let body = envelope("autoscaling/v1", "Scale", &zero);
    let (code, reply) = s.raw(reqwest::Method::PUT, path, PROTOBUF, body).await;
    assert_eq!(code, 200, "{reply}");
    assert_eq!(reply["spec"]["replicas"], 0);
}

//! Who may use a node agent's port, end to end: a real API server under
//! `Node,RBAC`, the real `orc agent` logged in as its node, and requests
//! straight to the agent's port with ServiceAccount tokens.
//!
//! The agent asks the API server, as the kubelet with
//! `--authentication-token-webhook` and `--authorization-mode=Webhook`
//! does: a TokenReview for the bearer token, then a SubjectAccessReview
//! for `nodes/<node>/<subresource>`. So a token bound to `nodes/proxy`
//! reads container logs on the node directly, a token without the binding
//! is refused with the kubelet's text, and the API server's own hop
//! (`kubectl logs`, `kubectl exec`) passes through the bootstrap policy's
//! `kubeadm:kubelet-api-admin` binding. Root only; everything is removed.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_node::Node;
use cluster::{AgentProcess, ApiServer, agent_node_ready, running, tear_down};
use orc_apiserver::authz::Modes;
use orc_apiserver::pki::{PkiDir, Subject, Usage};
use orc_client::Client;
use orc_client::tls::ClientTls;
use orc_testkit::require_command;
use serde_json::{Value, json};

const NODE: &str = "node-port-auth";
const LONG: Duration = Duration::from_secs(60);

/// The admin (`system:masters`) and the node's credential.
fn tokens() -> String {
    format!(
        "admin-token,admin,1,\"system:masters\"\n\
         node-token,system:node:{NODE},2,\"system:nodes\"\n"
    )
}

/// A kubeconfig for `api` (HTTPS, its certificate from `ca`) with
/// `token`, at `path`: kubectl sends a token over HTTPS only.
fn token_kubeconfig(path: &Path, api: &ApiServer, ca: &Path, token: &str) -> PathBuf {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: {}\n    \
             certificate-authority: {}\nusers:\n- name: u\n  user: {{token: {token}}}\n\
             contexts:\n- name: orc\n  context: {{cluster: orc, user: u}}\ncurrent-context: orc\n",
            api.url,
            ca.display()
        ),
    )
    .unwrap();
    path.to_path_buf()
}

/// An API server under `Node,RBAC` with the [`tokens`], serving HTTPS
/// with a certificate of a CA of its own (the second value, its PEM
/// file), its client the admin; `tweak` for the rest.
async fn secured_api_server(
    keys: &Path,
    tweak: impl FnOnce(&mut orc_apiserver::Config),
) -> (ApiServer, PathBuf) {
    let tokens_file = keys.join("tokens.csv");
    std::fs::write(&tokens_file, tokens()).unwrap();
    let pki = PkiDir::open(&keys.join("pki")).unwrap();
    let serving = pki
        .ca()
        .unwrap()
        .issue(
            &Subject::new("kube-apiserver"),
            &Usage::Server {
                names: vec!["127.0.0.1".into()],
            },
        )
        .unwrap();
    let tls = pki.write("apiserver", &serving).unwrap();
    let mut api = ApiServer::start_with(|c| {
        c.token_file = Some(tokens_file);
        c.tls = Some(tls);
        c.authorization = Modes::node_and_rbac();
        tweak(c);
    })
    .await;
    let ca = pki.path("ca.crt");
    api.url = api.url.replacen("http://", "https://", 1);
    let trust = ClientTls::new(&std::fs::read(&ca).unwrap(), None).unwrap();
    api.client = Client::new(&api.url)
        .with_tls(&trust)
        .with_token("admin-token");
    (api, ca)
}

/// A ServiceAccount `name` in `default` and a token for it.
async fn account_token(api: &ApiServer, name: &str) -> String {
    api.post(
        "/api/v1/namespaces/default/serviceaccounts",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
    )
    .await;
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {}});
    let path = format!("/api/v1/namespaces/default/serviceaccounts/{name}/token");
    let issued = api.post(&path, request).await;
    issued["status"]["token"].as_str().unwrap().to_string()
}

/// `GET path` on the agent's port with curl, trusting the cluster CA;
/// `token` as the bearer. The status code and the body.
async fn agent_get(ca: &Path, port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let mut command = std::process::Command::new(require_command("curl"));
    command
        .args(["--silent", "--show-error", "--cacert"])
        .arg(ca)
        .args(["--write-out", "\n%{http_code}"]);
    if let Some(token) = token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    command.arg(format!("https://127.0.0.1:{port}{path}"));
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_serves_whom_rbac_allows_through_the_api_server() {
    let node = Node::new();
    let keys = tempfile::tempdir().unwrap();
    let account_key = PkiDir::open(&keys.path().join("pki"))
        .unwrap()
        .service_account_key()
        .unwrap();
    let (api, api_ca) = secured_api_server(keys.path(), |c| {
        c.service_account_key_file = Some(account_key);
        // No token volume in the test's pod: no controller makes the
        // `default` account it would name.
        c.service_account_admission = false;
    })
    .await;

    // The node logs in as itself: its reviews are the node's.
    let dir = node.dir.path();
    let login = token_kubeconfig(&dir.join("node.kubeconfig"), &api, &api_ca, "node-token");
    let port = orc_testkit::ports::free_port();
    let extra = ["--disable=proxy", "--disable=dns"];
    let mut agent = AgentProcess::start_as(&node, NODE, &api, port, &login, &extra);
    api.wait_for(&format!("/api/v1/nodes/{NODE}"), LONG, agent_node_ready)
        .await;

    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox",
                "command": ["sh", "-c", "echo hello from web; sleep 3600"]}],
        },
    });
    api.post("/api/v1/namespaces/default/pods", pod).await;
    api.wait_for("/api/v1/namespaces/default/pods/web", LONG, running)
        .await;

    // `reader` may get nodes/proxy, the subresource of container logs;
    // `stranger` is bound to nothing.
    let reader = account_token(&api, "reader").await;
    let stranger = account_token(&api, "stranger").await;
    api.post(
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "node-proxy-reader"},
            "rules": [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}]}),
    )
    .await;
    api.post(
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "reader-node-proxy"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "node-proxy-reader"},
            "subjects": [{"kind": "ServiceAccount", "namespace": "default", "name": "reader"}]}),
    )
    .await;

    let ca = api.pki.path("ca.crt");
    let logs = "/containerLogs/default/web/main";
    // The log may not be written the moment the container runs.
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let (code, body) = agent_get(&ca, port, logs, Some(&reader)).await;
        assert_eq!(code, 200, "{body}");
        if body.contains("hello from web") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line: {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The same token on another subresource: its binding names only proxy.
    assert_eq!(
        agent_get(&ca, port, "/stats/summary", Some(&reader)).await,
        (
            403,
            "Forbidden (user=system:serviceaccount:default:reader, verb=get, \
             resource=nodes, subresource=stats)"
                .into()
        )
    );
    assert_eq!(
        agent_get(&ca, port, logs, Some(&stranger)).await,
        (
            403,
            "Forbidden (user=system:serviceaccount:default:stranger, verb=get, \
             resource=nodes, subresource=proxy)"
                .into()
        )
    );
    assert_eq!(
        agent_get(&ca, port, logs, None).await,
        (401, "Unauthorized".into())
    );
    assert_eq!(
        agent_get(&ca, port, logs, Some("not-a-token")).await,
        (401, "Unauthorized".into())
    );

    // The API server's own hop: its certificate, allowed by RBAC.
    let admin = token_kubeconfig(&dir.join("admin.kubeconfig"), &api, &api_ca, "admin-token");
    let logged = cluster::kubectl(&admin, &["logs", "web"]).await;
    assert_eq!(logged, "hello from web\n");
    let said = cluster::kubectl(&admin, &["exec", "web", "--", "echo", "hi"]).await;
    assert_eq!(said, "hi\n");

    tear_down(&node, &api, &mut agent, &["web"]).await;
}

/// The reviews' answers as the API server gives them to the node: the
/// node may ask (the Node authorizer grants `system:node`'s review rules).
#[tokio::test]
async fn a_node_may_ask_the_reviews_and_nothing_more_is_granted() {
    let keys = tempfile::tempdir().unwrap();
    let (api, api_ca) = secured_api_server(keys.path(), |_| {}).await;
    let trust = ClientTls::new(&std::fs::read(&api_ca).unwrap(), None).unwrap();
    let node = Client::new(&api.url)
        .with_tls(&trust)
        .with_token("node-token");
    let ask = |spec: Value| {
        let node = node.clone();
        async move {
            node.send_path(
                orc_client::Method::POST,
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                None,
                Some((
                    "application/json",
                    json!({"apiVersion": "authorization.k8s.io/v1",
                        "kind": "SubjectAccessReview", "spec": spec})
                    .to_string(),
                )),
            )
            .await
            .unwrap()
        }
    };
    let attributes = |subresource: &str| {
        json!({"verb": "create", "resource": "nodes", "subresource": subresource,
            "name": NODE, "version": "v1"})
    };
    let hop = ask(json!({"user": "kube-apiserver-kubelet-client",
        "resourceAttributes": attributes("proxy")}))
    .await;
    assert_eq!(hop["status"]["allowed"], true, "{hop}");
    // The node itself is not allowed its own port's exec.
    let itself = ask(
        json!({"user": format!("system:node:{NODE}"), "groups": ["system:nodes"],
        "resourceAttributes": attributes("proxy")}),
    )
    .await;
    assert_eq!(itself["status"]["allowed"], false, "{itself}");
    let review = node
        .send_path(
            orc_client::Method::POST,
            "/apis/authentication.k8s.io/v1/tokenreviews",
            None,
            Some((
                "application/json",
                json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                    "spec": {"token": "admin-token"}})
                .to_string(),
            )),
        )
        .await
        .unwrap();
    assert_eq!(review["status"]["user"]["username"], "admin", "{review}");
}

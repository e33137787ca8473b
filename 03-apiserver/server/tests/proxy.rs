//! `pods/{name}/proxy` and `services/{name}/proxy` end to end: the real
//! kubectl (`get --raw`, `create --raw`, `kubectl proxy`), a real API
//! server and etcd, and an HTTP server standing in for the pod.
//!
//! The API server dials pod addresses only, never loopback (Kubernetes
//! refuses those: `address not allowed`), so each test runs in a network
//! namespace of its own where the "pod" has the address [`POD_IP`] on the
//! loopback device. The test writes the pod's `status.podIP` and the
//! Service's EndpointSlice through the API as a node agent and the
//! endpoint slice controller would; everything (etcd, the API server,
//! kubectl, the pod's server) lives in that namespace and goes with it.
//! Root only.

mod common;

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use common::TestServer;
use common::kubectl::{kubeconfig, kubectl, self_signed_cert};
use hyper_util::rt::TokioIo;
use orc_apiserver::authz::{Mode, Modes};
use orc_testkit::NetnsHost;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The pod's address: global unicast, as the API server requires.
const POD_IP: &str = "10.250.17.2";

/// Runs `test` in a network namespace of its own, where [`POD_IP`] is an
/// address of the loopback device, on a runtime whose threads (and so
/// every process they start) are in that namespace.
fn in_own_network<F, Fut>(test: F)
where
    F: FnOnce(IpAddr) -> Fut + Send,
    Fut: Future<Output = ()>,
{
    let host = NetnsHost::new();
    host.run("ip", &["addr", "add", &format!("{POD_IP}/32"), "dev", "lo"]);
    host.block_on(|| test(POD_IP.parse().unwrap()));
}

/// The "pod": an HTTP server on `ip` that answers every request with what
/// it received, and on `/ws` switches protocols and echoes bytes.
async fn start_pod_server(ip: IpAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, pod_app()).await.unwrap() });
    address
}

/// [`start_pod_server`] over HTTPS, with a self-signed certificate made
/// in `dir` (for 127.0.0.1: it names no pod address, as a pod's would not).
async fn start_https_pod_server(ip: IpAddr, dir: &Path) -> SocketAddr {
    let (cert, key) = self_signed_cert(dir);
    let acceptor = orc_apiserver::tls::acceptor(&cert, &key, None).unwrap();
    let tcp = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let address = tcp.local_addr().unwrap();
    let listener = orc_apiserver::tls::TlsListener::new(tcp, acceptor).unwrap();
    tokio::spawn(async move { axum::serve(listener, pod_app()).await.unwrap() });
    address
}

fn pod_app() -> axum::Router {
    axum::Router::new()
        .route("/ws", axum::routing::get(switch))
        .fallback(echo)
}

/// What the pod saw: method, path and query, body, and some headers.
async fn echo(request: Request) -> Json<Value> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    Json(json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "body": String::from_utf8_lossy(&body),
        "authorization": header("authorization"),
        "forwardedUri": header("x-forwarded-uri"),
        "forwardedFor": header("x-forwarded-for"),
    }))
}

/// `101 Switching Protocols` to `echo`, then every byte sent back.
async fn switch(mut request: Request) -> Response {
    let upgraded = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgraded.await else { return };
        let mut io = TokioIo::new(upgraded);
        let mut buffer = [0u8; 1024];
        while let Ok(n) = io.read(&mut buffer).await {
            if n == 0 || io.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(101)
        .header("connection", "upgrade")
        .header("upgrade", "echo")
        .body(Body::empty())
        .unwrap()
}

/// Creates pod `name` declaring `port` (named `http`), then writes its IP
/// into its status as the node's agent would (none when `ip` is `None`).
async fn create_pod(server: &TestServer, name: &str, port: u16, ip: Option<IpAddr>) {
    let mut pod = common::pod(name);
    pod["spec"]["containers"][0]["ports"] = json!([{"containerPort": port, "name": "http"}]);
    let (code, body) = server.post("/api/v1/namespaces/default/pods", &pod).await;
    assert_eq!(code, 201, "{body}");
    let Some(ip) = ip else { return };
    let status = json!({"status": {"phase": "Running", "podIP": ip.to_string(),
        "podIPs": [{"ip": ip.to_string()}]}});
    let path = format!("/api/v1/namespaces/default/pods/{name}/status");
    let (code, body) = server
        .patch(&path, "application/merge-patch+json", &status.to_string())
        .await;
    assert_eq!(code, 200, "{body}");
}

/// Service `name` with port `http` (80 → `target`), and, when `endpoint`
/// is given, its EndpointSlice naming that address as ready.
async fn create_service(server: &TestServer, name: &str, target: u16, endpoint: Option<IpAddr>) {
    let service = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": target}]},
    });
    let (code, body) = server
        .post("/api/v1/namespaces/default/services", &service)
        .await;
    assert_eq!(code, 201, "{body}");
    let Some(ip) = endpoint else { return };
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{name}-1"), "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "http", "port": target, "protocol": "TCP"}],
    });
    let (code, body) = server
        .post(
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
            &slice,
        )
        .await;
    assert_eq!(code, 201, "{body}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn kubectl_reaches_a_pod_with_its_path_query_and_body() {
    in_own_network(|ip| async move {
        let server = TestServer::start().await;
        let pod = start_pod_server(ip).await;
        create_pod(&server, "web", pod.port(), Some(ip)).await;
        let dir = tempfile::tempdir().unwrap();
        let config = kubeconfig(dir.path(), &server, "unused");
        let base = format!("/api/v1/namespaces/default/pods/web:{}/proxy", pod.port());

        // GET, with a path and a query, as the pod sees them.
        let raw = format!("{base}/some/path?x=1&y=a+b");
        let (ok, out) = kubectl(dir.path(), &config, &["get", "--raw", &raw]).await;
        assert!(ok, "{out}");
        let seen: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(seen["method"], "GET");
        assert_eq!(seen["uri"], "/some/path?x=1&y=a+b");
        assert_eq!(seen["forwardedUri"], format!("{base}/some/path"));
        // kubectl's address, as the API server saw it.
        assert_eq!(seen["forwardedFor"], "127.0.0.1");

        // A POST's body arrives (kubectl create --raw sends the file).
        let file = write(dir.path(), "body.txt", "hello pod\n");
        let args = ["create", "--raw", &format!("{base}/submit"), "-f"];
        let (ok, out) = kubectl(
            dir.path(),
            &config,
            &[&args[..], &[file.to_str().unwrap()]].concat(),
        )
        .await;
        assert!(ok, "{out}");
        let seen: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (seen["method"].as_str(), seen["body"].as_str()),
            (Some("POST"), Some("hello pod\n"))
        );

        // No port: the pod's first declared one. Every method passes, and
        // the client's credentials (meant for the API server) stay behind.
        let url = server.url("/api/v1/namespaces/default/pods/web/proxy/put");
        let answer = server
            .http
            .put(&url)
            .header("authorization", "Bearer secret")
            .header("x-forwarded-for", "192.0.2.1")
            .body("new")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
        let seen: Value = answer.json().await.unwrap();
        assert_eq!(
            (seen["method"].as_str(), seen["body"].as_str()),
            (Some("PUT"), Some("new"))
        );
        assert_eq!(seen["authorization"], Value::Null);
        // A list the client sent is added to, not replaced.
        assert_eq!(seen["forwardedFor"], "192.0.2.1, 127.0.0.1");

        // `.../proxy` itself is sent on to `.../proxy/`, query kept.
        let bare = server
            .http
            .get(server.url(&format!("{base}?q=1")))
            .send()
            .await
            .unwrap();
        assert_eq!(bare.url().path(), format!("{base}/"));
        let seen: Value = bare.json().await.unwrap();
        assert_eq!(seen["uri"], "/?q=1");

        // Counted as Kubernetes counts connect requests.
        let (_, metrics) = server.get("/metrics").await;
        let metrics = metrics.as_str().unwrap_or_default().to_string();
        assert!(
            metrics.contains(
                "apiserver_request_total{verb=\"CONNECT\",resource=\"pods\",code=\"200\"}"
            ),
            "{metrics}"
        );
    });
}

#[test]
fn an_https_pod_is_reached_without_checking_its_certificate() {
    in_own_network(|ip| async move {
        let server = TestServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let pod = start_https_pod_server(ip, dir.path()).await;
        create_pod(&server, "secure", pod.port(), Some(ip)).await;
        let path = format!(
            "/api/v1/namespaces/default/pods/https:secure:{}/proxy/over/tls?x=1",
            pod.port()
        );
        let (code, seen) = server.get(&path).await;
        assert_eq!(code, 200, "{seen}");
        assert_eq!(seen["uri"], "/over/tls?x=1");
        // The same port without `https:` speaks plain HTTP to a TLS
        // server, which does not answer in HTTP: the target is unreachable.
        let plain = path.replace("https:secure", "secure");
        let (code, status) = server.get(&plain).await;
        assert_eq!(code, 503, "{status}");
        let message = status["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("error trying to reach service: "),
            "{message}"
        );
    });
}

#[test]
fn an_upgrade_is_passed_through_to_the_pod() {
    in_own_network(|ip| async move {
        let server = TestServer::start().await;
        let pod = start_pod_server(ip).await;
        create_pod(&server, "ws", pod.port(), Some(ip)).await;
        let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET /api/v1/namespaces/default/pods/ws/proxy/ws HTTP/1.1\r\nHost: {}\r\n\
             Connection: Upgrade\r\nUpgrade: echo\r\n\r\n",
            server.addr
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            assert_eq!(
                tcp.read(&mut byte).await.unwrap(),
                1,
                "the answer ended early"
            );
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(head.contains("upgrade: echo"), "{head}");
        // From here on, one pipe to the pod.
        tcp.write_all(b"ping").await.unwrap();
        let mut echoed = [0u8; 4];
        tcp.read_exact(&mut echoed).await.unwrap();
        assert_eq!(&echoed, b"ping");
    });
}

#[test]
fn pods_without_an_address_or_a_listener_fail_in_kubernetes_words() {
    in_own_network(|ip| async move {
        let server = TestServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = kubeconfig(dir.path(), &server, "unused");
        // Not started yet: no IP.
        create_pod(&server, "pending", 8080, None).await;
        let raw = "/api/v1/namespaces/default/pods/pending/proxy/";
        let (ok, out) = kubectl(dir.path(), &config, &["get", "--raw", raw]).await;
        assert!(!ok);
        assert!(
            out.contains("Error from server (BadRequest): address not allowed"),
            "{out}"
        );
        // An address where nothing listens: the dial is refused.
        let closed = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        create_pod(&server, "down", port, Some(ip)).await;
        let (code, body) = server
            .get(&format!(
                "/api/v1/namespaces/default/pods/down:{port}/proxy/"
            ))
            .await;
        assert_eq!(code, 503, "{body}");
        assert_eq!(body["reason"], "ServiceUnavailable");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!(
                "error trying to reach service: dial tcp {ip}:{port}"
            )),
            "{message}"
        );
        // A name that is not `[scheme:]name[:port]`.
        let (code, body) = server
            .get("/api/v1/namespaces/default/pods/ftp:down:21/proxy/")
            .await;
        assert_eq!(
            (code, body["message"].as_str()),
            (400, Some("invalid pod request \"ftp:down:21\""))
        );
    });
}

/// A running `kubectl proxy --port=0`, killed (by its handle) when dropped.
struct KubectlProxy {
    child: Child,
    port: u16,
}

impl KubectlProxy {
    fn start(dir: &Path, config: &Path) -> KubectlProxy {
        let mut command = orc_testkit::kubectl::command(dir, config);
        command
            .args(["proxy", "--port=0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("kubectl starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("Starting to serve on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("kubectl proxy printed {line:?}"));
        KubectlProxy { child, port }
    }
}

impl Drop for KubectlProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kubectl_proxy_reaches_a_service_endpoint() {
    in_own_network(|ip| async move {
        let server = TestServer::start().await;
        let pod = start_pod_server(ip).await;
        create_service(&server, "web", pod.port(), Some(ip)).await;
        create_service(&server, "empty", pod.port(), None).await;
        let dir = tempfile::tempdir().unwrap();
        let config = kubeconfig(dir.path(), &server, "unused");
        let proxy = KubectlProxy::start(dir.path(), &config);
        let http = orc_testkit::http_client();
        let url = |path: &str| format!("http://127.0.0.1:{}{path}", proxy.port);

        // By port name and by port number: the endpoint's target port.
        for id in ["web:http", "web:80"] {
            let path = format!("/api/v1/namespaces/default/services/{id}/proxy/hello?from=proxy");
            let answer = http.get(url(&path)).send().await.unwrap();
            assert_eq!(answer.status().as_u16(), 200, "{id}");
            let seen: Value = answer.json().await.unwrap();
            assert_eq!(seen["uri"], "/hello?from=proxy", "{id}");
        }

        // No ready endpoint: 503 in Kubernetes' words.
        let path = "/api/v1/namespaces/default/services/empty:http/proxy/";
        let answer = http.get(url(path)).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), 503);
        let status: Value = answer.json().await.unwrap();
        assert_eq!(
            status["message"],
            "no endpoints available for service \"empty\""
        );
        // A port the Service does not have.
        let path = "/api/v1/namespaces/default/services/web:81/proxy/";
        let answer = http.get(url(path)).send().await.unwrap();
        let status: Value = answer.json().await.unwrap();
        assert_eq!(
            status["message"],
            "no service port 81 found for service \"web\""
        );
    });
}

/// `admin` in `system:masters`; `alice` may read pods, not proxy to them.
const TOKENS: &str = "admin-token,admin,1,\"system:masters\"\nalice-token,alice,2\n";

const ALICE_READS_PODS: &str = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n\
metadata:\n  name: pod-reader\n  namespace: default\nrules:\n- apiGroups: [\"\"]\n  \
resources: [pods]\n  verbs: [get, list]\n---\napiVersion: rbac.authorization.k8s.io/v1\n\
kind: RoleBinding\nmetadata:\n  name: alice-reads\n  namespace: default\nroleRef:\n  \
apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: pod-reader\nsubjects:\n- kind: User\n  \
name: alice\n  apiGroup: rbac.authorization.k8s.io\n";

#[test]
fn rbac_decides_pods_proxy_like_any_subresource() {
    in_own_network(|ip| async move {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed_cert(dir.path());
        let tokens = write(dir.path(), "tokens.csv", TOKENS);
        let server = TestServer::start_with(|c| {
            c.tls = Some((cert, key));
            c.token_file = Some(tokens);
            c.authorization = Modes(vec![Mode::Rbac]);
        })
        .await;
        let config = |user: &str| {
            let token = format!("{user}-token");
            orc_testkit::kubectl::https_kubeconfig(dir.path(), server.addr, &token)
        };
        let as_user = |user: &str, args: Vec<String>| {
            let (dir, config) = (dir.path().to_path_buf(), config(user));
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                kubectl(&dir, &config, &args).await
            }
        };
        let pod = start_pod_server(ip).await;
        let manifest = write(dir.path(), "pod.yaml", &pod_manifest(pod.port()));
        let roles = write(dir.path(), "roles.yaml", ALICE_READS_PODS);
        for file in [&manifest, &roles] {
            let args = vec!["apply".into(), "-f".into(), file.display().to_string()];
            let (ok, out) = as_user("admin", args).await;
            assert!(ok, "{out}");
        }
        let status =
            json!({"status": {"podIP": ip.to_string(), "podIPs": [{"ip": ip.to_string()}]}});
        let args = [
            "patch",
            "pod",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(status.to_string());
        let (ok, out) = as_user("admin", args).await;
        assert!(ok, "{out}");

        let raw = format!("/api/v1/namespaces/default/pods/web:{}/proxy/", pod.port());
        let get_raw = vec!["get".to_string(), "--raw".into(), raw];
        // alice reads the pod, but `pods/proxy` is a resource of its own.
        let (ok, out) = as_user("alice", vec!["get".into(), "pod".into(), "web".into()]).await;
        assert!(ok, "{out}");
        let (ok, out) = as_user("alice", get_raw.clone()).await;
        assert!(!ok);
        let expected = format!(
            "Error from server (Forbidden): pods \"web:{}\" is forbidden: User \"alice\" cannot get \
             resource \"pods/proxy\" in API group \"\" in the namespace \"default\"",
            pod.port()
        );
        assert!(out.contains(&expected), "{out}");
        // The admin's request arrives, without the admin's token.
        let (ok, out) = as_user("admin", get_raw).await;
        assert!(ok, "{out}");
        let seen: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            (seen["uri"].as_str(), &seen["authorization"]),
            (Some("/"), &Value::Null)
        );
    });
}

fn pod_manifest(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: default\nspec:\n  \
         containers:\n  - name: main\n    image: busybox:1.36\n    ports:\n    - containerPort: {port}\n"
    )
}

/// busybox httpd (the host's busybox, which `scripts/setup.sh` installs),
/// standing in for a pod's web UI; killed (by its handle) when dropped.
struct Httpd(Child);

impl Httpd {
    /// Serves `root` on `ip` port 80 and waits until it accepts.
    async fn start(ip: IpAddr, root: &Path) -> Httpd {
        let child = std::process::Command::new("busybox")
            .args(["httpd", "-f", "-p", &format!("{ip}:80"), "-h"])
            .arg(root)
            .stdin(Stdio::null())
            .spawn()
            .expect("busybox httpd starts: is busybox installed (scripts/setup.sh)?");
        let httpd = Httpd(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while tokio::net::TcpStream::connect((ip, 80)).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "busybox httpd never listened"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        httpd
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The web UI's page: links of every kind (`@POD@` is the pod's address).
const UI_PAGE: &str = "<!DOCTYPE html>\n<html><head><link rel=\"stylesheet\" \
href=\"/style.css\"></head>\n<body><a href=\"/dir\">dir</a> <a href=\"page.html\">here</a> \
<a href=\"https://example.com/\">away</a>\n<img src=\"http://@POD@/logo.png\" alt=\"/alt\">\
<form action=\"/search\"></form></body></html>\n";

/// A style sheet: not HTML, so its `url(/...)` passes untouched.
const UI_STYLE: &str = "body { background: url(/bg.png); }\n";

/// What the client gets of [`UI_PAGE`] through `base`: the app's own
/// URLs under the proxy path, the relative one, the other host and the
/// `alt` text as they were.
fn ui_page_through(base: &str, pod: IpAddr) -> String {
    UI_PAGE
        .replace("@POD@", &pod.to_string())
        .replace("href=\"/style.css", &format!("href=\"{base}/style.css"))
        .replace("href=\"/dir", &format!("href=\"{base}/dir"))
        .replace(
            &format!("src=\"http://{pod}/logo.png"),
            &format!("src=\"{base}/logo.png"),
        )
        .replace("action=\"/search", &format!("action=\"{base}/search"))
}

#[test]
fn kubectl_proxy_to_a_web_ui_rewrites_its_links_and_redirects() {
    use std::io::Write;

    in_own_network(|ip| async move {
        let server = TestServer::start().await;
        let www = tempfile::tempdir().unwrap();
        let page = UI_PAGE.replace("@POD@", &ip.to_string());
        write(www.path(), "index.html", &page);
        write(www.path(), "style.css", UI_STYLE);
        std::fs::create_dir(www.path().join("dir")).unwrap();
        write(&www.path().join("dir"), "index.html", "inside dir\n");
        // busybox httpd answers a client that accepts gzip with the `.gz`
        // file beside the one asked for, `Content-Encoding: gzip`.
        write(www.path(), "zipped.html", "not this one\n");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(page.as_bytes()).unwrap();
        std::fs::write(www.path().join("zipped.html.gz"), gzip.finish().unwrap()).unwrap();
        let _httpd = Httpd::start(ip, www.path()).await;

        // Pod `web` declares port 80 as `http`; Service `web` has port
        // `http` (80 → 80) and an endpoint at the pod.
        create_pod(&server, "web", 80, Some(ip)).await;
        create_service(&server, "web", 80, Some(ip)).await;

        let dir = tempfile::tempdir().unwrap();
        let config = kubeconfig(dir.path(), &server, "unused");
        let proxy = KubectlProxy::start(dir.path(), &config);
        // A browser would follow redirects; the test looks at each.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let get = |path: String| {
            let request = http.get(format!("http://127.0.0.1:{}{path}", proxy.port));
            async move { request.send().await.unwrap() }
        };

        for base in [
            "/api/v1/namespaces/default/pods/web:http/proxy",
            "/api/v1/namespaces/default/services/web:http/proxy",
        ] {
            // The page: the app's own links go through the proxy again.
            let answer = get(format!("{base}/")).await;
            assert_eq!(answer.status().as_u16(), 200, "{base}");
            assert_eq!(answer.text().await.unwrap(), ui_page_through(base, ip));

            // busybox's redirect of a directory to its `/`: back through
            // the proxy, and that answers.
            let answer = get(format!("{base}/dir")).await;
            assert_eq!(answer.status().as_u16(), 302, "{base}");
            let location = answer.headers()["location"].to_str().unwrap();
            assert_eq!(location, format!("{base}/dir/"));
            let answer = get(location.to_string()).await;
            assert_eq!(answer.text().await.unwrap(), "inside dir\n");

            // A gzip page is decoded, rewritten and sent plain.
            let answer = http
                .get(format!("http://127.0.0.1:{}{base}/zipped.html", proxy.port))
                .header("accept-encoding", "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), 200, "{base}");
            assert_eq!(answer.headers().get("content-encoding"), None);
            assert_eq!(answer.text().await.unwrap(), ui_page_through(base, ip));

            // Not HTML: as the app sent it.
            let answer = get(format!("{base}/style.css")).await;
            assert_eq!(answer.text().await.unwrap(), UI_STYLE);
        }

        // A port name the pod does not declare.
        let answer = get("/api/v1/namespaces/default/pods/web:admin/proxy/".into()).await;
        assert_eq!(answer.status().as_u16(), 503);
        let status: Value = answer.json().await.unwrap();
        assert_eq!(
            status["message"],
            "error trying to reach service: pod \"web\" has no container port named \"admin\" \
             (its ports: \"http\")"
        );
        // A Service port name that does not exist.
        let answer = get("/api/v1/namespaces/default/services/web:admin/proxy/".into()).await;
        assert_eq!(answer.status().as_u16(), 503);
        let status: Value = answer.json().await.unwrap();
        assert_eq!(
            status["message"],
            "no endpoints available for service \"web:admin\""
        );
    });
}

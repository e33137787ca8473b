//! Who is asking: client certificates from the cluster CA, bearer tokens
//! beside them, 401 for everyone else, and connections that never finish
//! their headers closed before anyone knows who they are.
//!
//! The real kubectl and orc-client against an HTTPS API server whose
//! certificates come from `orc_apiserver::pki`, as `orc up` makes them.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use common::TestServer;
use common::kubectl::kubectl;
use orc_apiserver::pki::{CertificateAuthority, Issued, PkiDir, Subject, Usage, serving_names};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "orc-test-token";

/// A cluster's credentials in a temp dir: the CA, the server's pair, and
/// the token file.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateAuthority,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = PkiDir::open(&dir.path().join("pki")).unwrap().ca().unwrap();
        Pki { dir, ca }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// An HTTPS server asking for client certificates from this CA, and
    /// accepting `TOKEN` too.
    async fn server(&self, tweak: impl FnOnce(&mut orc_apiserver::Config)) -> TestServer {
        let names = serving_names(&[], "10.96.0.1".parse().unwrap());
        let serving = self
            .ca
            .issue(&Subject::new("kube-apiserver"), &Usage::Server { names })
            .unwrap();
        let pki = PkiDir::open(&self.path("pki")).unwrap();
        let (cert, key) = pki.write("apiserver", &serving).unwrap();
        std::fs::write(self.path("tokens.csv"), format!("{TOKEN},alice,1,dev\n")).unwrap();
        let (ca, tokens) = (pki.path("ca.crt"), self.path("tokens.csv"));
        TestServer::start_with(|c| {
            c.tls = Some((cert, key));
            c.client_ca_file = Some(ca);
            c.token_file = Some(tokens);
            tweak(c);
        })
        .await
    }

    /// A kubeconfig with the CA embedded, and `user`'s YAML.
    fn kubeconfig(&self, server: &TestServer, name: &str, user: &str) -> PathBuf {
        let path = self.path(&format!("kubeconfig-{name}"));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: https://{}\n    \
             certificate-authority-data: {}\nusers:\n- name: me\n  user: {user}\ncontexts:\n- name: orc\n  \
             context: {{cluster: orc, user: me, namespace: default}}\ncurrent-context: orc\n",
            server.addr,
            b64(self.ca.cert_pem()),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A kubeconfig presenting `issued` as the client certificate.
    fn with_cert(&self, server: &TestServer, name: &str, issued: &Issued) -> PathBuf {
        let user = format!(
            "{{client-certificate-data: {}, client-key-data: {}}}",
            b64(&issued.cert_pem),
            b64(&issued.key_pem)
        );
        self.kubeconfig(server, name, &user)
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn admin(ca: &CertificateAuthority) -> Issued {
    let subject = Subject::in_group("kubernetes-admin", "system:masters");
    ca.issue(&subject, &Usage::Client).unwrap()
}

#[tokio::test]
async fn kubectl_with_the_admin_certificate_is_kubernetes_admin() {
    let pki = Pki::new();
    let s = pki.server(|_| {}).await;
    let config = pki.with_cert(&s, "admin", &admin(&pki.ca));
    let (ok, out) = kubectl(pki.dir.path(), &config, &["get", "pods"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("No resources found"), "{out}");
    let (ok, out) = kubectl(pki.dir.path(), &config, &["auth", "whoami", "-o", "json"]).await;
    assert!(ok, "{out}");
    let review: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(review["kind"], "SelfSubjectReview");
    assert_eq!(review["status"]["userInfo"]["username"], "kubernetes-admin");
    assert_eq!(
        review["status"]["userInfo"]["groups"],
        serde_json::json!(["system:masters", "system:authenticated"])
    );
}

#[tokio::test]
async fn no_credentials_are_401_and_a_token_still_works() {
    let pki = Pki::new();
    let s = pki.server(|_| {}).await;
    // No credential at all: 401 with Kubernetes' Status. (kubectl with no
    // credential would prompt for a password, so reqwest asks.)
    let tls = orc_client::tls::ClientTls::new(pki.ca.cert_pem().as_bytes(), None).unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured((*tls.config()).clone())
        .build()
        .unwrap();
    let response = http
        .get(format!("https://{}/api/v1/pods", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let status: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status["reason"], "Unauthorized", "{status}");
    assert_eq!(status["message"], "Unauthorized", "{status}");
    // A wrong token: kubectl's own words for a 401 (on discovery, its
    // first request, client-go words the 401 itself).
    let wrong = pki.kubeconfig(&s, "wrong", "{token: wrong}");
    let (ok, out) = kubectl(pki.dir.path(), &wrong, &["get", "pods"]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("error: You must be logged in to the server (the server has asked for the client to provide credentials)"),
        "{out}"
    );
    let anonymous = pki.kubeconfig(&s, "anonymous", "{}");
    let token = pki.kubeconfig(&s, "token", &format!("{{token: {TOKEN}}}"));
    let (ok, out) = kubectl(pki.dir.path(), &token, &["auth", "whoami"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("alice"), "{out}");
    // orc-client, from the same kubeconfig, sends the token over TLS.
    let client = orc_client::kubeconfig::load(&token).unwrap().client();
    let list = client
        .send_path(orc_client::Method::GET, "/api/v1/namespaces", None, None)
        .await
        .unwrap();
    assert!(list["items"].as_array().unwrap().len() >= 4, "{list}");
    let anonymous = orc_client::kubeconfig::load(&anonymous).unwrap().client();
    let error = anonymous
        .send_path(orc_client::Method::GET, "/api/v1/namespaces", None, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(401), "{error}");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let s = pki.server(|_| {}).await;
    let stranger = CertificateAuthority::generate("someone-else").unwrap();
    let config = pki.with_cert(&s, "stranger", &admin(&stranger));
    let (ok, out) = kubectl(pki.dir.path(), &config, &["get", "pods"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("certificate"), "{out}");
    let client = orc_client::kubeconfig::load(&config).unwrap().client();
    let error = client
        .send_path(orc_client::Method::GET, "/api/v1/namespaces", None, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), None, "refused in the handshake: {error}");
    // orc-client's own certificate works where the stranger's failed.
    let config = pki.with_cert(&s, "admin", &admin(&pki.ca));
    let client = orc_client::kubeconfig::load(&config).unwrap().client();
    client
        .send_path(orc_client::Method::GET, "/api/v1/namespaces", None, None)
        .await
        .unwrap();
}

/// Sends a request's first header line and never the rest; answers once
/// the server has closed the connection (the read sees its end).
async fn slow_loris<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut stream: S) {
    stream
        .write_all(b"GET /api/v1/pods HTTP/1.1\r\nHost: orc\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    // A guard against a hang, far above the server's deadline.
    let closed = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server still holds the connection");
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_closed() {
    let short = |c: &mut orc_apiserver::Config| c.header_read_timeout = Duration::from_millis(200);
    let plain = TestServer::start_with(short).await;
    slow_loris(tokio::net::TcpStream::connect(plain.addr).await.unwrap()).await;

    let pki = Pki::new();
    let s = pki.server(short).await;
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let tls = orc_client::tls::ClientTls::new(pki.ca.cert_pem().as_bytes(), None).unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls.config());
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    slow_loris(connector.connect(name, tcp).await.unwrap()).await;
}

/// The client CA file must hold a certificate, and needs TLS.
#[tokio::test]
async fn a_client_ca_without_tls_or_certificates_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let etcd = orc_testkit::Etcd::start();
    let empty = dir.path().join("empty.crt");
    std::fs::write(&empty, "").unwrap();
    let mut config = orc_apiserver::Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
    config.client_ca_file = Some(empty.clone());
    let error = orc_apiserver::Server::bind(config.clone())
        .await
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .starts_with("--client-ca-file needs --tls-cert-file"),
        "{error}"
    );
    let pki = Pki::new();
    let serving = pki
        .ca
        .issue(
            &Subject::new("s"),
            &Usage::Server {
                names: vec!["127.0.0.1".into()],
            },
        )
        .unwrap();
    let (cert, key) = PkiDir::open(&dir.path().join("pki"))
        .unwrap()
        .write("s", &serving)
        .unwrap();
    config.tls = Some((cert, key));
    let error = orc_apiserver::Server::bind(config).await.err().unwrap();
    assert!(
        error
            .to_string()
            .contains(&format!("{}: no CA certificate", empty.display())),
        "{error}"
    );
}

//! TLS termination with certificates made by openssl: two hosts, two
//! Secrets, and the handshake's SNI name choosing between them; plain HTTP
//! to those hosts redirected to HTTPS. Everything runs in a network
//! namespace of the test's own.

use std::convert::Infallible;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use orc_ingress::proxy::{Config, Listener, Proxy};
use orc_ingress::routes::{self, Objects, class::CONTROLLER};
use orc_testkit::NetnsHost;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Runs openssl; fails the test with its stderr.
fn openssl(dir: &Path, args: &[&str]) {
    orc_testkit::require_command("openssl");
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a certificate it signed for `<name>.example.com` per name.
fn certificates(dir: &Path, names: &[&str]) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=orc test CA",
            "-days",
            "1",
        ],
    ];
    openssl(dir, &ca.concat());
    for name in names {
        let host = format!("{name}.example.com");
        let (key, csr, crt, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
            format!("{name}.ext"),
        );
        std::fs::write(dir.join(&ext), format!("subjectAltName=DNS:{host}\n")).unwrap();
        openssl(
            dir,
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    &key,
                    "-out",
                    &csr,
                    "-subj",
                    &format!("/CN={host}"),
                ],
            ]
            .concat(),
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &crt,
                "-days",
                "1",
                "-extfile",
                &ext,
            ],
        );
    }
}

fn secret(dir: &Path, name: &str) -> Value {
    let b64 = |file: String| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join(file)).unwrap())
    };
    json!({"kind": "Secret", "type": "kubernetes.io/tls", "metadata": {"namespace": "default", "name": name},
        "data": {"tls.crt": b64(format!("{name}.crt")), "tls.key": b64(format!("{name}.key"))}})
}

/// The objects of one Ingress with TLS for a.example.com and b.example.com.
fn objects(dir: &Path) -> Objects {
    let rule = |host: &str| {
        json!({"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}})
    };
    Objects {
        ingresses: vec![
            json!({"metadata": {"namespace": "default", "name": "web"}, "spec": {"ingressClassName": "orc",
            "tls": [{"hosts": ["a.example.com"], "secretName": "a"}, {"hosts": ["b.example.com"], "secretName": "b"}],
            "rules": [rule("a.example.com"), rule("b.example.com")]}}),
        ],
        classes: vec![json!({"metadata": {"name": "orc"}, "spec": {"controller": CONTROLLER}})],
        services: vec![
            json!({"metadata": {"namespace": "default", "name": "web"}, "spec": {"ports": [{"port": 80}]}}),
        ],
        slices: vec![
            json!({"metadata": {"namespace": "default", "name": "web-x", "labels": {"kubernetes.io/service-name": "web"}},
            "ports": [{"port": 8080}], "endpoints": [{"addresses": ["127.0.0.2"]}]}),
        ],
        pods: vec![],
        secrets: vec![secret(dir, "a"), secret(dir, "b")],
    }
}

/// A backend that says which scheme the proxy says the client used.
async fn backend() {
    let listener = TcpListener::bind("127.0.0.2:8080").await.unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let proto = req.headers()["x-forwarded-proto"]
                        .to_str()
                        .unwrap()
                        .to_string();
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!(
                        "proto={proto}"
                    )))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// GET / over TLS to the proxy with SNI `host`, trusting only the test
/// CA; answers the response, or the handshake's error.
async fn get_tls(dir: &Path, host: &str) -> Result<String, std::io::Error> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.crt")).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect("127.0.0.1:443").await?;
    let name = ServerName::try_from(host.to_string()).unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

#[test]
fn sni_chooses_the_certificate_and_http_is_redirected() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["a", "b"]);
    let (table, problems) = routes::build(&objects(dir.path()), CONTROLLER);
    assert_eq!(problems, []);
    assert_eq!(table.certificates.len(), 2);
    let host = NetnsHost::new();
    host.enter(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            backend().await;
            let (_tx, rx) = watch::channel(Arc::new(table));
            let proxy = Proxy::new(Config::default(), rx);
            let tls = proxy.tls_acceptor().unwrap();
            let workers = proxy.config.workers;
            let listen = |addr: &str| Listener::bind(addr.parse().unwrap(), workers);
            let (secure, plain) = (listen("127.0.0.1:443").await, listen("127.0.0.1:80").await);
            tokio::spawn(proxy.clone().serve(secure.unwrap(), Some(tls)));
            tokio::spawn(proxy.clone().serve(plain.unwrap(), None));
            // Each name gets the certificate for that name: a wrong one
            // would fail the client's host name check.
            for name in ["a.example.com", "b.example.com"] {
                let response = get_tls(dir.path(), name).await.unwrap();
                assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
                assert!(response.ends_with("proto=https"), "{response}");
            }
            // A name no Ingress has a certificate for: no handshake.
            assert!(get_tls(dir.path(), "c.example.com").await.is_err());
            // reqwest brings no crypto provider of its own here (ring is orc's).
            orc_client::tls::install_crypto_provider();
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let plain = client
                .get("http://127.0.0.1/cart?id=1")
                .header("host", "a.example.com")
                .send()
                .await
                .unwrap();
            assert_eq!(plain.status().as_u16(), 308);
            assert_eq!(
                plain.headers()["location"],
                "https://a.example.com/cart?id=1"
            );
        });
    });
}

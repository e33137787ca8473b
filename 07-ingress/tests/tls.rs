//! TLS termination with certificates made by openssl: two hosts, two
//! Secrets, and the handshake's SNI name choosing between them; plain HTTP
//! to those hosts redirected to HTTPS; and what the backend is told of
//! the client's scheme, host and port (`X-Forwarded-Proto`, `-Host`,
//! `-Port`) over HTTP/1.1 and HTTP/2, plain and TLS. Everything runs in a
//! network namespace of the test's own.

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

/// The objects of one Ingress with TLS for a.example.com and
/// b.example.com, and a rule for plain.example.com served without.
fn objects(dir: &Path) -> Objects {
    let rule = |host: &str| {
        json!({"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}})
    };
    Objects {
        ingresses: vec![
            json!({"metadata": {"namespace": "default", "name": "web"}, "spec": {"ingressClassName": "orc",
            "tls": [{"hosts": ["a.example.com"], "secretName": "a"}, {"hosts": ["b.example.com"], "secretName": "b"}],
            "rules": [rule("a.example.com"), rule("b.example.com"), rule("plain.example.com")]}}),
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

/// A backend that echoes what the proxy says of the client's scheme,
/// host and port: `proto=https host=a.example.com port=443`.
async fn backend() {
    let listener = TcpListener::bind("127.0.0.2:8080").await.unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .map_or("-".to_string(), |v| v.to_str().unwrap().to_string())
                    };
                    let echoed = format!(
                        "proto={} host={} port={}",
                        header("x-forwarded-proto"),
                        header("x-forwarded-host"),
                        header("x-forwarded-port")
                    );
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(echoed))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// A TLS client trusting only the test CA, offering `alpn`.
fn client_config(dir: &Path, alpn: &[&[u8]]) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.crt")).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// GET `uri` over HTTP/2 on `io` (hyper's h2 client: the host travels
/// as `:authority`, with no `Host` header); answers the body.
async fn get_h2<I>(io: I, uri: &str) -> String
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = Request::get(uri)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    assert_eq!(response.status(), 200, "GET {uri}");
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// GET `uri` over HTTP/2 and TLS (ALPN `h2`) to the proxy's port 443,
/// with SNI a.example.com.
async fn get_h2_tls(dir: &Path, uri: &str) -> String {
    let config = client_config(dir, &[b"h2"]);
    let tcp = TcpStream::connect("127.0.0.1:443").await.unwrap();
    let name = ServerName::try_from("a.example.com").unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    get_h2(tls, uri).await
}

/// GET / over TLS to the proxy with SNI `host`, trusting only the test
/// CA; answers the response, or the handshake's error.
async fn get_tls(dir: &Path, host: &str) -> Result<String, std::io::Error> {
    let config = client_config(dir, &[]);
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
                let echoed = format!("proto=https host={name} port=443");
                assert!(response.ends_with(&echoed), "{response}");
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

#[test]
fn forwarded_host_and_port_over_http1_and_h2_plain_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path(), &["a", "b"]);
    let (table, problems) = routes::build(&objects(dir.path()), CONTROLLER);
    assert_eq!(problems, []);
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

            // HTTP/2 over TLS: the host is the :authority, with its port
            // if it names one, else 443.
            let dir = dir.path();
            let echoed = get_h2_tls(dir, "https://a.example.com/").await;
            assert_eq!(echoed, "proto=https host=a.example.com port=443");
            let echoed = get_h2_tls(dir, "https://a.example.com:8443/").await;
            assert_eq!(echoed, "proto=https host=a.example.com:8443 port=8443");
            // HTTP/1.1 over TLS: the Host header.
            let response = get_tls(dir, "a.example.com").await.unwrap();
            assert!(
                response.ends_with("proto=https host=a.example.com port=443"),
                "{response}"
            );

            // Plain HTTP/2 (prior knowledge, as h2c clients send it).
            let tcp = TcpStream::connect("127.0.0.1:80").await.unwrap();
            let echoed = get_h2(tcp, "http://plain.example.com/").await;
            assert_eq!(echoed, "proto=http host=plain.example.com port=80");
            let tcp = TcpStream::connect("127.0.0.1:80").await.unwrap();
            let echoed = get_h2(tcp, "http://plain.example.com:8080/").await;
            assert_eq!(echoed, "proto=http host=plain.example.com:8080 port=8080");
            // Plain HTTP/1.1, a client's own X-Forwarded-* replaced.
            orc_client::tls::install_crypto_provider();
            let client = reqwest::Client::new();
            for (host, port) in [
                ("plain.example.com", "80"),
                ("plain.example.com:8080", "8080"),
            ] {
                let response = client
                    .get("http://127.0.0.1/")
                    .header("host", host)
                    .header("x-forwarded-host", "evil.example")
                    .header("x-forwarded-port", "1")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.version(), reqwest::Version::HTTP_11);
                let echoed = response.text().await.unwrap();
                assert_eq!(echoed, format!("proto=http host={host} port={port}"));
            }
        });
    });
}

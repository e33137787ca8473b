//! The proxy with real backends: hyper servers on their own addresses in
//! a network namespace of the test's own, real TCP, a real HTTP client.
//! Each test runs its whole runtime on a thread inside the namespace, so
//! every socket (the client's, the proxy's, the backends') lives there and
//! disappears with it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use orc_ingress::balance::Algorithm;
use orc_ingress::proxy::{Config, Listener, Proxy, serve_admin};
use orc_ingress::routes::{Backend, Endpoint, HostMatch, PathType, RouteTable, Rule};
use orc_testkit::NetnsHost;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Runs `test` on a runtime whose threads are all inside a fresh namespace.
fn in_netns<F: Future<Output = ()>>(test: impl FnOnce() -> F + Send) {
    let host = NetnsHost::new();
    host.enter(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(test());
    });
}

/// Holds a slow backend's requests: each says it `arrived`, then waits
/// for a `release` permit, so the test decides when it answers.
struct Gate {
    arrived: Semaphore,
    release: Semaphore,
}

/// A backend at `127.0.0.N:8080` that answers its name and the
/// `X-Forwarded-*` headers it received. Dropping it closes its listener
/// and every connection it has, as a deleted pod's would be.
struct Server {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn backend(n: u8, gate: Option<Arc<Gate>>) -> Server {
    let listener = TcpListener::bind(("127.0.0.".to_string() + &n.to_string(), 8080))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        // Owned by this task: aborting it drops the set, which aborts
        // every connection.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let gate = gate.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let gate = gate.clone();
                    async move {
                        if let Some(gate) = gate {
                            gate.arrived.add_permits(1);
                            gate.release.acquire().await.unwrap().forget();
                        }
                        let seen = |h: &str| {
                            req.headers()
                                .get(h)
                                .map_or("-", |v| v.to_str().unwrap())
                                .to_string()
                        };
                        let body = format!(
                            "{n} {} for={} proto={} host={}",
                            req.uri(),
                            seen("x-forwarded-for"),
                            seen("x-forwarded-proto"),
                            seen("x-forwarded-host")
                        );
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server { address, task }
}

fn endpoint(address: SocketAddr, weight: u32) -> Endpoint {
    Endpoint { address, weight }
}

fn table(rules: Vec<(&str, &str, Vec<Endpoint>, Algorithm)>) -> Arc<RouteTable> {
    let rules = rules
        .into_iter()
        .map(|(host, path, endpoints, algorithm)| Rule {
            ingress: "default/web".into(),
            host: HostMatch::parse(host),
            path: path.into(),
            path_type: PathType::Prefix,
            backend: Arc::new(Backend {
                service: format!("default/{}", path.trim_matches('/')),
                port: "80".into(),
                algorithm,
                endpoints,
            }),
        })
        .collect();
    Arc::new(RouteTable {
        rules,
        ..RouteTable::default()
    })
}

/// Starts a proxy on `127.0.0.1:80` and its admin port on `:10254`,
/// routing by `tables`; answers the base URL.
async fn proxy(tables: watch::Receiver<Arc<RouteTable>>, config: Config) -> (String, Arc<Proxy>) {
    let proxy = Proxy::new(config, tables);
    // One socket per worker thread, as in production.
    let listener = Listener::bind("127.0.0.1:80".parse().unwrap(), proxy.config.workers)
        .await
        .unwrap();
    tokio::spawn(proxy.clone().serve(listener, None));
    tokio::spawn(serve_admin(
        proxy.clone(),
        TcpListener::bind("127.0.0.1:10254").await.unwrap(),
    ));
    ("http://127.0.0.1".to_string(), proxy)
}

async fn get(client: &reqwest::Client, url: &str, host: &str) -> (u16, String) {
    let response = client.get(url).header("host", host).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[test]
fn routes_by_host_and_path_and_tells_the_backend_who_asked() {
    in_netns(|| async {
        let (a, b) = (backend(2, None).await, backend(3, None).await);
        let (_tx, rx) = watch::channel(table(vec![
            (
                "foo.example.com",
                "/api",
                vec![endpoint(a.address, 1)],
                Algorithm::RoundRobin,
            ),
            (
                "*.example.com",
                "/",
                vec![endpoint(b.address, 1)],
                Algorithm::RoundRobin,
            ),
            ("bar.test", "/down", vec![], Algorithm::RoundRobin),
        ]));
        let (url, _proxy) = proxy(rx, Config::default()).await;
        let client = orc_testkit::http_client();
        assert_eq!(
            get(&client, &format!("{url}/api/v1?x=1"), "foo.example.com").await,
            (
                200,
                "2 /api/v1?x=1 for=127.0.0.1 proto=http host=foo.example.com".into()
            )
        );
        assert_eq!(
            get(&client, &format!("{url}/apiv1"), "foo.example.com")
                .await
                .0,
            404
        );
        assert_eq!(
            get(&client, &format!("{url}/x"), "bar.example.com").await.0,
            200
        );
        assert_eq!(
            get(&client, &format!("{url}/down"), "bar.test").await.0,
            503
        );
        let big = client
            .post(format!("{url}/api"))
            .header("host", "foo.example.com")
            .body(vec![0u8; (1 << 20) + 1]);
        assert_eq!(big.send().await.unwrap().status().as_u16(), 413);
        let metrics = client
            .get("http://127.0.0.1:10254/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(
                "orc_ingress_requests_total{ingress=\"default/web\",service=\"default/api\",code=\"200\"} 1"
            ),
            "{metrics}"
        );
        assert!(
            metrics
                .contains("orc_ingress_requests_total{ingress=\"-\",service=\"-\",code=\"404\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains(
                "orc_ingress_requests_total{ingress=\"default/web\",service=\"default/api\",code=\"413\"} 1"
            ),
            "{metrics}"
        );
        assert!(
            metrics
                .contains("orc_ingress_upstream_duration_seconds_count{service=\"default/api\"} 1"),
            "{metrics}"
        );
        assert_eq!(
            get(&client, "http://127.0.0.1:10254/healthz", "x").await,
            (200, "ok\n".into())
        );
    });
}

#[test]
fn weighted_round_robin_shares_1_2_3_over_real_requests() {
    in_netns(|| async {
        let servers = [
            backend(2, None).await,
            backend(3, None).await,
            backend(4, None).await,
        ];
        let endpoints = servers
            .iter()
            .zip([1, 2, 3])
            .map(|(s, w)| endpoint(s.address, w))
            .collect();
        let (_tx, rx) = watch::channel(table(vec![(
            "",
            "/",
            endpoints,
            Algorithm::WeightedRoundRobin,
        )]));
        let (url, _proxy) = proxy(rx, Config::default()).await;
        let client = orc_testkit::http_client();
        let mut counts = [0; 3];
        for _ in 0..1000 {
            let (code, body) = get(&client, &format!("{url}/"), "any").await;
            assert_eq!(code, 200);
            counts[usize::from(body.as_bytes()[0] - b'2')] += 1;
        }
        // Smooth WRR is deterministic: 1000 = 166 cycles of 6, then 4 picks.
        let shares: Vec<f64> = counts.iter().map(|&c| f64::from(c) / 1000.0).collect();
        for (share, wanted) in shares.iter().zip([1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]) {
            assert!((share - wanted).abs() <= 0.02, "{counts:?}");
        }
    });
}

#[test]
fn least_connections_sends_new_requests_away_from_a_slow_backend() {
    in_netns(|| async {
        let gate = Arc::new(Gate {
            arrived: Semaphore::new(0),
            release: Semaphore::new(0),
        });
        let slow = backend(2, Some(gate.clone())).await;
        let fast = backend(3, None).await;
        let endpoints = vec![endpoint(slow.address, 1), endpoint(fast.address, 1)];
        let (_tx, rx) = watch::channel(table(vec![(
            "",
            "/",
            endpoints,
            Algorithm::LeastConnections,
        )]));
        let (url, _proxy) = proxy(rx, Config::default()).await;
        let client = orc_testkit::http_client();
        // The first request goes to the slow backend and hangs there.
        let stuck = tokio::spawn({
            let (client, url) = (client.clone(), url.clone());
            async move { get(&client, &format!("{url}/"), "any").await }
        });
        gate.arrived.acquire().await.unwrap().forget();
        // Every later one goes to the fast one while the slow one is busy.
        let mut to_fast = 0;
        for _ in 0..50 {
            if get(&client, &format!("{url}/"), "any")
                .await
                .1
                .starts_with('3')
            {
                to_fast += 1;
            }
        }
        gate.release.add_permits(1);
        assert!(stuck.await.unwrap().1.starts_with('2'));
        assert_eq!(to_fast, 50, "{to_fast} of 50 went to the idle backend");
    });
}

#[test]
fn a_refusing_endpoint_is_ejected_and_idempotent_requests_retried() {
    in_netns(|| async {
        let live = backend(2, None).await;
        // Nothing listens at .9: connections are refused.
        let dead: SocketAddr = "127.0.0.9:8080".parse().unwrap();
        let endpoints = vec![endpoint(live.address, 1), endpoint(dead, 1)];
        let (_tx, rx) = watch::channel(table(vec![("", "/", endpoints, Algorithm::RoundRobin)]));
        let (url, _proxy) = proxy(rx, Config::default()).await;
        let client = orc_testkit::http_client();
        for _ in 0..20 {
            assert_eq!(get(&client, &format!("{url}/"), "any").await.0, 200);
        }
        // POST is not retried; the dead endpoint is ejected, so it is not picked.
        for _ in 0..5 {
            let post = client.post(format!("{url}/")).send().await.unwrap();
            assert_eq!(post.status().as_u16(), 200);
        }
    });
}

#[test]
fn a_backend_slower_than_the_response_timeout_is_a_504_never_sent_twice() {
    in_netns(|| async {
        let gate = Arc::new(Gate {
            arrived: Semaphore::new(0),
            release: Semaphore::new(0),
        });
        let slow = backend(2, Some(gate.clone())).await;
        let fast = backend(3, None).await;
        let endpoints = vec![endpoint(slow.address, 1), endpoint(fast.address, 1)];
        let (_tx, rx) = watch::channel(table(vec![("", "/", endpoints, Algorithm::RoundRobin)]));
        let timeout = Duration::from_millis(300);
        let config = Config {
            response_timeout: timeout,
            ..Config::default()
        };
        let (url, proxy) = proxy(rx, config).await;
        let client = orc_testkit::http_client();
        // Round robin alternates: two go to the slow backend, two to the
        // fast one, on one client connection, so one worker's kept
        // timers serve them all, a fired one included.
        let mut statuses = Vec::new();
        for _ in 0..4 {
            let asked = Instant::now();
            let (status, body) = get(&client, &format!("{url}/"), "any").await;
            match status {
                504 => assert!(
                    asked.elapsed() >= timeout,
                    "504 after {:?}",
                    asked.elapsed()
                ),
                _ => assert!(body.starts_with('3'), "{status} {body}"),
            }
            statuses.push(status);
        }
        statuses.sort();
        assert_eq!(statuses, [200, 200, 504, 504]);
        // The slow backend may still act on a request that timed out: it
        // is never sent again, to it or to the fast one.
        assert_eq!(gate.arrived.available_permits(), 2);
        let metrics = proxy.metrics.render();
        assert!(
            metrics.contains("service=\"default/\",code=\"504\"} 2\n"),
            "{metrics}"
        );
        gate.release.add_permits(2);
    });
}

#[test]
fn a_backend_deleted_under_load_loses_no_idempotent_request() {
    in_netns(|| async {
        let (a, b) = (backend(2, None).await, backend(3, None).await);
        let both = table(vec![(
            "",
            "/",
            vec![endpoint(a.address, 1), endpoint(b.address, 1)],
            Algorithm::RoundRobin,
        )]);
        let (tx, rx) = watch::channel(both);
        let (url, _proxy) = proxy(rx, Config::default()).await;
        let running = Arc::new(AtomicBool::new(true));
        let answered = Arc::new(Semaphore::new(0));
        let mut load = Vec::new();
        for _ in 0..8 {
            let (url, running, answered) = (url.clone(), running.clone(), answered.clone());
            load.push(tokio::spawn(async move {
                let client = orc_testkit::http_client();
                let (mut ok, mut failed) = (0, 0);
                while running.load(Ordering::Relaxed) {
                    match client
                        .get(format!("{url}/"))
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                    {
                        Ok(200) => ok += 1,
                        _ => failed += 1,
                    }
                    answered.add_permits(1);
                }
                (ok, failed)
            }));
        }
        // Under load: 400 requests answered by both backends.
        answered.acquire_many(400).await.unwrap().forget();
        // The pod goes away first (its server and connections close); the
        // slice catches up only after another 400 requests.
        drop(b);
        answered.acquire_many(400).await.unwrap().forget();
        tx.send(table(vec![(
            "",
            "/",
            vec![endpoint(a.address, 1)],
            Algorithm::RoundRobin,
        )]))
        .unwrap();
        answered.acquire_many(400).await.unwrap().forget();
        running.store(false, Ordering::Relaxed);
        let mut total = (0, 0);
        for task in load {
            let (ok, failed) = task.await.unwrap();
            total = (total.0 + ok, total.1 + failed);
        }
        assert_eq!(
            total.1,
            0,
            "{} of {} requests failed",
            total.1,
            total.0 + total.1
        );
    });
}

/// A backend at `127.0.0.N:8080` that closes each connection right after
/// its one response, without `Connection: close`: what a backend whose
/// own keep-alive timeout ends between two requests does, every time.
/// The connection the proxy kept is dead when the next request takes it.
/// Answers the server and how many connections it accepted.
async fn closing_backend(n: u8) -> (Server, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind(("127.0.0.".to_string() + &n.to_string(), 8080))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // A GET's head, to its blank line (no body follows).
                let (mut head, mut buffer) = (Vec::new(), [0u8; 4096]);
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                let _ = stream.write_all(answer).await;
                // Dropped: closed.
            });
        }
    });
    (Server { address, task }, accepted)
}

#[test]
fn a_kept_connection_the_backend_closed_costs_no_request() {
    in_netns(|| async {
        let (server, accepted) = closing_backend(2).await;
        let one = vec![endpoint(server.address, 1)];
        let (_tx, rx) = watch::channel(table(vec![("", "/", one, Algorithm::RoundRobin)]));
        let config = Config {
            workers: 1,
            ..Config::default()
        };
        let (url, _proxy) = proxy(rx, config).await;
        let client = orc_testkit::http_client();
        for i in 0..50 {
            let (status, body) = get(&client, &format!("{url}/"), "any").await;
            assert_eq!((status, body.as_str()), (200, "ok"), "request {i}");
        }
        // Each answer came over a new connection: the kept ones were dead.
        assert_eq!(accepted.load(Ordering::SeqCst), 50);
    });
}

/// A WebSocket echo server at `127.0.0.N:8080` (tokio-tungstenite, a
/// real handshake): it answers each message with the same message, and
/// first a text message naming the `X-Forwarded-For` it was sent.
async fn websocket_echo(n: u8) -> Server {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{
        Request as WsRequest, Response as WsResponse,
    };
    let listener = TcpListener::bind(("127.0.0.".to_string() + &n.to_string(), 8080))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            connections.spawn(async move {
                let mut forwarded = String::new();
                // The callback's type, error included, is tungstenite's.
                #[allow(clippy::result_large_err)]
                let callback = |req: &WsRequest, res: WsResponse| {
                    forwarded = req
                        .headers()
                        .get("x-forwarded-for")
                        .map_or("-", |v| v.to_str().unwrap())
                        .to_string();
                    Ok(res)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                    return;
                };
                let hello = format!("{n} for={forwarded}");
                if ws.send(Message::Text(hello.into())).await.is_err() {
                    return;
                }
                while let Some(Ok(message)) = ws.next().await {
                    let echo = matches!(message, Message::Text(_) | Message::Binary(_));
                    if matches!(message, Message::Close(_))
                        || (echo && ws.send(message).await.is_err())
                    {
                        return;
                    }
                }
            });
        }
    });
    Server { address, task }
}

#[test]
fn a_websocket_upgrade_is_relayed_and_both_directions_flow() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    in_netns(|| async {
        let echo = websocket_echo(2).await;
        let (_tx, rx) = watch::channel(table(vec![(
            "ws.test",
            "/",
            vec![endpoint(echo.address, 1)],
            Algorithm::LeastConnections,
        )]));
        let (_url, proxy) = proxy(rx, Config::default()).await;
        let stream = tokio::net::TcpStream::connect("127.0.0.1:80")
            .await
            .unwrap();
        let (mut ws, response) = tokio_tungstenite::client_async("ws://ws.test/chat", stream)
            .await
            .expect("the handshake goes through the proxy");
        assert_eq!(response.status().as_u16(), 101);
        // The backend speaks first: it saw the proxy's X-Forwarded-For.
        let hello = ws.next().await.unwrap().unwrap();
        assert_eq!(hello, Message::Text("2 for=127.0.0.1".into()));
        for i in 0..20 {
            let text = format!("message {i}");
            ws.send(Message::Text(text.clone().into())).await.unwrap();
            assert_eq!(
                ws.next().await.unwrap().unwrap(),
                Message::Text(text.into())
            );
        }
        // A message far larger than any buffer on the way.
        let big: Vec<u8> = (0..4 << 20).map(|i: u32| i as u8).collect();
        ws.send(Message::Binary(big.clone().into())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Binary(big.into())
        );
        ws.close(None).await.unwrap();
        // The close handshake comes back through the splice too.
        while let Some(Ok(message)) = ws.next().await {
            assert!(matches!(message, Message::Close(_)), "{message:?}");
        }
        assert!(
            proxy
                .metrics
                .render()
                .contains("orc_ingress_requests_total{ingress=\"default/web\",service=\"default/\",code=\"101\"} 1"),
            "{}",
            proxy.metrics.render()
        );
    });
}

#[test]
fn an_upgrade_the_backend_refuses_is_an_ordinary_answer() {
    in_netns(|| async {
        // backend() speaks plain HTTP: it answers 200 and ignores Upgrade.
        let plain = backend(2, None).await;
        let (_tx, rx) = watch::channel(table(vec![(
            "",
            "/",
            vec![endpoint(plain.address, 1)],
            Algorithm::RoundRobin,
        )]));
        let (_url, _proxy) = proxy(rx, Config::default()).await;
        let stream = tokio::net::TcpStream::connect("127.0.0.1:80")
            .await
            .unwrap();
        let refused = tokio_tungstenite::client_async("ws://ws.test/", stream).await;
        match refused {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 200);
                let body = response.body().clone().unwrap_or_default();
                assert!(
                    String::from_utf8_lossy(&body).starts_with("2 /"),
                    "{body:?}"
                );
            }
            other => panic!("expected the backend's 200, got {other:?}"),
        }
    });
}

/// An HTTP/2 connection to the proxy (prior knowledge, no TLS), after one
/// ordinary GET: by its answer the proxy's SETTINGS have surely arrived
/// (an extended CONNECT sent before them would be refused by the client).
/// Answers the sender and the GET's body.
async fn h2_connection() -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    String,
) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect("127.0.0.1:80")
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let get = Request::get("http://ws.test/plain")
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = sender.send_request(get).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (sender, String::from_utf8_lossy(&body).into_owned())
}

/// RFC 8441's request: `CONNECT` with `:protocol: websocket`.
fn extended_connect(protocol: &'static str) -> Request<http_body_util::Empty<Bytes>> {
    let mut request = Request::connect("http://ws.test/chat")
        .header("sec-websocket-version", "13")
        .body(http_body_util::Empty::new())
        .unwrap();
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static(protocol));
    request
}

#[test]
fn a_websocket_over_http2_reaches_an_http1_backend() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;
    in_netns(|| async {
        let echo = websocket_echo(2).await;
        let plain = backend(3, None).await;
        let (_tx, rx) = watch::channel(table(vec![
            (
                "ws.test",
                "/chat",
                vec![endpoint(echo.address, 1)],
                Algorithm::RoundRobin,
            ),
            (
                "ws.test",
                "/plain",
                vec![endpoint(plain.address, 1)],
                Algorithm::RoundRobin,
            ),
        ]));
        let (_url, proxy) = proxy(rx, Config::default()).await;
        let (mut sender, body) = h2_connection().await;
        assert!(body.starts_with("3 /plain"), "{body}");
        // h2's client refuses to send `:protocol` unless the server's
        // SETTINGS_ENABLE_CONNECT_PROTOCOL arrived: the 200 proves both.
        let response = sender
            .send_request(extended_connect("websocket"))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{response:?}");
        assert!(!response.headers().contains_key("sec-websocket-accept"));
        let stream = hyper::upgrade::on(response).await.unwrap();
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(stream),
            Role::Client,
            None,
        )
        .await;
        // The backend speaks first: it saw an HTTP/1.1 upgrade (with a
        // key: tungstenite refuses one without) and the proxy's
        // X-Forwarded-For.
        let hello = ws.next().await.unwrap().unwrap();
        assert_eq!(hello, Message::Text("2 for=127.0.0.1".into()));
        for i in 0..20 {
            let text = format!("message {i}");
            ws.send(Message::Text(text.clone().into())).await.unwrap();
            assert_eq!(
                ws.next().await.unwrap().unwrap(),
                Message::Text(text.into())
            );
        }
        // Larger than HTTP/2's flow-control windows: they must move on.
        let big: Vec<u8> = (0..4 << 20).map(|i: u32| i as u8).collect();
        ws.send(Message::Binary(big.clone().into())).await.unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Binary(big.into())
        );
        ws.close(None).await.unwrap();
        while let Some(Ok(message)) = ws.next().await {
            assert!(matches!(message, Message::Close(_)), "{message:?}");
        }
        let metrics = proxy.metrics.render();
        assert!(
            metrics.contains("ingress=\"default/web\",service=\"default/chat\",code=\"200\"} 1"),
            "{metrics}"
        );
    });
}

#[test]
fn an_http2_websocket_the_backend_does_not_switch_to_is_refused() {
    in_netns(|| async {
        // backend() speaks plain HTTP: it answers 200 and ignores Upgrade.
        let plain = backend(2, None).await;
        let (_tx, rx) = watch::channel(table(vec![(
            "ws.test",
            "/",
            vec![endpoint(plain.address, 1)],
            Algorithm::RoundRobin,
        )]));
        let (_url, _proxy) = proxy(rx, Config::default()).await;
        let (mut sender, _) = h2_connection().await;
        // A 200 passed on would open a WebSocket stream to plain HTTP.
        let response = sender
            .send_request(extended_connect("websocket"))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 502, "{response:?}");
        // A protocol with no HTTP/1.1 upgrade a pod would know.
        let response = sender
            .send_request(extended_connect("connect-udp"))
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 501, "{response:?}");
    });
}

/// 64 KiB of one byte: streamed bodies are made of these.
static CHUNK: [u8; 1 << 16] = [7; 1 << 16];

/// This process's resident memory and its peak since the last reset, in
/// bytes (`VmRSS`, `VmHWM`).
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets `VmHWM` to the current resident size (proc(5), `clear_refs`).
fn reset_peak_memory() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// A backend at `127.0.0.N:8080` that streams both ways: `POST /upload`
/// reads the body as it comes, publishing the bytes received so far on
/// `received`, and answers the total; `GET /download?chunks=K` sends K
/// chunks, the first at once and the rest only after `go` is notified.
async fn streaming_backend(
    n: u8,
    received: watch::Sender<usize>,
    go: Arc<tokio::sync::Notify>,
) -> Server {
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::Frame;
    let listener = TcpListener::bind(("127.0.0.".to_string() + &n.to_string(), 8080))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let received = Arc::new(received);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (received, go) = (received.clone(), go.clone());
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (received, go) = (received.clone(), go.clone());
                    async move {
                        type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;
                        if req.uri().path() == "/upload" {
                            let mut body = req.into_body();
                            let mut total = 0;
                            while let Some(frame) = body.frame().await {
                                let Ok(frame) = frame else { break };
                                if let Some(data) = frame.data_ref() {
                                    total += data.len();
                                    received.send_replace(total);
                                }
                            }
                            let answer: Body = Full::new(Bytes::from(total.to_string())).boxed();
                            return Ok::<_, Infallible>(Response::new(answer));
                        }
                        let chunks: usize = req
                            .uri()
                            .query()
                            .and_then(|q| q.strip_prefix("chunks="))
                            .and_then(|k| k.parse().ok())
                            .unwrap_or(1);
                        let stream = futures::stream::unfold(0, move |sent| {
                            let go = go.clone();
                            async move {
                                if sent == chunks {
                                    return None;
                                }
                                if sent == 1 {
                                    go.notified().await;
                                }
                                let frame = Frame::data(Bytes::from_static(&CHUNK));
                                Some((Ok::<_, Infallible>(frame), sent + 1))
                            }
                        });
                        let answer: Body = StreamBody::new(stream).boxed();
                        Ok(Response::new(answer))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server { address, task }
}

/// A request body fed chunk by chunk from the test, through a channel.
fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, reqwest::Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

/// Fails the test when `what` has not happened within a minute: a body
/// the proxy held back instead of streaming would wait forever.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen: the proxy is holding the body back"))
}

#[test]
fn large_bodies_stream_through_both_ways_without_growing_the_proxy() {
    const CHUNKS: usize = 1024; // 64 MiB each way, 64 times the default body limit.
    in_netns(|| async {
        let (received_tx, mut received) = watch::channel(0);
        let go = Arc::new(tokio::sync::Notify::new());
        let server = streaming_backend(2, received_tx, go.clone()).await;
        let (_tx, rx) = watch::channel(table(vec![(
            "",
            "/",
            vec![endpoint(server.address, 1)],
            Algorithm::RoundRobin,
        )]));
        let config = Config {
            max_body: 128 << 20,
            ..Config::default()
        };
        let (url, _proxy) = proxy(rx, config).await;
        let client = orc_testkit::http_client();
        reset_peak_memory();
        let (rss_before, _) = memory();

        // Upload: the backend has the first chunk before the second is sent.
        let (chunks, body) = channel_body();
        let upload = tokio::spawn({
            let request = client.post(format!("{url}/upload")).body(body);
            async move { request.send().await.unwrap().text().await.unwrap() }
        });
        chunks.send(Bytes::from_static(&CHUNK)).await.unwrap();
        within("the backend receiving the first chunk", async {
            received.wait_for(|&n| n >= CHUNK.len()).await.unwrap();
        })
        .await;
        for _ in 1..CHUNKS {
            chunks.send(Bytes::from_static(&CHUNK)).await.unwrap();
        }
        drop(chunks);
        let total = within("the upload's answer", upload).await.unwrap();
        assert_eq!(total, (CHUNKS * CHUNK.len()).to_string());

        // Download: the client has the first chunk before the backend sends the second.
        let mut response = client
            .get(format!("{url}/download?chunks={CHUNKS}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let mut got = within("the client receiving the first chunk", response.chunk())
            .await
            .unwrap()
            .unwrap()
            .len();
        go.notify_one();
        while let Some(chunk) = within("the next chunk", response.chunk()).await.unwrap() {
            got += chunk.len();
        }
        assert_eq!(got, CHUNKS * CHUNK.len());

        // 128 MiB passed through this process (client, proxy and backend
        // all live here); none of it stayed.
        let (_, peak) = memory();
        let grew = peak.saturating_sub(rss_before);
        assert!(grew < 32 << 20, "the peak grew by {} MiB", grew >> 20);
    });
}

#[test]
fn a_streamed_body_over_the_limit_is_cut_off_with_413() {
    in_netns(|| async {
        let (received_tx, received) = watch::channel(0);
        let go = Arc::new(tokio::sync::Notify::new());
        let server = streaming_backend(2, received_tx, go).await;
        let (_tx, rx) = watch::channel(table(vec![(
            "up.test",
            "/",
            vec![endpoint(server.address, 1)],
            Algorithm::RoundRobin,
        )]));
        let config = Config {
            max_body: 1 << 20,
            ..Config::default()
        };
        let (url, proxy) = proxy(rx, config).await;
        let client = orc_testkit::http_client();
        // No Content-Length (chunked): the proxy learns the size only as
        // the bytes pass. 17 chunks of 64 KiB are 1 MiB and one chunk more.
        let (chunks, body) = channel_body();
        let upload = tokio::spawn({
            let request = client
                .post(format!("{url}/upload"))
                .header("host", "up.test")
                .body(body);
            async move { request.send().await.map(|r| r.status().as_u16()) }
        });
        for _ in 0..17 {
            if chunks.send(Bytes::from_static(&CHUNK)).await.is_err() {
                break; // The proxy answered and closed the connection.
            }
        }
        drop(chunks);
        let status = within("the 413", upload).await.unwrap();
        assert_eq!(status.ok(), Some(413));
        assert!(
            *received.borrow() <= 1 << 20,
            "the backend got {} bytes",
            *received.borrow()
        );
        assert!(
            proxy.metrics.render().contains(
                "orc_ingress_requests_total{ingress=\"default/web\",service=\"default/\",code=\"413\"} 1"
            ),
            "{}",
            proxy.metrics.render()
        );
    });
}

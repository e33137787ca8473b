//! The proxy with real backends: hyper servers on their own addresses in
//! a network namespace of the test's own, real TCP, a real HTTP client.
//! Each test runs its whole runtime on a thread inside the namespace, so
//! every socket (the client's, the proxy's, the backends') lives there and
//! disappears with it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use orc_ingress::balance::Algorithm;
use orc_ingress::proxy::{Config, Proxy, serve_admin};
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
    let listener = TcpListener::bind("127.0.0.1:80").await.unwrap();
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
            metrics.contains("orc_ingress_requests_total{service=\"default/api\",code=\"200\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("orc_ingress_requests_total{service=\"-\",code=\"404\"} 1"),
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

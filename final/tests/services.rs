//! Chapter 06 end to end: a Service answers from a pod and on every
//! node's address, spreads its connections evenly over ready pods on two
//! nodes, and stops sending to a pod that turns not ready or is deleted.
//!
//! Root only. The cluster is real: etcd, the API server, chapter 05's and
//! chapter 06's controllers, and two `orc agent` processes (each with its
//! proxy) whose nodes are network namespaces on one underlay:
//!
//! ```text
//!              underlay "under0" (192.168.50.0/24), the outside client at .100
//!               /                                  \
//!   node-a 192.168.50.1, pods 10.244.1.0/24   node-b 192.168.50.2, pods 10.244.2.0/24
//!   web-a1, web-a2, client                    web-b1, web-b2
//! ```
//!
//! The underlay is test scaffolding; pods, their network, the routes
//! between the nodes (each agent routes to the others from their Node
//! objects), the Service's address, its endpoints and every iptables rule
//! are made by the code under test. Requests come from inside the client pod's network
//! namespace (busybox `nc` through `nsenter`), and from the underlay.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;
#[path = "../../02-pod/tests/common/mod.rs"]
mod network;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_node::Node;
use cluster::{AgentProcess, ApiServer, agent_node_ready, running};
use network::Underlay;
use orc_client::Method;
use orc_testkit::{NetnsHost, require_command};
use serde_json::{Value, json};

/// Generous: the suite also runs beside a CPU hog.
const LONG: Duration = Duration::from_secs(120);
const PODS: &str = "/api/v1/namespaces/default/pods";
const BACKENDS: [(&str, &str); 4] = [
    ("web-a1", "node-a"),
    ("web-a2", "node-a"),
    ("web-b1", "node-b"),
    ("web-b2", "node-b"),
];
/// The outside client's address on the underlay.
const OUTSIDE: &str = "192.168.50.100";

/// A busybox httpd answering `/` with its pod's name and `/ready` while
/// the file `/www/ready` exists: the readiness probe asks for it.
fn backend(name: &str, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "httpd", "image": "busybox",
                "command": ["sh", "-c",
                    "mkdir -p /www && hostname > /www/index.html && echo ok > /www/ready && exec httpd -f -p 8080 -h /www"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                    "periodSeconds": 1, "failureThreshold": 1}}]}})
}

fn ready(pod: &Value) -> bool {
    running(pod) && orc_client::conditions::is_ready(pod)
}

/// The pod names behind `GET http://{target}/` from inside network
/// namespace `netns`, one per request (busybox `nc` speaking HTTP/1.0:
/// this machine's static busybox `wget` crashes in name lookups); a
/// failed request is `Err` with what went wrong.
fn fetch(netns: &str, target: &str, times: usize) -> Vec<Result<String, String>> {
    let busybox = require_command("busybox");
    let (host, port) = target.split_once(':').expect("host:port");
    (0..times)
        .map(|_| {
            let mut child = Command::new("nsenter")
                .arg(format!("--net={netns}"))
                .arg(&busybox)
                .args(["nc", "-w", "5", host, port])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("nsenter runs");
            let mut stdin = child.stdin.take().expect("piped");
            stdin
                .write_all(b"GET / HTTP/1.0\r\n\r\n")
                .expect("nc reads its input");
            // nc waits for the answer, not for the end of its input.
            let out = child.wait_with_output().expect("nc ends");
            drop(stdin);
            let text = String::from_utf8_lossy(&out.stdout);
            match text.split_once("\r\n\r\n") {
                Some((head, body)) if head.starts_with("HTTP/1.1 200") => {
                    Ok(body.trim().to_string())
                }
                _ => Err(format!(
                    "{target}: {text:?} {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
            }
        })
        .collect()
}

/// How many answers came from each pod; panics on a failed request.
fn tally(answers: Vec<Result<String, String>>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (i, answer) in answers.into_iter().enumerate() {
        let pod = answer.unwrap_or_else(|why| panic!("request {i} failed: {why}"));
        *counts.entry(pod).or_insert(0) += 1;
    }
    counts
}

/// Pearson's chi-square statistic of `counts` against an even spread
/// over `k` pods.
fn chi_square(counts: &BTreeMap<String, usize>, k: usize) -> f64 {
    let n: usize = counts.values().sum();
    let expected = n as f64 / k as f64;
    let seen: f64 = counts
        .values()
        .map(|c| (*c as f64 - expected).powi(2) / expected)
        .sum();
    // Pods that got nothing count too.
    seen + (k - counts.len()) as f64 * expected
}

/// Polls `done` (off the async runtime) every 200 ms until it holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not so after {LONG:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether node `host`'s nat table DNATs to `ip` (the proxy has synced it in).
fn routes_to(host: &NetnsHost, ip: &str) -> bool {
    host.run("iptables-save", &["-t", "nat"])
        .contains(&format!("--to-destination {ip}:8080"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_answers_evenly_from_every_node_and_follows_readiness() {
    require_command("nsenter");
    let mut underlay = Underlay::new();
    underlay.ns.run(
        "ip",
        &["addr", "add", &format!("{OUTSIDE}/24"), "dev", "under0"],
    );
    let (a, b) = (underlay.node(), underlay.node());
    let addresses = [a.address, b.address];
    let pod_cidrs = [a.pod_cidr, b.pod_cidr];
    let nodes = [
        ("node-a", Node::on(a.host, a.pod_cidr)),
        ("node-b", Node::on(b.host, b.pod_cidr)),
    ];

    let api = ApiServer::start().await;
    let url = api.url.clone();
    let controllers = tokio::spawn(async move {
        tokio::join!(
            orc_controllers::run(orc_controllers::Config::new(&url)),
            orc_services::run_controllers(orc_client::Client::new(&url), 2),
        );
    });
    let mut agents: Vec<AgentProcess> = nodes
        .iter()
        .zip(addresses)
        .map(|((name, node), address)| {
            let port = orc_testkit::ports::free_port();
            AgentProcess::start_at(node, name, &api, port, &format!("{name}.log"), address)
        })
        .collect();
    for (name, _) in &nodes {
        api.wait_for(&format!("/api/v1/nodes/{name}"), LONG, agent_node_ready)
            .await;
    }
    // Each agent routes the other node's pods through it, from its Node.
    for (i, (name, node)) in nodes.iter().enumerate() {
        let (cidr, via) = (pod_cidrs[1 - i], addresses[1 - i]);
        until(&format!("{name} routes {cidr} via {via}"), || {
            node.host
                .run("ip", &["route", "show", "proto", "79"])
                .contains(&format!("{cidr} via {via} "))
        })
        .await;
    }

    // The backends, a client pod, and the Service (a NodePort, its target
    // port by name).
    let post = |path: &'static str, body: Value| {
        let client = api.client.clone();
        async move {
            client
                .send_path(
                    Method::POST,
                    path,
                    None,
                    Some(("application/json", body.to_string())),
                )
                .await
                .unwrap_or_else(|e| panic!("POST {path}: {e}"))
        }
    };
    for (name, node) in BACKENDS {
        post(PODS, backend(name, node)).await;
    }
    let client_pod = post(
        PODS,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
        "spec": {"nodeName": "node-a", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}}),
    )
    .await;
    let service = post(
        "/api/v1/namespaces/default/services",
        json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
    )
    .await;
    let cluster_ip = service["spec"]["clusterIP"].as_str().unwrap().to_string();
    let node_port = service["spec"]["ports"][0]["nodePort"].as_i64().unwrap();

    let mut ips = BTreeMap::new();
    for (name, _) in BACKENDS {
        let pod = api.wait_for(&format!("{PODS}/{name}"), LONG, ready).await;
        ips.insert(name, pod["status"]["podIP"].as_str().unwrap().to_string());
    }
    api.wait_for(&format!("{PODS}/client"), LONG, running).await;
    let client_uid = client_pod["metadata"]["uid"].as_str().unwrap();
    let client_netns = format!(
        "/proc/{}/ns/net",
        nodes[0]
            .1
            .pid(&format!("{client_uid}-pod"))
            .expect("the client's sandbox runs")
    );
    let node_a_host = &nodes[0].1.host;
    until("node-a routes to every backend", || {
        ips.values().all(|ip| routes_to(node_a_host, ip))
    })
    .await;

    // 1. From a pod, the cluster IP reaches every ready pod on both nodes,
    //    close to evenly: 300 requests, 4 pods, 75 expected each. The
    //    chi-square bound 21.1 (3 degrees of freedom) is exceeded by a fair
    //    spread once in 10 000 runs.
    let target = format!("{cluster_ip}:80");
    let counts = tally(fetch(&client_netns, &target, 300));
    println!("300 requests to {target}: {counts:?}");
    assert_eq!(counts.len(), 4, "every backend answered: {counts:?}");
    let x2 = chi_square(&counts, 4);
    assert!(x2 < 21.1, "chi-square {x2:.1} over {counts:?}");

    // 2. The node port answers on every node's address, from outside the
    //    cluster, whichever node the chosen pod is on.
    let outside = underlay.ns.path();
    for address in addresses {
        let counts = tally(fetch(&outside, &format!("{address}:{node_port}"), 40));
        println!("40 requests to {address}:{node_port} from {OUTSIDE}: {counts:?}");
        assert!(
            counts.len() >= 2,
            "more than one pod behind {address}: {counts:?}"
        );
    }

    // 3. Hairpin: a pod calling a Service whose one endpoint is itself
    //    gets its own answer. The packet leaves web-a2 for the cluster IP,
    //    node-a rewrites it back to web-a2 and masquerades it (or web-a2
    //    would answer itself directly and drop the reply), and the bridge
    //    sends it back out of the port it came in on (hairpin mode).
    let a2 = api.get(&format!("{PODS}/web-a2")).await.unwrap();
    api.client
        .merge_patch(
            orc_client::resources::by_kind("v1", "Pod").unwrap(),
            Some("default"),
            "web-a2",
            None,
            &json!({"metadata": {"labels": {"solo": "yes"}}}),
        )
        .await
        .unwrap();
    let solo = post(
        "/api/v1/namespaces/default/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "solo"},
        "spec": {"selector": {"solo": "yes"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
    )
    .await;
    let solo_ip = solo["spec"]["clusterIP"].as_str().unwrap().to_string();
    until("node-a routes solo to web-a2", || {
        node_a_host
            .run("iptables-save", &["-t", "nat"])
            .lines()
            .any(|l| {
                l.contains("default/solo")
                    && l.contains(&format!("--to-destination {}:8080", ips["web-a2"]))
            })
    })
    .await;
    let a2_uid = a2["metadata"]["uid"].as_str().unwrap();
    let a2_netns = format!(
        "/proc/{}/ns/net",
        nodes[0]
            .1
            .pid(&format!("{a2_uid}-pod"))
            .expect("web-a2's sandbox runs")
    );
    let counts = tally(fetch(&a2_netns, &format!("{solo_ip}:80"), 10));
    assert_eq!(
        counts,
        BTreeMap::from([("web-a2".to_string(), 10)]),
        "web-a2 reaches itself through solo"
    );

    // 4. A LoadBalancer answers on the nodes' own addresses (the
    //    load-balancer controller writes them as its ingress, k3s'
    //    ServiceLB's way), at its own port, from outside.
    post(
        "/api/v1/namespaces/default/services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "lb"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 8000, "targetPort": "http"}]}}),
    )
    .await;
    let lb = api
        .wait_for("/api/v1/namespaces/default/services/lb", LONG, |svc| {
            svc["status"]["loadBalancer"]["ingress"]
                .as_array()
                .is_some_and(|i| i.len() == 2)
        })
        .await;
    assert_eq!(
        lb["status"]["loadBalancer"]["ingress"],
        json!([{"ip": "192.168.50.1", "ipMode": "VIP"}, {"ip": "192.168.50.2", "ipMode": "VIP"}])
    );
    let kubeconfig = cluster::kubeconfig(nodes[0].1.dir.path(), &api);
    let table = cluster::kubectl(&kubeconfig, &["get", "svc", "lb", "--no-headers"]).await;
    let columns: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(
        (columns[1], columns[3]),
        ("LoadBalancer", "192.168.50.1,192.168.50.2"),
        "kubectl get svc lb: {table}"
    );
    for address in addresses {
        until(&format!("{address} catches lb"), || {
            nodes.iter().all(|(_, n)| {
                n.host
                    .run("iptables-save", &["-t", "nat"])
                    .lines()
                    .any(|l| {
                        l.contains("lb:http loadbalancer IP")
                            && l.contains(&format!("-d {address}/32"))
                    })
            })
        })
        .await;
        let counts = tally(fetch(&outside, &format!("{address}:8000"), 40));
        println!("40 requests to the load balancer at {address}:8000: {counts:?}");
        assert!(
            counts.len() >= 2,
            "more than one pod behind {address}: {counts:?}"
        );
    }

    // 5. A pod that turns not ready leaves the rotation: web-a1's readiness
    //    file goes (from its own root, as seen through /proc).
    let a1 = api.get(&format!("{PODS}/web-a1")).await.unwrap();
    let a1_uid = a1["metadata"]["uid"].as_str().unwrap();
    let a1_pid = nodes[0]
        .1
        .pid(&format!("{a1_uid}-httpd-"))
        .expect("web-a1's httpd runs");
    std::fs::remove_file(format!("/proc/{a1_pid}/root/www/ready")).unwrap();
    api.wait_for(&format!("{PODS}/web-a1"), LONG, |p| !ready(p) && running(p))
        .await;
    until("node-a stops routing to web-a1", || {
        !routes_to(node_a_host, &ips["web-a1"])
    })
    .await;
    let counts = tally(fetch(&client_netns, &target, 60));
    assert!(!counts.contains_key("web-a1"), "{counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");

    // 6. A deleted pod leaves it too.
    api.client
        .send_path(Method::DELETE, &format!("{PODS}/web-b1"), None, None)
        .await
        .unwrap();
    until("node-a stops routing to web-b1", || {
        !routes_to(node_a_host, &ips["web-b1"])
    })
    .await;
    let counts = tally(fetch(&client_netns, &target, 60));
    assert_eq!(
        counts.keys().map(String::as_str).collect::<Vec<_>>(),
        ["web-a2", "web-b2"],
        "{counts:?}"
    );

    // Clean up through the API: each node stops its pods, then the agents go.
    for name in ["web-a1", "web-a2", "web-b2", "client"] {
        let _ = api
            .client
            .send_path(Method::DELETE, &format!("{PODS}/{name}"), None, None)
            .await;
    }
    api.wait_for(PODS, LONG, |list| {
        list["items"].as_array().is_some_and(|i| i.is_empty())
    })
    .await;
    for agent in &mut agents {
        agent.stop();
    }
    controllers.abort();
    for (name, node) in &nodes {
        assert_eq!(node.containers(), vec![], "{name}: containers left");
    }
}

//! Chapter 06 end to end, names: from inside a pod, busybox `nslookup`
//! finds a Service by its short name, `<svc>.<ns>` (through the pod's
//! search list) and its full name; a
//! headless Service's name gives every ready pod; an ExternalName gives
//! its CNAME; and the pod's resolv.conf is the one `dnsPolicy:
//! ClusterFirst` makes.
//!
//! Root only. Real etcd, API server, chapter 05's and 06's controllers,
//! and one `orc agent` process whose node is a network namespace: the
//! agent serves orc-dns on its pod bridge's address and publishes it as
//! `kube-dns`, and its proxy DNATs the pods' questions to 10.96.0.10
//! there. `nslookup` runs in the client pod's own network and mount
//! namespaces (through `nsenter`), so it reads the pod's resolv.conf.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;
#[path = "../../02-pod/tests/common/mod.rs"]
mod network;

use std::process::Command;
use std::time::{Duration, Instant};

use agent_node::Node;
use cluster::{AgentProcess, ApiServer, agent_node_ready, running};
use network::Underlay;
use orc_client::Method;
use orc_testkit::require_command;
use serde_json::{Value, json};

/// Generous: the suite also runs beside a CPU hog.
const LONG: Duration = Duration::from_secs(120);
const PODS: &str = "/api/v1/namespaces/default/pods";
const SERVICES: &str = "/api/v1/namespaces/default/services";

fn sleeper(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"nodeName": "node-a", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]}})
}

/// Runs busybox `nslookup name` inside the pod's container `pid` (its
/// network and mount namespaces: its address and its resolv.conf) and
/// returns what it printed.
fn nslookup(pid: i32, name: &str) -> String {
    let out = Command::new("nsenter")
        .args(["--target", &pid.to_string(), "--net", "--mount"])
        .args(["/bin/busybox", "nslookup", "-type=a", name])
        .output()
        .expect("nsenter runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Retries `nslookup` until its output contains every one of `wanted`
/// (the kube-dns endpoint and the proxy's rules arrive asynchronously).
async fn resolves(pid: i32, name: &str, wanted: &[&str]) -> String {
    let deadline = Instant::now() + LONG;
    loop {
        let text = tokio::task::spawn_blocking({
            let name = name.to_string();
            move || nslookup(pid, &name)
        })
        .await
        .unwrap();
        if wanted.iter().all(|w| text.contains(w)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "nslookup {name}: wanted {wanted:?} within {LONG:?}, last got:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolve_from_inside_a_pod() {
    require_command("nsenter");
    let mut underlay = Underlay::new();
    let a = underlay.node();
    let node = Node::on(a.host, a.pod_cidr);
    let api = ApiServer::start().await;
    let url = api.url.clone();
    let controllers = tokio::spawn(async move {
        tokio::join!(
            orc_controllers::run(orc_controllers::Config::new(&url)),
            orc_services::run_controllers(orc_client::Client::new(&url), 2),
        );
    });
    let port = orc_testkit::ports::free_port();
    let mut agent = AgentProcess::start(&node, "node-a", &api, port, "node-a.log");
    api.wait_for("/api/v1/nodes/node-a", LONG, agent_node_ready)
        .await;

    for name in ["web-1", "web-2"] {
        api.post(PODS, sleeper(name, json!({"app": "web"}))).await;
    }
    let client_pod = api
        .post(PODS, sleeper("client", json!({"app": "client"})))
        .await;
    let web = api
        .post(
            SERVICES,
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}),
        )
        .await;
    api.post(
        SERVICES,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-headless"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    )
    .await;
    api.post(
        SERVICES,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
            "spec": {"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}}),
    )
    .await;
    let cluster_ip = web["spec"]["clusterIP"].as_str().unwrap().to_string();

    let mut ips = Vec::new();
    for name in ["web-1", "web-2"] {
        let pod = api.wait_for(&format!("{PODS}/{name}"), LONG, running).await;
        ips.push(pod["status"]["podIP"].as_str().unwrap().to_string());
    }
    api.wait_for(&format!("{PODS}/client"), LONG, running).await;
    let uid = client_pod["metadata"]["uid"].as_str().unwrap();
    let pid = node
        .pid(&format!("{uid}-main-"))
        .expect("the client's container runs");

    // The pod's resolv.conf is ClusterFirst's.
    let resolv = std::fs::read_to_string(format!("/proc/{pid}/root/etc/resolv.conf")).unwrap();
    assert_eq!(
        resolv,
        "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
    );

    // The short name (through the search list), and the full name typed
    // without and with its final dot.
    for name in [
        "web",
        "web.default.svc.cluster.local",
        "web.default.svc.cluster.local.",
    ] {
        let text = resolves(pid, name, &[&cluster_ip]).await;
        println!("nslookup {name}:\n{text}");
        assert!(text.contains("Server:\t\t10.96.0.10"), "{text}");
        assert!(text.contains("web.default.svc.cluster.local"), "{text}");
    }
    // `<svc>.<ns>`: busybox's nslookup applies the search list only to
    // names without a dot (why `nslookup kubernetes.default` fails with
    // busybox 1.29 and later on Kubernetes too), so the walk a libc
    // resolver makes with ndots:5 is made here, domain by domain, from
    // the pod's own resolv.conf: the first domain is NXDOMAIN, the second
    // is the Service.
    let searches: Vec<&str> = resolv
        .lines()
        .find_map(|l| l.strip_prefix("search "))
        .unwrap()
        .split(' ')
        .collect();
    let tries: Vec<String> = searches
        .iter()
        .map(|domain| nslookup(pid, &format!("web.default.{domain}.")))
        .collect();
    assert!(tries[0].contains("NXDOMAIN"), "{}", tries[0]);
    assert!(
        tries[1].contains("Name:\tweb.default.svc.cluster.local") && tries[1].contains(&cluster_ip),
        "web.default with the pod's second search domain: {}",
        tries[1]
    );
    // A headless Service: every ready pod's address.
    let wanted: Vec<&str> = ips.iter().map(String::as_str).collect();
    let text = resolves(pid, "web-headless", &wanted).await;
    println!("nslookup web-headless:\n{text}");
    assert!(!text.contains(&cluster_ip), "{text}");
    // An ExternalName: its CNAME, then the name it points at.
    let text = resolves(
        pid,
        "ext",
        &[
            "canonical name = web.default.svc.cluster.local",
            &cluster_ip,
        ],
    )
    .await;
    println!("nslookup ext:\n{text}");
    // A name that is not there is NXDOMAIN, answered at once.
    let text = nslookup(pid, "nope.default.svc.cluster.local.");
    assert!(text.contains("NXDOMAIN"), "{text}");

    // Clean up through the API: the node stops its pods, then the agent goes.
    for name in ["web-1", "web-2", "client"] {
        let _ = api
            .client
            .send_path(Method::DELETE, &format!("{PODS}/{name}"), None, None)
            .await;
    }
    api.wait_for(PODS, LONG, |list| {
        list["items"].as_array().is_some_and(|i| i.is_empty())
    })
    .await;
    agent.stop();
    controllers.abort();
    assert_eq!(node.containers(), vec![], "containers left");
}

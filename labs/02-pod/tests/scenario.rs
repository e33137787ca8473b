//! Lab 02's walkthrough: chapter 02's two-node cluster and its node agent,
//! run for real.
//!
//! First, two nodes and two pods, all network namespaces made for this
//! test, joined by an "underlay" bridge; orc's pod network plumbs them. The
//! snapshots are what `ip` and `iptables-save` print on node 1 and inside
//! pod a. Interface indexes (`eth0@if12`) differ from run to run and are
//! redacted, and the links' operational state is left out because the
//! kernel settles it on its own time.
//!
//! Then the node agent runs two static pods on a node made of a network
//! namespace and reports their status as the kubelet does: `web` keeps
//! serving while its `setup` container finishes (restartPolicy OnFailure: a
//! finished container is not ready, so, as in Kubernetes, the pod is Running
//! but not Ready), and `crash` exits with 3 under restartPolicy Always until
//! the agent backs off (CrashLoopBackOff). Times, addresses and container
//! ids are redacted.

#[path = "../../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
#[path = "../../../02-pod/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use agent_node::Node;
use common::{Underlay, iptables_save, listen, path, source_seen_by};
use orc_pod::NodeNetwork;
use orc_pod::status::{ContainerState, PodStatus};
use orc_testkit::{NetnsHost, require_root};

/// `ip -4 -br addr` as `NAME ADDRESSES` lines: `eth0@if12` becomes
/// `eth0@ifN` (the peer's index depends on what else exists), and the state
/// column (UP, UNKNOWN) is dropped.
fn addresses(host: &NetnsHost) -> String {
    host.run("ip", &["-4", "-br", "addr"])
        .lines()
        .map(|line| {
            let mut fields = line.split_whitespace();
            let name = fields.next().unwrap_or_default();
            let name = match name.split_once("@if") {
                Some((link, _index)) => format!("{link}@ifN"),
                None => name.to_string(),
            };
            let _state = fields.next();
            format!("{name:<10} {}\n", fields.collect::<Vec<_>>().join(" "))
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn two_nodes_with_a_pod_each() {
    require_root();
    let mut underlay = Underlay::new();
    let (one, two) = (underlay.node(), underlay.node());
    let nodes = [one.route(), two.route()];
    let (pod_a, pod_b) = (NetnsHost::new(), NetnsHost::new());

    let network_one = NodeNetwork::setup(one.config()).await.unwrap();
    let network_two = NodeNetwork::setup(two.config()).await.unwrap();
    network_one.sync_routes(&nodes).await.unwrap();
    network_two.sync_routes(&nodes).await.unwrap();
    let a = network_one
        .add_pod("default/a", &path(&pod_a))
        .await
        .unwrap();
    let b = network_two
        .add_pod("default/b", &path(&pod_b))
        .await
        .unwrap();

    // Pod b sees pod a's own address: no NAT between pods.
    let listener = listen(&pod_b);
    assert_eq!(source_seen_by(&listener, &pod_a, b.address), a.address);

    insta::assert_snapshot!("node1_ip_addr", addresses(&one.host));
    insta::assert_snapshot!("node1_ip_route", one.host.run("ip", &["route"]));
    insta::assert_snapshot!("node1_iptables", iptables_save(&one.host));
    insta::assert_snapshot!("pod_a_ip_addr", addresses(&pod_a));
    insta::assert_snapshot!("pod_a_ip_route", pod_a.run("ip", &["route"]));

    network_one.teardown().await.unwrap();
    network_two.teardown().await.unwrap();
}

const LIMIT: Duration = Duration::from_secs(30);

const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 1
  containers:
  - name: server
    image: busybox
    command: [httpd, -f, -p, "8080"]
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
  - name: setup
    image: busybox
    command: [sh, -c, "echo done"]
"#;

const CRASH: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: crash
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "exit 3"]
"#;

fn waiting_reason(status: &PodStatus, container: &str) -> Option<String> {
    let c = status
        .container_statuses
        .iter()
        .find(|c| c.name == container)?;
    match &c.state {
        ContainerState::Waiting { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

fn snapshot_status(name: &str, status: &PodStatus) {
    // As JSON first: redaction paths then follow Kubernetes' field names,
    // including the `running`/`terminated` keys of a container's state.
    let status = serde_json::to_value(status).unwrap();
    insta::assert_json_snapshot!(name, status, {
        ".startTime" => "[TIME]",
        ".podIP" => "[POD IP]",
        ".containerStatuses[].containerID" => "[ID]",
        ".containerStatuses[].state.running.startedAt" => "[TIME]",
        ".containerStatuses[].state.terminated.startedAt" => "[TIME]",
        ".containerStatuses[].state.terminated.finishedAt" => "[TIME]",
        ".containerStatuses[].lastState.terminated.startedAt" => "[TIME]",
        ".containerStatuses[].lastState.terminated.finishedAt" => "[TIME]",
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reports_pod_status_like_the_kubelet() {
    let node = Node::new();
    node.write_manifest("web.yaml", WEB);
    node.write_manifest("crash.yaml", CRASH);
    let mut agent = node.agent().await;

    let web = node
        .sync_until(&mut agent, "web", LIMIT, |s| {
            let server_ready = s
                .container_statuses
                .iter()
                .any(|c| c.name == "server" && c.ready);
            let setup_done = s
                .container_statuses
                .iter()
                .any(|c| c.name == "setup" && matches!(c.state, ContainerState::Terminated { .. }));
            server_ready && setup_done
        })
        .await;
    snapshot_status("web_status", &web);

    let crash = node
        .sync_until(&mut agent, "crash", LIMIT, |s| {
            waiting_reason(s, "app").as_deref() == Some("CrashLoopBackOff")
        })
        .await;
    snapshot_status("crash_status", &crash);

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

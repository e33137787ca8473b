//! `orc agent` end to end: a real etcd, a real API server, the real `orc`
//! binary as the node agent, runtime and shim, and real containers.
//!
//! Root only. The agent process stays in the host's network namespace (it
//! reaches the API server on loopback) while its pod network lives in a
//! throwaway namespace (`--node-netns`, chapter 02's test node). Everything
//! is removed at the end: the pods through the API, the agent by its pid,
//! the namespace, cgroups, mounts and state directories by the fixtures.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use agent_node::Node;
use cluster::{AgentProcess, ApiServer, agent_node_ready, kubeconfig, kubectl, running};
use orc_client::Method;
use serde_json::{Value, json};

const NODE: &str = "node-e2e";
const LONG: Duration = Duration::from_secs(60);

fn pod(name: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox",
                "command": ["sh", "-c", "echo started on $(hostname); exec sleep 3600"]}],
        },
    })
}

/// The ids of the runtime's containers, sorted.
fn container_ids(node: &Node) -> Vec<String> {
    let mut ids: Vec<String> = node.containers().into_iter().map(|(id, _)| id).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orc_agent_registers_runs_api_pods_and_deletes_them_gracefully() {
    let node = Node::new();
    let api = ApiServer::start().await;
    let port = orc_testkit::ports::free_port();
    let mut agent = AgentProcess::start(&node, NODE, &api, port, "agent.log");

    // 1. The Node: capacity, addresses, pod CIDR, the agent's port, Ready.
    let node_obj = api
        .wait_for(&format!("/api/v1/nodes/{NODE}"), LONG, |n| {
            agent_node_ready(n)
        })
        .await;
    let status = &node_obj["status"];
    let cpus: usize = status["capacity"]["cpu"].as_str().unwrap().parse().unwrap();
    assert!(cpus >= 1, "{status}");
    let memory = status["capacity"]["memory"].as_str().unwrap();
    assert!(memory.ends_with("Ki") && memory.len() > 3, "{memory}");
    assert_eq!(status["allocatable"]["pods"], "110");
    assert_eq!(
        status["addresses"][0],
        json!({"type": "InternalIP", "address": "127.0.0.1"})
    );
    assert_eq!(status["daemonEndpoints"]["kubeletEndpoint"]["Port"], port);
    assert!(
        status["nodeInfo"]["containerRuntimeVersion"]
            .as_str()
            .unwrap()
            .starts_with("orc://")
    );
    let pod_cidr = node.config.pod_cidr.to_string();
    assert_eq!(node_obj["spec"]["podCIDR"], json!(pod_cidr));
    assert_eq!(node_obj["spec"]["podCIDRs"], json!([pod_cidr]));

    // What an operator sees.
    let config = kubeconfig(node.dir.path(), &api);
    let nodes = kubectl(&config, &["get", "nodes"]).await;
    let row = nodes.lines().find(|l| l.starts_with(NODE)).unwrap_or("");
    assert!(row.contains(" Ready "), "kubectl get nodes:\n{nodes}");

    // 2. The Lease: held by the node, owned by the Node, renewed.
    let lease_path =
        format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}");
    let lease = api.wait_for(&lease_path, LONG, |_| true).await;
    assert_eq!(lease["spec"]["holderIdentity"], NODE);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(
        lease["metadata"]["ownerReferences"][0]["uid"],
        node_obj["metadata"]["uid"]
    );
    let first = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    assert_eq!(first.len(), "2006-01-02T15:04:05.000000Z".len(), "{first}");
    api.wait_for(&lease_path, LONG, |l| {
        l["spec"]["renewTime"].as_str().unwrap_or("") > first.as_str()
    })
    .await;

    // 3. A pod bound to this node runs; one bound to another node does not.
    let pods = "/api/v1/namespaces/default/pods";
    let post = |body: Value| {
        let client = api.client.clone();
        async move {
            client
                .send_path(
                    Method::POST,
                    pods,
                    None,
                    Some(("application/json", body.to_string())),
                )
                .await
                .unwrap()
        }
    };
    post(pod("elsewhere", "another-node")).await;
    let created_at = Instant::now();
    let created = post(pod("web", NODE)).await;
    let web = api.wait_for(&format!("{pods}/web"), LONG, running).await;
    println!(
        "web: created to Running (first pod, busybox image made on first use): {:?}",
        created_at.elapsed()
    );
    // Its log travels kubectl → API server → this agent's HTTP server on
    // the InternalIP and port its Node reports.
    let logs_deadline = Instant::now() + LONG;
    loop {
        let logs = kubectl(&config, &["logs", "web"]).await;
        if logs == "started on web\n" {
            break;
        }
        assert!(Instant::now() < logs_deadline, "kubectl logs web: {logs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pod_ip: Ipv4Addr = web["status"]["podIP"].as_str().unwrap().parse().unwrap();
    assert!(
        node.config.pod_cidr.contains(pod_ip),
        "{pod_ip} in {pod_cidr}"
    );
    assert_eq!(web["status"]["podIPs"], json!([{"ip": pod_ip.to_string()}]));
    assert_eq!(web["status"]["hostIP"], "127.0.0.1");
    let container = &web["status"]["containerStatuses"][0];
    assert_eq!(container["name"], "main");
    assert_eq!(container["ready"], true);
    assert_eq!(container["restartCount"], 0);
    assert!(
        container["containerID"]
            .as_str()
            .unwrap()
            .starts_with("orc://")
    );
    let uid = created["metadata"]["uid"].as_str().unwrap();
    let ids = container_ids(&node);
    assert_eq!(ids.len(), 2, "a sandbox and one container: {ids:?}");
    assert!(
        ids.iter().all(|id| id.starts_with(uid)),
        "only web's: {ids:?}"
    );

    let warm_at = Instant::now();
    post(pod("web2", NODE)).await;
    api.wait_for(&format!("{pods}/web2"), LONG, running).await;
    println!("web2: created to Running: {:?}", warm_at.elapsed());

    // A status is sent when it changes, not at every sync (every 200 ms here).
    let version = |pod: &Value| pod["metadata"]["resourceVersion"].clone();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = version(&api.get(&format!("{pods}/web2")).await.unwrap());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = api.get(&format!("{pods}/web2")).await.unwrap();
    assert_eq!(
        version(&later),
        settled,
        "no status update without a change"
    );

    let elsewhere = api.get(&format!("{pods}/elsewhere")).await.unwrap();
    assert_eq!(
        elsewhere["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"}),
        "not run here (the API server set only the QoS class)"
    );

    // 4. A restarted agent adopts the running pods: same containers, no restart.
    let before = container_ids(&node);
    assert_eq!(before.len(), 4, "{before:?}");
    agent.stop();
    let mut agent = AgentProcess::start(&node, NODE, &api, port, "agent-restarted.log");
    // Renewed again by the new agent, which has synced by then several times.
    let renewed = api.get(&lease_path).await.unwrap()["spec"]["renewTime"]
        .as_str()
        .unwrap()
        .to_string();
    api.wait_for(&lease_path, LONG, |l| {
        l["spec"]["renewTime"].as_str().unwrap_or("") > renewed.as_str()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(container_ids(&node), before, "adopted, not duplicated");
    let web_after = api.get(&format!("{pods}/web")).await.unwrap();
    assert!(running(&web_after), "{web_after}");
    assert_eq!(
        web_after["status"]["containerStatuses"][0]["containerID"],
        container["containerID"]
    );
    assert_eq!(
        web_after["status"]["containerStatuses"][0]["restartCount"],
        0
    );

    // 5. `kubectl delete pod` marks the pod; the agent stops it and deletes
    // the object; kubectl waits for that.
    let deleting = Instant::now();
    let text = kubectl(&config, &["delete", "pod", "web", "--timeout=60s"]).await;
    assert!(text.contains("pod \"web\" deleted"), "{text}");
    println!(
        "kubectl delete pod web (grace 1 s): {:?}",
        deleting.elapsed()
    );
    assert!(
        api.get(&format!("{pods}/web")).await.is_none(),
        "gone from the API"
    );
    let left = container_ids(&node);
    assert!(
        !left.iter().any(|id| id.starts_with(uid)),
        "web's containers stopped: {left:?}"
    );
    assert_eq!(left.len(), 2, "web2 still runs: {left:?}");

    // 6. Clean up through the API too, then check the node is empty.
    let client = api.client.clone();
    client
        .send_path(Method::DELETE, &format!("{pods}/web2"), None, None)
        .await
        .unwrap();
    let deadline = Instant::now() + LONG;
    while api.get(&format!("{pods}/web2")).await.is_some() {
        assert!(Instant::now() < deadline, "web2 not deleted by its node");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.stop();
    assert_eq!(
        container_ids(&node),
        Vec::<String>::new(),
        "containers left"
    );
    assert_eq!(
        node.mounts_left(),
        Vec::<std::path::PathBuf>::new(),
        "mounts left"
    );
    let ipam: Value = serde_json::from_slice(&std::fs::read(node.layout.ipam()).unwrap()).unwrap();
    assert_eq!(ipam["allocations"], json!({}), "addresses left");
}

/// The pod sandboxes `orc agent` runs on `node` (a container each, named
/// `<pod uid>-pod`), waited for until there are `n` (old pods take their
/// grace period to stop).
async fn until_pods(node: &Node, n: usize) -> Vec<String> {
    let deadline = Instant::now() + LONG;
    loop {
        let ids: Vec<String> = container_ids(node)
            .into_iter()
            .filter(|id| id.ends_with("-pod"))
            .collect();
        if ids.len() == n {
            return ids;
        }
        assert!(
            Instant::now() < deadline,
            "{} pods, not {n}: {ids:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Chapter 05 on a real node: a Deployment's pods run as containers, its
/// rollout waits for the node to report them ready, and a new version
/// replaces them one at a time. (The template names the node: there is no
/// scheduler before chapter 04.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_rolls_out_on_a_real_node() {
    let node = Node::new();
    let api = ApiServer::start().await;
    let controllers = tokio::spawn(orc_controllers::run(orc_controllers::Config::new(&api.url)));
    let port = orc_testkit::ports::free_port();
    let _agent = AgentProcess::start(&node, NODE, &api, port, "agent.log");
    api.wait_for(&format!("/api/v1/nodes/{NODE}"), LONG, agent_node_ready)
        .await;
    let config = kubeconfig(node.dir.path(), &api);
    let manifest = node.dir.path().join("web.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  \
             selector: {{matchLabels: {{app: web}}}}\n  \
             strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}\n  \
             template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      nodeName: {NODE}\n      \
             terminationGracePeriodSeconds: 1\n      containers:\n      - name: main\n        image: busybox\n        \
             command: [sh, -c, 'echo version $VERSION; exec sleep 3600']\n        env: [{{name: VERSION, value: '1'}}]\n"
        ),
    )
    .unwrap();
    kubectl(&config, &["apply", "-f", manifest.to_str().unwrap()]).await;
    let out = kubectl(
        &config,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    )
    .await;
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    let first = until_pods(&node, 2).await;

    // A new version: new pods replace the old ones.
    kubectl(&config, &["set", "env", "deployment/web", "VERSION=2"]).await;
    let out = kubectl(
        &config,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    )
    .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let second = until_pods(&node, 2).await;
    assert!(
        second.iter().all(|id| !first.contains(id)),
        "every pod replaced"
    );
    // As on Kubernetes, the rollout is done once the new pods are
    // available; an old one may still be terminating until its node has
    // stopped it and deleted it.
    api.wait_for("/api/v1/namespaces/default/pods", LONG, |list| {
        list["items"]
            .as_array()
            .is_some_and(|items| items.len() == 2)
    })
    .await;
    let pods = kubectl(
        &config,
        &[
            "get",
            "pods",
            "-o",
            "jsonpath={.items[*].spec.containers[0].env[0].value}",
        ],
    )
    .await;
    assert_eq!(pods, "2 2");

    // Deleting the Deployment stops every container.
    kubectl(
        &config,
        &[
            "delete",
            "deployment",
            "web",
            "--cascade=foreground",
            "--timeout=120s",
        ],
    )
    .await;
    until_pods(&node, 0).await;
    assert_eq!(
        container_ids(&node),
        Vec::<String>::new(),
        "containers left"
    );
    controllers.abort();
}

/// One real node, registered and Ready, and a kubeconfig for its API
/// server (the tests start the scheduler and controllers they need).
async fn scheduled_node() -> (Node, ApiServer, AgentProcess, std::path::PathBuf) {
    let node = Node::new();
    let api = ApiServer::start().await;
    let port = orc_testkit::ports::free_port();
    let agent = AgentProcess::start(&node, NODE, &api, port, "agent.log");
    api.wait_for(&format!("/api/v1/nodes/{NODE}"), LONG, agent_node_ready)
        .await;
    let config = kubeconfig(node.dir.path(), &api);
    (node, api, agent, config)
}

/// `kubectl create deployment web` (two busybox replicas, names no node)
/// and its rollout to the end. The container ends on SIGTERM, so deleting
/// it takes no grace period.
async fn roll_out_web(config: &std::path::Path) {
    kubectl(
        config,
        &[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--replicas=2",
            "--",
            "sh",
            "-c",
            "trap 'exit 0' TERM; sleep 3600 & wait",
        ],
    )
    .await;
    let out = kubectl(
        config,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    )
    .await;
    assert!(out.contains("successfully rolled out"), "{out}");
}

/// Chapter 04 on a real node: `kubectl create deployment` names no node;
/// the scheduler binds each pod to the one real node, whose agent runs
/// it, and `kubectl describe pod` tells the story.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_deployment_is_scheduled_onto_a_real_node() {
    let (node, api, _agent, config) = scheduled_node().await;
    let controllers = tokio::spawn(orc_controllers::run(orc_controllers::Config::new(&api.url)));
    let scheduler = orc_scheduler::start(orc_scheduler::Config::new(&api.url))
        .await
        .expect("the scheduler starts");
    roll_out_web(&config).await;
    until_pods(&node, 2).await;
    let pods = api.get("/api/v1/namespaces/default/pods").await.unwrap();
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{pods}");
    for pod in items {
        assert_eq!(pod["spec"]["nodeName"], NODE, "bound by the scheduler");
        assert!(running(pod), "{pod}");
        let name = pod["metadata"]["name"].as_str().unwrap();
        let described = kubectl(&config, &["describe", "pod", name]).await;
        let assigned = format!("Successfully assigned default/{name} to {NODE}");
        assert!(described.contains(&assigned), "{described}");
        assert!(described.contains("default-scheduler"), "{described}");
        let scheduled = pod["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "PodScheduled")
            .cloned();
        assert_eq!(scheduled.unwrap()["status"], "True");
    }
    kubectl(
        &config,
        &[
            "delete",
            "deployment",
            "web",
            "--cascade=foreground",
            "--timeout=120s",
        ],
    )
    .await;
    until_pods(&node, 0).await;
    drop(scheduler);
    controllers.abort();
}

/// The classic typo, `kubectl set image` to a tag nobody has: the new pod
/// goes to ErrImagePull, then ImagePullBackOff; the old pods go on serving
/// (the rollout stalls, the app does not break); and once
/// `progressDeadlineSeconds` has passed, `kubectl rollout status` says the
/// Deployment exceeded its progress deadline, as on Kubernetes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_in_the_image_tag_stalls_the_rollout_in_image_pull_back_off() {
    let (node, api, _agent, config) = scheduled_node().await;
    let controllers = tokio::spawn(orc_controllers::run(orc_controllers::Config::new(&api.url)));
    let scheduler = orc_scheduler::start(orc_scheduler::Config::new(&api.url))
        .await
        .expect("the scheduler starts");
    roll_out_web(&config).await;
    // A short deadline, so that the test need not wait Kubernetes' 600 s.
    kubectl(
        &config,
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"progressDeadlineSeconds":5}}"#,
        ],
    )
    .await;
    // A registry on loopback where nothing listens: no request leaves the
    // machine.
    let image = "127.0.0.1:1/busybox:does-not-exist";
    kubectl(
        &config,
        &[
            "set",
            "image",
            "deployment/web",
            &format!("busybox={image}"),
        ],
    )
    .await;
    let (ok, out) = cluster::kubectl_status(
        &config,
        &["rollout", "status", "deployment/web", "--timeout=120s"],
    )
    .await;
    assert!(!ok, "the rollout cannot finish: {out}");
    assert!(
        out.contains("deployment \"web\" exceeded its progress deadline"),
        "{out}"
    );
    let backing_off = |pod: &Value| {
        pod.pointer("/status/containerStatuses/0/state/waiting/reason")
            .and_then(Value::as_str)
            == Some("ImagePullBackOff")
    };
    api.wait_for("/api/v1/namespaces/default/pods", LONG, |list| {
        list["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(backing_off))
    })
    .await;
    let table = kubectl(&config, &["get", "pods", "--no-headers"]).await;
    let stalled: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("ImagePullBackOff") || l.contains("ErrImagePull"))
        .collect();
    assert_eq!(stalled.len(), 1, "one new pod, surged: {table}");
    assert_eq!(
        table.lines().filter(|l| l.contains("Running")).count(),
        2,
        "the old pods still run: {table}"
    );
    let available = kubectl(
        &config,
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.status.availableReplicas}",
        ],
    )
    .await;
    assert_eq!(available, "2");

    kubectl(
        &config,
        &[
            "delete",
            "deployment",
            "web",
            "--cascade=foreground",
            "--timeout=120s",
        ],
    )
    .await;
    until_pods(&node, 0).await;
    assert_eq!(
        container_ids(&node),
        Vec::<String>::new(),
        "containers left"
    );
    drop(scheduler);
    controllers.abort();
}

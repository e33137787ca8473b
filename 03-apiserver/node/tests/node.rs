//! The node agent's API side against a real etcd and server, without
//! containers: registration and re-registration, the Lease, the pods an
//! informer on `spec.nodeName` sees, statuses through the work queue, and
//! the final delete of a gracefully deleted pod.

// The API server fixture the server's own tests use (a real etcd and a real
// orc-apiserver on 127.0.0.1:0), shared rather than copied.
#[path = "../../server/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::TestServer;
use orc_client::Client;
use orc_node::{NodeAgent, NodeConfig, NodeIdentity};
use orc_pod::status::{ContainerState, ContainerStatus, Phase, PodCondition, PodStatus};
use serde_json::{Value, json};

const PODS: &str = "/api/v1/namespaces/default/pods";

fn config(name: &str) -> NodeConfig {
    NodeConfig {
        identity: NodeIdentity {
            name: name.into(),
            ip: Ipv4Addr::new(192, 168, 7, 1),
            hostname: name.into(),
            pod_cidr: "10.244.3.0/24".into(),
            port: 10250,
            runtime_version: "orc://0.1.0".into(),
            agent_version: "v0.1.0".into(),
            state_dir: None,
            labels: BTreeMap::new(),
        },
        lease_period: Duration::from_millis(200),
        status_period: Duration::from_secs(60),
    }
}

fn bound_pod(name: &str, node: &str) -> Value {
    let mut pod = common::pod(name);
    pod["spec"]["nodeName"] = json!(node);
    pod
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_node_registers_heartbeats_and_registers_again() {
    let s = TestServer::start().await;
    let client = Client::new(s.url(""));
    let node = NodeAgent::start(client.clone(), config("n1"))
        .await
        .unwrap();
    let (code, stored) = s.get("/api/v1/nodes/n1").await;
    assert_eq!(code, 200);
    assert_eq!(stored["status"]["addresses"][0]["address"], "192.168.7.1");
    assert_eq!(stored["spec"]["podCIDR"], "10.244.3.0/24");
    assert_eq!(stored["metadata"]["labels"]["kubernetes.io/os"], "linux");
    let ready = |n: &Value| {
        n["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Ready")
            .cloned()
            .unwrap()
    };
    let since = ready(&stored)["lastTransitionTime"].clone();

    let lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1";
    let mut first = String::new();
    eventually("the lease is created", async || {
        let (code, l) = s.get(lease).await;
        first = l["spec"]["renewTime"].as_str().unwrap_or("").to_string();
        code == 200
    })
    .await;
    eventually("the lease is renewed", async || {
        let (_, l) = s.get(lease).await;
        l["spec"]["renewTime"].as_str().unwrap_or("") > first.as_str()
    })
    .await;
    node.stop(Duration::from_secs(1)).await;

    // A second start (an agent restart) updates the Node instead of failing,
    // and keeps when it became Ready.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut changed = config("n1");
    changed.identity.pod_cidr = "10.244.4.0/24".into();
    changed.status_period = Duration::from_millis(300);
    let node = NodeAgent::start(client, changed).await.unwrap();
    let (_, again) = s.get("/api/v1/nodes/n1").await;
    assert_eq!(again["metadata"]["uid"], stored["metadata"]["uid"]);
    assert_eq!(again["spec"]["podCIDRs"], json!(["10.244.4.0/24"]));
    assert_eq!(ready(&again)["lastTransitionTime"], since);
    assert_ne!(
        ready(&again)["lastHeartbeatTime"],
        ready(&stored)["lastHeartbeatTime"]
    );

    // A deleted Node comes back at the next status post, and the Lease
    // names the new Node as its owner.
    assert_eq!(s.delete("/api/v1/nodes/n1").await.0, 200);
    let mut new_uid = Value::Null;
    eventually("the node registers again", async || {
        let (code, n) = s.get("/api/v1/nodes/n1").await;
        new_uid = n["metadata"]["uid"].clone();
        code == 200 && new_uid != stored["metadata"]["uid"]
    })
    .await;
    eventually("the lease follows the new node", async || {
        let (_, l) = s.get(lease).await;
        l["metadata"]["ownerReferences"][0]["uid"] == new_uid
    })
    .await;
    node.stop(Duration::from_secs(1)).await;
}

/// The node lifecycle controller may mark a node that never stopped
/// `Unknown` (its grace period ran out before a renewal reached it): the
/// agent sees its Ready condition overwritten and posts `Ready=True`
/// again within a few lease periods, not at its next periodic post (a
/// minute away here).
#[tokio::test]
async fn a_node_marked_unknown_while_alive_says_ready_again() {
    let s = TestServer::start().await;
    let client = Client::new(s.url(""));
    let node = NodeAgent::start(client, config("n1")).await.unwrap();
    let ready = async || {
        let (_, n) = s.get("/api/v1/nodes/n1").await;
        n["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .map(|c| (c["status"].clone(), c["reason"].clone()))
    };
    eventually("the node is Ready", async || {
        ready().await == Some((json!("True"), json!("KubeletReady")))
    })
    .await;
    // What the controller writes for a silent node.
    let unknown = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown",
        "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}});
    let (code, written) = s
        .patch(
            "/api/v1/nodes/n1/status",
            "application/merge-patch+json",
            &unknown.to_string(),
        )
        .await;
    assert_eq!(code, 200, "{written}");
    let marked = Instant::now();
    // `eventually` gives 10 s; the periodic post is 60 s away.
    eventually("Ready again", async || {
        ready().await == Some((json!("True"), json!("KubeletReady")))
    })
    .await;
    assert!(marked.elapsed() < Duration::from_secs(10));
    node.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn pods_of_this_node_statuses_and_the_final_delete() {
    let s = TestServer::start().await;
    let client = Client::new(s.url(""));
    let (_, mine) = s.post(PODS, &bound_pod("mine", "n1")).await;
    // The API does not check that a volumeMount names a volume of the
    // pod; the agent does, so the node refuses the pod.
    let mut with_init = bound_pod("with-init", "n1");
    with_init["spec"]["containers"][0]["volumeMounts"] =
        json!([{"name": "nope", "mountPath": "/x"}]);
    s.post(PODS, &with_init).await;
    s.post(PODS, &bound_pod("theirs", "n2")).await;
    s.post(PODS, &common::pod("unbound")).await;
    let node = NodeAgent::start(client, config("n1")).await.unwrap();

    // The informer listed before start returned: the source has the pod.
    let source = node.pod_source();
    let snapshot = source.snapshot();
    let names: Vec<&str> = snapshot
        .pods
        .iter()
        .map(|p| p.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["mine"]);
    let pod = snapshot.pods[0].clone();
    // The one orc cannot run is refused, and marked Failed in the API.
    assert_eq!(
        snapshot.errors[0].field,
        "spec.containers[0].volumeMounts[0].name"
    );
    eventually("the refused pod is Failed", async || {
        let (_, p) = s.get(&format!("{PODS}/with-init")).await;
        p["status"]["phase"] == "Failed"
    })
    .await;
    let (_, refused) = s.get(&format!("{PODS}/with-init")).await;
    assert_eq!(refused["status"]["reason"], "Unsupported");
    let message = refused["status"]["message"].as_str().unwrap();
    assert!(message.contains("no volume named"), "{message}");
    assert_eq!(pod.metadata.uid, mine["metadata"]["uid"].as_str().unwrap());

    // A status handed to the sink reaches the API, with the node's address.
    let sink = node.status_sink();
    let status = PodStatus {
        phase: Phase::Running,
        conditions: vec![],
        pod_ip: Some("10.244.3.2".into()),
        start_time: Some("2024-05-01T12:00:00Z".into()),
        init_container_statuses: vec![],
        container_statuses: vec![ContainerStatus {
            name: "main".into(),
            image: "busybox:1.36".into(),
            state: ContainerState::Running {
                started_at: "2024-05-01T12:00:01Z".into(),
            },
            last_state: None,
            ready: true,
            started: Some(true),
            restart_count: 0,
            container_id: Some("orc://x".into()),
        }],
    };
    sink.status_changed(&pod, &status);
    eventually("the status is sent", async || {
        let (_, p) = s.get(&format!("{PODS}/mine")).await;
        p["status"]["phase"] == "Running"
    })
    .await;
    let (_, p) = s.get(&format!("{PODS}/mine")).await;
    assert_eq!(p["status"]["podIPs"], json!([{"ip": "10.244.3.2"}]));
    assert_eq!(p["status"]["hostIP"], "192.168.7.1");
    assert_eq!(
        p["status"]["containerStatuses"][0]["containerID"],
        "orc://x"
    );

    // Deleting marks the pod; the source reports it as terminating.
    let (code, _) = s.delete(&format!("{PODS}/mine")).await;
    assert_eq!(code, 200);
    eventually("the source sees the mark", async || {
        !source.snapshot().terminating.is_empty()
    })
    .await;
    let snapshot = source.snapshot();
    assert!(snapshot.pods.is_empty());
    assert_eq!(snapshot.terminating[0].uid, pod.metadata.uid);
    assert_eq!(snapshot.terminating[0].grace, Duration::from_secs(30));

    // Once the agent says nothing is left, the sink deletes the object.
    sink.pod_terminated(&pod.metadata.uid);
    eventually("the pod is deleted", async || {
        s.get(&format!("{PODS}/mine")).await.0 == 404
    })
    .await;
    // Statuses of pods that are not the API's (static pods) are not sent.
    let mut static_pod = pod.clone();
    static_pod.metadata.uid = "0123456789abcdef".into();
    static_pod.metadata.name = "theirs".into();
    sink.status_changed(&static_pod, &status);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, theirs) = s.get(&format!("{PODS}/theirs")).await;
    assert_eq!(
        theirs["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"})
    );
    node.stop(Duration::from_secs(1)).await;
}

/// The agent puts back what another component overwrote in the status it
/// owns, as the kubelet's status manager does: the node lifecycle
/// controller marked the pod `Ready=False` while the node was silent; the
/// node's agent, still running it, sends `Ready=True` again, and keeps the
/// condition that is not its own.
#[tokio::test]
async fn a_ready_condition_overwritten_by_another_is_sent_again() {
    let s = TestServer::start().await;
    let client = Client::new(s.url(""));
    s.post(PODS, &bound_pod("mine", "n1")).await;
    let node = NodeAgent::start(client, config("n1")).await.unwrap();
    let pod = node.pod_source().snapshot().pods[0].clone();
    let condition = |kind: &str| PodCondition {
        kind: kind.into(),
        status: "True".into(),
        reason: None,
    };
    let status = PodStatus {
        phase: Phase::Running,
        conditions: vec![condition("ContainersReady"), condition("Ready")],
        pod_ip: Some("10.244.3.2".into()),
        start_time: Some("2024-05-01T12:00:00Z".into()),
        init_container_statuses: vec![],
        container_statuses: vec![],
    };
    node.status_sink().status_changed(&pod, &status);
    let ready = async |want: &str| {
        let (_, p) = s.get(&format!("{PODS}/mine")).await;
        p["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == want)
    };
    eventually("the pod is Ready", async || ready("True").await).await;

    // The node lifecycle controller's write, and another's condition.
    let marked = json!({"status": {"conditions": [
        {"type": "ContainersReady", "status": "True"},
        {"type": "Ready", "status": "False", "lastTransitionTime": "2024-05-01T12:05:00Z"},
        {"type": "DisruptionTarget", "status": "True", "reason": "Test"}]}});
    let (code, written) = s
        .patch(
            &format!("{PODS}/mine/status"),
            "application/merge-patch+json",
            &marked.to_string(),
        )
        .await;
    assert_eq!(code, 200, "{written}");
    eventually("Ready again", async || ready("True").await).await;
    let (_, p) = s.get(&format!("{PODS}/mine")).await;
    let kinds: Vec<&str> = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ContainersReady", "Ready", "DisruptionTarget"]);
    node.stop(Duration::from_secs(1)).await;
}

/// Under `--authorization-mode=Node,RBAC`, with its own node's token, the
/// agent is refused nothing it needs: it registers and renews its Lease,
/// lists its pods, and reads the Secret its pod names through one watch of
/// that name (never the list of every Secret, which a node may not read).
/// A Secret no pod of the node names stays out of its reach.
#[tokio::test]
async fn under_the_node_authorizer_the_agent_reads_only_its_pods_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    let users =
        "admin-token,admin,1,\"system:masters\"\nn1-token,system:node:n1,2,\"system:nodes\"\n";
    std::fs::write(&tokens, users).unwrap();
    let s = TestServer::start_with(|c| {
        c.token_file = Some(tokens);
        c.authorization = orc_apiserver::authz::Modes::node_and_rbac();
    })
    .await;
    let admin = Client::new(s.url("")).with_token("admin-token");
    let secrets = orc_client::resources::lookup("", "v1", "secrets").unwrap();
    let pods = orc_client::resources::lookup("", "v1", "pods").unwrap();
    for name in ["db", "other"] {
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "default"}, "data": {"p": "czNjcjN0"}});
        admin
            .create(secrets, Some("default"), &secret)
            .await
            .unwrap();
    }
    let mut pod = bound_pod("web", "n1");
    pod["spec"]["containers"][0]["env"] =
        json!([{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db", "key": "p"}}}]);
    admin.create(pods, Some("default"), &pod).await.unwrap();

    let node_client = Client::new(s.url("")).with_token("n1-token");
    // A label outside kubernetes.io and k8s.io: NodeRestriction lets the
    // node set it on itself (what `orc agent` does for its ingress).
    let proxy_label = "ingress.orc.dev/proxy";
    let mut labelled = config("n1");
    labelled.identity.labels = BTreeMap::from([(proxy_label.to_string(), Some("true".into()))]);
    let node = NodeAgent::start(node_client.clone(), labelled)
        .await
        .unwrap();
    assert_eq!(node.node["metadata"]["labels"][proxy_label], "true");
    let snapshot = node.pod_source().snapshot();
    assert_eq!(snapshot.pods.len(), 1, "{:?}", snapshot.errors);
    let objects = node.object_source();
    objects.fetch_for_pod(&snapshot.pods[0]).await;
    let db = objects.secret("default", "db").unwrap().unwrap();
    assert_eq!(db["p"], b"s3cr3t");
    assert_eq!(objects.secret("default", "other"), Ok(None));
    let refused = node_client
        .get(secrets, Some("default"), "other")
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(403), "{refused}");
    // The Lease is renewed with the node's own credential.
    eventually("the lease is created", async || {
        let leases = orc_client::resources::lookup("coordination.k8s.io", "v1", "leases").unwrap();
        admin
            .get(leases, Some("kube-node-lease"), "n1")
            .await
            .is_ok()
    })
    .await;
    node.stop(Duration::from_secs(1)).await;

    // The next run does not serve it: registering again takes it off.
    let mut unlabelled = config("n1");
    unlabelled.identity.labels = BTreeMap::from([(proxy_label.to_string(), None)]);
    let node = NodeAgent::start(node_client, unlabelled).await.unwrap();
    let nodes = orc_client::resources::lookup("", "v1", "nodes").unwrap();
    let stored = admin.get(nodes, None, "n1").await.unwrap();
    assert!(
        stored["metadata"]["labels"].get(proxy_label).is_none(),
        "{stored}"
    );
    assert_eq!(stored["metadata"]["labels"]["kubernetes.io/os"], "linux");
    node.stop(Duration::from_secs(1)).await;
}

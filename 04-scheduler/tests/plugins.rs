//! One scenario per default plugin, on Node objects made through the API:
//! pods land where the plugin says, never where it forbids, and a pod
//! that fits nowhere reads Kubernetes' own message.

mod common;

use common::*;
use serde_json::{Value, json};

/// A pod with `spec` fields merged over the plain one.
fn pod_with(name: &str, labels: Value, extra: Value) -> Value {
    let mut p = pod(name, Some(("100m", "64Mi")));
    p["metadata"]["labels"] = labels;
    for (k, v) in extra.as_object().unwrap() {
        p["spec"][k] = v.clone();
    }
    p
}

fn on_node(name: &str) -> Value {
    json!({"nodeSelector": {"kubernetes.io/hostname": name}})
}

#[tokio::test]
async fn node_unschedulable_keeps_pods_off_cordoned_nodes() {
    let c = Cluster::start().await;
    let mut cordoned = node("n1", "4", "8Gi", json!({}));
    cordoned["spec"]["unschedulable"] = json!(true);
    c.node(cordoned).await;
    c.node(node("n2", "4", "8Gi", json!({}))).await;
    for i in 0..4 {
        c.pod(pod(&format!("p{i}"), Some(("100m", "64Mi")))).await;
        assert_eq!(c.scheduled(&format!("p{i}")).await, "n2");
    }
    c.pod(pod_with("pinned", json!({}), on_node("n1"))).await;
    assert_eq!(
        c.unschedulable("pinned").await,
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
         1 node(s) were unschedulable. preemption: 0/2 nodes are available: \
         2 Preemption is not helpful for scheduling."
    );
    let mut tolerant = on_node("n1");
    tolerant["tolerations"] = json!([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]);
    c.pod(pod_with("daemon", json!({}), tolerant)).await;
    assert_eq!(c.scheduled("daemon").await, "n1");
}

#[tokio::test]
async fn node_name_pods_are_left_alone_and_counted() {
    let c = Cluster::start().await;
    c.node(node("n1", "1", "8Gi", json!({}))).await;
    c.node(node("n2", "1", "8Gi", json!({}))).await;
    // Named by the user: the scheduler does not touch it, but counts it.
    let mut named = pod("named", Some(("900m", "64Mi")));
    named["spec"]["nodeName"] = json!("n1");
    c.pod(named).await;
    for i in 0..3 {
        c.pod(pod(&format!("p{i}"), Some(("200m", "64Mi")))).await;
        assert_eq!(c.scheduled(&format!("p{i}")).await, "n2", "n1 is full");
    }
    let named = c
        .get("/api/v1/namespaces/default/pods/named")
        .await
        .unwrap();
    assert!(named["status"].get("conditions").is_none(), "{named}");
}

#[tokio::test]
async fn taint_toleration_filters_and_scores() {
    let c = Cluster::start().await;
    let mut gpu = node("gpu", "4", "8Gi", json!({}));
    gpu["spec"]["taints"] = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]);
    c.node(gpu).await;
    let mut soft = node("soft", "4", "8Gi", json!({}));
    soft["spec"]["taints"] = json!([{"key": "spot", "value": "", "effect": "PreferNoSchedule"}]);
    c.node(soft).await;
    c.node(node("plain", "4", "8Gi", json!({}))).await;
    // Untolerated NoSchedule: never; PreferNoSchedule: avoided (weight 3).
    for i in 0..3 {
        c.pod(pod(&format!("p{i}"), Some(("100m", "64Mi")))).await;
        assert_eq!(c.scheduled(&format!("p{i}")).await, "plain");
    }
    let mut tolerant = on_node("gpu");
    tolerant["tolerations"] =
        json!([{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]);
    c.pod(pod_with("trainer", json!({}), tolerant)).await;
    assert_eq!(c.scheduled("trainer").await, "gpu");
    c.pod(pod_with("stray", json!({}), on_node("gpu"))).await;
    assert_eq!(
        c.unschedulable("stray").await,
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, \
         2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are \
         available: 3 Preemption is not helpful for scheduling."
    );
}

#[tokio::test]
async fn node_affinity_every_operator_and_preferences() {
    let c = Cluster::start().await;
    c.node(node(
        "small",
        "4",
        "8Gi",
        json!({"zone": "a", "cores": "4", "disk": "hdd"}),
    ))
    .await;
    c.node(node("big", "4", "8Gi", json!({"zone": "b", "cores": "16"})))
        .await;
    let required = |expressions: Value| {
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": expressions}]}}}})
    };
    let cases = [
        (
            "in",
            json!([{"key": "zone", "operator": "In", "values": ["b"]}]),
            "big",
        ),
        (
            "notin",
            json!([{"key": "zone", "operator": "NotIn", "values": ["b"]}]),
            "small",
        ),
        (
            "exists",
            json!([{"key": "disk", "operator": "Exists"}]),
            "small",
        ),
        (
            "absent",
            json!([{"key": "disk", "operator": "DoesNotExist"}]),
            "big",
        ),
        (
            "gt",
            json!([{"key": "cores", "operator": "Gt", "values": ["8"]}]),
            "big",
        ),
        (
            "lt",
            json!([{"key": "cores", "operator": "Lt", "values": ["8"]}]),
            "small",
        ),
    ];
    for (name, expressions, expected) in cases {
        c.pod(pod_with(name, json!({}), required(expressions)))
            .await;
        assert_eq!(c.scheduled(name).await, expected, "{name}");
    }
    let by_name = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["small"]}]}]}}}});
    c.pod(pod_with("fields", json!({}), by_name)).await;
    assert_eq!(c.scheduled("fields").await, "small");
    c.pod(pod_with(
        "selector",
        json!({}),
        json!({"nodeSelector": {"zone": "b"}}),
    ))
    .await;
    assert_eq!(c.scheduled("selector").await, "big");
    // Preferred: weight 2 × 100 outweighs the rest.
    let preferred = json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 80, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}}});
    for i in 0..3 {
        let name = format!("prefers-a-{i}");
        c.pod(pod_with(&name, json!({}), preferred.clone())).await;
        assert_eq!(c.scheduled(&name).await, "small");
    }
    // Nothing matches: Kubernetes' reason; a malformed term: what is wrong.
    c.pod(pod_with(
        "nowhere",
        json!({}),
        json!({"nodeSelector": {"zone": "c"}}),
    ))
    .await;
    assert_eq!(
        c.unschedulable("nowhere").await,
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. \
         preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    let malformed = required(json!([{"key": "cores", "operator": "Gt", "values": ["many"]}]));
    c.pod(pod_with("malformed", json!({}), malformed)).await;
    assert_eq!(
        c.unschedulable("malformed").await,
        "0/2 nodes are available: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution\
         .nodeSelectorTerms[0].matchExpressions[0].values: \"many\" is not an integer for Gt. \
         preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
}

#[tokio::test]
async fn node_ports_are_taken_once_per_node() {
    let c = Cluster::start().await;
    c.node(node("n1", "4", "8Gi", json!({}))).await;
    c.node(node("n2", "4", "8Gi", json!({}))).await;
    let with_port = |name: &str| {
        let mut p = pod(name, Some(("100m", "64Mi")));
        p["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80, "hostPort": 8080}]);
        p
    };
    c.pod(with_port("a")).await;
    let first = c.scheduled("a").await;
    c.pod(with_port("b")).await;
    let second = c.scheduled("b").await;
    assert_ne!(first, second, "one pod per node on port 8080");
    c.pod(with_port("c")).await;
    assert_eq!(
        c.unschedulable("c").await,
        "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. \
         preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
}

#[tokio::test]
async fn node_resources_fit_filters_and_spreads() {
    let c = Cluster::start().await;
    c.node(node("small", "1", "1Gi", json!({}))).await;
    c.node(node("large", "4", "4Gi", json!({}))).await;
    // LeastAllocated: the node left emptier (97 % free against 90 %).
    c.pod(pod("light", Some(("100m", "100Mi")))).await;
    assert_eq!(c.scheduled("light").await, "large");
    c.pod(pod("two-cpus", Some(("2", "64Mi")))).await;
    assert_eq!(
        c.scheduled("two-cpus").await,
        "large",
        "the only one with 2 CPUs"
    );
    // Init containers count by their largest: 3 CPUs for a moment.
    let mut init = pod("init", Some(("100m", "64Mi")));
    init["spec"]["initContainers"] = json!([{"name": "setup", "image": "busybox",
        "resources": {"requests": {"cpu": "1500m"}}}]);
    c.pod(init).await;
    assert_eq!(c.scheduled("init").await, "large");
    c.pod(pod("eight-cpus", Some(("8", "64Mi")))).await;
    assert_eq!(
        c.unschedulable("eight-cpus").await,
        "0/2 nodes are available: 2 Insufficient cpu. \
         preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    );
    // Fits nowhere now, but would on an emptied node: preemption's reason.
    c.pod(pod("almost", Some(("900m", "64Mi")))).await;
    c.scheduled("almost").await;
    c.pod(pod("too-much", Some(("900m", "64Mi")))).await;
    let message = c.unschedulable("too-much").await;
    assert!(
        message.starts_with("0/2 nodes are available: 2 Insufficient cpu."),
        "{message}"
    );
    assert!(
        message.ends_with("2 No preemption victims found for incoming pod."),
        "{message}"
    );
}

#[tokio::test]
async fn most_allocated_packs() {
    let c = Cluster::start_with(|config| {
        config.scoring_strategy = orc_scheduler::ScoringStrategy::MostAllocated;
    })
    .await;
    c.node(node("small", "1", "1Gi", json!({}))).await;
    c.node(node("large", "4", "4Gi", json!({}))).await;
    for i in 0..3 {
        c.pod(pod(&format!("p{i}"), Some(("100m", "100Mi")))).await;
        assert_eq!(
            c.scheduled(&format!("p{i}")).await,
            "small",
            "the fuller node"
        );
    }
}

#[tokio::test]
async fn pod_topology_spread_keeps_zones_even() {
    let c = Cluster::start().await;
    c.node(node("a1", "8", "8Gi", json!({"zone": "a"}))).await;
    c.node(node("a2", "8", "8Gi", json!({"zone": "a"}))).await;
    c.node(node("b1", "8", "8Gi", json!({"zone": "b"}))).await;
    let spread = |policy: &str| {
        json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": policy,
            "labelSelector": {"matchLabels": {"app": "web"}}}]})
    };
    let mut zones = Vec::new();
    for i in 0..4 {
        let name = format!("web-{i}");
        c.pod(pod_with(&name, json!({"app": "web"}), spread("Ignore")))
            .await;
        let node = c.scheduled(&name).await;
        zones.push(node[..1].to_string());
    }
    zones.sort();
    assert_eq!(zones, ["a", "a", "b", "b"], "two per zone");
    // A node without the topology label cannot take such a pod.
    c.pod(pod_with("unlabelled", json!({"app": "web"}), {
        let mut s = spread("Ignore");
        s["topologySpreadConstraints"][0]["topologyKey"] = json!("rack");
        s
    }))
    .await;
    assert_eq!(
        c.unschedulable("unlabelled").await,
        "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints \
         (missing required label). preemption: 0/3 nodes are available: 3 Preemption is not \
         helpful for scheduling."
    );
}

#[tokio::test]
async fn pod_topology_spread_taint_policy_decides_which_domains_count() {
    let c = Cluster::start().await;
    c.node(node("a1", "8", "8Gi", json!({"zone": "a"}))).await;
    c.node(node("b1", "8", "8Gi", json!({"zone": "b"}))).await;
    let mut tainted = node("c1", "8", "8Gi", json!({"zone": "c"}));
    tainted["spec"]["taints"] =
        json!([{"key": "maintenance", "value": "", "effect": "NoSchedule"}]);
    c.node(tainted).await;
    let spread = |app: &str, policy: &str| {
        json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule", "nodeTaintsPolicy": policy,
            "labelSelector": {"matchLabels": {"app": app}}}]})
    };
    // Honor: the tainted zone is no domain, so a and b share the pods.
    for i in 0..4 {
        let name = format!("honor-{i}");
        c.pod(pod_with(
            &name,
            json!({"app": "honor"}),
            spread("honor", "Honor"),
        ))
        .await;
        c.scheduled(&name).await;
    }
    // Ignore (the default): zone c counts, with 0 pods it can never get,
    // so a third pod would make a skew of 2 anywhere.
    for i in 0..2 {
        let name = format!("ignore-{i}");
        c.pod(pod_with(
            &name,
            json!({"app": "ignore"}),
            spread("ignore", "Ignore"),
        ))
        .await;
        c.scheduled(&name).await;
    }
    c.pod(pod_with(
        "ignore-2",
        json!({"app": "ignore"}),
        spread("ignore", "Ignore"),
    ))
    .await;
    assert_eq!(
        c.unschedulable("ignore-2").await,
        "0/3 nodes are available: 1 node(s) had untolerated taint {maintenance: }, \
         2 node(s) didn't match pod topology spread constraints. preemption: 0/3 nodes are \
         available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found \
         for incoming pod."
    );
}

#[tokio::test]
async fn inter_pod_affinity_near_away_and_existing() {
    let c = Cluster::start().await;
    c.node(node("a1", "8", "8Gi", json!({"zone": "a"}))).await;
    c.node(node("b1", "8", "8Gi", json!({"zone": "b"}))).await;
    c.pod(pod_with(
        "db",
        json!({"app": "db"}),
        json!({"nodeSelector": {"zone": "b"}}),
    ))
    .await;
    assert_eq!(c.scheduled("db").await, "b1");
    let term =
        |app: &str| json!({"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "zone"});
    let near = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("db")]}}});
    c.pod(pod_with("web", json!({"app": "web"}), near)).await;
    assert_eq!(c.scheduled("web").await, "b1");
    let away = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("db")]}}});
    c.pod(pod_with("batch", json!({"app": "batch"}), away))
        .await;
    assert_eq!(c.scheduled("batch").await, "a1");
    // Preferred affinity: weight 2 × 100 for being near db.
    let prefer = json!({"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": term("db")}]}}});
    for i in 0..2 {
        let name = format!("fan-{i}");
        c.pod(pod_with(&name, json!({"app": "fan"}), prefer.clone()))
            .await;
        assert_eq!(c.scheduled(&name).await, "b1");
    }
    // A namespace selector: pods of namespaces labelled team=data.
    c.create(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "data", "labels": {"team": "data"}}}),
    )
    .await;
    let mut store = pod_with(
        "store",
        json!({"app": "store"}),
        json!({"nodeSelector": {"zone": "a"}}),
    );
    store["metadata"]["namespace"] = json!("data");
    c.create("/api/v1/namespaces/data/pods", &store).await;
    c.until("/api/v1/namespaces/data/pods/store", "scheduled", |p| {
        node_of(p).is_some()
    })
    .await;
    let across = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "store"}}, "namespaceSelector": {"matchLabels": {"team": "data"}}, "topologyKey": "zone"}]}}});
    c.pod(pod_with("reader", json!({"app": "reader"}), across))
        .await;
    assert_eq!(c.scheduled("reader").await, "a1");
    // Nothing to be near: Kubernetes' reason.
    let lonely = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term("ghost")]}}});
    c.pod(pod_with("lonely", json!({"app": "lonely"}), lonely))
        .await;
    assert_eq!(
        c.unschedulable("lonely").await,
        "0/2 nodes are available: 2 node(s) didn't match pod affinity rules. preemption: 0/2 \
         nodes are available: 2 Preemption is not helpful for scheduling."
    );
}

#[tokio::test]
async fn existing_pods_anti_affinity_refuses_newcomers() {
    let c = Cluster::start().await;
    c.node(node("a1", "8", "8Gi", json!({"zone": "a"}))).await;
    c.node(node("b1", "8", "8Gi", json!({"zone": "b"}))).await;
    let guard = json!({"nodeSelector": {"zone": "a"}, "affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "noisy"}}, "topologyKey": "zone"}]}}});
    c.pod(pod_with("quiet", json!({"app": "quiet"}), guard))
        .await;
    assert_eq!(c.scheduled("quiet").await, "a1");
    for i in 0..3 {
        let name = format!("noisy-{i}");
        c.pod(pod_with(&name, json!({"app": "noisy"}), json!({})))
            .await;
        assert_eq!(c.scheduled(&name).await, "b1");
    }
    c.pod(pod_with(
        "noisy-a",
        json!({"app": "noisy"}),
        json!({"nodeSelector": {"zone": "a"}}),
    ))
    .await;
    assert_eq!(
        c.unschedulable("noisy-a").await,
        "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
         1 node(s) didn't satisfy existing pods anti-affinity rules. preemption: 0/2 nodes \
         are available: 1 No preemption victims found for incoming pod, 1 Preemption is not \
         helpful for scheduling."
    );
}

#[tokio::test]
async fn balanced_allocation_prefers_even_use() {
    let c = Cluster::start().await;
    c.node(node("n1", "4", "4Gi", json!({}))).await;
    c.node(node("n2", "4", "4Gi", json!({}))).await;
    // n1 holds CPU-heavy work, n2 a balanced pod: the fit score is equal
    // for the next pod (1 CPU, 1 GiB), the balance is not.
    let mut cpu_heavy = pod("cpu-heavy", Some(("2", "0")));
    cpu_heavy["spec"]["nodeName"] = json!("n1");
    c.pod(cpu_heavy).await;
    let mut balanced = pod("balanced", Some(("1", "1Gi")));
    balanced["spec"]["nodeName"] = json!("n2");
    c.pod(balanced).await;
    c.pod(pod("next", Some(("1", "1Gi")))).await;
    assert_eq!(c.scheduled("next").await, "n2");
}

#[tokio::test]
async fn image_locality_prefers_nodes_with_the_image() {
    let c = Cluster::start().await;
    let mut warm = node("warm", "4", "8Gi", json!({}));
    warm["status"]["images"] = json!([{"names": ["docker.io/library/busybox:latest", "busybox:latest"],
        "sizeBytes": 600 * 1024 * 1024}]);
    c.node(warm).await;
    c.node(node("cold", "4", "8Gi", json!({}))).await;
    for i in 0..3 {
        let name = format!("p{i}");
        c.pod(pod(&name, Some(("10m", "10Mi")))).await;
        assert_eq!(c.scheduled(&name).await, "warm");
    }
}

//! The controller manager's `/metrics`, scraped over HTTP from two
//! managers on one Lease: the leader's queues move when there is work,
//! its leader gauge reads 1 and the standby's 0, and the node lifecycle
//! controller reports the zones it judged.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::Cluster;
use orc_client::leader::{LeaderElection, Record};
use orc_controllers::clock::SystemClock;
use orc_controllers::metrics::ControllerMetrics;
use orc_controllers::{LEASE_NAME, LEASE_NAMESPACE, Timings};
use serde_json::json;

const LEASE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

/// A manager with its own metrics, served on a loopback port.
struct Manager {
    identity: String,
    metrics_url: String,
    /// The election and the controllers.
    task: tokio::task::JoinHandle<()>,
    /// `/healthz` and `/metrics`.
    served: tokio::task::JoinHandle<()>,
}

async fn start_manager(c: &Cluster) -> Manager {
    let config = orc_controllers::Config {
        metrics: Arc::new(ControllerMetrics::default()),
        ..orc_controllers::Config::new(format!("http://{}", c.addr))
    };
    // Kubernetes' timings: nothing here waits for a takeover, and a
    // loaded machine must not make the leader miss its renewals.
    let election = LeaderElection::new(
        config.client(),
        LEASE_NAMESPACE,
        LEASE_NAME,
        Timings::default(),
    );
    let identity = election.identity.clone();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let listener = orc_controllers::http::bind(addr).await.unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let served = tokio::spawn(orc_controllers::http::serve(
        listener,
        config.metrics.clone(),
    ));
    let task = tokio::spawn(async move {
        orc_controllers::run_elected(config, Arc::new(SystemClock), &election).await;
    });
    Manager {
        identity,
        metrics_url,
        task,
        served,
    }
}

/// The value of the sample `line_start` (`name{labels}`) in `text`.
fn sample(text: &str, line_start: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Scrapes `url` until `check` holds (up to 15 s); answers that text.
async fn scrape_until(c: &Cluster, url: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..300 {
        let response = c.http.get(url).send().await.expect("/metrics answers");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        text = response.text().await.unwrap();
        if check(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url}: never {what}:\n{text}");
}

const LEADER: &str = "leader_election_master_status{name=\"kube-controller-manager\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_reports_its_queues_and_leadership_and_the_standby_reports_standing_by() {
    let c = Cluster::start_control_plane().await;
    let managers = [start_manager(&c).await, start_manager(&c).await];
    let ids: Vec<&str> = managers.iter().map(|m| m.identity.as_str()).collect();
    let lease = c
        .until(LEASE, "held", |l| {
            l.is_some_and(|l| ids.contains(&Record::of(l).holder.as_str()))
        })
        .await
        .unwrap();
    let holder = Record::of(&lease).holder;
    let (leader, standby) = match managers.iter().position(|m| m.identity == holder) {
        Some(0) => (&managers[0], &managers[1]),
        _ => (&managers[1], &managers[0]),
    };
    scrape_until(&c, &leader.metrics_url, "leading", |t| {
        sample(t, LEADER) == Some(1.0)
    })
    .await;

    // Work: a Deployment makes a ReplicaSet, which makes pods.
    c.create(
        DEPLOYMENTS,
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
    )
    .await;
    // A node in zone "a", never Ready: its zone is judged.
    c.create(
        "/api/v1/nodes",
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1",
            "labels": {"topology.kubernetes.io/zone": "a"}}}),
    )
    .await;
    let worked = |name: &str, t: &str| {
        let adds = sample(t, &format!("workqueue_adds_total{{name=\"{name}\"}}"));
        let work = sample(
            t,
            &format!("workqueue_work_duration_seconds_count{{name=\"{name}\"}}"),
        );
        adds.is_some_and(|n| n >= 1.0) && work.is_some_and(|n| n >= 1.0)
    };
    let zone = "{zone=\":\0:a\"}";
    let text = scrape_until(&c, &leader.metrics_url, "busy", |t| {
        worked("deployment", t)
            && worked("replicaset", t)
            && sample(t, &format!("node_collector_zone_size{zone}")) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&text, LEADER), Some(1.0));
    assert_eq!(
        sample(
            &text,
            &format!("node_collector_unhealthy_nodes_in_zone{zone}")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, &format!("node_collector_zone_health{zone}")),
        Some(0.0)
    );
    assert!(
        sample(&text, "workqueue_depth{name=\"job\"}").is_some(),
        "{text}"
    );
    let queued = sample(
        &text,
        "workqueue_queue_duration_seconds_count{name=\"replicaset\"}",
    );
    assert!(queued.is_some_and(|n| n >= 1.0), "{text}");

    // The standby started no controller: it stands by, with no queue.
    let text = scrape_until(&c, &standby.metrics_url, "standing by", |t| {
        sample(t, LEADER) == Some(0.0)
    })
    .await;
    assert!(!text.contains("workqueue_adds_total{"), "{text}");
    let health = c
        .http
        .get(standby.metrics_url.replace("/metrics", "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    for manager in &managers {
        manager.task.abort();
        manager.served.abort();
    }
}

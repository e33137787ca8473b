//! Two controller managers, one Lease: only the leader acts; when it is
//! killed, the standby takes over within the lease duration and carries
//! on where the leader stopped, creating no pod twice.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::Cluster;
use orc_client::leader::{LeaderElection, Record, lease_times};
use orc_client::resources::lookup;
use orc_controllers::clock::SystemClock;
use orc_controllers::{LEASE_NAME, LEASE_NAMESPACE, Timings};
use serde_json::{Value, json};

const LEASE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager";
const RS: &str = "/apis/apps/v1/namespaces/default/replicasets";

/// Short timings, so the takeover happens within the test's patience.
fn timings() -> Timings {
    Timings {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
    }
}

fn replicaset(replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web"},
        "spec": {"replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
}

/// Every pod event of the cluster from now on, counted by type.
async fn count_pod_events(c: &Cluster) -> tokio::sync::watch::Receiver<BTreeMap<String, usize>> {
    let client = orc_client::Client::new(format!("http://{}", c.addr));
    let (tx, rx) = tokio::sync::watch::channel(BTreeMap::new());
    let pods = lookup("", "v1", "pods").unwrap();
    let mut stream = client
        .watch(pods, Some("default"), "", "0", 600)
        .await
        .expect("the pod watch opens");
    tokio::spawn(async move {
        while let Some(Ok((kind, _))) = stream.next().await {
            tx.send_modify(|counts| *counts.entry(kind).or_default() += 1);
        }
    });
    rx
}

async fn until_counted(
    events: &mut tokio::sync::watch::Receiver<BTreeMap<String, usize>>,
    added: usize,
) {
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        events.wait_for(|c| c.get("ADDED").copied().unwrap_or(0) >= added),
    )
    .await
    .is_ok();
    assert!(
        waited,
        "never saw {added} pods created: {:?}",
        *events.borrow()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_acts_and_the_standby_takes_over_creating_nothing_twice() {
    let c = Cluster::start_control_plane().await;
    let mut events = count_pod_events(&c).await;
    let config = orc_controllers::Config::new(format!("http://{}", c.addr));
    let candidates: Vec<LeaderElection> = (0..2)
        .map(|_| LeaderElection::new(config.client(), LEASE_NAMESPACE, LEASE_NAME, timings()))
        .collect();
    let ids: Vec<String> = candidates.iter().map(|e| e.identity.clone()).collect();
    let mut managers: Vec<tokio::task::JoinHandle<()>> = candidates
        .into_iter()
        .map(|election| {
            let config = config.clone();
            tokio::spawn(async move {
                orc_controllers::run_elected(config, Arc::new(SystemClock), &election).await
            })
        })
        .collect();

    let lease = c
        .until(LEASE, "held", |l| {
            l.is_some_and(|l| ids.contains(&Record::of(l).holder))
        })
        .await
        .unwrap();
    let leader = ids
        .iter()
        .position(|id| *id == Record::of(&lease).holder)
        .unwrap();

    // Both managers run every controller's code; only the leader's acts.
    // Had the standby acted too, both would have created the missing pods.
    c.create(RS, &replicaset(3)).await;
    until_counted(&mut events, 3).await;
    c.until(&format!("{RS}/web"), "status 3", |rs| {
        rs.is_some_and(|rs| rs["status"]["replicas"] == 3)
    })
    .await;

    // Kill the leader (its renewals stop with it), and ask for more pods
    // at once: only the new leader, after the lease runs out, adds them.
    managers[leader].abort();
    let last_renewal = lease_times(&c.get(LEASE).await.unwrap()).1.unwrap();
    assert_eq!(
        c.merge_patch(&format!("{RS}/web"), &json!({"spec": {"replicas": 5}}))
            .await,
        200
    );
    let standby = &ids[1 - leader];
    let taken = c
        .until(LEASE, "taken over", |l| {
            l.is_some_and(|l| &Record::of(l).holder == standby)
        })
        .await
        .unwrap();
    assert_eq!(Record::of(&taken).transitions, 1);
    let gap = lease_times(&taken).0.unwrap().duration_since(last_renewal);
    // The lease duration, plus the standby's polling (two retry periods)
    // and slack for requests on a loaded machine.
    let bound = jiff::SignedDuration::from_millis(2000 + 2 * 200 + 1500);
    assert!(gap <= bound, "took over {gap:?} after the last renewal");

    until_counted(&mut events, 5).await;
    c.until(&format!("{RS}/web"), "status 5", |rs| {
        rs.is_some_and(|rs| rs["status"]["replicas"] == 5)
    })
    .await;
    // Five pods asked for, five made, none made twice and then removed.
    let counts = events.borrow().clone();
    assert_eq!(counts.get("ADDED"), Some(&5), "{counts:?}");
    assert_eq!(counts.get("DELETED"), None, "{counts:?}");
    for manager in &mut managers {
        manager.abort();
    }
}

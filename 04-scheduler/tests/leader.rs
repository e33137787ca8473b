//! Two schedulers, one Lease: only the leader schedules, and when it is
//! killed the standby takes over within the lease duration.

mod common;

use std::time::Duration;

use common::*;
use orc_client::leader::{Record, lease_times};
use orc_scheduler::Timings;
use serde_json::json;

const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler";

/// Short timings, so the takeover happens within the test's patience.
fn timings() -> Timings {
    Timings {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(200),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_schedules_and_the_standby_takes_over() {
    let mut c = Cluster::start_with(|config| config.leader_election = Some(timings())).await;
    let mut config = orc_scheduler::Config::new(format!("http://{}", c.addr));
    config.leader_election = Some(timings());
    let mut other = orc_scheduler::start(config).await.unwrap();
    let ids = [
        c.scheduler.identity.clone().unwrap(),
        other.identity.clone().unwrap(),
    ];
    c.node(node("node-1", "4", "4Gi", json!({}))).await;
    c.until_scheduler("knows node-1 in the second scheduler", || {
        other.has_node("node-1")
    })
    .await;
    let lease = c
        .until(LEASE, "held", |l| {
            l.is_some_and(|l| ids.contains(&Record::of(l).holder))
        })
        .await
        .unwrap();
    let leader = Record::of(&lease).holder;
    let leader_is_first = leader == ids[0];

    c.pod(pod("first", Some(("100m", "64Mi")))).await;
    c.scheduled("first").await;
    let (leading, standby) = if leader_is_first {
        (&c.scheduler, &other)
    } else {
        (&other, &c.scheduler)
    };
    assert!(leading.decisions.last("default/first").is_some());
    assert!(
        standby.decisions.last("default/first").is_none(),
        "the standby decided nothing"
    );

    // Kill the leader: its renewals stop; the standby waits out the
    // lease, then takes it.
    if leader_is_first {
        c.scheduler.stop();
    } else {
        other.stop();
    }
    let last_renewal = lease_times(&c.get(LEASE).await.unwrap()).1.unwrap();
    let new_leader = if leader_is_first { &ids[1] } else { &ids[0] };
    let taken = c
        .until(LEASE, "taken over", |l| {
            l.is_some_and(|l| &Record::of(l).holder == new_leader)
        })
        .await
        .unwrap();
    let record = Record::of(&taken);
    assert_eq!(record.transitions, 1);
    let (acquired, _) = lease_times(&taken);
    let gap = acquired.unwrap().duration_since(last_renewal);
    // The lease duration, plus the standby's polling (two retry periods:
    // one to see the last renewal, one to see it expire) and slack for
    // requests on a loaded machine.
    let bound = jiff::SignedDuration::from_millis(2000 + 2 * 200 + 1500);
    assert!(gap <= bound, "took over {gap:?} after the last renewal");

    c.pod(pod("second", Some(("100m", "64Mi")))).await;
    c.scheduled("second").await;
    let now_leading = if leader_is_first {
        &other
    } else {
        &c.scheduler
    };
    assert!(now_leading.decisions.last("default/second").is_some());
}

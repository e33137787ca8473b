//! The network namespace a test runs `orc up` in (`nsenter --net`): the
//! cluster's LAN, its routes and every request the test sends stay there.
//! `up.rs` and `demo_tour.rs` both start their clusters in one.

use orc_testkit::NetnsHost;

/// The ranges a cluster's pods and Services take (`orc up`'s cluster CIDR
/// and the API server's default `--service-cluster-ip-range`).
const CLUSTER_RANGES: [&str; 2] = ["10.244.0.0/16", "10.96.0.0/12"];

/// A fresh namespace where nothing sent to the pod or Service ranges can
/// leave: a blackhole route for each, under the more specific routes the
/// cluster adds for its own nodes and Services. Removed when dropped.
pub fn sealed() -> NetnsHost {
    let host = NetnsHost::new();
    for cidr in CLUSTER_RANGES {
        host.run("ip", &["route", "add", "blackhole", cidr]);
    }
    host
}

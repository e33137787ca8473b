//! # Lab 02: the pod network
//!
//! Chapter 02 gives every pod its own address and routes between nodes so
//! that every pod reaches every other without NAT, and a node agent that
//! keeps pods running. In this lab you write the decisions behind them — the
//! parts that are pure logic — while orc's netlink and iptables plumbing
//! carries them out in the walkthrough.
//!
//! Your work goes in `src/student.rs`:
//!
//! 1. [`next_free`]: which address the next pod gets.
//! 2. [`routes_to_peers`]: which routes a node needs to reach the other
//!    nodes' pods.
//! 3. [`route_changes`]: what to add and remove to get from the routes a node
//!    has to the ones it wants.
//! 4. [`masquerade_rule`]: the iptables rule that NATs traffic leaving the
//!    cluster.
//! 5. [`should_restart`]: whether an exited container starts again.
//! 6. [`restart_backoff`]: how long a crashing container waits
//!    (CrashLoopBackOff).
//! 7. [`pods_to_stop`]: the sync loop's diff of desired and actual pods.
//!
//! Run `cargo lab 02` to see which tasks pass, and `cargo lab 02 --solution`
//! to run the same tests against orc's own functions.

// The types are orc's: the lab is about the functions, not the data.
pub use orc_pod::Ipv4Cidr;
pub use orc_pod::agent::sync::{BACKOFF_INITIAL, BACKOFF_MAX};
pub use orc_pod::pod_spec::RestartPolicy;
pub use orc_pod::routes::{NodeRoute, RouteChanges};

#[cfg(not(feature = "solution"))]
mod student;
#[cfg(not(feature = "solution"))]
pub use student::{
    masquerade_rule, next_free, pods_to_stop, restart_backoff, route_changes, routes_to_peers,
    should_restart,
};

#[cfg(feature = "solution")]
pub use orc_pod::agent::sync::{pods_to_stop, restart_backoff, should_restart};
#[cfg(feature = "solution")]
pub use orc_pod::ipam::next_free;
#[cfg(feature = "solution")]
pub use orc_pod::masquerade::masquerade_rule;
#[cfg(feature = "solution")]
pub use orc_pod::routes::{route_changes, routes_to_peers};

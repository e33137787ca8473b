//! # Lab 05: controllers
//!
//! Chapter 05's garbage collector deletes objects whose owners are gone and
//! carries out the cascading a DELETE asks for; its Deployment controller
//! rolls pods from one template to the next. Their decisions are pure
//! functions; in this lab you write them.
//!
//! Your work goes in `src/student.rs`:
//!
//! 1. [`finalizers`]: how the API server records a DELETE's
//!    `propagationPolicy` on the object (a finalizer for the collector).
//! 2. [`dependent`]: whether a dependent stays, loses some owner
//!    references, or is deleted (and with which policy).
//! 3. [`deleting_owner`]: whether an owner being deleted in the
//!    foreground or with orphaning may let its finalizer go.
//! 4. [`new_replicas`]: how far a rolling update grows the new ReplicaSet.
//! 5. [`scale_down_old`]: how far it shrinks the old ones.
//! 6. [`proportional`]: how a Deployment resized mid-rollout shares the
//!    difference among its ReplicaSets.
//! 7. [`backoff_delay`]: how long a Job waits before replacing a failed
//!    pod.
//! 8. [`next_fire`]: when a CronJob's schedule next fires, in its zone.
//! 9. [`daemon_placement`]: whether a node should run a DaemonSet's pod,
//!    or at least keep the one it has.
//! 10. [`hpa_desired_replicas`]: how many replicas a HorizontalPodAutoscaler
//!     asks for, from its pods' usage against the target.
//!
//! The walkthrough (`tests/scenario.rs`) runs etcd, the API server and the
//! collector for real and deletes an owner with each policy. `cargo lab 05`
//! shows which tasks pass; `cargo lab 05 --solution` runs the same tests
//! against orc's own code.

// The types are orc's: the lab is about the functions, not the data.
pub use orc_client::propagation::{FOREGROUND, ORPHAN, Propagation};
pub use orc_controllers::deployment::rolling::{Replicas, Share};
pub use orc_controllers::garbage_collector::Node;
pub use orc_controllers::garbage_collector::decide::{OwnerState, OwnerVerdict, Verdict};
// Task 8 parses with orc's parser; the lab is about the time zone.
pub use orc_client::cron::Schedule;
// Task 9 reads node affinity and taints with the parsers the scheduler
// uses; the lab is about what they decide together.
pub use orc_client::taints;
pub use orc_controllers::daemonset::placement::Placement;
pub use orc_scheduler::objects::node_selector;
// Task 10's pods and targets are the HPA controller's types.
pub use orc_controllers::hpa::replicas::{CalculationError, PodSample, PodState, Proposal, Target};

#[cfg(not(feature = "solution"))]
mod student;
#[cfg(not(feature = "solution"))]
pub use student::{
    backoff_delay, daemon_placement, deleting_owner, dependent, finalizers, hpa_desired_replicas,
    new_replicas, next_fire, proportional, scale_down_old,
};

#[cfg(feature = "solution")]
pub use orc_client::propagation::finalizers;
#[cfg(feature = "solution")]
pub use orc_controllers::cronjob::schedule::next_fire;
#[cfg(feature = "solution")]
pub use orc_controllers::daemonset::placement::placement as daemon_placement;
#[cfg(feature = "solution")]
pub use orc_controllers::deployment::rolling::{new_replicas, proportional, scale_down_old};
#[cfg(feature = "solution")]
pub use orc_controllers::garbage_collector::decide::{deleting_owner, dependent};
#[cfg(feature = "solution")]
pub use orc_controllers::hpa::replicas::desired_replicas as hpa_desired_replicas;
#[cfg(feature = "solution")]
pub use orc_controllers::job::backoff::delay as backoff_delay;

//! # Lab 04: the scheduler
//!
//! Chapter 04's scheduler places a pod in two passes over the nodes:
//! *filters* say which nodes can take it, *scores* say which of those
//! should. Every filter and score is a pure function of the pod and a
//! node; in this lab you write the ones at the heart of Kubernetes'
//! default plugins.
//!
//! Your work goes in `src/student.rs`:
//!
//! 1. [`tolerates`]: whether one toleration tolerates one taint.
//! 2. [`untolerated`]: the first taint of a node that keeps a pod off it.
//! 3. [`insufficient`]: which resources a node lacks for a pod
//!    (`NodeResourcesFit`'s filter).
//! 4. [`least_allocated`]: the share of one resource left free
//!    (`LeastAllocated`, the default fit score).
//! 5. [`weighted_score`]: the per-resource scores averaged with their
//!    weights.
//! 6. [`balanced_score`]: how evenly CPU and memory would be used
//!    (`NodeResourcesBalancedAllocation`).
//! 7. [`default_normalize`]: a plugin's raw scores brought to 0..=100.
//! 8. [`skew`]: the skew a placement would cause (`PodTopologySpread`).
//!
//! The walkthrough (`tests/scenario.rs`) runs etcd, the API server and
//! orc's scheduler for real, leaves a pod pending on three nodes that each
//! refuse it for another reason, and snapshots what the scheduler writes
//! about it; then a node that fits arrives. `cargo lab 04` shows which
//! tasks pass; `cargo lab 04 --solution` runs the same tests against
//! orc's own code.

// The types are orc's: the lab is about the functions, not the data.
pub use orc_scheduler::framework::normalize::MAX_NODE_SCORE;
pub use orc_scheduler::objects::taints::{Effect, Operator, Taint, Toleration};
pub use orc_scheduler::objects::{ResourceName, Resources};
pub use orc_scheduler::plugins::node_resources_fit::{Insufficient, SCORED};

#[cfg(not(feature = "solution"))]
mod student;
#[cfg(not(feature = "solution"))]
pub use student::{
    balanced_score, default_normalize, insufficient, least_allocated, skew, tolerates, untolerated,
    weighted_score,
};

#[cfg(feature = "solution")]
pub use orc_scheduler::framework::normalize::default_normalize;
#[cfg(feature = "solution")]
pub use orc_scheduler::objects::taints::{tolerates, untolerated};
#[cfg(feature = "solution")]
pub use orc_scheduler::plugins::balanced_allocation::balanced_score;
#[cfg(feature = "solution")]
pub use orc_scheduler::plugins::node_resources_fit::{
    insufficient, least_allocated, weighted_score,
};
#[cfg(feature = "solution")]
pub use orc_scheduler::plugins::pod_topology_spread::filter::skew;

//! The scheduling framework: extension points, plugins, and the cycle
//! that runs them (kube-scheduler's `framework` package).
//!
//! - `status.rs`: what a plugin answers ([`Status`], [`Code`]);
//! - `plugin.rs`: the [`Plugin`] trait, one method per extension point;
//! - `profile.rs`: which plugins run where, with which weights;
//! - `schedule.rs`: one cycle, pure: PreFilter, Filter on a sample of the
//!   nodes, PostFilter, PreScore, Score, NormalizeScore, the choice;
//! - `decision.rs`: what the cycle found, kept for explanations, and the
//!   message a user reads when nothing fits;
//! - `normalize.rs`: Kubernetes' `DefaultNormalizeScore`;
//! - `sampling.rs`: `percentageOfNodesToScore`.

pub mod decision;
pub mod normalize;
pub mod plugin;
pub mod profile;
pub mod sampling;
pub mod schedule;
pub mod status;

pub use decision::{Decision, NodeName, NodeScore, Outcome, PluginScore};
pub use plugin::{
    Cycle, CycleState, Events, Filters, Nomination, Plugin, PostFilterResult, PreFilterResult,
    Victim,
};
pub use profile::Profile;
pub use schedule::{NextStart, schedule};
pub use status::{Code, Status};

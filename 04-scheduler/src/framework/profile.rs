//! [`Profile`]: which plugins run at which extension point, with which
//! weights (a `KubeSchedulerProfile` in kube-scheduler's configuration).

use std::sync::Arc;

use super::plugin::{Cycle, Events, Plugin};
use super::status::Status;

/// The plugins of one scheduler profile.
#[derive(Clone)]
pub struct Profile {
    /// The `schedulerName` pods choose this profile by.
    pub name: String,
    /// PreFilter and Filter, in order: a node's filtering stops at the
    /// first plugin that refuses it, so cheap, decisive plugins go first.
    pub filters: Vec<Arc<dyn Plugin>>,
    /// PostFilter (preemption), tried in order until one answers.
    pub post_filters: Vec<Arc<dyn Plugin>>,
    /// PreScore, Score and NormalizeScore, each with its weight.
    pub scores: Vec<(Arc<dyn Plugin>, i64)>,
    /// Reserve and Unreserve.
    pub reservers: Vec<Arc<dyn Plugin>>,
    /// Kubernetes' `percentageOfNodesToScore`: 0 for the adaptive share.
    pub percentage_of_nodes_to_score: usize,
}

impl Profile {
    /// The events after which a pod refused by `plugins` may fit.
    pub fn events_for<'a>(&self, plugins: impl IntoIterator<Item = &'a str>) -> Events {
        let mut events = Events::NONE;
        for name in plugins {
            let plugin = self.filters.iter().find(|p| p.name() == name);
            events = events.or(plugin.map(|p| p.events()).unwrap_or(Events::ALL));
        }
        events
    }

    /// Reserve on every reserve plugin; on a refusal, unreserves those
    /// that already reserved, and answers it.
    pub fn reserve(&self, cycle: Cycle, node: &str) -> Result<(), Status> {
        for (i, plugin) in self.reservers.iter().enumerate() {
            let status = plugin.reserve(cycle, node);
            if !status.is_success() {
                for done in self.reservers[..=i].iter().rev() {
                    done.unreserve(cycle, node);
                }
                return Err(status.by(plugin.name()));
            }
        }
        Ok(())
    }

    /// Unreserve on every reserve plugin, in reverse order.
    pub fn unreserve(&self, cycle: Cycle, node: &str) {
        for plugin in self.reservers.iter().rev() {
            plugin.unreserve(cycle, node);
        }
    }
}

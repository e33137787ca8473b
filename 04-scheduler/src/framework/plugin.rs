//! [`Plugin`]: the one trait every scheduling plugin implements.
//!
//! kube-scheduler's framework calls plugins at *extension points*, in
//! this order for each pod:
//!
//! ```text
//! PreFilter ─▶ Filter (each node) ─▶ PostFilter (only if no node fits)
//!           ─▶ PreScore ─▶ Score (each feasible node) ─▶ NormalizeScore
//!           ─▶ Reserve (Unreserve if a later step fails) ─▶ Bind
//! ```
//!
//! A plugin implements the points it cares about; the defaults do
//! nothing. Everything here is pure: a plugin reads the pod and a frozen
//! [`Snapshot`] and answers; it never calls the API. Binding, the one
//! effect, is the scheduler's shell (`binding.rs`).

use std::any::Any;
use std::collections::BTreeSet;
use std::sync::Arc;

use super::decision::NodeName;
use super::status::Status;
use crate::cache::{NodeInfo, Snapshot};
use crate::objects::PodInfo;

/// What one decision is about: the pod and the cluster.
#[derive(Clone, Copy)]
pub struct Cycle<'a> {
    pub pod: &'a PodInfo,
    pub snapshot: &'a Snapshot,
}

/// State a plugin computes once per pod (at PreFilter or PreScore) and
/// reads at every node (Kubernetes' `CycleState`): each plugin stores its
/// own type under its own name.
#[derive(Default)]
pub struct CycleState {
    /// A few entries (one or two per plugin), read at every node: a
    /// short list searched in order costs less than hashing the name.
    entries: Vec<(&'static str, Box<dyn Any + Send + Sync>)>,
}

impl CycleState {
    /// Stores `value` for `plugin`, in place of what it stored before.
    pub fn write<T: Any + Send + Sync>(&mut self, plugin: &'static str, value: T) {
        self.entries.retain(|(name, _)| *name != plugin);
        self.entries.push((plugin, Box::new(value)));
    }

    /// What `plugin` stored, if it stored a `T`.
    pub fn read<T: Any>(&self, plugin: &'static str) -> Option<&T> {
        let (_, value) = self.entries.iter().find(|(name, _)| *name == plugin)?;
        value.downcast_ref()
    }
}

/// What PreFilter answers besides a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreFilterResult {
    /// Filter every node.
    AllNodes,
    /// Only these nodes can fit (node affinity on `metadata.name`): the
    /// others need not be filtered at all.
    Only(BTreeSet<String>),
    /// Nothing to check for this pod: skip this plugin's Filter.
    Skip,
}

/// Kinds of cluster event. When a pod cannot be placed, it waits until an
/// event happens that one of the plugins that refused it says could change
/// its mind (Kubernetes' `EventsToRegister` and queueing hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Events(u32);

impl Events {
    pub const NONE: Events = Events(0);
    pub const NODE_ADDED: Events = Events(1);
    pub const NODE_LABELS: Events = Events(1 << 1);
    /// Taints, or `spec.unschedulable` (a cordon is a taint).
    pub const NODE_TAINTS: Events = Events(1 << 2);
    pub const NODE_ALLOCATABLE: Events = Events(1 << 3);
    pub const NODE_DELETED: Events = Events(1 << 4);
    /// A pod was placed on a node (by any scheduler).
    pub const POD_ADDED: Events = Events(1 << 5);
    /// A placed pod's labels changed.
    pub const POD_LABELS: Events = Events(1 << 6);
    /// A placed pod was deleted, freeing what it held.
    pub const POD_DELETED: Events = Events(1 << 7);
    pub const NAMESPACE_LABELS: Events = Events(1 << 8);
    /// Services or ReplicaSets (the default spreading's selector).
    pub const WORKLOADS: Events = Events(1 << 9);
    /// A PersistentVolumeClaim, PersistentVolume or StorageClass changed.
    pub const VOLUMES: Events = Events(1 << 10);
    pub const ALL: Events = Events(u32::MAX);

    /// Both sets of events.
    pub const fn or(self, other: Events) -> Events {
        Events(self.0 | other.0)
    }

    /// Whether the two sets share an event.
    pub fn intersects(self, other: Events) -> bool {
        self.0 & other.0 != 0
    }
}

/// The profile's PreFilters and Filters, as a PostFilter plugin runs them
/// again on a node it changed (preemption removes pods from a copy of a
/// node to see whether the pod would then fit).
pub trait Filters {
    /// Whether the cycle's pod fits `node`, a changed copy of one of the
    /// snapshot's nodes (the other nodes are as the snapshot has them).
    fn fits(&self, cycle: Cycle, node: &NodeInfo) -> Status;
}

/// A pod preemption evicts: enough to delete it and say why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Victim {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub priority: i64,
}

/// Where preemption made room: the node, and the pods to evict from it
/// (Kubernetes' `NominatingInfo` and the candidate's victims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nomination {
    pub node: String,
    pub victims: Vec<Victim>,
}

/// A PostFilter plugin's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostFilterResult {
    /// Success when a nomination was made; otherwise why not.
    pub status: Status,
    pub nomination: Option<Nomination>,
}

/// A scheduling plugin: one Kubernetes plugin per type, one type per file.
pub trait Plugin: Send + Sync {
    /// Kubernetes' name for it (`NodeResourcesFit`), which messages,
    /// metrics and explanations use.
    fn name(&self) -> &'static str;

    /// Events after which a pod this plugin refused may fit.
    fn events(&self) -> Events {
        Events::ALL
    }

    /// Once per pod, before any node: compute what every node will need,
    /// or refuse the pod outright.
    fn pre_filter(
        &self,
        _cycle: Cycle,
        _state: &mut CycleState,
    ) -> Result<PreFilterResult, Status> {
        Ok(PreFilterResult::AllNodes)
    }

    /// Whether the pod can run on `node`.
    fn filter(&self, _cycle: Cycle, _state: &CycleState, _node: &NodeInfo) -> Status {
        Status::success()
    }

    /// Only when no node fits: can something be done (preemption)? The
    /// answer's message ends the user's event (`preemption: ...`); a
    /// nomination names the node made room on and the pods to evict.
    /// `filters` re-runs the profile's filters on a changed node.
    fn post_filter(
        &self,
        _cycle: Cycle,
        _rejections: &[(NodeName, Status)],
        _filters: &dyn Filters,
    ) -> Option<PostFilterResult> {
        None
    }

    /// Once per pod, before scoring the feasible `nodes`; `Skip` leaves
    /// this plugin out of the scores for this pod.
    fn pre_score(
        &self,
        _cycle: Cycle,
        _state: &mut CycleState,
        _nodes: &[Arc<NodeInfo>],
    ) -> Status {
        Status::success()
    }

    /// The plugin's raw score for `node`.
    fn score(&self, _cycle: Cycle, _state: &CycleState, _node: &NodeInfo) -> i64 {
        0
    }

    /// Brings the raw scores (in the order of the feasible nodes, whose
    /// names are given) into 0..=100. The default keeps them: plugins that
    /// already score in that range do not normalize.
    fn normalize_score(
        &self,
        _cycle: Cycle,
        _state: &CycleState,
        _nodes: &[Arc<NodeInfo>],
        _scores: &mut [i64],
    ) {
    }

    /// The pod is about to be bound to `node`: hold what it needs.
    fn reserve(&self, _cycle: Cycle, _node: &str) -> Status {
        Status::success()
    }

    /// A later step failed: release what `reserve` held.
    fn unreserve(&self, _cycle: Cycle, _node: &str) {}
}

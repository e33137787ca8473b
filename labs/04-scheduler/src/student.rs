//! Your code for lab 04. Replace each `todo!()`; `cargo lab 04` tells you
//! which tasks pass. The doc comments say what orc's version does; chapter
//! 04 explains why.

// The parameters, and the imports you will need, are unused until you
// write the bodies.
#![allow(unused_variables, unused_imports)]

use crate::{
    Effect, Insufficient, MAX_NODE_SCORE, Operator, ResourceName, Resources, SCORED, Taint,
    Toleration,
};

/// Task 1. Whether `toleration` tolerates `taint` (Kubernetes'
/// `Toleration.ToleratesTaint`):
///
/// - a toleration that names an effect only tolerates taints with that
///   effect; one with `effect: None` tolerates every effect;
/// - a non-empty key must equal the taint's key; an empty key (which only
///   `Exists` may have) matches every key;
/// - `Operator::Exists` takes any value, `Operator::Equal` only the
///   taint's own value.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    todo!()
}

/// Task 2. The first of `taints` whose effect `applies` and that none of
/// `tolerations` tolerates, or `None` (Kubernetes'
/// `FindMatchingUntoleratedTaint`). The filter asks with `applies` true
/// for `NoSchedule` and `NoExecute`: a `PreferNoSchedule` taint never
/// keeps a pod off a node.
pub fn untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    applies: impl Fn(Effect) -> bool,
) -> Option<&'a Taint> {
    todo!()
}

/// Task 3. What a node lacks for a pod, in this order: `Pods` when one
/// more pod would exceed `allocatable.pods`; then each of `Cpu`,
/// `Memory`, `EphemeralStorage` that the pod requests (more than 0) and
/// that is more than what is free (`allocatable - requested`). Empty when
/// the pod fits. `requested` is the sum over the pods already on the node
/// (`requested.pods` is how many there are).
///
/// Each [`Insufficient`] is `unresolvable` when even the empty node would
/// lack it (the pod wants more than `allocatable`): evicting pods, which
/// preemption does, cannot help then. `Pods` is never unresolvable.
pub fn insufficient(
    pod: &Resources,
    requested: &Resources,
    allocatable: &Resources,
) -> Vec<Insufficient> {
    todo!()
}

/// Task 4. `LeastAllocated` for one resource: the share of `allocatable`
/// left free once the node's `requested` amount (the new pod included) is
/// taken, from 0 to [`MAX_NODE_SCORE`], in integer arithmetic (rounded
/// down). 0 when the node has none of it or the requests exceed it.
pub fn least_allocated(requested: i64, allocatable: i64) -> i64 {
    todo!()
}

/// Task 5. The weighted average of `per_resource(requested, allocatable)`
/// over the resources in [`SCORED`] (CPU and memory, weight 1 each),
/// rounded down. A resource the node has none of (allocatable 0) is left
/// out, weight and all; with none left, the score is 0.
pub fn weighted_score(
    per_resource: fn(i64, i64) -> i64,
    requested: &Resources,
    allocatable: &Resources,
) -> i64 {
    todo!()
}

/// Task 6. `BalancedAllocation`: `(1 - σ) × 100`, truncated, where σ is the
/// population standard deviation of `fractions` (each resource's
/// `requested / allocatable` once the pod is placed). Fewer than two
/// fractions have no deviation. For two, σ is half their difference:
/// `[0.8, 0.2]` scores 70.
pub fn balanced_score(fractions: &[f64]) -> i64 {
    todo!()
}

/// Task 7. Kubernetes' `DefaultNormalizeScore`: scales `scores` in place
/// so the highest becomes [`MAX_NODE_SCORE`] (`100 × score / max`,
/// rounded down). With `reverse` (for raw scores that count something
/// bad), each then becomes `100 - scaled`. When the highest is 0, the
/// scores stay 0, or all become 100 when reversed.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    todo!()
}

/// Task 8. The skew that placing the pod in a domain (a zone, a node)
/// already holding `matching` pods would cause: those pods, plus one if
/// the pod matches its own constraint's selector (`self_match`), minus
/// the smallest count over the eligible domains (`min_in_domains`).
/// While there are fewer eligible `domains` than `min_domains`, the
/// minimum is taken as 0, so that new domains are filled first.
pub fn skew(
    matching: i64,
    self_match: bool,
    min_in_domains: i64,
    domains: usize,
    min_domains: i64,
) -> i64 {
    todo!()
}

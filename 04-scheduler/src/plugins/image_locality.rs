//! `ImageLocality`: prefer nodes that already hold the pod's images, so
//! it starts without a pull (a score, weight 1). A large image counts
//! more than a small one, and an image present on few nodes counts less
//! (spreading pods onto the one node that has it would not help).

use crate::cache::NodeInfo;
use crate::framework::normalize::MAX_NODE_SCORE;
use crate::framework::{Cycle, CycleState, Events, Plugin};

/// The plugin.
pub struct ImageLocality;

const MB: i64 = 1024 * 1024;
/// Images smaller than this in all score 0: they pull fast anyway.
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container: more than this in all scores the maximum.
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

// ANCHOR: image_score
/// One image's contribution: its size, scaled by the share of nodes that
/// hold it.
pub fn scaled_image_score(size: i64, nodes_with_image: usize, total_nodes: usize) -> i64 {
    if total_nodes == 0 {
        return 0;
    }
    (size as f64 * (nodes_with_image as f64 / total_nodes as f64)) as i64
}

/// The score from the sum of the contributions, for a pod with
/// `containers` containers: 0 below 23 MB, 100 from 1000 MB per
/// container, linear between.
pub fn image_score(sum: i64, containers: usize) -> i64 {
    let max = MAX_CONTAINER_THRESHOLD * containers as i64;
    if max <= MIN_THRESHOLD {
        return 0;
    }
    let sum = sum.clamp(MIN_THRESHOLD, max);
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
}
// ANCHOR_END: image_score

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        "ImageLocality"
    }

    fn events(&self) -> Events {
        Events::NONE
    }

    fn score(&self, cycle: Cycle, _state: &CycleState, node: &NodeInfo) -> i64 {
        let total = cycle.snapshot.nodes.len();
        let sum = cycle
            .pod
            .images
            .iter()
            .filter_map(|image| {
                let size = node.images.get(image)?;
                let holders = cycle.snapshot.image_nodes.get(image).copied().unwrap_or(0);
                Some(scaled_image_score(*size, holders, total))
            })
            .sum();
        image_score(sum, cycle.pod.images.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_images_on_many_nodes_score_high() {
        assert_eq!(image_score(0, 1), 0);
        assert_eq!(image_score(2000 * MB, 1), 100);
        assert_eq!(scaled_image_score(1000, 1, 4), 250);
        let half = MIN_THRESHOLD + (MAX_CONTAINER_THRESHOLD - MIN_THRESHOLD) / 2;
        assert_eq!(image_score(half, 1), 50);
    }
}

//! How many nodes to look at: Kubernetes' `percentageOfNodesToScore`.
//!
//! In a large cluster, filtering every node for every pod is wasted work:
//! once enough feasible nodes are found, the best of them is nearly as good
//! as the best of all. kube-scheduler stops filtering after a share of the
//! nodes that shrinks as the cluster grows, and starts the next pod where
//! this one stopped, so every node gets its turn.

/// Below this many nodes, every node is considered.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The share never falls below this percentage.
pub const MIN_FEASIBLE_NODES_PERCENTAGE: usize = 5;

// ANCHOR: num_feasible
/// How many feasible nodes to find among `all` before scoring.
/// `percentage` is the configured share (0: adaptive, `50 − all/125` %,
/// at least 5 %); never fewer than 100 nodes (or all, if there are fewer).
pub fn num_feasible_nodes_to_find(percentage: usize, all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = if percentage == 0 {
        50usize
            .saturating_sub(all / 125)
            .max(MIN_FEASIBLE_NODES_PERCENTAGE)
    } else {
        percentage.min(100)
    };
    (all * percentage / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}
// ANCHOR_END: num_feasible

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_share() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        assert_eq!(num_feasible_nodes_to_find(0, 150), 100, "at least 100");
        // 50 - 1000/125 = 42 %.
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        // 50 - 5000/125 = 10 %.
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        // 50 - 6000/125 = 2 %, raised to 5 %.
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        assert_eq!(num_feasible_nodes_to_find(100, 6000), 6000);
    }
}

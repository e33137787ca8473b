//! Normalizing scores to 0..=100.
//!
//! Plugins score nodes on their own scales (a sum of preferred weights, a
//! count of taints); before the weights are applied, each plugin's scores
//! are brought to Kubernetes' common range, 0 to `MAX_NODE_SCORE`, so a
//! weight means the same thing for every plugin.

/// The highest score a plugin gives a node after normalization.
pub const MAX_NODE_SCORE: i64 = 100;

// ANCHOR: default_normalize
/// Kubernetes' `DefaultNormalizeScore`: scales `scores` so the highest
/// becomes `MAX_NODE_SCORE` (integer arithmetic, rounding down), or, with
/// `reverse`, so the highest becomes 0 and 0 becomes the highest (for
/// scores that count something bad, such as untolerated
/// `PreferNoSchedule` taints). When every score is 0, they stay 0, or all
/// become `MAX_NODE_SCORE` when reversed: no node is worse than another.
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *s / max;
        *s = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}
// ANCHOR_END: default_normalize

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_to_the_highest() {
        let mut scores = [0, 3, 6];
        default_normalize(&mut scores, false);
        assert_eq!(scores, [0, 50, 100]);
        let mut scores = [1, 3];
        default_normalize(&mut scores, false);
        assert_eq!(scores, [33, 100], "rounded down");
    }

    #[test]
    fn reversed_and_all_zero() {
        let mut scores = [0, 1, 2];
        default_normalize(&mut scores, true);
        assert_eq!(scores, [100, 50, 0]);
        let mut zeros = [0, 0];
        default_normalize(&mut zeros, true);
        assert_eq!(zeros, [100, 100]);
        let mut zeros = [0, 0];
        default_normalize(&mut zeros, false);
        assert_eq!(zeros, [0, 0]);
    }
}

//! How many `Warning` headers one answer carries, and how long they are.
//!
//! A request can earn a warning per unknown field, and a hostile or broken
//! client can send tens of thousands of them (issue 15 counted 40,000
//! headers for one request). Kubernetes' warning recorder bounds what it
//! writes, and orc follows its rules:
//!
//! - a warning repeated word for word is written once;
//! - while the warnings' text stays within 4,096 characters in total, each
//!   is written whole;
//! - past that, every warning (those already written included) is cut to
//!   its first 256 characters.

use std::collections::HashSet;

/// The total characters of warning text written before truncation starts.
pub const TRUNCATE_AT_TOTAL: usize = 4 * 1024;

/// The characters each warning keeps once truncating.
pub const TRUNCATE_ITEM: usize = 256;

// ANCHOR: cap
/// The warnings to write, in order: deduplicated, and truncated once
/// their total passes [`TRUNCATE_AT_TOTAL`] characters.
pub fn cap(warnings: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    let unique: Vec<String> = warnings
        .into_iter()
        .filter(|w| seen.insert(w.clone()))
        .collect();
    let total: usize = unique.iter().map(|w| w.chars().count()).sum();
    if total <= TRUNCATE_AT_TOTAL {
        return unique;
    }
    unique
        .into_iter()
        .map(|w| w.chars().take(TRUNCATE_ITEM).collect())
        .collect()
}
// ANCHOR_END: cap

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_written_once_and_short_ones_whole() {
        let out = cap(vec!["a".into(), "b".into(), "a".into()]);
        assert_eq!(out, ["a", "b"]);
        let long = "x".repeat(1000);
        assert_eq!(cap(vec![long.clone()]), [long], "within the total");
    }

    #[test]
    fn past_the_total_every_warning_is_cut() {
        let many: Vec<String> = (0..40_000)
            .map(|i| format!("unknown field \"spec.f{i}\"{}", "y".repeat(300)))
            .collect();
        let out = cap(many);
        assert_eq!(
            out.len(),
            40_000,
            "Kubernetes cuts their length, not their number"
        );
        assert!(out.iter().all(|w| w.chars().count() == TRUNCATE_ITEM));
        assert!(out[0].starts_with("unknown field \"spec.f0\""));
    }
}

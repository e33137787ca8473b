//! An Indexed Job's completed indexes, kept in `status.completedIndexes`
//! in Kubernetes' compressed form: sorted ranges, `"0-2,5,7-8"`.

use std::collections::BTreeSet;

/// Parses `"0-2,5"`; a malformed part is skipped (the controller wrote it).
pub fn parse(text: &str) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (low, high) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(low), Ok(high)) = (low.parse::<i64>(), high.parse::<i64>()) {
            out.extend(low..=high);
        }
    }
    out
}

/// Writes a set of indexes as ranges.
pub fn format(indexes: &BTreeSet<i64>) -> String {
    let mut ranges: Vec<(i64, i64)> = Vec::new();
    for &i in indexes {
        match ranges.last_mut() {
            Some((_, high)) if *high + 1 == i => *high = i,
            _ => ranges.push((i, i)),
        }
    }
    let parts: Vec<String> = ranges
        .into_iter()
        .map(|(l, h)| {
            if l == h {
                l.to_string()
            } else {
                format!("{l}-{h}")
            }
        })
        .collect();
    parts.join(",")
}

/// The indexes below `completions` that are neither done nor running, in
/// order: the ones to start.
pub fn pending(completions: i64, done: &BTreeSet<i64>, running: &BTreeSet<i64>) -> Vec<i64> {
    (0..completions)
        .filter(|i| !done.contains(i) && !running.contains(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip() {
        let set = parse("0-2,5,7-8");
        assert_eq!(set.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 5, 7, 8]);
        assert_eq!(format(&set), "0-2,5,7-8");
        assert_eq!(format(&BTreeSet::new()), "");
        let running = BTreeSet::from([3]);
        assert_eq!(pending(6, &set, &running), [4]);
    }
}

//! The names the API server and the garbage collector share for a DELETE's
//! `propagationPolicy`.
//!
//! The API server records the policy a DELETE asks for as a finalizer on
//! the owner (`orc-apiserver`'s `handlers/propagation.rs` reads it from the
//! request); the garbage collector (chapter 05) sees the finalizer and
//! carries the policy out, then removes it. Both sides need the same two
//! finalizer names and the same rule for replacing one with the other,
//! so they live here, in the crate both link.

/// The finalizer that holds an owner until its blocking dependents are gone.
pub const FOREGROUND: &str = "foregroundDeletion";
/// The finalizer that holds an owner until its dependents let go of it.
pub const ORPHAN: &str = "orphan";

/// `DeleteOptions.propagationPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner now; the collector deletes dependents afterwards.
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
    /// Keep the dependents, without their reference to the owner.
    Orphan,
}

// ANCHOR: finalizers
/// The object's finalizers once a DELETE with `policy` has been recorded:
/// the collector's two finalizers are exclusive, other parties' are kept.
pub fn finalizers(current: &[String], policy: Option<Propagation>) -> Vec<String> {
    let Some(policy) = policy else {
        // No choice made: an earlier DELETE's choice stands.
        return current.to_vec();
    };
    let mut next: Vec<String> = current
        .iter()
        .filter(|f| *f != FOREGROUND && *f != ORPHAN)
        .cloned()
        .collect();
    match policy {
        Propagation::Background => {}
        Propagation::Foreground => next.push(FOREGROUND.into()),
        Propagation::Orphan => next.push(ORPHAN.into()),
    }
    next
}
// ANCHOR_END: finalizers

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collectors_finalizers_replace_each_other() {
        let mine = vec!["example.com/keep".to_string(), ORPHAN.to_string()];
        assert_eq!(
            finalizers(&mine, Some(Propagation::Foreground)),
            ["example.com/keep", FOREGROUND]
        );
        assert_eq!(
            finalizers(&mine, Some(Propagation::Background)),
            ["example.com/keep"]
        );
        assert_eq!(finalizers(&mine, None), mine);
        assert_eq!(finalizers(&[], Some(Propagation::Orphan)), [ORPHAN]);
    }
}

//! Which LISTs the watch cache answers, and how fresh it must be first:
//! kube-apiserver 1.32's `shouldDelegateList` (`cacher.go`), as a pure
//! decision with its tests beside it.
//!
//! | request                                   | answered by              |
//! |-------------------------------------------|--------------------------|
//! | `resourceVersion=0` (with or without `limit`) | the cache, at once; `limit` ignored |
//! | `resourceVersion=N` (`NotOlderThan`)      | the cache, once it has seen N (3 s, then 504) |
//! | no `resourceVersion`                      | the cache, once it has seen etcd's current revision (ConsistentListFromCache) |
//! | `resourceVersionMatch=Exact`              | etcd                     |
//! | a `continue` token                        | etcd                     |
//! | `limit` with a version other than `0`     | etcd                     |
//!
//! The cache has no pages: it answers a `resourceVersion=0` LIST whole,
//! `limit` or not (the client asked for "any" data; a whole list is
//! that), and leaves every paged read to etcd, whose revisions a
//! `continue` token can name.

use crate::handlers::read::ListRead;

/// How fresh the cache must be before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// `resourceVersion=0`: whatever it holds, once it has been filled.
    Any,
    /// `resourceVersion=N`, bare or `NotOlderThan`: at least revision N.
    AtLeast(i64),
    /// No `resourceVersion`, a consistent read: at least the revision
    /// etcd is at when the request arrives.
    Latest,
}

/// Where a LIST is answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListPlan {
    /// etcd, as before the cache (Kubernetes: the cacher delegates).
    Storage,
    /// The watch cache, once it is as fresh as this.
    Cache(Freshness),
}

// ANCHOR: should_delegate
/// Kubernetes' `shouldDelegateList`, the other way round: where a LIST
/// with this `resourceVersion` (`read`), `limit` (0: none) and
/// `continue` token is answered from.
pub fn plan(read: ListRead, limit: i64, continues: bool) -> ListPlan {
    match read {
        // A continue token names an etcd revision the cache may not hold.
        _ if continues => ListPlan::Storage,
        // The cache holds one state, not the history Exact asks for.
        ListRead::Exact(_) => ListPlan::Storage,
        // "Any data" spares etcd even for a paged request: answered whole.
        ListRead::Any => ListPlan::Cache(Freshness::Any),
        // A page of a version other than 0 needs a continue token etcd
        // can resume from.
        _ if limit > 0 => ListPlan::Storage,
        ListRead::NotOlderThan(asked) => ListPlan::Cache(Freshness::AtLeast(asked)),
        ListRead::Latest => ListPlan::Cache(Freshness::Latest),
    }
}
// ANCHOR_END: should_delegate

/// Whether an etcd of this version (`3.5.13`, as its Status reports it)
/// answers a progress request only once its watch stream has sent every
/// event up to the revision it names. Older ones answer at once, ahead
/// of events still on their way (etcd issues 15220 and 17507, fixed in
/// 3.4.31 and 3.5.13), so the cache could believe itself fresh while a
/// write is still coming: Kubernetes then serves consistent LISTs from
/// etcd, and so does orc.
pub fn progress_requests_supported(version: &str) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) =
        (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    match (major, minor) {
        (3, 4) => patch >= 31,
        (3, 5) => patch >= 13,
        (3, m) => m > 5,
        (m, _) => m > 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_delegates_exact_continue_and_paged_reads() {
        use Freshness::*;
        assert_eq!(plan(ListRead::Any, 0, false), ListPlan::Cache(Any));
        assert_eq!(plan(ListRead::Any, 500, false), ListPlan::Cache(Any));
        assert_eq!(plan(ListRead::Latest, 0, false), ListPlan::Cache(Latest));
        assert_eq!(
            plan(ListRead::NotOlderThan(7), 0, false),
            ListPlan::Cache(AtLeast(7))
        );
        assert_eq!(plan(ListRead::Latest, 500, false), ListPlan::Storage);
        assert_eq!(plan(ListRead::NotOlderThan(7), 1, false), ListPlan::Storage);
        assert_eq!(plan(ListRead::Exact(7), 0, false), ListPlan::Storage);
        assert_eq!(plan(ListRead::Any, 500, true), ListPlan::Storage);
        assert_eq!(plan(ListRead::Latest, 0, true), ListPlan::Storage);
    }

    #[test]
    fn progress_requests_need_a_fixed_etcd() {
        assert!(!progress_requests_supported("3.4.23"));
        assert!(progress_requests_supported("3.4.31"));
        assert!(!progress_requests_supported("3.5.12"));
        assert!(progress_requests_supported("3.5.13"));
        assert!(progress_requests_supported("3.6.0"));
        assert!(progress_requests_supported("v3.6.0-rc.1"));
        assert!(!progress_requests_supported("garbage"));
        assert!(!progress_requests_supported(""));
    }
}

//! The collector's decisions, as pure functions of what it knows: the
//! heart of the chapter, and what lab 05 asks students to write.
//!
//! Two questions, asked of one object at a time (level-triggered: the
//! answer depends on the state now, never on the event that queued it):
//!
//! - **a dependent**: are its owners still there? An owner is *solid*
//!   (exists, same uid, not being deleted in the foreground), *dangling*
//!   (gone, or replaced by a new object under the same name), *waiting*
//!   (being deleted in the foreground: it waits for its dependents to go
//!   first), or *unresolvable* (a kind orc does not serve).
//! - **an owner being deleted** with one of the collector's finalizers:
//!   may the finalizer go?

use orc_client::propagation::{FOREGROUND, ORPHAN, Propagation};

use super::graph::Node;
use crate::owners::OwnerRef;

/// What the collector knows of one owner of a dependent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// It exists, with the referenced uid, and is not being deleted in the
    /// foreground.
    Solid,
    /// No object with that name and uid exists (confirmed with the API
    /// server, not only the cache).
    Dangling,
    /// It exists and is being deleted in the foreground: its dependents
    /// must go first.
    Waiting,
    /// The reference cannot be followed (a kind orc does not serve, or a
    /// namespaced owner of a cluster-scoped object): never a reason to
    /// delete anything.
    Unresolvable,
}

/// What to do with a dependent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it alone.
    Keep,
    /// It has a solid owner: drop its references to these owner uids
    /// (dangling or waiting owners), and keep it.
    RemoveReferences(Vec<String>),
    /// No owner holds it: delete it, passing this policy on to its own
    /// dependents.
    Delete(Propagation),
}

// ANCHOR: dependent
/// The verdict on a dependent that is not itself being deleted, given its
/// finalizers and the state of each owner (by the uid its reference names).
pub fn dependent(finalizers: &[String], owners: &[(String, OwnerState)]) -> Verdict {
    let with = |state| owners.iter().filter(move |(_, s)| *s == state);
    let holds = |s: &OwnerState| matches!(s, OwnerState::Solid | OwnerState::Unresolvable);
    if owners.is_empty() {
        return Verdict::Keep;
    }
    if owners.iter().any(|(_, s)| holds(s)) {
        let stale: Vec<String> = with(OwnerState::Dangling)
            .chain(with(OwnerState::Waiting))
            .map(|(uid, _)| uid.clone())
            .collect();
        return if stale.is_empty() {
            Verdict::Keep
        } else {
            Verdict::RemoveReferences(stale)
        };
    }
    if with(OwnerState::Waiting).next().is_some() {
        // An owner waits in the foreground: go first, and make our own
        // dependents go before us, so the whole tree is gone when it goes.
        return Verdict::Delete(Propagation::Foreground);
    }
    // Every owner is gone. Pass on the choice our own finalizers record.
    let policy = if finalizers.iter().any(|f| f == ORPHAN) {
        Propagation::Orphan
    } else if finalizers.iter().any(|f| f == FOREGROUND) {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    Verdict::Delete(policy)
}
// ANCHOR_END: dependent

/// What to do with an owner being deleted under one of the collector's
/// finalizers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerVerdict {
    /// Its dependents are not done yet; their own changes will queue it
    /// again.
    Wait,
    /// Remove the owner's reference from each of these dependents (uids),
    /// then the `orphan` finalizer.
    Orphan(Vec<String>),
    /// Remove this finalizer: the API server then deletes the owner.
    RemoveFinalizer(&'static str),
}

// ANCHOR: deleting_owner
/// The verdict on `owner`, being deleted, given the objects that still
/// reference it. Orphaning wins if both finalizers are somehow present,
/// as in Kubernetes: it is the choice that loses nothing.
pub fn deleting_owner(owner: &Node, dependents: &[&Node]) -> OwnerVerdict {
    if owner.has_finalizer(ORPHAN) {
        return if dependents.is_empty() {
            OwnerVerdict::RemoveFinalizer(ORPHAN)
        } else {
            OwnerVerdict::Orphan(dependents.iter().map(|d| d.uid.clone()).collect())
        };
    }
    // Foreground: only dependents that block their owner's deletion hold
    // it; the others are collected once it is gone.
    let blocking = dependents.iter().any(|d| {
        d.reference_to(&owner.uid)
            .is_some_and(|r| r.block_owner_deletion)
    });
    if blocking {
        OwnerVerdict::Wait
    } else {
        OwnerVerdict::RemoveFinalizer(FOREGROUND)
    }
}
// ANCHOR_END: deleting_owner

// ANCHOR: invalid_namespace
/// Whether a dependent in `dependent_ns` (`None`: cluster-scoped) names,
/// by uid, an owner the collector has seen in `owner_ns`: a namespaced
/// owner must live in its dependent's own namespace (an owner reference
/// has no namespace field), so one seen anywhere else is a mistake.
/// Kubernetes looks for such an owner where it should be, finds nothing,
/// and says so with an `OwnerRefInvalidNamespace` warning on the
/// dependent ([`invalid_namespace_message`]).
pub fn invalid_namespace(dependent_ns: Option<&str>, owner_ns: Option<&str>) -> bool {
    owner_ns.is_some() && owner_ns != dependent_ns
}

/// The message of that warning, worded as Kubernetes' garbage collector
/// words it: the reference, placed in the dependent's namespace, and
/// where it was looked for.
pub fn invalid_namespace_message(owner: &OwnerRef, dependent_ns: Option<&str>) -> String {
    let ns = dependent_ns.unwrap_or("");
    format!(
        "ownerRef [{}/{}, namespace: {ns}, name: {}, uid: {}] does not exist in namespace {ns:?}",
        owner.api_version, owner.kind, owner.name, owner.uid
    )
}
// ANCHOR_END: invalid_namespace

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::resources::by_kind;
    use serde_json::json;

    fn owners(states: &[(&str, OwnerState)]) -> Vec<(String, OwnerState)> {
        states.iter().map(|(u, s)| (u.to_string(), *s)).collect()
    }

    #[test]
    fn a_dependent_with_a_solid_owner_stays_and_drops_stale_references() {
        use OwnerState::*;
        assert_eq!(dependent(&[], &owners(&[("a", Solid)])), Verdict::Keep);
        assert_eq!(
            dependent(
                &[],
                &owners(&[("a", Solid), ("b", Dangling), ("c", Waiting)])
            ),
            Verdict::RemoveReferences(vec!["b".into(), "c".into()])
        );
        assert_eq!(
            dependent(&[], &owners(&[("a", Unresolvable), ("b", Dangling)])),
            Verdict::RemoveReferences(vec!["b".into()]),
            "an owner orc cannot look up is never taken for gone"
        );
        assert_eq!(dependent(&[], &[]), Verdict::Keep);
    }

    #[test]
    fn a_dependent_without_owners_is_deleted_with_the_right_policy() {
        use OwnerState::*;
        assert_eq!(
            dependent(&[], &owners(&[("a", Dangling)])),
            Verdict::Delete(Propagation::Background)
        );
        assert_eq!(
            dependent(&[], &owners(&[("a", Dangling), ("b", Waiting)])),
            Verdict::Delete(Propagation::Foreground)
        );
        assert_eq!(
            dependent(&[ORPHAN.into()], &owners(&[("a", Dangling)])),
            Verdict::Delete(Propagation::Orphan)
        );
    }

    fn node(uid: &str, finalizers: &[&str], owner: Option<(&str, bool)>) -> Node {
        let refs: Vec<_> = owner
            .iter()
            .map(|(u, block)| {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "name": u,
                "uid": u, "blockOwnerDeletion": block})
            })
            .collect();
        let obj = json!({"metadata": {"name": uid, "namespace": "d", "uid": uid,
            "deletionTimestamp": "2026-01-01T00:00:00Z", "finalizers": finalizers,
            "ownerReferences": refs}});
        Node::of(by_kind("v1", "ConfigMap").unwrap(), &obj).unwrap()
    }

    #[test]
    fn a_foreground_owner_waits_only_for_blocking_dependents() {
        let owner = node("p", &[FOREGROUND], None);
        let blocking = node("a", &[], Some(("p", true)));
        let loose = node("b", &[], Some(("p", false)));
        assert_eq!(
            deleting_owner(&owner, &[&blocking, &loose]),
            OwnerVerdict::Wait
        );
        assert_eq!(
            deleting_owner(&owner, &[&loose]),
            OwnerVerdict::RemoveFinalizer(FOREGROUND)
        );
    }

    #[test]
    fn an_orphaning_owner_lets_go_of_every_dependent_first() {
        let owner = node("p", &[ORPHAN], None);
        let a = node("a", &[], Some(("p", true)));
        assert_eq!(
            deleting_owner(&owner, &[&a]),
            OwnerVerdict::Orphan(vec!["a".into()])
        );
        assert_eq!(
            deleting_owner(&owner, &[]),
            OwnerVerdict::RemoveFinalizer(ORPHAN)
        );
    }

    #[test]
    fn an_owner_seen_in_another_namespace_is_reported() {
        assert!(invalid_namespace(Some("a"), Some("b")));
        assert!(
            invalid_namespace(None, Some("b")),
            "a cluster-scoped dependent"
        );
        assert!(!invalid_namespace(Some("a"), Some("a")));
        assert!(
            !invalid_namespace(Some("a"), None),
            "a cluster-scoped owner"
        );
        let owner = OwnerRef {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web".into(),
            uid: "u1".into(),
            controller: true,
            block_owner_deletion: false,
        };
        assert_eq!(
            invalid_namespace_message(&owner, Some("a")),
            "ownerRef [apps/v1/ReplicaSet, namespace: a, name: web, uid: u1] \
             does not exist in namespace \"a\""
        );
        assert_eq!(
            invalid_namespace_message(&owner, None),
            "ownerRef [apps/v1/ReplicaSet, namespace: , name: web, uid: u1] \
             does not exist in namespace \"\""
        );
    }
}

//! The ownership graph: every object the collector sees, and for each uid
//! the objects that name it as an owner.
//!
//! Kubernetes' garbage collector keeps the same graph (`uidToNode`), fed by
//! informers on every resource. Owners are found by uid, so the index
//! `dependents` is keyed by the uid an owner reference names, whether or
//! not an object with that uid exists: a dependent whose owner is gone is
//! still listed under the owner's uid, which is how the collector finds it
//! when the owner's deletion arrives.
//!
//! The graph is pure bookkeeping. Each change answers the uids whose
//! verdict it may have changed, for the collector's work queue.

use std::collections::{BTreeSet, HashMap};

use orc_client::propagation::{FOREGROUND, ORPHAN};
use orc_client::resources::Resource;
use serde_json::Value;

use crate::owners::{OwnerRef, owner_refs};

/// What the collector keeps of one object: enough to find and judge it,
/// not the object itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The object's resource, for the API calls that act on it.
    pub resource: &'static Resource,
    /// Its namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// Its uid, the graph's key.
    pub uid: String,
    /// Its owner references.
    pub owners: Vec<OwnerRef>,
    /// Whether `deletionTimestamp` is set.
    pub deleting: bool,
    /// Its finalizers (the collector acts on `foregroundDeletion` and `orphan`).
    pub finalizers: Vec<String>,
}

impl Node {
    /// The node for a stored object of `resource`; `None` without a uid.
    pub fn of(resource: &'static Resource, obj: &Value) -> Option<Node> {
        let meta = obj.get("metadata")?;
        let text = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("");
        let uid = text("uid");
        if uid.is_empty() {
            return None;
        }
        Some(Node {
            resource,
            namespace: Some(text("namespace"))
                .filter(|ns| !ns.is_empty())
                .map(String::from),
            name: text("name").to_string(),
            uid: uid.to_string(),
            owners: owner_refs(obj),
            deleting: meta.get("deletionTimestamp").is_some_and(|t| !t.is_null()),
            finalizers: meta
                .get("finalizers")
                .and_then(Value::as_array)
                .map(|f| {
                    f.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// Whether it carries finalizer `name`.
    pub fn has_finalizer(&self, name: &str) -> bool {
        self.finalizers.iter().any(|f| f == name)
    }

    /// Whether it waits for the collector as an owner being deleted.
    pub fn awaits_collector(&self) -> bool {
        self.deleting && (self.has_finalizer(FOREGROUND) || self.has_finalizer(ORPHAN))
    }

    /// Its reference to the owner with `uid`, if it has one.
    pub fn reference_to(&self, uid: &str) -> Option<&OwnerRef> {
        self.owners.iter().find(|r| r.uid == uid)
    }

    /// `namespace/name` or `name`, for logs.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.resource.kind, self.name),
            None => format!("{} {}", self.resource.kind, self.name),
        }
    }
}

/// Every object seen, by uid, and who depends on which uid.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// Owner uid → uids of the objects that reference it.
    dependents: HashMap<String, BTreeSet<String>>,
}

impl Graph {
    /// The object with `uid`, if it exists (as far as the informers know).
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// How many objects the graph holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph holds no object.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The existing objects that reference `uid` as an owner.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d))
            .collect()
    }

    // ANCHOR: upsert
    /// Records a new or changed object; answers the uids to look at again:
    /// the object itself when it has owners or waits for the collector,
    /// owners it no longer references (one may be waiting for it), for an
    /// owner being deleted in the foreground, its dependents, and for an
    /// object seen for the first time, the dependents already naming it
    /// (judged before it was seen: one in another namespace must hear
    /// that its reference is wrong).
    pub fn upsert(&mut self, node: Node) -> Vec<String> {
        let uid = node.uid.clone();
        let first_seen = !self.nodes.contains_key(&uid);
        let old_owners: Vec<String> = self
            .nodes
            .get(&uid)
            .map(|old| old.owners.iter().map(|r| r.uid.clone()).collect())
            .unwrap_or_default();
        let mut work = Vec::new();
        for owner in &old_owners {
            if node.reference_to(owner).is_none() {
                self.unlink(owner, &uid);
                work.push(owner.clone());
            }
        }
        for owner in &node.owners {
            self.dependents
                .entry(owner.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        if !node.owners.is_empty() || node.awaits_collector() {
            work.push(uid.clone());
        }
        if first_seen || (node.deleting && node.has_finalizer(FOREGROUND)) {
            work.extend(self.dependents.get(&uid).into_iter().flatten().cloned());
        }
        self.nodes.insert(uid, node);
        work
    }
    // ANCHOR_END: upsert

    /// Forgets a deleted object; answers its dependents (their owner is
    /// gone) and its owners (one may have been waiting for it).
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        let mut work: Vec<String> = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for owner in &node.owners {
            self.unlink(&owner.uid, uid);
            work.push(owner.uid.clone());
        }
        work
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(set) = self.dependents.get_mut(owner) {
            set.remove(dependent);
            if set.is_empty() {
                self.dependents.remove(owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::resources::by_kind;
    use serde_json::json;

    fn cm(name: &str, uid: &str, owners: &[&str]) -> Node {
        let refs: Vec<Value> = owners
            .iter()
            .map(|o| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o, "uid": o}))
            .collect();
        let obj = json!({"metadata": {"name": name, "namespace": "default", "uid": uid,
            "ownerReferences": refs}});
        Node::of(by_kind("v1", "ConfigMap").unwrap(), &obj).unwrap()
    }

    #[test]
    fn dependents_are_found_by_their_owners_uid_even_before_it_exists() {
        let mut g = Graph::default();
        assert_eq!(g.upsert(cm("child", "c", &["p"])), ["c"]);
        assert_eq!(g.dependents("p").len(), 1, "the owner is not known yet");
        assert_eq!(
            g.upsert(cm("parent", "p", &[])),
            ["c"],
            "the owner seen at last: its dependent is judged again"
        );
        assert_eq!(g.dependents("p")[0].name, "child");
        assert!(
            g.upsert(cm("parent", "p", &[])).is_empty(),
            "only the first time"
        );
    }

    #[test]
    fn a_deleted_owner_sends_its_dependents_to_the_queue() {
        let mut g = Graph::default();
        g.upsert(cm("parent", "p", &[]));
        g.upsert(cm("a", "a", &["p"]));
        g.upsert(cm("b", "b", &["p"]));
        let mut work = g.remove("p");
        work.sort();
        assert_eq!(work, ["a", "b"]);
        assert_eq!(g.remove("a"), ["p"], "an owner may wait for its dependent");
        assert!(g.remove("a").is_empty(), "already gone");
    }

    #[test]
    fn dropping_a_reference_unlinks_and_reports_the_owner() {
        let mut g = Graph::default();
        g.upsert(cm("child", "c", &["p", "q"]));
        let work = g.upsert(cm("child", "c", &["q"]));
        assert_eq!(work, ["p", "c"]);
        assert!(g.dependents("p").is_empty());
        assert_eq!(g.upsert(cm("child", "c", &[])), ["q"]);
    }

    #[test]
    fn an_owner_marked_for_foreground_deletion_sends_its_dependents() {
        let mut g = Graph::default();
        g.upsert(cm("a", "a", &["p"]));
        let mut parent = cm("parent", "p", &[]);
        parent.deleting = true;
        parent.finalizers = vec![FOREGROUND.into()];
        assert_eq!(g.upsert(parent), ["p", "a"]);
    }
}

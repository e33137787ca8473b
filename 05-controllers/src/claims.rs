//! Which objects a controller manages: owned, adopted, released.
//!
//! A ReplicaSet manages the pods whose *controller reference* (the owner
//! reference with `controller: true`) names its uid. Selectors alone are not
//! enough: two ReplicaSets with overlapping selectors would fight over the
//! same pods. So, as Kubernetes' `ControllerRefManager` does:
//!
//! - a pod controlled by this owner and still matching its selector is
//!   **owned**;
//! - one controlled by this owner that no longer matches (someone changed
//!   its labels) is **released**: the reference is removed, and the pod
//!   lives on unmanaged;
//! - one with no controller that matches is **adopted**, unless the owner
//!   or the pod is being deleted;
//! - one controlled by another owner is none of its business.
//!
//! Adopting and releasing are metadata patches pinned to the
//! resourceVersion the controller judged, so a change in between (another
//! controller adopting the same pod first) answers 409 and the controller
//! judges again.

use orc_client::informer::Cache;
use orc_client::resources::Resource;
use orc_client::selectors::labels::Selector;
use orc_client::selectors::labels::from_label_selector;
use orc_client::selectors::labels_of;
use orc_client::{Client, ClientError};
use serde_json::{Value, json};

use crate::object::{key_of, namespace_and_name, uid};
use crate::owners::controller_of;

/// What a controller does with one candidate object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// It is ours and matches: count it.
    Owned,
    /// It matches and has no controller: make it ours, then count it.
    Adopt,
    /// It is ours but no longer matches: let it go.
    Release,
    /// Not ours, and not to be taken.
    Ignore,
}

// ANCHOR: claim
/// The claim of the owner with uid `owner_uid` and `selector` on
/// `candidate`; `owner_deleting`: the owner is being deleted (it adopts
/// nothing then).
pub fn claim(
    candidate: &Value,
    owner_uid: &str,
    selector: &Selector,
    owner_deleting: bool,
) -> Claim {
    let matches = selector.matches(&labels_of(candidate));
    match controller_of(candidate) {
        Some(controller) if controller.uid == owner_uid => {
            if matches {
                Claim::Owned
            } else {
                Claim::Release
            }
        }
        Some(_) => Claim::Ignore,
        None if matches && !owner_deleting && !is_deleting(candidate) => Claim::Adopt,
        None => Claim::Ignore,
    }
}
// ANCHOR_END: claim

/// The selector of `owner` (`spec.selector`, a LabelSelector).
pub fn selector_of(owner: &Value) -> Selector {
    from_label_selector(owner.pointer("/spec/selector").unwrap_or(&Value::Null))
}

// ANCHOR: claim_all
/// Claims `candidates` (objects of `resource`) for `owner`, of `kind`:
/// adopts the orphans it should and releases the objects it should, through
/// the API; answers those it owns. A candidate that changed or went away
/// meanwhile is skipped: its own event queues the owner again.
pub async fn claim_all(
    client: &Client,
    resource: &Resource,
    (owner, kind): (&Value, &str),
    candidates: Vec<Value>,
) -> Result<Vec<Value>, ClientError> {
    let selector = selector_of(owner);
    // The owner's own group: apps/v1 for ReplicaSets, batch/v1 for Jobs.
    let api_version = owner["apiVersion"].as_str().unwrap_or("apps/v1");
    let reference = controller_reference(owner, kind, api_version);
    let mut owned = Vec::new();
    for candidate in candidates {
        let outcome = match claim(&candidate, uid(owner), &selector, is_deleting(owner)) {
            Claim::Owned => {
                owned.push(candidate);
                Ok(())
            }
            Claim::Adopt => {
                let adopted = adopt(client, resource, &candidate, &reference).await;
                if adopted.is_ok() {
                    owned.push(candidate);
                }
                adopted
            }
            Claim::Release => release(client, resource, &candidate, uid(owner)).await,
            Claim::Ignore => Ok(()),
        };
        match outcome {
            Err(e) if !(e.is_conflict() || e.is_not_found()) => return Err(e),
            _ => {}
        }
    }
    Ok(owned)
}
// ANCHOR_END: claim_all

/// The key of the `kind` object that controls `obj`, if `owners` (a cache
/// of that kind) knows it under the uid the reference names.
pub fn controller_key(owners: &Cache, obj: &Value, kind: &str) -> Option<String> {
    let controller = controller_of(obj).filter(|c| c.kind == kind)?;
    let (ns, _) = namespace_and_name(obj);
    let key = format!("{ns}/{}", controller.name);
    let owner = owners.get(&key)?;
    (uid(&owner) == controller.uid).then_some(key)
}

/// The keys of the objects in `owners` (in `obj`'s namespace) whose
/// selector selects `obj`: the ones that might adopt it.
pub fn selecting(owners: &Cache, obj: &Value) -> Vec<String> {
    let (ns, _) = namespace_and_name(obj);
    let labels = labels_of(obj);
    owners
        .in_namespace(ns)
        .iter()
        .filter(|owner| {
            let selector = selector_of(owner);
            !selector.requirements.is_empty() && selector.matches(&labels)
        })
        .map(key_of)
        .collect()
}

/// Whether `obj` has a `deletionTimestamp`.
pub fn is_deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// The owner reference a controller puts on what it manages: `controller`
/// and `blockOwnerDeletion` set, so a foreground deletion of the owner
/// waits for it.
pub fn controller_reference(owner: &Value, kind: &str, api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": owner.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
        "uid": owner.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Makes `candidate` (of `resource`) controlled by `reference`.
pub async fn adopt(
    client: &Client,
    resource: &Resource,
    candidate: &Value,
    reference: &Value,
) -> Result<(), ClientError> {
    let mut refs = references(candidate);
    refs.push(reference.clone());
    patch_references(client, resource, candidate, refs).await
}

/// Removes the reference to the owner with `owner_uid` from `candidate`.
pub async fn release(
    client: &Client,
    resource: &Resource,
    candidate: &Value,
    owner_uid: &str,
) -> Result<(), ClientError> {
    let refs = references(candidate)
        .into_iter()
        .filter(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid))
        .collect();
    patch_references(client, resource, candidate, refs).await
}

fn references(obj: &Value) -> Vec<Value> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn patch_references(
    client: &Client,
    resource: &Resource,
    candidate: &Value,
    refs: Vec<Value>,
) -> Result<(), ClientError> {
    let meta = &candidate["metadata"];
    let patch = json!({"metadata": {
        "ownerReferences": refs,
        "resourceVersion": meta["resourceVersion"],
    }});
    let ns = meta["namespace"].as_str();
    let name = meta["name"].as_str().unwrap_or("");
    client
        .merge_patch(resource, ns, name, None, &patch)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::selectors::labels::parse;

    fn pod(labels: Value, controller: Option<&str>, deleting: bool) -> Value {
        let refs: Vec<Value> = controller
            .iter()
            .map(|uid| {
                json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                "uid": uid, "controller": true})
            })
            .collect();
        let mut pod = json!({"metadata": {"name": "p", "labels": labels, "ownerReferences": refs}});
        if deleting {
            pod["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        pod
    }

    #[test]
    fn ownership_is_by_controller_uid_then_selector() {
        let web = parse("app=web").unwrap();
        let ours = pod(json!({"app": "web"}), Some("me"), false);
        assert_eq!(claim(&ours, "me", &web, false), Claim::Owned);
        let relabelled = pod(json!({"app": "db"}), Some("me"), false);
        assert_eq!(claim(&relabelled, "me", &web, false), Claim::Release);
        let theirs = pod(json!({"app": "web"}), Some("other"), false);
        assert_eq!(claim(&theirs, "me", &web, false), Claim::Ignore);
    }

    #[test]
    fn orphans_are_adopted_unless_either_side_is_going() {
        let web = parse("app=web").unwrap();
        let orphan = pod(json!({"app": "web"}), None, false);
        assert_eq!(claim(&orphan, "me", &web, false), Claim::Adopt);
        assert_eq!(claim(&orphan, "me", &web, true), Claim::Ignore);
        let dying = pod(json!({"app": "web"}), None, true);
        assert_eq!(claim(&dying, "me", &web, false), Claim::Ignore);
        let stranger = pod(json!({"app": "db"}), None, false);
        assert_eq!(claim(&stranger, "me", &web, false), Claim::Ignore);
    }
}

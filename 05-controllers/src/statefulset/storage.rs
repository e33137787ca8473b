//! A StatefulSet's storage: the PersistentVolumeClaims made from its
//! `volumeClaimTemplates`, and who owns them. Pure functions; the
//! controller (`mod.rs`) creates and updates the claims they describe.
//!
//! Each pod gets its own claim per template, named
//! `<template>-<set>-<ordinal>` (`data-web-0`). The name depends only on
//! the ordinal, so a replacement `web-0` finds the claim its predecessor
//! wrote into, and the data comes back with the name. Chapter 05, "How a
//! claim follows a pod".
//!
//! Whether a claim outlives its pod is `persistentVolumeClaimRetentionPolicy`,
//! carried out by the garbage collector through owner references, as
//! Kubernetes 1.32 does (KEP-1847, with the controller flag of KEP-1847's
//! 2024 update):
//!
//! | whenDeleted | whenScaled | the claim's owner                           |
//! |-------------|------------|---------------------------------------------|
//! | Retain      | Retain     | none: claims stay until someone deletes them |
//! | Delete      | Retain     | the StatefulSet                              |
//! | Retain      | Delete     | the pod, once it is scaled away              |
//! | Delete      | Delete     | the set; the pod instead, once scaled away   |
//!
//! A pod is never the owner while it is wanted: deleting `web-0` to
//! replace it keeps its claim under every policy.

use serde_json::{Value, json};

use super::identity::ordinal_of;
use super::object::{Retention, StatefulSet};
use crate::claims::controller_reference;
use crate::object::{namespace_and_name, uid};

/// The name of the claim from `template` for the pod with `ordinal` of
/// the set `set` (Kubernetes' `getPersistentVolumeClaimName`).
pub fn claim_name(template: &Value, set: &str, ordinal: i64) -> String {
    format!("{}-{set}-{ordinal}", template_name(template))
}

/// A template's own name: the name of the pod volume it fills.
pub fn template_name(template: &Value) -> &str {
    template
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

// ANCHOR: new_claims
/// The claims of the pod with `ordinal` of `sts`, one per template: the
/// template's spec and annotations, its labels plus the set's selector
/// labels (so `kubectl get pvc -l app=web` finds them), and, when the set's
/// deletion is to delete them, the set as their controller from the start.
pub fn new_claims(sts: &Value, ordinal: i64) -> Vec<Value> {
    let (ns, set) = namespace_and_name(sts);
    let view = StatefulSet(sts);
    let selector = sts.pointer("/spec/selector/matchLabels");
    view.volume_claim_templates()
        .iter()
        .map(|template| {
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .filter(Value::is_object)
                .unwrap_or(json!({}));
            for (key, value) in selector.and_then(Value::as_object).into_iter().flatten() {
                labels[key] = value.clone();
            }
            let mut metadata = json!({
                "name": claim_name(template, set, ordinal),
                "namespace": ns,
                "labels": labels,
            });
            if let Some(annotations) = template.pointer("/metadata/annotations") {
                metadata["annotations"] = annotations.clone();
            }
            // Kubernetes 1.32 adds the set's reference in a second write,
            // after the pod; made here at once, a set deleted in between
            // cannot leave the claim behind.
            if view.retention_policy().when_deleted == Retention::Delete {
                metadata["ownerReferences"] =
                    json!([controller_reference(sts, "StatefulSet", "apps/v1")]);
            }
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": metadata,
                "spec": template.get("spec").cloned().unwrap_or(json!({})),
            })
        })
        .collect()
}
// ANCHOR_END: new_claims

// ANCHOR: attach
/// Points the pod spec's volumes named like the templates at the pod's own
/// claims, adding those missing (Kubernetes' `updateStorage`): the
/// template's `volumeMounts` name the template, and this is where that
/// name becomes `data-web-0`.
pub fn attach(sts: &Value, spec: &mut Value, ordinal: i64) {
    let (_, set) = namespace_and_name(sts);
    let templates = StatefulSet(sts).volume_claim_templates();
    let mut volumes: Vec<Value> = templates
        .iter()
        .map(|t| {
            json!({"name": template_name(t),
                "persistentVolumeClaim": {"claimName": claim_name(t, set, ordinal)}})
        })
        .collect();
    // The template's other volumes follow; one of a template's name is
    // replaced by the claim.
    let own = spec.get("volumes").and_then(Value::as_array);
    for volume in own.into_iter().flatten() {
        let name = volume.get("name").and_then(Value::as_str).unwrap_or("");
        if !templates.iter().any(|t| template_name(t) == name) {
            volumes.push(volume.clone());
        }
    }
    if !volumes.is_empty() {
        spec["volumes"] = Value::Array(volumes);
    }
}
// ANCHOR_END: attach

/// An owner of a claim: the set or one of its pods.
#[derive(Clone, Copy)]
struct Owner<'a> {
    object: &'a Value,
    api_version: &'static str,
    kind: &'static str,
}

impl Owner<'_> {
    /// Whether `reference` names this owner by kind and name, whatever
    /// its uid (Kubernetes' `matchesRef`).
    fn named_by(&self, reference: &Value) -> bool {
        reference["apiVersion"] == self.api_version
            && reference["kind"] == self.kind
            && reference["name"] == self.object["metadata"]["name"]
    }

    fn uid(&self) -> &str {
        uid(self.object)
    }
}

fn references(claim: &Value) -> &[Value] {
    claim
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn is_controller(reference: &Value) -> bool {
    reference["controller"] == true
}

/// Whether `claim` has a reference to `owner` (by uid).
fn owned_by(claim: &Value, owner: Owner) -> bool {
    references(claim).iter().any(|r| r["uid"] == owner.uid())
}

/// Whether the first reference naming `owner` has another uid: a set or
/// pod of the same name before this one, whose claims are left alone
/// (the garbage collector's, if that owner is gone).
fn stale(claim: &Value, owner: Owner) -> bool {
    references(claim)
        .iter()
        .find(|r| owner.named_by(r))
        .is_some_and(|r| r["uid"] != owner.uid())
}

/// Whether the policy deletes claims and something other than the set or
/// pod controls the claim, or a reference names them with an old uid
/// (Kubernetes' `hasUnexpectedController`): then orc adds no reference.
fn other_controller(claim: &Value, set: Owner, pod: Owner, policy_deletes: bool) -> bool {
    if !policy_deletes {
        return false; // under Retain, others may manage the claim
    }
    references(claim).iter().any(|r| {
        if set.named_by(r) {
            r["uid"] != set.uid()
        } else if pod.named_by(r) {
            r["uid"] != pod.uid()
        } else {
            is_controller(r)
        }
    })
}

/// The owners `claim` should have for `sts` and its pod `pod`, given the
/// retention policy and whether the pod is scaled away.
fn wanted(sts: &Value, pod: &Value) -> (bool, bool) {
    let view = StatefulSet(sts);
    let policy = view.retention_policy();
    let (_, set) = namespace_and_name(sts);
    let scaled_away = ordinal_of(set, pod).is_none_or(|o| !view.ordinals().contains(&o));
    let by_pod = policy.when_scaled == Retention::Delete && scaled_away;
    let by_set = policy.when_deleted == Retention::Delete && !by_pod;
    (by_set, by_pod)
}

fn owners<'a>(sts: &'a Value, pod: &'a Value) -> (Owner<'a>, Owner<'a>) {
    (
        Owner {
            object: sts,
            api_version: "apps/v1",
            kind: "StatefulSet",
        },
        Owner {
            object: pod,
            api_version: "v1",
            kind: "Pod",
        },
    )
}

fn policy_deletes(sts: &Value) -> bool {
    let policy = StatefulSet(sts).retention_policy();
    policy.when_deleted == Retention::Delete || policy.when_scaled == Retention::Delete
}

// ANCHOR: owners_up_to_date
/// Whether `claim`'s owner references already say what the policy wants
/// for the pod `pod` of `sts` (Kubernetes' `isClaimOwnerUpToDate`). A claim
/// whose references name an earlier set or pod of the same name is left
/// as it is, and so is one another controller holds.
pub fn owners_up_to_date(claim: &Value, sts: &Value, pod: &Value) -> bool {
    let (set, member) = owners(sts, pod);
    if stale(claim, set) || stale(claim, member) {
        return true;
    }
    let ours = |o: Owner| owned_by(claim, o);
    if other_controller(claim, set, member, policy_deletes(sts)) {
        // Ours beside another controller's must go; without ours, done.
        return !(ours(set) || ours(member));
    }
    let loose = references(claim)
        .iter()
        .any(|r| (r["uid"] == set.uid() || r["uid"] == member.uid()) && !is_controller(r));
    if loose {
        return false; // an early-beta reference without `controller: true`
    }
    let (by_set, by_pod) = wanted(sts, pod);
    ours(set) == by_set && ours(member) == by_pod
}
// ANCHOR_END: owners_up_to_date

/// The owner references `claim` should carry (Kubernetes'
/// `updateClaimOwnerRefForSetAndPod`): every reference to others kept,
/// the set's and the pod's removed, then added back as the controller
/// where the policy wants them.
pub fn wanted_owners(claim: &Value, sts: &Value, pod: &Value) -> Vec<Value> {
    let (set, member) = owners(sts, pod);
    let other = other_controller(claim, set, member, policy_deletes(sts));
    let mut refs: Vec<Value> = references(claim)
        .iter()
        .filter(|r| !set.named_by(r) && !member.named_by(r))
        .cloned()
        .collect();
    if other {
        return refs;
    }
    let (by_set, by_pod) = wanted(sts, pod);
    if by_set {
        refs.push(controller_reference(sts, "StatefulSet", "apps/v1"));
    }
    if by_pod {
        refs.push(controller_reference(pod, "Pod", "v1"));
    }
    refs
}

// ANCHOR: retention_fixes
/// For each of `pods` (the set's own), the claims whose owners do not
/// follow the policy, each with the references it should have; `claim`
/// looks a claim up by name in the set's namespace. Missing claims are
/// skipped: creating them is another step.
pub fn retention_fixes<'a>(
    sts: &Value,
    pods: &[Value],
    claim: impl Fn(&str) -> Option<&'a Value>,
) -> Vec<(&'a Value, Vec<Value>)> {
    let (_, set) = namespace_and_name(sts);
    let mut fixes = Vec::new();
    for pod in pods {
        let Some(ordinal) = ordinal_of(set, pod) else {
            continue;
        };
        for template in StatefulSet(sts).volume_claim_templates() {
            let Some(found) = claim(&claim_name(template, set, ordinal)) else {
                continue;
            };
            if !owners_up_to_date(found, sts, pod) {
                fixes.push((found, wanted_owners(found, sts, pod)));
            }
        }
    }
    fixes
}
// ANCHOR_END: retention_fixes

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;

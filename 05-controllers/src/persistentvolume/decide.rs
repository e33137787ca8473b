//! What the PersistentVolume controller does about one claim or one
//! volume (pure): Kubernetes' `persistentvolume-binder` decisions.
//!
//! A claim is *Pending* until it is paired with a volume; the pair is
//! written on both sides (`claim.spec.volumeName`, `volume.spec.claimRef`)
//! and both become *Bound*. When the claim goes, the volume is *Released*:
//! its reclaim policy says whether it is kept (`Retain`, for a person to
//! look at) or deleted with its data (`Delete`).
//!
//! A volume fits a claim when it has the claim's class (none for none),
//! offers every access mode the claim asks for, holds at least the
//! requested size, and, for a claim whose pod the scheduler has placed
//! (`volume.kubernetes.io/selected-node`), may be used on that node. Of the
//! volumes that fit, the smallest is taken, as Kubernetes does, so a big
//! volume stays free for a big claim.

use serde_json::{Value, json};

use orc_pod::quantity;

/// Where the scheduler writes the node it chose for a claim's first pod.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Set on a claim once the controller has bound it.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Set on whichever side the controller, not the user, filled in.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// The label a node's name is matched through in a volume's node affinity.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// The string at `pointer`, empty when missing.
pub(crate) fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The class of a claim or volume (the beta annotation first).
pub fn class_of(obj: &Value) -> &str {
    match obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"))
        .and_then(Value::as_str)
    {
        Some(class) => class,
        None => text(obj, "/spec/storageClassName"),
    }
}

/// Bytes of a quantity; `None` when it does not parse.
fn bytes(obj: &Value, pointer: &str) -> Option<u64> {
    match obj.pointer(pointer)? {
        Value::String(q) => quantity::parse_bytes(q).ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn modes(obj: &Value) -> Vec<&str> {
    obj.pointer("/spec/accessModes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn deleting(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// Whether `volume` may be used on node `node`: no node affinity, or a
/// required term whose `kubernetes.io/hostname In [...]` names it. Terms
/// on other labels are not read here (the scheduler checks them against
/// the node's labels); such a volume fits no node-selected claim.
pub fn usable_on(volume: &Value, node: &str) -> bool {
    let Some(terms) = volume
        .pointer("/spec/nodeAffinity/required/nodeSelectorTerms")
        .and_then(Value::as_array)
    else {
        return true;
    };
    terms.iter().any(|term| {
        let expressions = term.get("matchExpressions").and_then(Value::as_array);
        expressions.into_iter().flatten().all(|e| {
            e["key"] == HOSTNAME_LABEL
                && e["operator"] == "In"
                && e["values"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|n| n == node))
        })
    })
}

/// Whether `volume` can serve `claim` (ignoring who else holds it).
pub fn fits(claim: &Value, volume: &Value) -> bool {
    let wanted = bytes(claim, "/spec/resources/requests/storage");
    let offered = bytes(volume, "/spec/capacity/storage");
    let node = text(
        claim,
        &format!("/metadata/annotations/{}", SELECTED_NODE.replace('/', "~1")),
    );
    class_of(claim) == class_of(volume)
        && modes(claim).iter().all(|m| modes(volume).contains(m))
        && matches!((wanted, offered), (Some(w), Some(o)) if o >= w)
        && (node.is_empty() || usable_on(volume, node))
}

/// Whether `volume` is reserved for `claim` already: its `claimRef` names
/// the claim (and, once bound, its uid).
pub fn reserved_for(volume: &Value, claim: &Value) -> bool {
    let Some(r) = volume.pointer("/spec/claimRef").filter(|r| r.is_object()) else {
        return false;
    };
    r["namespace"] == claim["metadata"]["namespace"]
        && r["name"] == claim["metadata"]["name"]
        && (text(r, "/uid").is_empty() || r["uid"] == claim["metadata"]["uid"])
}

/// Whether a volume is free to take: no claim reserved it and it is not
/// on its way out.
pub fn free(volume: &Value) -> bool {
    volume.pointer("/spec/claimRef").is_none_or(Value::is_null)
        && text(volume, "/status/phase") == "Available"
        && !deleting(volume)
}

/// Whether `claim` is still looking for a volume and `volume` could be
/// it: the claim names none yet and the volume fits it.
pub fn may_take(claim: &Value, volume: &Value) -> bool {
    text(claim, "/spec/volumeName").is_empty() && !deleting(claim) && fits(claim, volume)
}

/// The smallest volume of `volumes` that `claim` may take: one already
/// reserved for it first, then a free one that fits.
pub fn best_match<'a>(claim: &Value, volumes: &'a [Value]) -> Option<&'a Value> {
    if let Some(v) = volumes
        .iter()
        .find(|v| reserved_for(v, claim) && fits(claim, v))
    {
        return Some(v);
    }
    volumes
        .iter()
        .filter(|v| free(v) && fits(claim, v))
        .min_by_key(|v| bytes(v, "/spec/capacity/storage").unwrap_or(u64::MAX))
}

/// What a claim's class says about making a volume for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioning {
    /// No class, or a class with the `kubernetes.io/no-provisioner`
    /// provisioner: only existing volumes can serve the claim.
    Static,
    /// A class whose provisioner makes volumes; `wait_for_consumer` when
    /// it binds `WaitForFirstConsumer`.
    Dynamic {
        provisioner: String,
        wait_for_consumer: bool,
    },
    /// The claim names a class that does not exist.
    MissingClass,
}

impl Provisioning {
    /// The provisioning of `claim`, given its StorageClass (`None` when
    /// the claim has no class or the class is missing).
    pub fn of(claim: &Value, class: Option<&Value>) -> Provisioning {
        let Some(class) = class else {
            return if class_of(claim).is_empty() {
                Provisioning::Static
            } else {
                Provisioning::MissingClass
            };
        };
        let provisioner = text(class, "/provisioner");
        if provisioner == "kubernetes.io/no-provisioner" {
            return Provisioning::Static;
        }
        Provisioning::Dynamic {
            provisioner: provisioner.to_string(),
            wait_for_consumer: text(class, "/volumeBindingMode") == "WaitForFirstConsumer",
        }
    }
}

// ANCHOR: claim_verdict
/// What to do about one claim.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimVerdict {
    /// Nothing: the claim is bound and both sides say so.
    Done,
    /// Pair the claim with the volume of this name (write both sides).
    Bind(String),
    /// Make a volume for it: its class's provisioner is asked to (orc's
    /// own local-path provisioner, when it is that one); the node is where
    /// the scheduler put the claim's pod, if it waits for one.
    Provision {
        provisioner: String,
        node: Option<String>,
    },
    /// Wait, with a reason and message for the claim's events: no volume
    /// fits yet, or its pod is not scheduled yet.
    Wait {
        reason: &'static str,
        message: String,
    },
    /// The claim's volume is gone: the claim is `Lost`.
    Lost,
}

/// The verdict for `claim`, knowing every volume and its class.
pub fn claim_verdict(claim: &Value, volumes: &[Value], class: Option<&Value>) -> ClaimVerdict {
    let volume_name = text(claim, "/spec/volumeName");
    if !volume_name.is_empty() {
        // Bound, or bound by the user who named a volume (a pre-bound claim).
        return match volumes
            .iter()
            .find(|v| text(v, "/metadata/name") == volume_name)
        {
            None if text(claim, "/status/phase") == "Bound" => ClaimVerdict::Lost,
            None => ClaimVerdict::Wait {
                reason: "FailedBinding",
                message: format!("volume \"{volume_name}\" not found"),
            },
            Some(v) if reserved_for(v, claim) => {
                if text(claim, "/status/phase") == "Bound" && text(v, "/status/phase") == "Bound" {
                    ClaimVerdict::Done
                } else {
                    ClaimVerdict::Bind(volume_name.to_string())
                }
            }
            Some(v) if free(v) && fits(claim, v) => ClaimVerdict::Bind(volume_name.to_string()),
            Some(_) => ClaimVerdict::Wait {
                reason: "FailedBinding",
                message: format!("volume \"{volume_name}\" already bound to a different claim."),
            },
        };
    }
    let provisioning = Provisioning::of(claim, class);
    let selected = text(
        claim,
        &format!("/metadata/annotations/{}", SELECTED_NODE.replace('/', "~1")),
    );
    if let Provisioning::Dynamic {
        wait_for_consumer: true,
        ..
    } = &provisioning
        && selected.is_empty()
    {
        return ClaimVerdict::Wait {
            reason: "WaitForFirstConsumer",
            message: "waiting for first consumer to be created before binding".into(),
        };
    }
    if let Some(v) = best_match(claim, volumes) {
        return ClaimVerdict::Bind(text(v, "/metadata/name").to_string());
    }
    match provisioning {
        Provisioning::Static => ClaimVerdict::Wait {
            reason: "FailedBinding",
            message: if class_of(claim).is_empty() {
                "no persistent volumes available for this claim and no storage class is set".into()
            } else {
                format!(
                    "no persistent volumes available for this claim and storage class \"{}\" has no provisioner",
                    class_of(claim)
                )
            },
        },
        Provisioning::MissingClass => ClaimVerdict::Wait {
            reason: "ProvisioningFailed",
            message: format!(
                "storageclass.storage.k8s.io \"{}\" not found",
                class_of(claim)
            ),
        },
        Provisioning::Dynamic { provisioner, .. } => ClaimVerdict::Provision {
            provisioner,
            node: (!selected.is_empty()).then(|| selected.to_string()),
        },
    }
}
// ANCHOR_END: claim_verdict

/// `volume` reserved for `claim`: the `claimRef` the binder writes.
pub fn claim_ref(claim: &Value) -> Value {
    json!({
        "kind": "PersistentVolumeClaim",
        "apiVersion": "v1",
        "namespace": claim["metadata"]["namespace"],
        "name": claim["metadata"]["name"],
        "uid": claim["metadata"]["uid"],
        "resourceVersion": claim["metadata"]["resourceVersion"],
    })
}

/// The claim's status once bound to `volume`: the volume's size and modes.
pub fn bound_claim_status(volume: &Value) -> Value {
    json!({
        "phase": "Bound",
        "accessModes": volume.pointer("/spec/accessModes").cloned().unwrap_or(json!([])),
        "capacity": volume.pointer("/spec/capacity").cloned().unwrap_or(json!({})),
    })
}

// ANCHOR: volume_verdict
/// What to do about one volume.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeVerdict {
    /// Nothing to change.
    Done,
    /// Set the volume's phase (`Available`, `Bound`, `Released`).
    Phase(&'static str),
    /// The claim is gone and the policy is `Delete`: delete the volume.
    Delete,
}

/// The verdict for `volume`, knowing the claim its `claimRef` names
/// (`None` when there is no such claim, or one with another uid).
pub fn volume_verdict(volume: &Value, claim: Option<&Value>) -> VolumeVerdict {
    let phase = text(volume, "/status/phase");
    let want = |p: &'static str| {
        if phase == p {
            VolumeVerdict::Done
        } else {
            VolumeVerdict::Phase(p)
        }
    };
    // A volume being deleted still gets its phase: the pv-protection
    // controller lets it go only once it is no longer `Bound`.
    let Some(r) = volume.pointer("/spec/claimRef").filter(|r| r.is_object()) else {
        // Unreserved: free, unless it was released (a person must clear
        // a Retained volume's claimRef, which brings it here as Available).
        return want("Available");
    };
    match claim {
        Some(c) if text(c, "/spec/volumeName") == text(volume, "/metadata/name") => want("Bound"),
        // Reserved for a claim that has not taken it yet (pre-bound by a
        // person, or mid-bind): Available, and the claim's sync finishes
        // the pair.
        Some(_) => want("Available"),
        None if text(r, "/uid").is_empty() => want("Available"),
        // The claim it was bound to is gone: Released first (as
        // Kubernetes' binder does; pv-protection waits for it), then
        // reclaimed by policy.
        None if phase != "Released" => want("Released"),
        None => match text(volume, "/spec/persistentVolumeReclaimPolicy") {
            "Delete" if !deleting(volume) => VolumeVerdict::Delete,
            _ => VolumeVerdict::Done,
        },
    }
}
// ANCHOR_END: volume_verdict

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

//! The claims, volumes and classes a pod's `persistentVolumeClaim`
//! volumes depend on, as the `VolumeBinding` plugin reads them.
//!
//! A claim is either bound to a volume (then the pod must go where the
//! volume can be used: its node affinity), or waits for its first pod
//! (`WaitForFirstConsumer`: the pod may go anywhere, and the scheduler
//! tells the provisioner where it went), or waits for a volume to appear
//! (`Immediate`: the pod cannot be placed yet).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::node_selector::{self, NodeSelectorTerm};

/// Where the scheduler writes the node it chose for a claim's first pod.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";

/// Every claim, volume and class, as the informers have them: the
/// informers' own objects, shared, so neither a notification nor the copy
/// of these maps that a change makes while a snapshot holds them copies an
/// object.
#[derive(Debug, Clone, Default)]
pub struct Volumes {
    /// `namespace/name` → claim.
    pub claims: HashMap<String, Arc<Value>>,
    /// Name → PersistentVolume.
    pub volumes: HashMap<String, Arc<Value>>,
    /// Name → StorageClass.
    pub classes: HashMap<String, Arc<Value>>,
}

/// What one claim of a pod means for placing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimState {
    /// No such claim.
    Missing,
    /// Bound: the pod must run where the volume can be used (`None`: the
    /// volume may be used anywhere).
    Bound(Option<Vec<NodeSelectorTerm>>),
    /// Unbound, and its class binds on the first consumer: any node, and
    /// the chosen one is written on the claim.
    WaitsForConsumer,
    /// Unbound, and nothing will bind it because of a pod.
    Unbound,
}

fn text<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl Volumes {
    /// The state of claim `name` in namespace `ns`.
    pub fn claim(&self, ns: &str, name: &str) -> Result<ClaimState, String> {
        let Some(claim) = self.claims.get(&format!("{ns}/{name}")) else {
            return Ok(ClaimState::Missing);
        };
        let volume_name = text(claim, "/spec/volumeName");
        if !volume_name.is_empty() {
            // Bound, or about to be: the named volume's affinity rules.
            return match self.volumes.get(volume_name) {
                None => Ok(ClaimState::Unbound),
                Some(pv) => Ok(ClaimState::Bound(affinity(pv)?)),
            };
        }
        let class = self.classes.get(text(claim, "/spec/storageClassName"));
        let delayed =
            class.is_some_and(|c| text(c, "/volumeBindingMode") == "WaitForFirstConsumer");
        Ok(if delayed {
            ClaimState::WaitsForConsumer
        } else {
            ClaimState::Unbound
        })
    }

    /// The claims of a pod (`namespace`, claim names) that wait for their
    /// first consumer and have no node yet: the scheduler writes the chosen
    /// node on each.
    pub fn to_select(&self, ns: &str, claims: &[String]) -> Vec<String> {
        claims
            .iter()
            .filter(|name| self.claim(ns, name) == Ok(ClaimState::WaitsForConsumer))
            .filter(|name| {
                let claim = &self.claims[&format!("{ns}/{name}")];
                text(
                    claim,
                    &format!("/metadata/annotations/{}", SELECTED_NODE.replace('/', "~1")),
                )
                .is_empty()
            })
            .cloned()
            .collect()
    }
}

/// A volume's required node affinity, as node selector terms.
fn affinity(pv: &Value) -> Result<Option<Vec<NodeSelectorTerm>>, String> {
    let Some(required) = pv
        .pointer("/spec/nodeAffinity/required")
        .filter(|r| !r.is_null())
    else {
        return Ok(None);
    };
    // The same terms as a pod's required node affinity: one parser.
    let as_pod = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}});
    let preferences = node_selector::parse(&as_pod).map_err(|e| {
        format!(
            "persistentvolume {:?}: {}",
            text(pv, "/metadata/name"),
            e.replace(
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
                "spec.nodeAffinity.required"
            )
        )
    })?;
    Ok(preferences.required)
}

/// The claim names of a pod spec's `persistentVolumeClaim` volumes.
pub fn claims_of(spec: &Value) -> Vec<String> {
    spec.get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.pointer("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str)
        })
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn claims_are_bound_waiting_or_missing() {
        let mut v = Volumes::default();
        v.classes.insert(
            "local-path".into(),
            json!({"volumeBindingMode": "WaitForFirstConsumer"}).into(),
        );
        v.claims.insert(
            "shop/wait".into(),
            json!({"spec": {"storageClassName": "local-path"}}).into(),
        );
        v.claims.insert(
            "shop/now".into(),
            json!({"spec": {"storageClassName": "fast"}}).into(),
        );
        v.claims.insert(
            "shop/bound".into(),
            json!({"spec": {"volumeName": "pv1"}}).into(),
        );
        v.volumes.insert("pv1".into(), json!({"metadata": {"name": "pv1"}, "spec": {"nodeAffinity": {"required": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}}}}).into());
        assert_eq!(v.claim("shop", "gone"), Ok(ClaimState::Missing));
        assert_eq!(v.claim("shop", "wait"), Ok(ClaimState::WaitsForConsumer));
        assert_eq!(v.claim("shop", "now"), Ok(ClaimState::Unbound));
        let Ok(ClaimState::Bound(Some(terms))) = v.claim("shop", "bound") else {
            panic!("bound with affinity");
        };
        let labels =
            |n: &str| BTreeMap::from([("kubernetes.io/hostname".to_string(), n.to_string())]);
        assert!(terms[0].matches("n2", &labels("n2")));
        assert!(!terms[0].matches("n1", &labels("n1")));
        assert_eq!(
            v.to_select("shop", &["wait".into(), "bound".into()]),
            ["wait"]
        );
        assert_eq!(
            claims_of(
                &json!({"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "wait"}}, {"name": "e", "emptyDir": {}}]})
            ),
            ["wait"]
        );
    }
}

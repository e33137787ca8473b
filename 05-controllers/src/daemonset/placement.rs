//! Which nodes a DaemonSet's pod belongs on, and how its pod is shaped
//! for one node: pure functions (lab 05's DaemonSet node eligibility).
//!
//! A DaemonSet pod is not placed by its controller. The controller decides
//! *which* nodes should run one, then creates for each a pod whose
//! required node affinity names that node alone (`matchFields` on
//! `metadata.name`), and leaves the binding to the scheduler, as
//! Kubernetes has done since 1.12. The scheduler then checks what the
//! controller cannot know: whether the node has room (resources, ports),
//! and it preempts lower-priority pods to make room when it must.
//!
//! The controller's own judgement is Kubernetes' `NodeShouldRunDaemonPod`:
//! the node must pass the template's `nodeSelector` and required node
//! affinity, and tolerate... only what the pod tolerates, *after* the
//! tolerations every DaemonSet pod gets ([`DAEMON_TOLERATIONS`]): a daemon
//! is meant for every node, so a node that is not ready, unreachable,
//! cordoned or under pressure still keeps (and gets) its daemon.

use orc_client::selectors::labels_of;
use orc_client::taints::{Effect, parse_taints, parse_tolerations, untolerated};
use orc_scheduler::objects::node_selector;
use serde_json::{Value, json};

/// The tolerations Kubernetes' DaemonSet controller adds to every pod it
/// makes (`AddOrUpdateDaemonPodTolerations`), as (key, effect). The two
/// `NoExecute` ones have no `tolerationSeconds`: a daemon is never evicted
/// because its node stopped answering (the node lifecycle's taint
/// eviction leaves it alone). The `NoSchedule` ones let it land on a node
/// under pressure or cordoned.
pub const DAEMON_TOLERATIONS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// Added too for a pod on the host's network: it needs no pod network, so
/// a node whose network is not set up yet may run it.
pub const HOST_NETWORK_TOLERATION: (&str, &str) =
    ("node.kubernetes.io/network-unavailable", "NoSchedule");

// ANCHOR: tolerations
/// Adds the DaemonSet tolerations to the pod spec `spec`, each unless a
/// toleration with that key and effect is there already (the user's own
/// wins, as in Kubernetes).
pub fn add_daemon_tolerations(spec: &mut Value) {
    let host_network = spec["hostNetwork"] == true;
    let wanted = DAEMON_TOLERATIONS
        .iter()
        .chain(host_network.then_some(&HOST_NETWORK_TOLERATION));
    let mut list: Vec<Value> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (key, effect) in wanted {
        let present = list
            .iter()
            .any(|t| t["key"] == *key && t["effect"] == *effect);
        if !present {
            list.push(json!({"key": key, "operator": "Exists", "effect": effect}));
        }
    }
    spec["tolerations"] = Value::Array(list);
}
// ANCHOR_END: tolerations

// ANCHOR: pin
/// Pins the pod spec `spec` to `node`: its required node affinity becomes
/// one term, `metadata.name In [node]` (Kubernetes'
/// `ReplaceDaemonSetPodNodeNameNodeAffinity`). The template's own required
/// terms are replaced, not kept: the controller has already checked them
/// against this node. Preferred terms stay.
pub fn pin_to_node(spec: &mut Value, node: &str) {
    let term = json!({"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node]}]});
    if !spec["affinity"].is_object() {
        spec["affinity"] = json!({});
    }
    let affinity = &mut spec["affinity"];
    if !affinity["nodeAffinity"].is_object() {
        affinity["nodeAffinity"] = json!({});
    }
    affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] =
        json!({"nodeSelectorTerms": [term]});
}
// ANCHOR_END: pin

/// The node a DaemonSet pod is for: its `spec.nodeName` once bound, else
/// the node its required affinity names (Kubernetes' `GetTargetNodeName`).
pub fn target_node(pod: &Value) -> Option<&str> {
    if let Some(name) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Some(name);
    }
    let terms = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?
        .as_array()?;
    terms.iter().find_map(|term| {
        term["matchFields"].as_array()?.iter().find_map(|f| {
            (f["key"] == "metadata.name" && f["operator"] == "In")
                .then(|| f["values"].as_array()?.first()?.as_str())
                .flatten()
        })
    })
}

/// What a node means for a DaemonSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The node should run a daemon pod: one is created if it has none.
    pub should_run: bool,
    /// A daemon pod already there may stay. True where `should_run` is,
    /// and also on a node that only gained a `NoSchedule` taint the pod
    /// does not tolerate: such a taint keeps new pods off, it does not
    /// evict running ones.
    pub should_continue_running: bool,
}

impl Placement {
    const NOWHERE: Placement = Placement {
        should_run: false,
        should_continue_running: false,
    };
}

// ANCHOR: placement
/// Where `node` stands for the DaemonSet pod spec `spec` (with the
/// DaemonSet tolerations already added), as Kubernetes'
/// `NodeShouldRunDaemonPod`. An error names a malformed node affinity in
/// the template (which no node can then pass).
pub fn placement(spec: &Value, node: &Value) -> Result<Placement, String> {
    let name = node
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    // A template that names a node runs there only.
    if let Some(wanted) = spec["nodeName"].as_str().filter(|n| !n.is_empty()) {
        if wanted != name {
            return Ok(Placement::NOWHERE);
        }
    }
    let labels = labels_of(node);
    let preferences = node_selector::parse(spec)?;
    if !preferences.required_match(name, &labels) {
        return Ok(Placement::NOWHERE);
    }
    let taints = parse_taints(node.pointer("/spec/taints"));
    let tolerations = parse_tolerations(spec.get("tolerations"))?;
    let repelled = untolerated(&taints, &tolerations, |e| {
        matches!(e, Effect::NoSchedule | Effect::NoExecute)
    });
    if repelled.is_none() {
        return Ok(Placement {
            should_run: true,
            should_continue_running: true,
        });
    }
    // Kept off, but is it also thrown off? Only by a NoExecute taint.
    let evicted = untolerated(&taints, &tolerations, |e| e == Effect::NoExecute);
    Ok(Placement {
        should_run: false,
        should_continue_running: evicted.is_none(),
    })
}
// ANCHOR_END: placement

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})
    }

    fn daemon_spec(extra: Value) -> Value {
        let mut spec = extra;
        add_daemon_tolerations(&mut spec);
        spec
    }

    const EVERYWHERE: Placement = Placement {
        should_run: true,
        should_continue_running: true,
    };

    #[test]
    fn node_selector_and_required_affinity_choose_nodes() {
        let spec = daemon_spec(json!({
            "nodeSelector": {"disk": "ssd"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                {"nodeSelectorTerms": [{"matchExpressions":
                    [{"key": "zone", "operator": "NotIn", "values": ["b"]}]}]}}}}));
        let ssd_a = node("n1", json!({"disk": "ssd", "zone": "a"}), json!([]));
        let ssd_b = node("n2", json!({"disk": "ssd", "zone": "b"}), json!([]));
        let hdd = node("n3", json!({"disk": "hdd"}), json!([]));
        assert_eq!(placement(&spec, &ssd_a), Ok(EVERYWHERE));
        assert_eq!(placement(&spec, &ssd_b), Ok(Placement::NOWHERE));
        assert_eq!(placement(&spec, &hdd), Ok(Placement::NOWHERE));
    }

    #[test]
    fn no_schedule_keeps_new_pods_off_and_no_execute_throws_them_off() {
        let spec = daemon_spec(json!({}));
        let gpu = node(
            "n",
            json!({}),
            json!([{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]),
        );
        let kept = Placement {
            should_run: false,
            should_continue_running: true,
        };
        assert_eq!(placement(&spec, &gpu), Ok(kept));
        let drained = node(
            "n",
            json!({}),
            json!([{"key": "drain", "effect": "NoExecute"}]),
        );
        assert_eq!(placement(&spec, &drained), Ok(Placement::NOWHERE));
        let tolerant = daemon_spec(json!({"tolerations":
            [{"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoSchedule"}]}));
        assert_eq!(placement(&tolerant, &gpu), Ok(EVERYWHERE));
    }

    #[test]
    fn the_daemon_tolerations_cover_sick_and_cordoned_nodes() {
        let spec = daemon_spec(json!({}));
        let sick = node(
            "n",
            json!({}),
            json!([
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"},
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"},
            ]),
        );
        assert_eq!(placement(&spec, &sick), Ok(EVERYWHERE));
        // No tolerationSeconds: tolerated for as long as the taint lasts.
        let tolerations = spec["tolerations"].as_array().unwrap();
        assert_eq!(tolerations.len(), DAEMON_TOLERATIONS.len());
        assert!(
            tolerations
                .iter()
                .all(|t| t.get("tolerationSeconds").is_none())
        );
        let host = daemon_spec(json!({"hostNetwork": true}));
        assert_eq!(host["tolerations"].as_array().unwrap().len(), 7);
        // The user's own toleration for a key and effect is kept, not doubled.
        let own = daemon_spec(
            json!({"tolerations": [{"key": "node.kubernetes.io/unreachable",
            "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]}),
        );
        let unreachable: Vec<&Value> = own["tolerations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["key"] == "node.kubernetes.io/unreachable")
            .collect();
        assert_eq!(unreachable.len(), 1);
        assert_eq!(unreachable[0]["tolerationSeconds"], 60);
    }

    #[test]
    fn a_pinned_pod_names_its_node_and_keeps_its_preferences() {
        let mut spec = json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms":
                [{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]},
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1,
                "preference": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}]}}});
        pin_to_node(&mut spec, "n7");
        let pod = json!({"spec": spec});
        assert_eq!(target_node(&pod), Some("n7"));
        let affinity = &pod["spec"]["affinity"]["nodeAffinity"];
        let terms =
            &affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
        assert_eq!(
            terms,
            &json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}])
        );
        assert!(affinity["preferredDuringSchedulingIgnoredDuringExecution"].is_array());
        let mut bare = json!({});
        pin_to_node(&mut bare, "n1");
        assert_eq!(target_node(&json!({"spec": bare})), Some("n1"));
        let bound = json!({"spec": {"nodeName": "n2"}});
        assert_eq!(target_node(&bound), Some("n2"));
    }

    #[test]
    fn a_template_naming_a_node_runs_there_only_and_bad_affinity_says_where() {
        let spec = daemon_spec(json!({"nodeName": "n1"}));
        assert_eq!(
            placement(&spec, &node("n1", json!({}), json!([]))),
            Ok(EVERYWHERE)
        );
        assert_eq!(
            placement(&spec, &node("n2", json!({}), json!([]))),
            Ok(Placement::NOWHERE)
        );
        let bad = daemon_spec(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {}}}}));
        let error = placement(&bad, &node("n1", json!({}), json!([]))).unwrap_err();
        assert!(error.contains("nodeSelectorTerms: required"), "{error}");
    }
}

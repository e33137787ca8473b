//! Rows of the remaining kinds: nodes, namespaces, config maps, secrets,
//! events, leases, priority classes and pod disruption budgets.

use serde_json::{Value, json};

use super::{AGE, Column, NAME, Printer, age, col, count, int, items, name, since, text, wide};

/// A node's ROLES: the `node-role.kubernetes.io/<role>` label names (and
/// the older `kubernetes.io/role` label's value), sorted; `<none>`.
fn roles(node: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    if let Some(Value::Object(labels)) = node.pointer("/metadata/labels") {
        for (key, value) in labels {
            if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
                roles.push(role.to_string());
            } else if key == "kubernetes.io/role" {
                roles.push(value.as_str().unwrap_or_default().to_string());
            }
        }
    }
    roles.retain(|r| !r.is_empty());
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

/// STATUS: `Ready`, `NotReady` or `Unknown` from the Ready condition, with
/// `,SchedulingDisabled` for a cordoned node.
fn node_status(node: &Value) -> String {
    let mut status = match items(node, "/status/conditions").find(|c| c["type"] == "Ready") {
        Some(c) if c["status"] == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if node.pointer("/spec/unschedulable") == Some(&json!(true)) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// The first address of `kind` (`InternalIP`, `ExternalIP`), or `<none>`.
fn address(node: &Value, kind: &str) -> String {
    items(node, "/status/addresses")
        .find(|a| a["type"] == kind)
        .and_then(|a| a["address"].as_str())
        .unwrap_or("<none>")
        .to_string()
}

pub(super) const NODE: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string"),
        col("Roles", "string"),
        AGE,
        col("Version", "string"),
        wide("Internal-IP"),
        wide("External-IP"),
        wide("OS-Image"),
        wide("Kernel-Version"),
        wide("Container-Runtime"),
    ] as &[Column],
    cells: |node| {
        let info = |field: &str| {
            json!(text(
                node,
                &format!("/status/nodeInfo/{field}"),
                "<unknown>"
            ))
        };
        vec![
            name(node),
            json!(node_status(node)),
            json!(roles(node)),
            age(node),
            json!(text(node, "/status/nodeInfo/kubeletVersion", "")),
            json!(address(node, "InternalIP")),
            json!(address(node, "ExternalIP")),
            info("osImage"),
            info("kernelVersion"),
            info("containerRuntimeVersion"),
        ]
    },
};

pub(super) const NAMESPACE: Printer = Printer {
    columns: &[NAME, col("Status", "string"), AGE],
    cells: |ns| vec![name(ns), json!(text(ns, "/status/phase", "")), age(ns)],
};

pub(super) const CONFIG_MAP: Printer = Printer {
    columns: &[NAME, col("Data", "string"), AGE],
    cells: |cm| {
        vec![
            name(cm),
            json!(count(cm, "/data") + count(cm, "/binaryData")),
            age(cm),
        ]
    },
};

pub(super) const SECRET: Printer = Printer {
    columns: &[NAME, col("Type", "string"), col("Data", "string"), AGE],
    cells: |s| {
        vec![
            name(s),
            json!(text(s, "/type", "")),
            json!(count(s, "/data")),
            age(s),
        ]
    },
};

pub(super) const SERVICE_ACCOUNT: Printer = Printer {
    columns: &[NAME, col("Secrets", "string"), AGE],
    cells: |sa| vec![name(sa), json!(count(sa, "/secrets")), age(sa)],
};

pub(super) const LEASE: Printer = Printer {
    columns: &[NAME, col("Holder", "string"), AGE],
    cells: |l| vec![name(l), json!(text(l, "/spec/holderIdentity", "")), age(l)],
};

/// PriorityClasses: VALUE, GLOBAL-DEFAULT, AGE and PREEMPTIONPOLICY, as
/// Kubernetes prints them (`false` when `globalDefault` is unset).
pub(super) const PRIORITY_CLASS: Printer = Printer {
    columns: &[
        NAME,
        col("Value", "integer"),
        col("Global-Default", "boolean"),
        AGE,
        col("PreemptionPolicy", "string"),
    ],
    cells: |pc| {
        vec![
            name(pc),
            json!(int(pc, "/value")),
            json!(
                pc.get("globalDefault")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
            age(pc),
            json!(text(pc, "/preemptionPolicy", "")),
        ]
    },
};

/// A PodDisruptionBudget: MIN AVAILABLE and MAX UNAVAILABLE as written
/// (a count or a percentage; `N/A` for the one not set) and the
/// disruptions its status allows now (Kubernetes' `printPodDisruptionBudget`).
pub(super) const POD_DISRUPTION_BUDGET: Printer = Printer {
    columns: &[
        NAME,
        col("Min Available", "string"),
        col("Max Unavailable", "string"),
        col("Allowed Disruptions", "integer"),
        AGE,
    ],
    cells: |pdb| {
        vec![
            name(pdb),
            json!(text(pdb, "/spec/minAvailable", "N/A")),
            json!(text(pdb, "/spec/maxUnavailable", "N/A")),
            json!(int(pdb, "/status/disruptionsAllowed")),
            age(pdb),
        ]
    },
};

// ANCHOR: event
/// Events: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE; `-o wide` adds the
/// subobject (`spec.containers{nginx}`), the source, when it was first
/// seen, how many times, and the event's own name.
pub(super) const EVENT: Printer = Printer {
    columns: &[
        col("Last Seen", "string"),
        col("Type", "string"),
        col("Reason", "string"),
        col("Object", "string"),
        wide("Subobject"),
        wide("Source"),
        col("Message", "string"),
        wide("First Seen"),
        wide("Count"),
        wide("Name"),
    ],
    cells: |ev| {
        let first = match ev.pointer("/firstTimestamp") {
            Some(Value::String(_)) => since(ev, "/firstTimestamp"),
            _ => since(ev, "/eventTime"),
        };
        let (last, count) = if ev.pointer("/series").is_some() {
            (
                since(ev, "/series/lastObservedTime"),
                int(ev, "/series/count"),
            )
        } else {
            let last = match ev.pointer("/lastTimestamp") {
                Some(Value::String(_)) => since(ev, "/lastTimestamp"),
                _ => first.clone(),
            };
            (last, int(ev, "/count").max(1))
        };
        let kind = text(ev, "/involvedObject/kind", "").to_lowercase();
        let object = match text(ev, "/involvedObject/name", "").as_str() {
            "" => kind,
            name => format!("{kind}/{name}"),
        };
        let component = text(
            ev,
            "/source/component",
            &text(ev, "/reportingComponent", ""),
        );
        let source = match text(ev, "/source/host", "").as_str() {
            "" => component,
            host => format!("{component}, {host}"),
        };
        vec![
            json!(last),
            json!(text(ev, "/type", "")),
            json!(text(ev, "/reason", "")),
            json!(object),
            json!(text(ev, "/involvedObject/fieldPath", "")),
            json!(source),
            json!(text(ev, "/message", "").trim()),
            json!(first),
            json!(count),
            name(ev),
        ]
    },
};
// ANCHOR_END: event

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::*;

    #[test]
    fn nodes_show_roles_status_and_addresses() {
        let node = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0-orc", "osImage": "Debian"}}});
        assert_eq!(
            cells("Node", node)[1..],
            [
                json!("NotReady,SchedulingDisabled"),
                json!("control-plane"),
                json!("<unknown>"),
                json!("v1.32.0-orc"),
                json!("10.0.0.5"),
                json!("<none>"),
                json!("Debian"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
    }

    #[test]
    fn events_name_their_object() {
        let ev = json!({"metadata": {"name": "web.1"}, "type": "Normal", "reason": "Scheduled", "count": 3,
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
            "source": {"component": "orc-scheduler"}, "message": "ok\n"});
        assert_eq!(
            cells("Event", ev)[1..],
            [
                json!("Normal"),
                json!("Scheduled"),
                json!("pod/web"),
                json!("spec.containers{nginx}"),
                json!("orc-scheduler"),
                json!("ok"),
                json!("<unknown>"),
                json!(3),
                json!("web.1")
            ]
        );
    }

    #[test]
    fn priority_classes_show_value_default_and_policy() {
        let pc = json!({"metadata": {"name": "high"}, "value": 1000,
            "preemptionPolicy": "PreemptLowerPriority"});
        assert_eq!(
            cells("PriorityClass", pc)[..],
            [
                json!("high"),
                json!(1000),
                json!(false),
                json!("<unknown>"),
                json!("PreemptLowerPriority")
            ]
        );
    }

    #[test]
    fn disruption_budgets_show_either_bound_and_the_allowance() {
        let pdb = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": 2},
            "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            cells("PodDisruptionBudget", pdb)[..4],
            [json!("web"), json!("2"), json!("N/A"), json!(1)]
        );
        let pdb = json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": "25%"}});
        assert_eq!(
            cells("PodDisruptionBudget", pdb)[1..4],
            [json!("N/A"), json!("25%"), json!(0)]
        );
    }
}

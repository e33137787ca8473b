//! Server-side Tables: the columns `kubectl get` prints.
//!
//! kubectl does not know that a pod's row shows READY, STATUS and RESTARTS.
//! It asks the server for a `Table` (`Accept: application/json;as=Table;
//! v=v1;g=meta.k8s.io`), and the server sends column definitions and
//! pre-rendered cells. That is how `kubectl get` shows the right columns
//! even for kinds it has never heard of. orc renders the columns Kubernetes
//! shows for the kinds it serves; other kinds get NAME and AGE.

use serde_json::{Value, json};

use crate::meta::{parse_rfc3339, unix_now};

/// Whether an `Accept` header asks for a Table.
pub fn wants_table(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// `kubectl`'s short ages: `45s`, `3m12s`, `5h`, `12d`, as Kubernetes'
/// `duration.HumanDuration` writes them.
pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        s if s < 0 => "0s".into(),
        s if s < 120 => format!("{s}s"),
        _ if m < 10 && secs % 60 != 0 => format!("{m}m{}s", secs % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 != 0 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 && h % 24 != 0 => format!("{d}d{}h", h % 24),
        _ if d < 730 => format!("{d}d"),
        _ => format!("{}y{}d", d / 365, d % 365),
    }
}

fn age(obj: &Value) -> String {
    obj.pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .map(|created| human_duration(unix_now() - created))
        .unwrap_or_else(|| "<unknown>".into())
}

fn text(obj: &Value, pointer: &str, default: &str) -> String {
    match obj.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => default.to_string(),
    }
}

fn count(obj: &Value, pointer: &str) -> usize {
    match obj.pointer(pointer) {
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(m)) => m.len(),
        _ => 0,
    }
}

// ANCHOR: columns
/// Column names (with priority: 1 means only with `-o wide`) and the cells
/// of one object of `kind`.
fn columns(kind: &str, obj: &Value) -> (Vec<(&'static str, u8)>, Vec<Value>) {
    let name = json!(text(obj, "/metadata/name", ""));
    let age = json!(age(obj));
    match kind {
        "Pod" => {
            let statuses = obj
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array);
            let ready = statuses
                .into_iter()
                .flatten()
                .filter(|s| s["ready"] == true)
                .count();
            let restarts: i64 = statuses
                .into_iter()
                .flatten()
                .filter_map(|s| s["restartCount"].as_i64())
                .sum();
            let status = text(
                obj,
                "/status/reason",
                &text(obj, "/status/phase", "Unknown"),
            );
            let status = if obj.pointer("/metadata/deletionTimestamp").is_some() {
                "Terminating".into()
            } else {
                status
            };
            (
                vec![
                    ("Name", 0),
                    ("Ready", 0),
                    ("Status", 0),
                    ("Restarts", 0),
                    ("Age", 0),
                    ("IP", 1),
                    ("Node", 1),
                ],
                vec![
                    name,
                    json!(format!("{ready}/{}", count(obj, "/spec/containers"))),
                    json!(status),
                    json!(restarts),
                    age,
                    json!(text(obj, "/status/podIP", "<none>")),
                    json!(text(obj, "/spec/nodeName", "<none>")),
                ],
            )
        }
        "Node" => {
            let conditions = obj.pointer("/status/conditions").and_then(Value::as_array);
            let ready = conditions
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            let mut status = match ready.and_then(|c| c["status"].as_str()) {
                Some("True") => "Ready".to_string(),
                Some("False") => "NotReady".to_string(),
                _ => "Unknown".to_string(),
            };
            if obj.pointer("/spec/unschedulable") == Some(&json!(true)) {
                status.push_str(",SchedulingDisabled");
            }
            (
                vec![
                    ("Name", 0),
                    ("Status", 0),
                    ("Roles", 0),
                    ("Age", 0),
                    ("Version", 0),
                ],
                vec![
                    name,
                    json!(status),
                    json!("<none>"),
                    age,
                    json!(text(obj, "/status/nodeInfo/kubeletVersion", "")),
                ],
            )
        }
        "Namespace" => (
            vec![("Name", 0), ("Status", 0), ("Age", 0)],
            vec![name, json!(text(obj, "/status/phase", "Active")), age],
        ),
        "Deployment" => (
            vec![
                ("Name", 0),
                ("Ready", 0),
                ("Up-to-date", 0),
                ("Available", 0),
                ("Age", 0),
            ],
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    text(obj, "/status/readyReplicas", "0"),
                    text(obj, "/spec/replicas", "0")
                )),
                json!(
                    obj.pointer("/status/updatedReplicas")
                        .cloned()
                        .unwrap_or(json!(0))
                ),
                json!(
                    obj.pointer("/status/availableReplicas")
                        .cloned()
                        .unwrap_or(json!(0))
                ),
                age,
            ],
        ),
        "ReplicaSet" => (
            vec![
                ("Name", 0),
                ("Desired", 0),
                ("Current", 0),
                ("Ready", 0),
                ("Age", 0),
            ],
            vec![
                name,
                obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0)),
                obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
                obj.pointer("/status/readyReplicas")
                    .cloned()
                    .unwrap_or(json!(0)),
                age,
            ],
        ),
        "Service" => {
            let ports: Vec<String> = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|p| match p.get("nodePort") {
                    Some(n) => format!("{}:{}/{}", p["port"], n, text(p, "/protocol", "TCP")),
                    None => format!("{}/{}", p["port"], text(p, "/protocol", "TCP")),
                })
                .collect();
            (
                vec![
                    ("Name", 0),
                    ("Type", 0),
                    ("Cluster-IP", 0),
                    ("External-IP", 0),
                    ("Port(s)", 0),
                    ("Age", 0),
                ],
                vec![
                    name,
                    json!(text(obj, "/spec/type", "ClusterIP")),
                    json!(text(obj, "/spec/clusterIP", "<none>")),
                    json!("<none>"),
                    json!(if ports.is_empty() {
                        "<none>".to_string()
                    } else {
                        ports.join(",")
                    }),
                    age,
                ],
            )
        }
        "ConfigMap" => (
            vec![("Name", 0), ("Data", 0), ("Age", 0)],
            vec![
                name,
                json!(count(obj, "/data") + count(obj, "/binaryData")),
                age,
            ],
        ),
        "Secret" => (
            vec![("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)],
            vec![
                name,
                json!(text(obj, "/type", "Opaque")),
                json!(count(obj, "/data")),
                age,
            ],
        ),
        "Event" => {
            let last = obj
                .pointer("/lastTimestamp")
                .or_else(|| obj.pointer("/eventTime"));
            let last_seen = last
                .and_then(Value::as_str)
                .and_then(parse_rfc3339)
                .map(|t| human_duration(unix_now() - t))
                .unwrap_or_else(|| "<unknown>".into());
            let object = format!(
                "{}/{}",
                text(obj, "/involvedObject/kind", "").to_lowercase(),
                text(obj, "/involvedObject/name", "")
            );
            (
                vec![
                    ("Last Seen", 0),
                    ("Type", 0),
                    ("Reason", 0),
                    ("Object", 0),
                    ("Message", 0),
                ],
                vec![
                    json!(last_seen),
                    json!(text(obj, "/type", "")),
                    json!(text(obj, "/reason", "")),
                    json!(object),
                    json!(text(obj, "/message", "")),
                ],
            )
        }
        "Endpoints" => {
            let mut addresses = Vec::new();
            for subset in obj
                .pointer("/subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let ports: Vec<String> = subset["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| p["port"].to_string())
                    .collect();
                for a in subset["addresses"].as_array().into_iter().flatten() {
                    let ip = a["ip"].as_str().unwrap_or("");
                    if ports.is_empty() {
                        addresses.push(ip.to_string());
                    }
                    addresses.extend(ports.iter().map(|p| format!("{ip}:{p}")));
                }
            }
            let shown = if addresses.is_empty() {
                "<none>".to_string()
            } else {
                addresses.join(",")
            };
            (
                vec![("Name", 0), ("Endpoints", 0), ("Age", 0)],
                vec![name, json!(shown), age],
            )
        }
        "Lease" => (
            vec![("Name", 0), ("Holder", 0), ("Age", 0)],
            vec![name, json!(text(obj, "/spec/holderIdentity", "")), age],
        ),
        "DaemonSet" => {
            let n = |p: &str| obj.pointer(p).cloned().unwrap_or(json!(0));
            (
                vec![
                    ("Name", 0),
                    ("Desired", 0),
                    ("Current", 0),
                    ("Ready", 0),
                    ("Up-to-date", 0),
                    ("Available", 0),
                    ("Age", 0),
                ],
                vec![
                    name,
                    n("/status/desiredNumberScheduled"),
                    n("/status/currentNumberScheduled"),
                    n("/status/numberReady"),
                    n("/status/updatedNumberScheduled"),
                    n("/status/numberAvailable"),
                    age,
                ],
            )
        }
        "Job" => {
            let succeeded = text(obj, "/status/succeeded", "0");
            let completions = text(obj, "/spec/completions", "1");
            let status = if succeeded == completions {
                "Complete"
            } else {
                "Running"
            };
            (
                vec![("Name", 0), ("Status", 0), ("Completions", 0), ("Age", 0)],
                vec![
                    name,
                    json!(status),
                    json!(format!("{succeeded}/{completions}")),
                    age,
                ],
            )
        }
        "Ingress" => {
            let hosts: Vec<&str> = obj
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| r["host"].as_str())
                .collect();
            (
                vec![
                    ("Name", 0),
                    ("Class", 0),
                    ("Hosts", 0),
                    ("Address", 0),
                    ("Ports", 0),
                    ("Age", 0),
                ],
                vec![
                    name,
                    json!(text(obj, "/spec/ingressClassName", "<none>")),
                    json!(if hosts.is_empty() {
                        "*".to_string()
                    } else {
                        hosts.join(",")
                    }),
                    json!(""),
                    json!(if obj.pointer("/spec/tls").is_some() {
                        "80, 443"
                    } else {
                        "80"
                    }),
                    age,
                ],
            )
        }
        _ => (vec![("Name", 0), ("Age", 0)], vec![name, age]),
    }
}
// ANCHOR_END: columns

/// A `Table` of `items` (objects of `kind`) read at `resource_version`.
pub fn table(kind: &str, items: &[Value], resource_version: &str, next: Option<&str>) -> Value {
    let (definitions, _) = columns(kind, &json!({}));
    let column_definitions: Vec<Value> = definitions
        .iter()
        .map(|(name, priority)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({"name": name, "type": "string", "format": format, "description": "", "priority": priority})
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            // kubectl reads names and namespaces from the row's object;
            // the metadata is all it needs (`PartialObjectMetadata`).
            let object = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
            });
            json!({"cells": columns(kind, obj).1, "object": object})
        })
        .collect();
    let mut metadata = json!({"resourceVersion": resource_version});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(30 * 3600), "30h");
        assert_eq!(human_duration(3 * 86_400 + 3600), "3d1h");
        assert_eq!(human_duration(40 * 86_400), "40d");
    }

    #[test]
    fn endpoints_and_events() {
        let ep = json!({"metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}]}]});
        assert_eq!(
            table("Endpoints", &[ep], "1", None)["rows"][0]["cells"][1],
            "10.0.0.1:80,10.0.0.2:80"
        );
        let ev = json!({"metadata": {"name": "e"}, "type": "Normal", "reason": "Scheduled", "involvedObject": {"kind": "Pod", "name": "web"}, "message": "ok"});
        assert_eq!(
            table("Event", &[ev], "1", None)["rows"][0]["cells"][3],
            "pod/web"
        );
    }

    #[test]
    fn pods_show_ready_status_restarts() {
        let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": [{}, {}]},
            "status": {"phase": "Running", "containerStatuses": [{"ready": true, "restartCount": 2}, {"ready": false, "restartCount": 1}]}});
        let t = table("Pod", &[pod], "9", None);
        let cells = t["rows"][0]["cells"].as_array().unwrap();
        assert_eq!(
            cells[..4],
            [json!("web"), json!("1/2"), json!("Running"), json!(3)]
        );
        assert_eq!(
            t["columnDefinitions"][5]["priority"], 1,
            "IP only with -o wide"
        );
    }
}

//! Which pod and which of its ports `orc port-forward svc/web 8080`
//! means, decided as kubectl decides it (pure: the objects in, the
//! answer out; `port_forward.rs` fetches them).
//!
//! A port-forward always ends at one pod: the agent dials a port inside
//! that pod's network namespace. kubectl accepts a Service, a Deployment
//! or any object with a pod selector and turns it into a pod itself,
//! before it opens the session:
//!
//! 1. the object's selector (a Service's `spec.selector`, a workload's
//!    `spec.selector`) picks the candidate pods;
//! 2. [`first_pod`] orders them by kubectl's `ActivePods` rules, most
//!    useful first, and takes the first; it must be `Running`;
//! 3. each typed remote port becomes the pod's container port: for a
//!    Service through its `targetPort` (a number, or a name looked up in
//!    the pod's containers), for a pod through the container port's name
//!    ([`pod_ports`], [`service_ports`]).
//!
//! The Service's ClusterIP plays no part: traffic goes to that one pod,
//! never balanced (chapter 03, "`port-forward svc/web`").

use std::cmp::Ordering;

use orc_client::selectors::labels::{Selector, from_label_selector};
use serde_json::Value;

/// The local side of one `LOCAL:REMOTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// `8080:80`: this port.
    Port(u16),
    /// `:80`: any free port.
    Any,
    /// `80` or `http`: the same number as the remote port (for a name,
    /// the number it resolves to at the object typed).
    Same,
}

/// The remote side as typed: a number, or a port's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Number(u16),
    Name(String),
}

/// One `[LOCAL:]REMOTE` argument, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub local: Local,
    pub remote: Remote,
}

// ANCHOR: ports
/// One `LOCAL:REMOTE` as kubectl reads it: `8080:80`, `80` (the same on
/// both sides), `:80` (a free local port); the remote side may name a
/// port (`http`), which the pod or the Service resolves.
pub fn parse_ports(spec: &str) -> Result<PortSpec, String> {
    let number = |text: &str, what: &str| match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!(
            "{what} port {text:?} in {spec:?} is not a number from 1 to 65535"
        )),
        Ok(port) => Ok(port),
    };
    let remote = |text: &str| -> Result<Remote, String> {
        // A name is what a container port's name may be (IANA_SVC_NAME:
        // lower-case letters, digits and '-', at least one letter).
        if !text.is_empty()
            && text.chars().any(|c| c.is_ascii_lowercase())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            Ok(Remote::Name(text.into()))
        } else {
            number(text, "the remote").map(Remote::Number)
        }
    };
    let (local, remote) = match spec.split_once(':') {
        None => (Local::Same, remote(spec)?),
        Some(("", r)) => (Local::Any, remote(r)?),
        Some((l, r)) => (Local::Port(number(l, "the local")?), remote(r)?),
    };
    Ok(PortSpec { local, remote })
}
// ANCHOR_END: ports

/// `(local, remote)` once the remote number is known; local 0 is "any".
fn pair(local: Local, typed: u16, container: u16) -> (u16, u16) {
    match local {
        Local::Port(port) => (port, container),
        Local::Any => (0, container),
        Local::Same => (typed, container),
    }
}

/// The pod's containers' port called `name` (kubectl's
/// `LookupContainerPortNumberByName`).
fn container_port_named(pod: &Value, name: &str) -> Result<u16, String> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| {
            format!(
                "Pod '{}' does not have a named port '{name}': name one of its containers' ports, or give the number",
                pod["metadata"]["name"].as_str().unwrap_or("")
            )
        })
}

/// A pod's `(local, remote)` pairs: names become its container ports'
/// numbers (kubectl's `convertPodNamedPortToNumber`).
pub fn pod_ports(specs: &[PortSpec], pod: &Value) -> Result<Vec<(u16, u16)>, String> {
    specs
        .iter()
        .map(|spec| {
            let port = match &spec.remote {
                Remote::Number(n) => *n,
                Remote::Name(name) => container_port_named(pod, name)?,
            };
            Ok(pair(spec.local, port, port))
        })
        .collect()
}

// ANCHOR: service_ports
/// A Service's `(local, remote)` pairs for the pod it chose: the typed
/// port is a Service port (by number or name), and the remote one its
/// `targetPort` in the pod: a number, a container port's name, or, when
/// absent, the Service port itself (kubectl's
/// `translateServicePortToTargetPort`).
pub fn service_ports(
    specs: &[PortSpec],
    service: &Value,
    pod: &Value,
) -> Result<Vec<(u16, u16)>, String> {
    let name = service["metadata"]["name"].as_str().unwrap_or("");
    let ports: Vec<&Value> = service["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let listed = || {
        ports
            .iter()
            .map(|p| match p["name"].as_str() {
                Some(n) if !n.is_empty() => format!("{} ({n})", p["port"]),
                _ => p["port"].to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    specs
        .iter()
        .map(|spec| {
            let port = match &spec.remote {
                Remote::Number(n) => ports.iter().find(|p| p["port"] == *n),
                Remote::Name(n) => ports.iter().find(|p| p["name"] == n.as_str()),
            };
            let Some(port) = port else {
                return Err(match &spec.remote {
                    Remote::Number(n) => format!(
                        "Service {name} does not have a service port {n}: its ports are {}",
                        listed()
                    ),
                    Remote::Name(n) => format!(
                        "Service '{name}' does not have a named port '{n}': its ports are {}",
                        listed()
                    ),
                });
            };
            let number = port["port"].as_u64().and_then(|p| u16::try_from(p).ok());
            let number =
                number.ok_or_else(|| format!("Service {name} has a port without a number"))?;
            // kubectl forwards TCP only, and says so for a UDP port.
            if port["protocol"] == "UDP" {
                return Err(format!("UDP protocol is not supported for {number}"));
            }
            let target = match &port["targetPort"] {
                Value::String(named) => container_port_named(pod, named)?,
                Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
                _ => 0,
            };
            // An omitted (or zero) targetPort is the Service port itself.
            let target = if target == 0 { number } else { target };
            Ok(pair(spec.local, number, target))
        })
        .collect()
}
// ANCHOR_END: service_ports

/// The pod selector of a Service (`spec.selector`, a plain map) or a
/// workload (`spec.selector`, a LabelSelector); `None` when the object
/// has none to offer (a Service without a selector selects no pods).
pub fn selector_of(kind: &str, object: &Value) -> Option<Selector> {
    let selector = &object["spec"]["selector"];
    match kind {
        "Service" => {
            let labels = selector.as_object().filter(|m| !m.is_empty())?;
            Some(from_label_selector(
                &serde_json::json!({ "matchLabels": labels }),
            ))
        }
        _ => selector
            .is_object()
            .then(|| from_label_selector(selector))
            .filter(|s| !s.is_empty()),
    }
}

/// Whether the pod's `Ready` condition is true, and since when.
fn ready_since(pod: &Value) -> Option<&str> {
    pod["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")
        .map(|c| c["lastTransitionTime"].as_str().unwrap_or(""))
}

/// The most restarts any of the pod's containers has.
fn max_restarts(pod: &Value) -> u64 {
    pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["restartCount"].as_u64())
        .max()
        .unwrap_or(0)
}

// ANCHOR: first_pod
/// kubectl's `ActivePods` order, most useful first (it sorts with
/// `sort.Reverse(ActivePods)` and takes the first): a pod on a node before
/// one unscheduled; Running before Unknown before Pending; ready before
/// not; ready for longer first; fewer restarts first; older first.
/// Timestamps are RFC 3339 in UTC, so they compare as text; an empty
/// one counts as the newest, as kubectl's `afterOrZero` has it.
fn more_active(a: &Value, b: &Value) -> Ordering {
    let scheduled = |p: &Value| {
        p["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    };
    let phase = |p: &Value| match p["status"]["phase"].as_str() {
        Some("Running") => 2,
        Some("Unknown") => 1,
        Some("Pending") => 0,
        _ => -1,
    };
    // Older first, a missing time last.
    let older = |x: &str, y: &str| match (x.is_empty(), y.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x.cmp(y),
    };
    scheduled(b)
        .cmp(&scheduled(a))
        .then(phase(b).cmp(&phase(a)))
        .then(ready_since(b).is_some().cmp(&ready_since(a).is_some()))
        .then(match (ready_since(a), ready_since(b)) {
            (Some(x), Some(y)) => older(x, y),
            _ => Ordering::Equal,
        })
        .then(max_restarts(a).cmp(&max_restarts(b)))
        .then(older(
            a["metadata"]["creationTimestamp"].as_str().unwrap_or(""),
            b["metadata"]["creationTimestamp"].as_str().unwrap_or(""),
        ))
}

// ANCHOR_END: first_pod

/// The pod kubectl would forward to among those `selector` matches, not
/// being deleted; `None` when there is none.
pub fn first_pod<'a>(pods: &'a [Value], selector: &Selector) -> Option<&'a Value> {
    pods.iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            let labels = p["metadata"]["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            selector.matches(&labels)
        })
        .min_by(|a, b| more_active(a, b))
}

/// kubectl's refusal of a pod that is not running (`Current status=...`).
pub fn check_running(pod: &Value) -> Result<(), String> {
    match pod["status"]["phase"].as_str() {
        Some("Running") => Ok(()),
        phase => Err(format!(
            "unable to forward port because pod {} is not running. Current status={}",
            pod["metadata"]["name"].as_str().unwrap_or(""),
            phase.unwrap_or("Unknown")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(text: &str) -> PortSpec {
        parse_ports(text).unwrap()
    }

    #[test]
    fn ports_are_read_as_kubectl_reads_them() {
        assert_eq!(
            spec("8080:80"),
            PortSpec {
                local: Local::Port(8080),
                remote: Remote::Number(80)
            }
        );
        assert_eq!(spec("80").local, Local::Same);
        assert_eq!(spec(":80").local, Local::Any);
        assert_eq!(spec("9000:http").remote, Remote::Name("http".into()));
        assert!(parse_ports("HTTP").unwrap_err().contains("\"HTTP\""));
        assert!(parse_ports("8080:0").unwrap_err().contains("remote"));
        assert!(parse_ports("99999:80").unwrap_err().contains("local"));
        assert!(parse_ports("web:80").unwrap_err().contains("local"));
    }

    fn pod(name: &str, phase: &str, ready_at: Option<&str>, created: &str) -> Value {
        let conditions = match ready_at {
            Some(at) => json!([{"type": "Ready", "status": "True", "lastTransitionTime": at}]),
            None => json!([{"type": "Ready", "status": "False"}]),
        };
        json!({
            "metadata": {"name": name, "labels": {"app": "web"}, "creationTimestamp": created},
            "spec": {"nodeName": "node-1", "containers": [
                {"name": "c", "ports": [{"name": "http", "containerPort": 80}]}]},
            "status": {"phase": phase, "conditions": conditions},
        })
    }

    #[test]
    fn the_first_pod_is_the_most_active_as_kubectl_orders_them() {
        let selector =
            selector_of("Service", &json!({"spec": {"selector": {"app": "web"}}})).unwrap();
        let t = |s: &str| format!("2026-01-01T00:00:{s}Z");
        let pending = pod("pending", "Pending", None, &t("00"));
        let unready = pod("unready", "Running", None, &t("00"));
        let newer = pod("ready-later", "Running", Some(&t("30")), &t("00"));
        let older = pod("ready-first", "Running", Some(&t("10")), &t("05"));
        let name = |pods: &[Value]| {
            first_pod(pods, &selector).map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        };
        assert_eq!(
            name(&[pending.clone(), unready.clone()]).unwrap(),
            "unready"
        );
        assert_eq!(
            name(&[
                pending.clone(),
                newer.clone(),
                older.clone(),
                unready.clone()
            ])
            .unwrap(),
            "ready-first"
        );
        // Restarts break a tie in readiness; then age.
        let mut restarted = older.clone();
        restarted["status"]["containerStatuses"] = json!([{"restartCount": 3}]);
        let mut twin = older.clone();
        twin["metadata"]["name"] = json!("twin");
        assert_eq!(name(&[restarted, twin]).unwrap(), "twin");
        // Not selected, or being deleted: never chosen.
        let mut other = older.clone();
        other["metadata"]["labels"] = json!({"app": "db"});
        let mut going = older.clone();
        going["metadata"]["deletionTimestamp"] = json!(t("59"));
        assert_eq!(name(&[other, going]), None);
        assert!(
            check_running(&pending)
                .unwrap_err()
                .contains("Current status=Pending")
        );
        assert!(check_running(&older).is_ok());
    }

    #[test]
    fn service_ports_go_through_the_target_port() {
        let service = json!({
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [
                {"name": "web", "port": 8080, "targetPort": 80},
                {"name": "alt", "port": 9090, "targetPort": "http"},
                {"port": 7070},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ]},
        });
        let p = pod("p", "Running", None, "");
        let ports = |specs: &[&str]| {
            let specs: Vec<_> = specs.iter().map(|s| spec(s)).collect();
            service_ports(&specs, &service, &p)
        };
        assert_eq!(ports(&["8080"]), Ok(vec![(8080, 80)]));
        assert_eq!(ports(&["18080:8080"]), Ok(vec![(18080, 80)]));
        assert_eq!(ports(&[":9090"]), Ok(vec![(0, 80)]));
        assert_eq!(ports(&["web"]), Ok(vec![(8080, 80)]));
        assert_eq!(ports(&["7070"]), Ok(vec![(7070, 7070)]));
        let missing = ports(&["80"]).unwrap_err();
        assert_eq!(
            missing,
            "Service web does not have a service port 80: its ports are 8080 (web), 9090 (alt), 7070, 53 (dns)"
        );
        assert!(
            ports(&["grpc"])
                .unwrap_err()
                .starts_with("Service 'web' does not have a named port 'grpc'")
        );
        assert_eq!(
            ports(&["53"]),
            Err("UDP protocol is not supported for 53".into())
        );
        let mut unnamed = p.clone();
        unnamed["spec"]["containers"][0]["ports"][0]["name"] = json!("other");
        let specs = [spec("9090")];
        assert!(
            service_ports(&specs, &service, &unnamed)
                .unwrap_err()
                .starts_with("Pod 'p' does not have a named port 'http'")
        );
    }

    #[test]
    fn pod_ports_resolve_names_and_workloads_give_their_selector() {
        let p = pod("p", "Running", None, "");
        assert_eq!(pod_ports(&[spec("http")], &p), Ok(vec![(80, 80)]));
        assert_eq!(
            pod_ports(&[spec("8000:http"), spec("81")], &p),
            Ok(vec![(8000, 80), (81, 81)])
        );
        assert!(pod_ports(&[spec("grpc")], &p).is_err());
        let deployment = json!({"spec": {"selector": {"matchLabels": {"app": "web"}}}});
        let selector = selector_of("Deployment", &deployment).unwrap();
        assert!(first_pod(std::slice::from_ref(&p), &selector).is_some());
        assert!(selector_of("Service", &json!({"spec": {}})).is_none());
        assert!(selector_of("Deployment", &json!({"spec": {}})).is_none());
    }
}

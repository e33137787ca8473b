//! Node registration: the Node object that says "this machine runs pods".
//!
//! A kubelet's first act is to create its Node (or, when one by that name
//! exists from an earlier run, to update it). The Node carries what the
//! rest of the cluster needs to know about the machine:
//!
//! - `spec.podCIDR`/`podCIDRs`: the block its pods' addresses come from
//!   (chapter 02's node network; other nodes route it to this one);
//! - `status.capacity`/`allocatable`: CPUs, memory, how many pods;
//! - `status.addresses`: `InternalIP` and `Hostname`, where the API server
//!   reaches the agent (logs, exec) and `kubectl get nodes -o wide` looks;
//! - `status.daemonEndpoints.kubeletEndpoint.Port`: the agent's HTTP port;
//! - `status.nodeInfo`: kernel, OS, architecture, runtime and agent versions;
//! - `status.conditions`: `Ready` and the three pressure conditions, each
//!   with `lastHeartbeatTime` (the last time the agent said so) and
//!   `lastTransitionTime` (when it last changed).
//!
//! The status is posted again periodically and whenever it changes, through
//! the `status` subresource. Liveness itself is the Lease's job
//! ([`super::lease`]): a Node update is big, a Lease renewal is small.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::machine::Machine;
use orc_client::resources::{Resource, lookup};
use orc_client::{Client, ClientError};

/// How many pods a node accepts: the kubelet's default `--max-pods`.
pub const MAX_PODS: u32 = 110;

/// Who this node is: fixed for the agent's life.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// The Node's name (the kubelet defaults to the hostname).
    pub name: String,
    /// The address other nodes and the API server reach this one at.
    pub ip: Ipv4Addr,
    /// The machine's hostname, reported as the `Hostname` address.
    pub hostname: String,
    /// The node's pod CIDR, e.g. `10.244.1.0/24`.
    pub pod_cidr: String,
    /// The port of the agent's HTTP server (the kubelet's 10250).
    pub port: u16,
    /// `orc://<version>`, as the kubelet reports `containerd://1.7.2`.
    pub runtime_version: String,
    /// The agent's version, `kubeletVersion` (what `kubectl get nodes` prints).
    pub agent_version: String,
    /// The agent's state directory, published on the Node (annotation
    /// `orc.dev/state-dir`) so the local-path provisioner knows where this
    /// node's volumes go; `None` for a node that serves none.
    pub state_dir: Option<String>,
    /// Labels of the agent's own beside the well-known ones (the
    /// kubelet's `--node-labels`), which NodeRestriction lets a node set
    /// on itself when they are outside `kubernetes.io` and `k8s.io`: a
    /// value sets the label, `None` takes it off at registration (a part
    /// of the node that an earlier run served and this one does not, such
    /// as `ingress.orc.dev/proxy` under `--disable ingress`).
    pub labels: BTreeMap<String, Option<String>>,
}

// ANCHOR: conditions
/// The four conditions the kubelet writes, healthy: the pressure conditions
/// `False`, `Ready` `True`. `since` is when they last changed.
pub fn conditions(now: &str, since: &str) -> Value {
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        })
    };
    json!([
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        condition(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        condition(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}
// ANCHOR_END: conditions

// ANCHOR: node_status
/// The Node's `status`, at `now`, with conditions unchanged since `since`.
pub fn node_status(node: &NodeIdentity, machine: &Machine, now: &str, since: &str) -> Value {
    let resources = json!({
        "cpu": machine.cpus.to_string(),
        "memory": format!("{}Ki", machine.memory_kib),
        "pods": MAX_PODS.to_string(),
    });
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": conditions(now, since),
        "addresses": [
            {"type": "InternalIP", "address": node.ip.to_string()},
            {"type": "Hostname", "address": node.hostname},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": node.port}},
        "nodeInfo": {
            "machineID": machine.machine_id,
            "systemUUID": machine.machine_id,
            "bootID": machine.boot_id,
            "kernelVersion": machine.kernel_version,
            "osImage": machine.os_image,
            "containerRuntimeVersion": node.runtime_version,
            "kubeletVersion": node.agent_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": machine.architecture,
        },
    })
}
// ANCHOR_END: node_status

/// The whole Node object, as first created.
pub fn node_object(node: &NodeIdentity, machine: &Machine, now: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": node_labels(node, machine),
            "annotations": node_annotations(node)},
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]},
        "status": node_status(node, machine, now, now),
    })
}

/// The annotations orc's agent puts on its Node: where its state is.
fn node_annotations(node: &NodeIdentity) -> Value {
    match &node.state_dir {
        Some(dir) => json!({orc_client::local_path::STATE_DIR_ANNOTATION: dir}),
        None => json!({}),
    }
}

/// The well-known labels the kubelet puts on its Node; selectors
/// (`nodeSelector: {kubernetes.io/os: linux}`) rely on them.
///
/// `kubernetes.io/hostname` is the node's name, as the kubelet's is
/// under `--hostname-override` (which `--node-name` plays here): several
/// orc nodes may share one machine, and a local volume's node affinity
/// (`kubernetes.io/hostname In [node-1]`) must pick out one of them.
fn node_labels(node: &NodeIdentity, machine: &Machine) -> Value {
    let mut labels = json!({
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": machine.architecture,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": machine.architecture,
    });
    for (key, value) in &node.labels {
        if let Some(value) = value {
            labels[key] = json!(value);
        }
    }
    labels
}

/// The `nodes` row of the resource table.
pub fn nodes() -> &'static Resource {
    lookup("", "v1", "nodes").expect("nodes are in the resource table")
}

/// Keeps the Node object of one agent up to date.
#[derive(Debug, Clone)]
pub struct Registration {
    pub node: NodeIdentity,
    /// When the conditions last changed (the agent's start, or the time an
    /// earlier run recorded when it was already Ready).
    since: String,
    /// The status last posted, without heartbeat times: a change posts at once.
    last_facts: Option<Value>,
}

impl Registration {
    pub fn new(node: NodeIdentity) -> Registration {
        Registration {
            node,
            since: orc_client::time::format(jiff::Timestamp::now()),
            last_facts: None,
        }
    }

    // ANCHOR: register
    /// Creates the Node, or updates the one an earlier run left (labels,
    /// pod CIDR, then status), as the kubelet's registration does. Returns
    /// the stored Node (the Lease's owner reference needs its uid).
    pub async fn register(&mut self, client: &Client) -> Result<Value, ClientError> {
        let machine = Machine::read();
        let now = orc_client::time::format(jiff::Timestamp::now());
        let object = node_object(&self.node, &machine, &now);
        match client.create(nodes(), None, &object).await {
            Ok(created) => {
                self.last_facts = Some(facts(&object["status"]));
                return Ok(created);
            }
            Err(e) if e.code() == Some(409) => {}
            Err(e) => return Err(e),
        }
        let existing = client.get(nodes(), None, &self.node.name).await?;
        // Still Ready from a previous run: the transition happened then.
        if let Some(ready) = ready_condition(&existing).filter(|c| c["status"] == "True") {
            if let Some(t) = ready["lastTransitionTime"].as_str() {
                self.since = t.to_string();
            }
        }
        // A label this run does not serve is `null`: the merge patch removes it.
        let mut labels = object["metadata"]["labels"].clone();
        for (key, _) in self.node.labels.iter().filter(|(_, v)| v.is_none()) {
            labels[key] = Value::Null;
        }
        let patch = json!({"metadata": {"labels": labels,
            "annotations": object["metadata"]["annotations"]}, "spec": object["spec"]});
        client
            .merge_patch(nodes(), None, &self.node.name, None, &patch)
            .await?;
        self.post_status(client, &machine).await
    }
    // ANCHOR_END: register

    /// Posts the status if a fact changed or `heartbeat` says it is time.
    /// Answers the new Node when it had to be registered again (someone
    /// deleted it): it has a new uid, which the Lease's owner must name.
    pub async fn refresh(
        &mut self,
        client: &Client,
        heartbeat: bool,
    ) -> Result<Option<Value>, ClientError> {
        let machine = Machine::read();
        let status = node_status(&self.node, &machine, "", &self.since);
        if !heartbeat
            && self.last_facts.as_ref() == Some(&facts(&status))
            && !self.ready_overwritten(client).await?
        {
            return Ok(None);
        }
        match self.post_status(client, &machine).await {
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => self.register(client).await.map(Some),
            Err(e) => Err(e),
        }
    }

    /// Whether the stored Node's Ready condition is no longer the one this
    /// agent last posted: the node lifecycle controller marked it
    /// `Unknown` while it did not hear from the node (its grace period
    /// ran out before the Lease's renewal reached it). The kubelet reads
    /// its Node at every status check and posts again when the stored
    /// status differs from its own; without that, the node stays
    /// NotReady and tainted until the next periodic post.
    async fn ready_overwritten(&self, client: &Client) -> Result<bool, ClientError> {
        let stored = match client.get(nodes(), None, &self.node.name).await {
            Ok(node) => node,
            // Deleted: the post that follows registers it again.
            Err(e) if e.is_not_found() => return Ok(true),
            Err(e) => return Err(e),
        };
        let posted = self.last_facts.as_ref().and_then(|f| {
            f["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready")
        });
        let said = |c: Option<&Value>| c.map(|c| (c["status"].clone(), c["reason"].clone()));
        Ok(said(ready_condition(&stored)) != said(posted))
    }

    async fn post_status(
        &mut self,
        client: &Client,
        machine: &Machine,
    ) -> Result<Value, ClientError> {
        let status = node_status(
            &self.node,
            machine,
            &orc_client::time::format(jiff::Timestamp::now()),
            &self.since,
        );
        let stored = client
            .merge_patch(
                nodes(),
                None,
                &self.node.name,
                Some("status"),
                &json!({"status": status}),
            )
            .await?;
        self.last_facts = Some(facts(&status));
        Ok(stored)
    }
}

/// The Ready condition of a Node object.
pub fn ready_condition(node: &Value) -> Option<&Value> {
    orc_client::conditions::find(node, "Ready")
}

/// A status without its heartbeat times: what "changed" compares.
fn facts(status: &Value) -> Value {
    let mut status = status.clone();
    if let Some(conditions) = status["conditions"].as_array_mut() {
        for c in conditions {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastHeartbeatTime");
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> NodeIdentity {
        NodeIdentity {
            name: "node-1".into(),
            ip: Ipv4Addr::new(192, 168, 1, 10),
            hostname: "node-1".into(),
            pod_cidr: "10.244.1.0/24".into(),
            port: 10250,
            runtime_version: "orc://0.1.0".into(),
            agent_version: "v0.1.0".into(),
            state_dir: None,
            labels: BTreeMap::from([
                (
                    "ingress.orc.dev/proxy".to_string(),
                    Some("true".to_string()),
                ),
                ("example.com/gone".to_string(), None),
            ]),
        }
    }

    fn machine() -> Machine {
        Machine {
            cpus: 4,
            memory_kib: 8_000_000,
            kernel_version: "6.1.0".into(),
            os_image: "Debian GNU/Linux 12 (bookworm)".into(),
            architecture: "amd64".into(),
            machine_id: "abc".into(),
            boot_id: "def".into(),
        }
    }

    #[test]
    fn a_node_object_as_the_kubelet_writes_it() {
        let node = node_object(&identity(), &machine(), "2024-05-01T12:00:00Z");
        assert_eq!(node["spec"]["podCIDRs"], json!(["10.244.1.0/24"]));
        let status = &node["status"];
        assert_eq!(status["capacity"]["memory"], "8000000Ki");
        assert_eq!(status["allocatable"]["pods"], "110");
        assert_eq!(status["addresses"][0]["address"], "192.168.1.10");
        assert_eq!(status["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        let ready = ready_condition(&node).unwrap();
        assert_eq!(ready["reason"], "KubeletReady");
        assert_eq!(status["conditions"][0]["status"], "False");
        let labels = &node["metadata"]["labels"];
        assert_eq!(labels["ingress.orc.dev/proxy"], "true");
        assert_eq!(labels["kubernetes.io/hostname"], "node-1");
        assert!(labels.get("example.com/gone").is_none());
    }

    #[test]
    fn heartbeats_are_not_changes() {
        let a = node_status(&identity(), &machine(), "t1", "t0");
        let b = node_status(&identity(), &machine(), "t2", "t0");
        assert_ne!(a, b);
        assert_eq!(facts(&a), facts(&b));
    }
}

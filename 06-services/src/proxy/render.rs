//! The whole ruleset, rendered from what the proxy knows: a pure function
//! from Service ports and endpoints to iptables rules, snapshot-tested.
//!
//! One Service port becomes, in kube-proxy's words and order:
//!
//! 1. in `ORC-SERVICES`, a rule catching its cluster IP and port, jumping
//!    to its Service chain (or, without endpoints, a REJECT in the filter
//!    table, so clients fail at once instead of timing out);
//! 2. in `ORC-NODEPORTS`, a rule catching its node port, jumping to its
//!    external chain, which marks the packet for masquerading (the reply
//!    must come back through this node) unless the policy is `Local`;
//! 3. its Service chain: session affinity (the `recent` module remembers
//!    each client's endpoint), then one rule per endpoint, each matching
//!    with the probability that makes the choice uniform;
//! 4. one chain per endpoint: masquerade traffic from the endpoint to
//!    itself (hairpin: without it the pod would answer itself directly and
//!    the client, itself, would drop the reply), then DNAT.
//!
//! Traffic to a cluster IP from outside the cluster CIDR (a node process,
//! another network) is marked for masquerading too, as kube-proxy's
//! `--cluster-cidr` mode does.

use std::collections::{BTreeMap, BTreeSet};

use super::chains::{
    self, EXTERNAL_SERVICES, FORWARD, MARK_MASQ, MASQ_MARK, NODEPORTS, POSTROUTING, SERVICES,
};
use super::model::{Endpoint, Routed, ServicePort};

/// What the rules depend on besides Services: this node's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderConfig {
    /// Every pod's address range (`10.244.0.0/16`): traffic to a cluster
    /// IP from outside it is masqueraded. `None`: nothing is masqueraded
    /// for that reason.
    pub cluster_cidr: Option<String>,
}

/// A Service port's own chains: the unit a partial sync rewrites.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceChains {
    /// The chains, declared (and so flushed) before their rules.
    pub chains: Vec<String>,
    /// Their rules, `-A CHAIN ...`.
    pub rules: Vec<String>,
}

/// Everything orc-proxy writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    /// filter: the rules of `ORC-SERVICES`, `ORC-EXTERNAL-SERVICES` and
    /// `ORC-PROXY-FORWARD`, always written whole.
    pub filter: Vec<String>,
    /// nat: the rules of `ORC-PROXY-POSTROUTING`, `ORC-MARK-MASQ`,
    /// `ORC-SERVICES` and `ORC-NODEPORTS`, always written whole.
    pub nat: Vec<String>,
    /// nat: each Service port's chains, by `namespace/name:port/protocol`.
    pub services: BTreeMap<String, ServiceChains>,
}

impl RuleSet {
    /// Every per-Service chain this ruleset has.
    pub fn service_chains(&self) -> BTreeSet<String> {
        self.services
            .values()
            .flat_map(|s| s.chains.iter().cloned())
            .collect()
    }
}

/// A comment with spaces, quoted for iptables-restore.
fn quoted(text: &str) -> String {
    format!("\"{text}\"")
}

/// The endpoints new connections may go to: the ready ones; if there are
/// none, those that still serve while terminating (so a rolling restart
/// does not drop connections when the last ready pod is on its way out;
/// Kubernetes' `ProxyTerminatingEndpoints`).
pub fn usable(endpoints: &[&Endpoint]) -> Vec<Endpoint> {
    let ready: Vec<Endpoint> = endpoints
        .iter()
        .filter(|e| e.ready)
        .map(|e| (*e).clone())
        .collect();
    if !ready.is_empty() {
        return ready;
    }
    endpoints
        .iter()
        .filter(|e| e.serving && e.terminating)
        .map(|e| (*e).clone())
        .collect()
}

// ANCHOR: render
/// The ruleset for every routed Service port. Rules are written as
/// `iptables-save` prints them, so a payload reads like the tables.
pub fn render(routes: &[Routed], config: &RenderConfig) -> RuleSet {
    let mut set = RuleSet::default();
    let mark = format!("{MASQ_MARK}/{MASQ_MARK}");
    set.nat.extend([
        format!("-A {POSTROUTING} -m mark ! --mark {mark} -j RETURN"),
        // Clear the mark, so a packet that goes round again is not
        // masqueraded twice.
        format!("-A {POSTROUTING} -j MARK --xor-mark {MASQ_MARK}"),
        format!(
            "-A {POSTROUTING} -m comment --comment \"orc service traffic requiring SNAT\" -j MASQUERADE --random-fully"
        ),
        format!("-A {MARK_MASQ} -j MARK --or-mark {MASQ_MARK}"),
    ]);
    for (port, endpoints) in routes {
        render_port(&mut set, port, endpoints, config);
    }
    // Node ports last: any local address, but not loopback (which would
    // need `route_localnet`, a known hole).
    set.nat.push(format!(
        "-A {SERVICES} -m comment --comment \"orc service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j {NODEPORTS}"
    ));
    set.filter.extend([
        format!("-A {FORWARD} -m conntrack --ctstate INVALID -j DROP"),
        format!(
            "-A {FORWARD} -m comment --comment \"orc forwarding rules\" -m mark --mark {mark} -j ACCEPT"
        ),
        format!(
            "-A {FORWARD} -m comment --comment \"orc forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        ),
    ]);
    set
}
// ANCHOR_END: render

/// What one Service port needs, decided from its policies and endpoints
/// (kube-proxy's `CategorizeEndpoints` and the flags around it).
struct Plan {
    /// The endpoints the Cluster policy picks from.
    cluster: Vec<Endpoint>,
    /// The endpoints the Local policy picks from (this node's).
    local: Vec<Endpoint>,
    /// Some endpoint, anywhere, is usable.
    any: bool,
    /// Cluster-IP traffic has somewhere to go.
    internal: bool,
    /// Node-port traffic from outside has somewhere to go.
    external: bool,
}

impl Plan {
    fn of(sp: &ServicePort, endpoints: &[Endpoint]) -> Plan {
        let all: Vec<&Endpoint> = endpoints.iter().collect();
        let local: Vec<&Endpoint> = endpoints.iter().filter(|e| e.local).collect();
        let externally_accessible = sp.externally_accessible();
        // Cluster endpoints are needed for Cluster policies, and for the
        // short cut a Local node port gives pods and the node itself.
        let uses_cluster = !sp.internal_local || externally_accessible;
        let uses_local = sp.internal_local || (externally_accessible && sp.external_local);
        let cluster = if uses_cluster {
            usable(&all)
        } else {
            Vec::new()
        };
        let local = if uses_local {
            usable(&local)
        } else {
            Vec::new()
        };
        let any = !usable(&all).is_empty();
        Plan {
            internal: any && (!sp.internal_local || !local.is_empty()),
            external: any && (!sp.external_local || !local.is_empty()),
            cluster,
            local,
            any,
        }
    }

    /// The target and comment of a filter rule refusing traffic that has
    /// nowhere to go: REJECT without any endpoint (the client fails at
    /// once instead of timing out), DROP without a local one.
    fn refusal(&self, name: &str) -> (&'static str, String) {
        match self.any {
            false => ("REJECT", quoted(&format!("{name} has no endpoints"))),
            true => ("DROP", quoted(&format!("{name} has no local endpoints"))),
        }
    }
}

/// The rules of one Service port (steps 1 to 4 of the module doc).
fn render_port(set: &mut RuleSet, sp: &ServicePort, endpoints: &[Endpoint], config: &RenderConfig) {
    let name = sp.name_string();
    let proto = sp.protocol.as_str();
    let plan = Plan::of(sp, endpoints);
    let svc = chains::service_chain(&name, proto);
    let svl = chains::local_chain(&name, proto);
    let ext = chains::external_chain(&name, proto);
    let internal_chain = if sp.internal_local { &svl } else { &svc };
    let external_chain = if sp.external_local { &svl } else { &svc };
    let capture = format!(
        "-m {proto} -p {proto} -d {} --dport {}",
        sp.cluster_ip, sp.port
    );
    let cluster_ip = quoted(&format!("{name} cluster IP"));

    // 1. The cluster IP.
    if plan.internal {
        set.nat.push(format!(
            "-A {SERVICES} -m comment --comment {cluster_ip} {capture} -j {internal_chain}"
        ));
    } else {
        let (target, comment) = plan.refusal(&name);
        set.filter.push(format!(
            "-A {SERVICES} -m comment --comment {comment} {capture} -j {target}"
        ));
    }
    // 2. The node port.
    if let Some(node_port) = sp.node_port {
        if plan.any {
            set.nat.push(format!(
                "-A {NODEPORTS} -m comment --comment {name} -m {proto} -p {proto} --dport {node_port} -j {ext}"
            ));
        }
        if !plan.external {
            let (target, comment) = plan.refusal(&name);
            set.filter.push(format!(
                "-A {EXTERNAL_SERVICES} -m comment --comment {comment} -m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {node_port} -j {target}"
            ));
        }
    }
    // 2b. A LoadBalancer's addresses, at the Service's own port: traffic
    // from outside, handled as node-port traffic is.
    for ip in &sp.load_balancer_ips {
        let capture = format!("-m {proto} -p {proto} -d {ip} --dport {}", sp.port);
        if plan.external {
            let comment = quoted(&format!("{name} loadbalancer IP"));
            set.nat.push(format!(
                "-A {SERVICES} -m comment --comment {comment} {capture} -j {ext}"
            ));
        } else {
            let (target, comment) = plan.refusal(&name);
            set.filter.push(format!(
                "-A {EXTERNAL_SERVICES} -m comment --comment {comment} {capture} -j {target}"
            ));
        }
    }
    // 3 and 4: the chains of this Service port, written as one unit.
    let mut own = ServiceChains::default();
    if plan.internal
        && let Some(cidr) = &config.cluster_cidr
    {
        own.rules.push(format!(
            "-A {internal_chain} -m comment --comment {cluster_ip} {capture} ! -s {cidr} -j {MARK_MASQ}"
        ));
    }
    if plan.any && sp.externally_accessible() {
        own.chains.push(ext.clone());
        external_rules(&mut own, sp, (&ext, &svc, external_chain), &plan, config);
    }
    if !plan.cluster.is_empty() {
        own.chains.push(svc.clone());
        own.rules.extend(pick_rules(sp, &svc, &plan.cluster));
    }
    if !plan.local.is_empty() {
        own.chains.push(svl.clone());
        own.rules.extend(pick_rules(sp, &svl, &plan.local));
    }
    let mut reachable: Vec<&Endpoint> = plan.cluster.iter().chain(&plan.local).collect();
    reachable.sort();
    reachable.dedup();
    for endpoint in reachable {
        endpoint_rules(&mut own, sp, endpoint);
    }
    if !own.chains.is_empty() || !own.rules.is_empty() {
        set.services.insert(format!("{name}/{proto}"), own);
    }
}

/// The external chain `ext`: node-port traffic is masqueraded (its reply
/// must come back through this node) and goes to the Service chain
/// `svc`; with `externalTrafficPolicy: Local` it keeps its source and
/// goes to this node's endpoints (`policy`), except for pods and the node
/// itself, which reach the Service as a cluster IP would.
fn external_rules(
    own: &mut ServiceChains,
    sp: &ServicePort,
    (ext, svc, policy): (&str, &str, &str),
    plan: &Plan,
    config: &RenderConfig,
) {
    let name = sp.name_string();
    if !sp.external_local {
        let comment = quoted(&format!(
            "masquerade traffic for {name} external destinations"
        ));
        own.rules.push(format!(
            "-A {ext} -m comment --comment {comment} -j {MARK_MASQ}"
        ));
    } else {
        if let Some(cidr) = &config.cluster_cidr {
            let comment = quoted(&format!("pod traffic for {name} external destinations"));
            own.rules.push(format!(
                "-A {ext} -m comment --comment {comment} -s {cidr} -j {svc}"
            ));
        }
        let comment = quoted(&format!(
            "masquerade LOCAL traffic for {name} external destinations"
        ));
        own.rules.push(format!(
            "-A {ext} -m comment --comment {comment} -m addrtype --src-type LOCAL -j {MARK_MASQ}"
        ));
        let comment = quoted(&format!(
            "route LOCAL traffic for {name} external destinations"
        ));
        own.rules.push(format!(
            "-A {ext} -m comment --comment {comment} -m addrtype --src-type LOCAL -j {svc}"
        ));
    }
    if plan.external {
        own.rules.push(format!("-A {ext} -j {policy}"));
    }
}

// ANCHOR: pick_endpoint
/// The rules of a Service chain `chain` that send each new connection to
/// one of `endpoints`: first to the endpoint a client already has when
/// affinity is on, else uniformly at random (lab 06, task 3).
pub fn pick_rules(sp: &ServicePort, chain: &str, endpoints: &[Endpoint]) -> Vec<String> {
    let name = sp.name_string();
    let sep = |e: &Endpoint| chains::endpoint_chain(&name, &sp.protocol, &e.address());
    let comment = |e: &Endpoint| quoted(&format!("{name} -> {}", e.address()));
    let mut rules = Vec::new();
    // Affinity first: a client the `recent` module saw within the timeout
    // goes back to the endpoint it went to, before any dice are rolled.
    if let Some(seconds) = sp.affinity_seconds {
        for e in endpoints {
            let (comment, target) = (comment(e), sep(e));
            rules.push(format!(
                "-A {chain} -m comment --comment {comment} -m recent --name {target} --rcheck --seconds {seconds} --reap -j {target}"
            ));
        }
    }
    let n = endpoints.len();
    for (i, e) in endpoints.iter().enumerate() {
        let (comment, target) = (comment(e), sep(e));
        let rule = match i + 1 < n {
            true => {
                let p = chains::probability(i, n);
                format!(
                    "-A {chain} -m comment --comment {comment} -m statistic --mode random --probability {p} -j {target}"
                )
            }
            // The last rule needs no test: it takes all that is left.
            false => format!("-A {chain} -m comment --comment {comment} -j {target}"),
        };
        rules.push(rule);
    }
    rules
}
// ANCHOR_END: pick_endpoint

/// The chain of one endpoint: masquerade what the endpoint sends to
/// itself through the Service (hairpin), remember the client for
/// affinity, and DNAT to the pod.
fn endpoint_rules(own: &mut ServiceChains, sp: &ServicePort, endpoint: &Endpoint) {
    let name = sp.name_string();
    let proto = &sp.protocol;
    let address = endpoint.address();
    let sep = chains::endpoint_chain(&name, proto, &address);
    own.chains.push(sep.clone());
    own.rules.push(format!(
        "-A {sep} -m comment --comment {name} -s {} -j {MARK_MASQ}",
        endpoint.ip
    ));
    let recent = match sp.affinity_seconds {
        Some(_) => format!(" -m recent --name {sep} --set"),
        None => String::new(),
    };
    own.rules.push(format!(
        "-A {sep} -m comment --comment {name}{recent} -m {proto} -p {proto} -j DNAT --to-destination {address}"
    ));
}

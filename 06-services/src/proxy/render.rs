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

/// A rule: `-A chain` and its words.
fn rule(chain: &str, words: &[&str]) -> String {
    let mut line = format!("-A {chain}");
    for word in words.iter().filter(|w| !w.is_empty()) {
        line.push(' ');
        line.push_str(word);
    }
    line
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
/// The ruleset for every routed Service port.
pub fn render(routes: &[Routed], config: &RenderConfig) -> RuleSet {
    let mut set = RuleSet::default();
    set.nat.push(rule(
        POSTROUTING,
        &[
            "-m",
            "mark",
            "!",
            "--mark",
            &format!("{MASQ_MARK}/{MASQ_MARK}"),
            "-j",
            "RETURN",
        ],
    ));
    // Clear the mark, so a packet that goes round again is not masqueraded twice.
    set.nat
        .push(rule(POSTROUTING, &["-j", "MARK", "--xor-mark", MASQ_MARK]));
    set.nat.push(rule(
        POSTROUTING,
        &[
            "-m",
            "comment",
            "--comment",
            &quoted("orc service traffic requiring SNAT"),
            "-j",
            "MASQUERADE",
            "--random-fully",
        ],
    ));
    set.nat
        .push(rule(MARK_MASQ, &["-j", "MARK", "--or-mark", MASQ_MARK]));
    for (port, endpoints) in routes {
        render_port(&mut set, port, endpoints, config);
    }
    // Node ports last: any local address, but not loopback (which would
    // need `route_localnet`, a known hole).
    set.nat.push(rule(
        SERVICES,
        &[
            "-m",
            "comment",
            "--comment",
            &quoted("orc service nodeports; NOTE: this must be the last rule in this chain"),
            "-m",
            "addrtype",
            "--dst-type",
            "LOCAL",
            "!",
            "-d",
            "127.0.0.0/8",
            "-j",
            NODEPORTS,
        ],
    ));
    set.filter.push(rule(
        FORWARD,
        &["-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
    ));
    set.filter.push(rule(
        FORWARD,
        &[
            "-m",
            "comment",
            "--comment",
            &quoted("orc forwarding rules"),
            "-m",
            "mark",
            "--mark",
            &format!("{MASQ_MARK}/{MASQ_MARK}"),
            "-j",
            "ACCEPT",
        ],
    ));
    set.filter.push(rule(
        FORWARD,
        &[
            "-m",
            "comment",
            "--comment",
            &quoted("orc forwarding conntrack rule"),
            "-m",
            "conntrack",
            "--ctstate",
            "RELATED,ESTABLISHED",
            "-j",
            "ACCEPT",
        ],
    ));
    set
}
// ANCHOR_END: render

/// The rules of one Service port (steps 1 to 4 of the module doc).
fn render_port(set: &mut RuleSet, sp: &ServicePort, endpoints: &[Endpoint], config: &RenderConfig) {
    let name = sp.name_string();
    let proto = sp.protocol.as_str();
    let all: Vec<&Endpoint> = endpoints.iter().collect();
    let local: Vec<&Endpoint> = endpoints.iter().filter(|e| e.local).collect();
    let externally_accessible = sp.node_port.is_some();
    // Which endpoints each policy uses (kube-proxy's CategorizeEndpoints).
    let uses_cluster = !sp.internal_local || externally_accessible;
    let uses_local = sp.internal_local || (externally_accessible && sp.external_local);
    let cluster_eps = if uses_cluster {
        usable(&all)
    } else {
        Vec::new()
    };
    let local_eps = if uses_local {
        usable(&local)
    } else {
        Vec::new()
    };
    let has_endpoints = !usable(&all).is_empty();
    let (svc, svl, ext) = (
        chains::service_chain(&name, proto),
        chains::local_chain(&name, proto),
        chains::external_chain(&name, proto),
    );
    let internal_chain = if sp.internal_local { &svl } else { &svc };
    let has_internal = has_endpoints && (!sp.internal_local || !local_eps.is_empty());
    let external_policy_chain = if sp.external_local { &svl } else { &svc };
    let has_external = has_endpoints && (!sp.external_local || !local_eps.is_empty());
    let cluster_ip = sp.cluster_ip.to_string();
    let port = sp.port.to_string();
    let refusal = |local_only: bool| match has_endpoints {
        false => ("REJECT", quoted(&format!("{name} has no endpoints"))),
        true if local_only => ("DROP", quoted(&format!("{name} has no local endpoints"))),
        true => ("", String::new()),
    };

    // 1. The cluster IP.
    let capture = [
        "-m",
        proto,
        "-p",
        proto,
        "-d",
        &cluster_ip,
        "--dport",
        &port,
    ];
    if has_internal {
        let comment = quoted(&format!("{name} cluster IP"));
        let mut words = vec!["-m", "comment", "--comment", &comment];
        words.extend(capture);
        words.extend(["-j", internal_chain.as_str()]);
        set.nat.push(rule(SERVICES, &words));
    } else {
        let (target, comment) = refusal(true);
        let mut words = vec!["-m", "comment", "--comment", &comment];
        words.extend(capture);
        words.extend(["-j", target]);
        set.filter.push(rule(SERVICES, &words));
    }
    // 2. The node port.
    if let Some(node_port) = sp.node_port.map(|p| p.to_string()) {
        if has_endpoints {
            set.nat.push(rule(
                NODEPORTS,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &name,
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "--dport",
                    &node_port,
                    "-j",
                    &ext,
                ],
            ));
        }
        if !has_external {
            let (target, comment) = refusal(true);
            set.filter.push(rule(
                EXTERNAL_SERVICES,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &comment,
                    "-m",
                    "addrtype",
                    "--dst-type",
                    "LOCAL",
                    "-m",
                    proto,
                    "-p",
                    proto,
                    "--dport",
                    &node_port,
                    "-j",
                    target,
                ],
            ));
        }
    }
    // 3 and 4: the chains of this Service port, written as one unit.
    let mut own = ServiceChains::default();
    if has_internal && let Some(cidr) = &config.cluster_cidr {
        let comment = quoted(&format!("{name} cluster IP"));
        let mut words = vec!["-m", "comment", "--comment", &comment];
        words.extend(capture);
        words.extend(["!", "-s", cidr.as_str(), "-j", MARK_MASQ]);
        own.rules.push(rule(internal_chain, &words));
    }
    if has_endpoints && externally_accessible {
        own.chains.push(ext.clone());
        if !sp.external_local {
            let comment = quoted(&format!(
                "masquerade traffic for {name} external destinations"
            ));
            own.rules.push(rule(
                &ext,
                &["-m", "comment", "--comment", &comment, "-j", MARK_MASQ],
            ));
        } else {
            // Pods and the node itself reach a Local service through any
            // endpoint; only traffic from outside keeps to this node's.
            if let Some(cidr) = &config.cluster_cidr {
                let comment = quoted(&format!("pod traffic for {name} external destinations"));
                own.rules.push(rule(
                    &ext,
                    &[
                        "-m",
                        "comment",
                        "--comment",
                        &comment,
                        "-s",
                        cidr,
                        "-j",
                        &svc,
                    ],
                ));
            }
            let comment = quoted(&format!(
                "masquerade LOCAL traffic for {name} external destinations"
            ));
            own.rules.push(rule(
                &ext,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &comment,
                    "-m",
                    "addrtype",
                    "--src-type",
                    "LOCAL",
                    "-j",
                    MARK_MASQ,
                ],
            ));
            let comment = quoted(&format!(
                "route LOCAL traffic for {name} external destinations"
            ));
            own.rules.push(rule(
                &ext,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &comment,
                    "-m",
                    "addrtype",
                    "--src-type",
                    "LOCAL",
                    "-j",
                    &svc,
                ],
            ));
        }
        if has_external {
            own.rules.push(rule(&ext, &["-j", external_policy_chain]));
        }
    }
    if !cluster_eps.is_empty() {
        own.chains.push(svc.clone());
        pick_endpoint(&mut own, sp, &svc, &cluster_eps);
    }
    if !local_eps.is_empty() {
        own.chains.push(svl.clone());
        pick_endpoint(&mut own, sp, &svl, &local_eps);
    }
    let mut reachable: Vec<&Endpoint> = cluster_eps.iter().chain(&local_eps).collect();
    reachable.sort();
    reachable.dedup();
    for endpoint in reachable {
        let sep = chains::endpoint_chain(&name, proto, &endpoint.address());
        own.chains.push(sep.clone());
        own.rules.push(rule(
            &sep,
            &[
                "-m",
                "comment",
                "--comment",
                &name,
                "-s",
                &endpoint.ip.to_string(),
                "-j",
                MARK_MASQ,
            ],
        ));
        let mut words = vec!["-m", "comment", "--comment", name.as_str()];
        if sp.affinity_seconds.is_some() {
            words.extend(["-m", "recent", "--name", sep.as_str(), "--set"]);
        }
        let address = endpoint.address();
        words.extend([
            "-m",
            proto,
            "-p",
            proto,
            "-j",
            "DNAT",
            "--to-destination",
            &address,
        ]);
        own.rules.push(rule(&sep, &words));
    }
    if !own.chains.is_empty() || !own.rules.is_empty() {
        set.services.insert(format!("{name}/{proto}"), own);
    }
}

// ANCHOR: pick_endpoint
/// The rules of a Service chain `chain` that send each new connection to
/// one of `endpoints`: first to the endpoint a client already has when
/// affinity is on, else uniformly at random.
fn pick_endpoint(own: &mut ServiceChains, sp: &ServicePort, chain: &str, endpoints: &[Endpoint]) {
    let name = sp.name_string();
    let sep = |e: &Endpoint| chains::endpoint_chain(&name, &sp.protocol, &e.address());
    if let Some(seconds) = sp.affinity_seconds.map(|s| s.to_string()) {
        for endpoint in endpoints {
            let comment = quoted(&format!("{name} -> {}", endpoint.address()));
            let target = sep(endpoint);
            own.rules.push(rule(
                chain,
                &[
                    "-m",
                    "comment",
                    "--comment",
                    &comment,
                    "-m",
                    "recent",
                    "--name",
                    &target,
                    "--rcheck",
                    "--seconds",
                    &seconds,
                    "--reap",
                    "-j",
                    &target,
                ],
            ));
        }
    }
    let n = endpoints.len();
    for (i, endpoint) in endpoints.iter().enumerate() {
        let comment = quoted(&format!("{name} -> {}", endpoint.address()));
        let mut words = vec![
            "-m".to_string(),
            "comment".into(),
            "--comment".into(),
            comment,
        ];
        if i + 1 < n {
            // The last rule needs no test: it takes all that is left.
            words
                .extend(["-m", "statistic", "--mode", "random", "--probability"].map(String::from));
            words.push(chains::probability(i, n));
        }
        words.extend(["-j".to_string(), sep(endpoint)]);
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        own.rules.push(rule(chain, &words));
    }
}
// ANCHOR_END: pick_endpoint

//! A [`RuleSet`] as `iptables-restore --noflush` input: the whole of it,
//! or only what changed since the last one applied.
//!
//! With `--noflush`, iptables-restore leaves every chain it is not told
//! about alone, and a `:CHAIN - [0:0]` line creates a chain or empties it.
//! So a payload declares each chain it writes (emptying it) and then
//! appends that chain's rules: one atomic replacement of exactly orc's
//! chains, whatever else (Docker, chapter 02's pod network) the tables
//! hold. A chain that is no longer wanted is declared (emptied, so
//! nothing it jumps to is still referenced) and deleted with `-X`.
//!
//! A *partial* payload (kube-proxy's since 1.28) rewrites the top-level
//! chains, which are small, and only the Service chains that changed;
//! with thousands of Services most syncs touch a handful.

use std::collections::BTreeSet;

use super::chains::{EXTERNAL_SERVICES, FORWARD, MARK_MASQ, NODEPORTS, POSTROUTING, SERVICES};
use super::render::RuleSet;

/// The top-level chains of the filter table, always written.
const FILTER_CHAINS: &[&str] = &[SERVICES, EXTERNAL_SERVICES, FORWARD];
/// The top-level chains of the nat table, always written.
const NAT_CHAINS: &[&str] = &[SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ];

/// Which chains a payload writes.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// All of them.
    Full,
    /// Only these: the Service ports' own chains (keys of
    /// [`RuleSet::services`]) and the top-level chains, by `(table,
    /// chain)`, whose rules changed.
    Only {
        /// The Service ports whose chains are written.
        services: &'a BTreeSet<String>,
        /// The top-level chains written.
        top: &'a BTreeSet<(&'static str, &'static str)>,
    },
}

impl Scope<'_> {
    fn writes_top(&self, table: &'static str, chain: &'static str) -> bool {
        match self {
            Scope::Full => true,
            Scope::Only { top, .. } => top.contains(&(table, chain)),
        }
    }

    fn writes_service(&self, key: &str) -> bool {
        match self {
            Scope::Full => true,
            Scope::Only { services, .. } => services.contains(key),
        }
    }
}

/// The rules of `rules` that append to `chain`.
fn rules_of<'a>(rules: &'a [String], chain: &str) -> impl Iterator<Item = &'a String> {
    let prefix = format!("-A {chain} ");
    rules.iter().filter(move |rule| rule.starts_with(&prefix))
}

// ANCHOR: payload
/// The iptables-restore input that writes the chains `scope` says and
/// deletes the chains in `stale`. A table with nothing to write is left
/// out: iptables-restore does not even read it.
pub fn payload(rules: &RuleSet, scope: Scope<'_>, stale: &BTreeSet<String>) -> String {
    let mut out = String::new();
    let filter: Vec<&str> = FILTER_CHAINS
        .iter()
        .copied()
        .filter(|chain| scope.writes_top("filter", chain))
        .collect();
    if !filter.is_empty() {
        out.push_str("*filter\n");
        for chain in &filter {
            out.push_str(&format!(":{chain} - [0:0]\n"));
        }
        for chain in &filter {
            for rule in rules_of(&rules.filter, chain) {
                out.push_str(&format!("{rule}\n"));
            }
        }
        out.push_str("COMMIT\n");
    }
    let top: Vec<&str> = NAT_CHAINS
        .iter()
        .copied()
        .filter(|chain| scope.writes_top("nat", chain))
        .collect();
    let written: Vec<_> = rules
        .services
        .iter()
        .filter(|(key, _)| scope.writes_service(key))
        .map(|(_, chains)| chains)
        .collect();
    if top.is_empty() && written.is_empty() && stale.is_empty() {
        return out;
    }
    out.push_str("*nat\n");
    let declared = top
        .iter()
        .copied()
        .chain(
            written
                .iter()
                .flat_map(|s| s.chains.iter().map(String::as_str)),
        )
        .chain(stale.iter().map(String::as_str));
    for chain in declared {
        out.push_str(&format!(":{chain} - [0:0]\n"));
    }
    for chain in &top {
        for rule in rules_of(&rules.nat, chain) {
            out.push_str(&format!("{rule}\n"));
        }
    }
    for rule in written.iter().flat_map(|s| &s.rules) {
        out.push_str(&format!("{rule}\n"));
    }
    for chain in stale {
        out.push_str(&format!("-X {chain}\n"));
    }
    out.push_str("COMMIT\n");
    out
}
// ANCHOR_END: payload

/// What changed from `applied` to `next`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The Service ports whose chains differ (or are new).
    pub services: BTreeSet<String>,
    /// The top-level chains, by `(table, chain)`, whose rules differ.
    pub top: BTreeSet<(&'static str, &'static str)>,
    /// The Service chains `applied` had and `next` has not.
    pub stale: BTreeSet<String>,
}

/// What changed from `applied` to `next`.
pub fn changes(next: &RuleSet, applied: &RuleSet) -> Changes {
    let services = next
        .services
        .iter()
        .filter(|(key, chains)| applied.services.get(*key) != Some(chains))
        .map(|(key, _)| key.clone())
        .collect();
    let differs = |table: &'static str, chain: &'static str| {
        let (next, applied) = match table {
            "filter" => (&next.filter, &applied.filter),
            _ => (&next.nat, &applied.nat),
        };
        !rules_of(next, chain).eq(rules_of(applied, chain))
    };
    let top = FILTER_CHAINS
        .iter()
        .map(|chain| ("filter", *chain))
        .chain(NAT_CHAINS.iter().map(|chain| ("nat", *chain)))
        .filter(|(table, chain)| differs(table, chain))
        .collect();
    let stale = applied
        .service_chains()
        .difference(&next.service_chains())
        .cloned()
        .collect();
    Changes {
        services,
        top,
        stale,
    }
}

// ANCHOR: partial
/// The payload that takes the tables from `applied` to `next`, or `None`
/// when they are the same: nothing is written when nothing changed, and
/// otherwise only the chains whose rules changed, top-level ones included
/// (kube-proxy rewrites its top-level chains at every sync; at 10,000
/// Services `ORC-SERVICES` alone is 10,000 rules, and one endpoint's
/// change leaves it as it was).
pub fn partial(next: &RuleSet, applied: &RuleSet) -> Option<String> {
    if next == applied {
        return None;
    }
    let changes = changes(next, applied);
    let scope = Scope::Only {
        services: &changes.services,
        top: &changes.top,
    };
    Some(payload(next, scope, &changes.stale))
}
// ANCHOR_END: partial

/// The chains of an `iptables-save` dump, by table: `(table, chain)`.
pub fn saved_chains(dump: &str) -> BTreeSet<(String, String)> {
    let mut table = String::new();
    let mut chains = BTreeSet::new();
    for line in dump.lines() {
        if let Some(name) = line.strip_prefix('*') {
            table = name.to_string();
        } else if let Some(chain) = line.strip_prefix(':') {
            if let Some(name) = chain.split_whitespace().next() {
                chains.insert((table.clone(), name.to_string()));
            }
        }
    }
    chains
}

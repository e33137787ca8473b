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

/// Which Service chains a payload writes.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// All of them.
    Full,
    /// Only those of these Service ports (keys of [`RuleSet::services`]).
    Only(&'a BTreeSet<String>),
}

// ANCHOR: payload
/// The iptables-restore input that writes `rules` (the Service chains
/// `scope` says) and deletes the chains in `stale`.
pub fn payload(rules: &RuleSet, scope: Scope<'_>, stale: &BTreeSet<String>) -> String {
    let mut out = String::from("*filter\n");
    for chain in FILTER_CHAINS {
        out.push_str(&format!(":{chain} - [0:0]\n"));
    }
    for rule in &rules.filter {
        out.push_str(&format!("{rule}\n"));
    }
    out.push_str("COMMIT\n*nat\n");
    let written = rules.services.iter().filter(|(key, _)| match scope {
        Scope::Full => true,
        Scope::Only(changed) => changed.contains(*key),
    });
    let mut declared: Vec<&str> = NAT_CHAINS.to_vec();
    declared.extend(
        written
            .clone()
            .flat_map(|(_, s)| s.chains.iter().map(String::as_str)),
    );
    declared.extend(stale.iter().map(String::as_str));
    for chain in declared {
        out.push_str(&format!(":{chain} - [0:0]\n"));
    }
    for rule in rules.nat.iter().chain(written.flat_map(|(_, s)| &s.rules)) {
        out.push_str(&format!("{rule}\n"));
    }
    for chain in stale {
        out.push_str(&format!("-X {chain}\n"));
    }
    out.push_str("COMMIT\n");
    out
}
// ANCHOR_END: payload

/// What changed from `applied` to `next`: the Service ports whose chains
/// differ (or are new), and the chains `applied` had that `next` has not.
pub fn changes(next: &RuleSet, applied: &RuleSet) -> (BTreeSet<String>, BTreeSet<String>) {
    let changed = next
        .services
        .iter()
        .filter(|(key, chains)| applied.services.get(*key) != Some(chains))
        .map(|(key, _)| key.clone())
        .collect();
    let stale = applied
        .service_chains()
        .difference(&next.service_chains())
        .cloned()
        .collect();
    (changed, stale)
}

// ANCHOR: partial
/// The payload that takes the tables from `applied` to `next`, or `None`
/// when they are the same: nothing is written when nothing changed.
pub fn partial(next: &RuleSet, applied: &RuleSet) -> Option<String> {
    if next == applied {
        return None;
    }
    let (changed, stale) = changes(next, applied);
    Some(payload(next, Scope::Only(&changed), &stale))
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

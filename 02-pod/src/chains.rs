//! orc's own iptables chains, and running `iptables` inside a namespace.
//!
//! orc never edits the built-in chains beyond one jump rule each: its rules
//! live in chains of its own (`ORC-POSTROUTING`, `ORC-FORWARD`), the way
//! kube-proxy keeps `KUBE-*` chains and Docker `DOCKER-*` chains. Tear-down
//! then removes exactly orc's rules, and `iptables-save` shows at a glance
//! which rules are orc's.
//!
//! iptables is run as a program (through the `iptables` crate) on a thread
//! inside the node's network namespace, since every namespace has its own
//! rules. A handful of rules per node, changed rarely, do not need anything
//! faster; chapter 06's service rules, thousands of them, go through
//! `iptables-restore` instead.

use std::path::Path;

use crate::error::NetError;
use crate::netns;

/// One of orc's chains, and where it is hooked in.
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    /// The table: `nat` or `filter`.
    pub table: &'static str,
    /// The built-in chain that jumps to this one.
    pub hook: &'static str,
    /// The chain's name.
    pub name: &'static str,
    /// Shown next to the jump in `iptables-save`, for the reader who wonders
    /// who added it.
    pub comment: &'static str,
}

impl Chain {
    /// The rule in [`hook`](Self::hook) that sends packets through this chain.
    fn jump(&self) -> String {
        format!("-m comment --comment \"{}\" -j {}", self.comment, self.name)
    }
}

// ANCHOR: sync_chain
/// Makes `chain` hold exactly `rules`, in the namespace at `netns`, and hooks
/// it in: adds what is missing, deletes rules that are no longer wanted (a
/// changed cluster CIDR, say). Running it again changes nothing.
///
/// `rules` must be written as `iptables -S` prints them, since that is what
/// they are compared with.
pub fn sync_chain(netns: &Path, chain: Chain, rules: &[String]) -> Result<(), NetError> {
    in_iptables(netns, |ipt| {
        if !ipt.chain_exists(chain.table, chain.name)? {
            ipt.new_chain(chain.table, chain.name)?;
        }
        for rule in rules {
            if !ipt.exists(chain.table, chain.name, rule)? {
                ipt.append(chain.table, chain.name, rule)?;
            }
        }
        let prefix = format!("-A {} ", chain.name);
        for listed in ipt.list(chain.table, chain.name)? {
            if let Some(rule) = listed.strip_prefix(&prefix)
                && !rules.iter().any(|wanted| wanted == rule)
            {
                ipt.delete(chain.table, chain.name, rule)?;
            }
        }
        if !ipt.exists(chain.table, chain.hook, &chain.jump())? {
            ipt.append(chain.table, chain.hook, &chain.jump())?;
        }
        Ok(())
    })
}
// ANCHOR_END: sync_chain

/// Removes the jump to `chain` and the chain itself from the namespace at
/// `netns`; succeeds when they are already gone.
pub fn remove_chain(netns: &Path, chain: Chain) -> Result<(), NetError> {
    in_iptables(netns, |ipt| {
        while ipt.exists(chain.table, chain.hook, &chain.jump())? {
            ipt.delete(chain.table, chain.hook, &chain.jump())?;
        }
        if ipt.chain_exists(chain.table, chain.name)? {
            ipt.flush_chain(chain.table, chain.name)?;
            ipt.delete_chain(chain.table, chain.name)?;
        }
        Ok(())
    })
}

/// The `iptables` crate's error type.
type IptablesError = Box<dyn std::error::Error>;

/// Runs `f` with an `iptables` handle inside `netns`, turning the crate's
/// error (which cannot leave the thread: it is not `Send`) into text.
fn in_iptables<F>(netns: &Path, f: F) -> Result<(), NetError>
where
    F: FnOnce(&iptables::IPTables) -> Result<(), IptablesError> + Send,
{
    netns::run_in(netns, move || {
        iptables::new(false)
            .and_then(|ipt| f(&ipt))
            .map_err(|e| e.to_string())
    })?
    .map_err(|message| NetError::Iptables {
        netns: netns.to_path_buf(),
        message,
    })
}

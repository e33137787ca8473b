//! The three things orc-proxy asks of iptables, inside the node's network
//! namespace: apply a payload (`iptables-restore --noflush`), read the
//! tables (`iptables-save`), and hook its chains into the built-in ones.
//!
//! The hooks cannot be part of the payload: with `--noflush` a rule
//! appended to `PREROUTING` would be appended again at every sync, and
//! declaring `PREROUTING` would empty it of everyone else's rules. So, like
//! kube-proxy, orc-proxy checks each jump with `iptables -C` and inserts
//! it at the top with `-I` when it is missing, on full syncs only.
//!
//! Every command runs on a thread that joined the node's namespace
//! (chapter 02's `netns::run_in`), and waits for the xtables lock (`-w`)
//! rather than failing when another tool holds it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orc_pod::netns;

use super::chains::{
    self, EXTERNAL_SERVICES, FORWARD, MARK_MASQ, NODEPORTS, POSTROUTING, SERVICES,
};
use super::payload::saved_chains;

/// Why talking to iptables failed.
#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    /// The node's namespace could not be joined.
    #[error(transparent)]
    Netns(#[from] orc_pod::NetError),
    /// A command could not be started.
    #[error("running {program}: {source} (is iptables installed? scripts/setup.sh installs it)")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    /// A command failed; its error output says why.
    #[error("{program} {args} failed in {netns}: {stderr}")]
    Failed {
        program: &'static str,
        args: String,
        netns: PathBuf,
        stderr: String,
    },
}

/// One jump from a built-in chain to one of orc-proxy's.
#[derive(Debug, Clone, Copy)]
pub struct Jump {
    /// `filter` or `nat`.
    pub table: &'static str,
    /// The built-in chain.
    pub hook: &'static str,
    /// orc-proxy's chain.
    pub chain: &'static str,
    /// Shown in `iptables-save`, for the reader who wonders who added it.
    pub comment: &'static str,
    /// Matches before the jump.
    pub matches: &'static [&'static str],
}

impl Jump {
    fn rule(&self) -> Vec<String> {
        let mut words: Vec<String> = self.matches.iter().map(|w| w.to_string()).collect();
        words.extend(
            ["-m", "comment", "--comment", self.comment, "-j", self.chain].map(String::from),
        );
        words
    }
}

const NEW: &[&str] = &["-m", "conntrack", "--ctstate", "NEW"];

/// A [`JUMPS`] row.
const fn jump(
    table: &'static str,
    hook: &'static str,
    chain: &'static str,
    comment: &'static str,
    matches: &'static [&'static str],
) -> Jump {
    Jump {
        table,
        hook,
        chain,
        comment,
        matches,
    }
}

/// kube-proxy's jumps (`iptablesJumpChains`), for the chains orc-proxy
/// has. One row per line, so the table reads as a table.
#[rustfmt::skip]
pub const JUMPS: &[Jump] = &[
    jump("filter", "INPUT", EXTERNAL_SERVICES, "orc externally-visible service portals", NEW),
    jump("filter", "FORWARD", EXTERNAL_SERVICES, "orc externally-visible service portals", NEW),
    jump("filter", "FORWARD", SERVICES, "orc service portals", NEW),
    jump("filter", "OUTPUT", SERVICES, "orc service portals", NEW),
    jump("filter", "FORWARD", FORWARD, "orc forwarding rules", &[]),
    jump("nat", "OUTPUT", SERVICES, "orc service portals", &[]),
    jump("nat", "PREROUTING", SERVICES, "orc service portals", &[]),
    jump("nat", "POSTROUTING", POSTROUTING, "orc postrouting rules", &[]),
];

/// The tables of one network namespace.
#[derive(Debug, Clone)]
pub struct Tables {
    netns: PathBuf,
}

impl Tables {
    /// The tables of the namespace at `netns` (`/proc/self/ns/net`: the
    /// proxy's own).
    pub fn new(netns: impl Into<PathBuf>) -> Tables {
        Tables {
            netns: netns.into(),
        }
    }

    /// The namespace.
    pub fn netns(&self) -> &Path {
        &self.netns
    }

    /// Runs `program args` in the namespace with `input` on stdin; its
    /// stdout, or the error with its stderr.
    fn run(
        &self,
        program: &'static str,
        args: &[String],
        input: &str,
    ) -> Result<String, IptablesError> {
        let output = netns::run_in(&self.netns, || {
            let mut child = Command::new(program)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(input.as_bytes())?;
            }
            child.wait_with_output()
        })?
        .map_err(|source| IptablesError::Spawn { program, source })?;
        if !output.status.success() {
            return Err(IptablesError::Failed {
                program,
                args: args.join(" "),
                netns: self.netns.clone(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    // ANCHOR: restore
    /// Applies a payload atomically, leaving every chain it does not name
    /// as it is.
    pub fn restore(&self, payload: &str) -> Result<(), IptablesError> {
        let args = ["-w", "5", "--noflush"].map(String::from);
        self.run("iptables-restore", &args, payload).map(|_| ())
    }
    // ANCHOR_END: restore

    /// Every `(table, chain)` in the namespace.
    pub fn chains(&self) -> Result<std::collections::BTreeSet<(String, String)>, IptablesError> {
        Ok(saved_chains(&self.run("iptables-save", &[], "")?))
    }

    /// Runs `iptables -t <table> <op> <hook> [position] <jump's rule>`.
    fn iptables(
        &self,
        jump: &Jump,
        op: &str,
        position: Option<&str>,
    ) -> Result<String, IptablesError> {
        let mut args: Vec<String> = ["-w", "5", "-t", jump.table, op, jump.hook]
            .iter()
            .chain(position.iter())
            .map(|w| w.to_string())
            .collect();
        args.extend(jump.rule());
        self.run("iptables", &args, "")
    }

    /// Whether `jump` is in place (`iptables -C`).
    fn has(&self, jump: &Jump) -> bool {
        self.iptables(jump, "-C", None).is_ok()
    }

    /// Whether every jump from a built-in chain into orc's is there.
    pub fn jumps_in_place(&self) -> bool {
        JUMPS.iter().all(|jump| self.has(jump))
    }

    /// Inserts every missing jump at the top of its built-in chain (the
    /// chains must exist: apply a payload first).
    pub fn ensure_jumps(&self) -> Result<(), IptablesError> {
        for jump in JUMPS.iter().filter(|jump| !self.has(jump)) {
            self.iptables(jump, "-I", Some("1"))?;
        }
        Ok(())
    }

    // ANCHOR: cleanup
    /// Removes every jump and every chain orc-proxy made (`--cleanup`),
    /// and nothing else.
    pub fn cleanup(&self) -> Result<(), IptablesError> {
        for jump in JUMPS {
            while self.has(jump) {
                self.iptables(jump, "-D", None)?;
            }
        }
        let ours = |table: &str, chain: &str| match table {
            "nat" => {
                [SERVICES, NODEPORTS, POSTROUTING, MARK_MASQ].contains(&chain)
                    || chains::is_service_chain(chain)
            }
            "filter" => [SERVICES, EXTERNAL_SERVICES, FORWARD].contains(&chain),
            _ => false,
        };
        let found = self.chains()?;
        let mut payload = String::new();
        for table in ["filter", "nat"] {
            let chains: Vec<&str> = found
                .iter()
                .filter(|(t, c)| t == table && ours(t, c))
                .map(|(_, c)| c.as_str())
                .collect();
            payload.push_str(&format!("*{table}\n"));
            // Emptied first, deleted after: no chain is still referenced.
            for chain in &chains {
                payload.push_str(&format!(":{chain} - [0:0]\n"));
            }
            for chain in &chains {
                payload.push_str(&format!("-X {chain}\n"));
            }
            payload.push_str("COMMIT\n");
        }
        self.restore(&payload)
    }
    // ANCHOR_END: cleanup
}

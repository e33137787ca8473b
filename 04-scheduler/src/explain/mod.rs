//! `orc explain pod NAME`: why the scheduler put a pod where it did, or
//! why it could not place it, node by node.
//!
//! Kubernetes users have asked for this since 2015: a `FailedScheduling`
//! event counts reasons ("3 Insufficient cpu") but never says which node
//! said what, what each score plugin thought, or what change would let
//! the pod run. The scheduler keeps every decision whole
//! ([`crate::Decision`]), so explaining one is a matter of laying it out:
//!
//! - one row per node the cycle looked at: the filters' verdict (`ok`,
//!   or the plugin that refused and why), each score plugin's raw score
//!   and its weighted contribution (normalized × weight), the total, and
//!   the winner;
//! - for a pod that fits nowhere, the smallest change that would let it
//!   fit on some node (`fix.rs`), each checked by running the filters
//!   again on the changed pod.
//!
//! The scheduler serves an [`Explanation`] as JSON on
//! `/explain/pods/{namespace}/{name}` (`http.rs`); the CLI prints it with
//! [`render`].

pub mod fix;

use serde::{Deserialize, Serialize};

use crate::framework::{Decision, Outcome};

/// What `orc explain` prints about one pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// `namespace/name`.
    pub pod: String,
    /// How many nodes the cluster had when the pod was decided.
    pub nodes_total: usize,
    /// The node chosen, if any.
    pub winner: Option<String>,
    /// The scheduler's message when no node fits (the event's text).
    pub message: Option<String>,
    /// The score plugins that ran, with their weights, in column order.
    pub score_plugins: Vec<(String, i64)>,
    pub rows: Vec<Row>,
    /// For a pending pod, the changes that would let it fit, smallest first.
    pub fixes: Vec<String>,
}

/// One node's part in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub node: String,
    /// `ok`, or `Plugin: reason, reason`.
    pub filters: String,
    /// Per score plugin (same order as `score_plugins`): raw, weighted.
    pub scores: Vec<(i64, i64)>,
    /// The sum of the weighted scores (absent when nothing was scored).
    pub total: Option<i64>,
}

// ANCHOR: explain
/// Lays a decision out as rows; `fixes` come from [`fix::fixes`].
pub fn explain(pod: &str, decision: &Decision, fixes: Vec<String>) -> Explanation {
    let score_plugins = decision
        .scores
        .first()
        .map(|s| {
            s.plugins
                .iter()
                .map(|p| (p.plugin.to_string(), p.weight))
                .collect()
        })
        .unwrap_or_default();
    let rows = decision
        .verdicts
        .iter()
        .map(|(node, status)| {
            let filters = if status.is_success() {
                "ok".to_string()
            } else {
                format!("{}: {}", status.plugin, status.message())
            };
            let scored = decision.scores.iter().find(|s| &s.node == node);
            Row {
                node: node.to_string(),
                filters,
                scores: scored
                    .map(|s| {
                        s.plugins
                            .iter()
                            .map(|p| (p.raw, p.normalized * p.weight))
                            .collect()
                    })
                    .unwrap_or_default(),
                total: scored.map(|s| s.total),
            }
        })
        .collect();
    let (winner, message) = match &decision.outcome {
        Outcome::Selected(node) => (Some(node.clone()), None),
        Outcome::Unschedulable(m) | Outcome::Error(m) => (None, Some(m.clone())),
    };
    Explanation {
        pod: pod.to_string(),
        nodes_total: decision.nodes_total,
        winner,
        message,
        score_plugins,
        rows,
        fixes,
    }
}
// ANCHOR_END: explain

/// The explanation as text: a heading, the table, then the fixes.
pub fn render(e: &Explanation) -> String {
    let mut out = match (&e.winner, &e.message) {
        (Some(node), _) => format!("Pod {} was placed on {node}.\n", e.pod),
        (None, Some(message)) => format!("Pod {} is pending: {message}\n", e.pod),
        (None, None) => format!("Pod {} is pending.\n", e.pod),
    };
    out.push_str(&format!(
        "Nodes: {} in the cluster, {} filtered.\n\n",
        e.nodes_total,
        e.rows.len()
    ));
    let mut header = vec!["NODE".to_string(), "FILTERS".to_string()];
    header.extend(e.score_plugins.iter().map(|(p, w)| format!("{p} x{w}")));
    if !e.score_plugins.is_empty() {
        header.push("TOTAL".into());
    }
    let mut table = vec![header];
    for row in &e.rows {
        let mut cells = vec![row.node.clone(), row.filters.clone()];
        if !e.score_plugins.is_empty() {
            for i in 0..e.score_plugins.len() {
                cells.push(match row.scores.get(i) {
                    Some((raw, weighted)) => format!("{raw} -> {weighted}"),
                    None => "-".into(),
                });
            }
            cells.push(row.total.map(|t| t.to_string()).unwrap_or("-".into()));
        }
        if e.winner.as_deref() == Some(row.node.as_str()) {
            cells.push("<- winner".into());
        }
        table.push(cells);
    }
    out.push_str(&columns(&table));
    if !e.fixes.is_empty() {
        out.push_str("\nSmallest changes that would let it fit:\n");
        for fix in &e.fixes {
            out.push_str(&format!("  - {fix}\n"));
        }
    }
    out
}

/// Left-aligned columns, two spaces apart, as kubectl prints tables.
fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

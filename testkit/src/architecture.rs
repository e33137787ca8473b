//! The architecture's dependency rules, checked against `cargo metadata`.
//!
//! ARCHITECTURE.md states rules about which crate may link which; rules
//! only a document states drift. These are checked on every test run
//! (`testkit/tests/architecture.rs`):
//!
//! 1. **Chapter order.** A crate of chapter N depends (as a normal
//!    dependency) only on crates of chapters before it or its own: the book
//!    builds each on the ones it has already shown. `final/` counts as
//!    chapter 8. Dev-dependencies are exempt: a test may start any real
//!    component it needs (the controllers' tests run a real API server).
//! 2. **The server runs no node code.** `orc-apiserver` depends on neither
//!    `orc-pod` nor `orc-container`, not even in its tests.
//! 3. **Components are clients.** Chapters 04 to 07 and `orc-node` reach
//!    the API through `orc-client`, never by linking `orc-apiserver`.
//! 4. **The client stays small.** Nothing `orc-client` links, directly or
//!    not, is a server part: no etcd client, no axum, no AES-GCM. It may
//!    speak TLS as a client (rustls, reached through reqwest, whose
//!    connector brings tokio-rustls along), but never depends on
//!    tokio-rustls itself, whose acceptor is a TLS server; and it never
//!    links aws-lc-rs (ring is orc's provider: no cmake, no C toolchain).
//!
//! The rules are a pure function over a [`Workspace`] description, so a
//! test can plant a backwards dependency and see it caught.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What the rules need to know about one workspace crate.
#[derive(Debug, Clone, Default)]
pub struct Crate {
    /// The package name, `orc-pod`.
    pub name: String,
    /// Its chapter (`01-container` → 1, `final/` → 8); `None` for the
    /// crates outside the chapter sequence (testkit, labs, the book check).
    pub chapter: Option<u8>,
    /// Its direct normal dependencies.
    pub depends_on: BTreeSet<String>,
    /// Its direct dev-dependencies.
    pub dev_depends_on: BTreeSet<String>,
    /// Every package it links, directly or not, through normal dependencies.
    pub links: BTreeSet<String>,
}

/// The workspace's crates by name.
pub type Workspace = BTreeMap<String, Crate>;

/// The crates that are components of the cluster, which must reach the API
/// through the client crate. Chapters 04 to 07 are added by their chapter.
const COMPONENT_CRATES: &[&str] = &["orc-node"];

/// What `orc-client` must never link (rule 4).
const SERVER_PARTS: &[&str] = &["etcd-client", "axum", "aes-gcm", "aws-lc-rs"];

/// What `orc-client` must not depend on directly (rule 4): a TLS server.
const TLS_SERVER: &str = "tokio-rustls";

/// Every broken rule, one sentence each; empty when the workspace keeps
/// them all.
pub fn violations(workspace: &Workspace) -> Vec<String> {
    let mut broken = Vec::new();
    for krate in workspace.values() {
        // Rule 1: chapter order.
        if let Some(mine) = krate.chapter {
            for dep in &krate.depends_on {
                let later = workspace.get(dep).and_then(|d| d.chapter);
                if let Some(theirs) = later.filter(|theirs| *theirs > mine) {
                    broken.push(format!(
                        "{} (chapter {mine:02}) depends on {dep} (chapter {theirs:02}): \
                         a chapter may only build on the chapters before it",
                        krate.name
                    ));
                }
            }
        }
        // Rule 3: components are clients.
        let is_component = COMPONENT_CRATES.contains(&krate.name.as_str())
            || krate.chapter.is_some_and(|c| (4..=7).contains(&c));
        if is_component && krate.depends_on.contains("orc-apiserver") {
            broken.push(format!(
                "{} depends on orc-apiserver: a component reaches the API through orc-client",
                krate.name
            ));
        }
    }
    // Rule 2: the server runs no node code.
    if let Some(server) = workspace.get("orc-apiserver") {
        for node_crate in ["orc-pod", "orc-container"] {
            if server.links.contains(node_crate) || server.dev_depends_on.contains(node_crate) {
                broken.push(format!(
                    "orc-apiserver links {node_crate}: the API server runs no node code \
                     (the node's side of the API is orc-node)"
                ));
            }
        }
    }
    // Rule 4: the client stays small.
    if let Some(client) = workspace.get("orc-client") {
        for part in SERVER_PARTS {
            if client.links.contains(*part) {
                broken.push(format!(
                    "orc-client links {part}, a server part: every component links orc-client, \
                     so it must stay a client"
                ));
            }
        }
        if client.depends_on.contains(TLS_SERVER) {
            broken.push(format!(
                "orc-client depends on {TLS_SERVER}, a TLS server (its acceptor): the client \
                 speaks TLS through reqwest and rustls only"
            ));
        }
    }
    broken
}

/// The chapter of a crate from its folder relative to the workspace root:
/// `03-apiserver/client` → 3, `final` → 8.
pub fn chapter_of(relative_dir: &Path) -> Option<u8> {
    let first = relative_dir.components().next()?.as_os_str().to_str()?;
    if first == "final" {
        return Some(8);
    }
    let (number, _) = first.split_once('-')?;
    number.parse().ok()
}

/// Reads the workspace at `root` with `cargo metadata`.
pub fn read(root: &Path) -> Result<Workspace, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    Ok(from_metadata(root, &metadata))
}

/// The [`Workspace`] described by `cargo metadata`'s JSON.
pub fn from_metadata(root: &Path, metadata: &Value) -> Workspace {
    let items = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    let members: BTreeSet<String> = items(metadata, "workspace_members")
        .iter()
        .filter_map(|id| id.as_str().map(String::from))
        .collect();
    // Package ids → names, for every package in the graph.
    let names: BTreeMap<String, String> = items(metadata, "packages")
        .iter()
        .map(|p| (text(p, "id"), text(p, "name")))
        .collect();
    // The resolved graph's normal edges, to follow what a crate links.
    let mut normal_edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for node in items(&metadata["resolve"], "nodes") {
        let targets = items(&node, "deps")
            .iter()
            .filter(|dep| items(dep, "dep_kinds").iter().any(|k| k["kind"].is_null()))
            .map(|dep| text(dep, "pkg"))
            .collect();
        normal_edges.insert(text(&node, "id"), targets);
    }
    let mut workspace = Workspace::new();
    for package in items(metadata, "packages") {
        let id = text(&package, "id");
        if !members.contains(&id) {
            continue;
        }
        let manifest = text(&package, "manifest_path");
        let dir = Path::new(&manifest).parent().unwrap_or(Path::new(""));
        let relative = dir.strip_prefix(root).unwrap_or(dir);
        let mut krate = Crate {
            name: text(&package, "name"),
            chapter: chapter_of(relative),
            ..Crate::default()
        };
        for dep in items(&package, "dependencies") {
            let set = match dep["kind"].as_str() {
                None => &mut krate.depends_on,
                Some("dev") => &mut krate.dev_depends_on,
                Some(_) => continue,
            };
            set.insert(text(&dep, "name"));
        }
        krate.links = reachable(&id, &normal_edges)
            .iter()
            .filter_map(|id| names.get(id).cloned())
            .collect();
        workspace.insert(krate.name.clone(), krate);
    }
    workspace
}

/// Every package id reachable from `start` (itself excluded).
fn reachable(start: &str, edges: &BTreeMap<String, Vec<String>>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![start.to_string()];
    while let Some(id) = todo.pop() {
        for next in edges.get(&id).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapters_come_from_folders() {
        assert_eq!(chapter_of(Path::new("01-container")), Some(1));
        assert_eq!(chapter_of(Path::new("03-apiserver/client")), Some(3));
        assert_eq!(chapter_of(Path::new("final")), Some(8));
        assert_eq!(chapter_of(Path::new("testkit")), None);
        assert_eq!(chapter_of(Path::new("labs/01-container")), None);
    }
}

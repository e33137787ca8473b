//! Where the API server is: a kubeconfig file, read as kubectl reads it.
//!
//! A kubeconfig names clusters (a server URL), users (credentials) and
//! contexts (a cluster, a user and a default namespace), and says which
//! context is current. orc reads the file kubectl reads, in the order
//! kubectl looks for it: `--kubeconfig`, then `$KUBECONFIG`, then
//! `~/.kube/config`. `orc demo` and `orc server` write one next to the server
//! they start ([`render`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

/// What the CLI needs from the current context.
#[derive(Debug)]
pub struct Connection {
    /// `http://127.0.0.1:6443`, without a trailing slash.
    pub server: String,
    /// The user's bearer token, when the user has one.
    pub token: Option<String>,
    /// The context's namespace: the default for `-n`.
    pub namespace: Option<String>,
}

/// The parts of the kubeconfig format orc reads. Unknown fields are
/// ignored, as kubectl ignores what it does not use.
#[derive(Deserialize)]
struct KubeConfig {
    #[serde(rename = "current-context", default)]
    current_context: String,
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<ContextEntry>>,
}

/// Every list in a kubeconfig holds `{name, <kind>: {...}}` entries.
#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Deserialize)]
struct Cluster {
    server: String,
}

#[derive(Deserialize, Default)]
struct User {
    token: Option<String>,
}

#[derive(Deserialize)]
struct ContextEntry {
    cluster: String,
    #[serde(default)]
    user: String,
    namespace: Option<String>,
}

/// A kubeconfig with one cluster, one user and one context, all named
/// `orc`: what `orc demo` and `orc server` write. `ca` is the certificate
/// kubectl should trust for an https server (orc's own, self-signed).
pub fn render(server: &str, token: Option<&str>, ca: Option<&Path>) -> String {
    let ca = ca
        .map(|path| format!("    certificate-authority: {}\n", path.display()))
        .unwrap_or_default();
    let user = match token {
        Some(token) => format!("\n    token: {token}"),
        None => " {}".into(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: {server}\n{ca}\
         users:\n- name: orc\n  user:{user}\ncontexts:\n- name: orc\n  context:\n    cluster: orc\n    user: orc\n\
         current-context: orc\n"
    )
}

/// The file to read: the flag, else `$KUBECONFIG` (its first entry), else
/// `~/.kube/config`.
pub fn locate(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_path_buf();
    }
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()))
    {
        return first;
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".kube/config")
}

/// Reads the current context of the kubeconfig at `path`.
pub fn load(path: &Path) -> Result<Connection> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow!(
            "no kubeconfig at {} ({e}); run `orc demo` to get one, or pass --kubeconfig FILE",
            path.display()
        )
    })?;
    let config: KubeConfig = serde_yaml::from_str(&text)
        .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
    connection(&config).with_context(|| format!("in the kubeconfig {}", path.display()))
}

fn connection(config: &KubeConfig) -> Result<Connection> {
    let find_context = config
        .contexts
        .iter()
        .find(|c| c.name == config.current_context);
    let Some(context) = find_context else {
        bail!(
            "the current context {:?} is not among its contexts",
            config.current_context
        );
    };
    let context = &context.value;
    let cluster = config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .ok_or_else(|| {
            anyhow!(
                "the context names cluster {:?}, which it lacks",
                context.cluster
            )
        })?;
    let server = cluster.value.server.trim_end_matches('/').to_string();
    if server.starts_with("https://") {
        // reqwest is built without a TLS stack in this workspace (the API
        // server's own tests only speak plain HTTP on loopback).
        bail!(
            "the server {server} uses https, which the orc CLI does not speak yet; use kubectl, or an http:// server"
        );
    }
    let token = config
        .users
        .iter()
        .find(|u| u.name == context.user)
        .and_then(|u| u.value.token.clone());
    Ok(Connection {
        server,
        token,
        namespace: context.namespace.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_render_writes_is_read_back() {
        let text = render("http://127.0.0.1:6443", Some("t0k"), None);
        let c = connection(&serde_yaml::from_str(&text).unwrap()).unwrap();
        assert_eq!(c.server, "http://127.0.0.1:6443");
        assert_eq!(c.token.as_deref(), Some("t0k"));
        let text = render("http://h:1", None, Some(Path::new("/ca.pem")));
        assert!(
            text.contains("    certificate-authority: /ca.pem\n"),
            "{text}"
        );
        let c = connection(&serde_yaml::from_str(&text).unwrap()).unwrap();
        assert_eq!(c.token, None);
    }

    #[test]
    fn reads_the_current_context() {
        let config: KubeConfig = serde_yaml::from_str(
            "clusters:\n- name: a\n  cluster: {server: 'http://x:1/'}\n\
             users:\n- name: u\n  user: {token: t}\n\
             contexts:\n- name: c\n  context: {cluster: a, user: u, namespace: demo}\n\
             current-context: c\n",
        )
        .unwrap();
        let c = connection(&config).unwrap();
        assert_eq!(c.server, "http://x:1");
        assert_eq!(c.token.as_deref(), Some("t"));
        assert_eq!(c.namespace.as_deref(), Some("demo"));
    }
}

//! The user's kubeconfig: `orc up` adds the cluster as a context of its
//! own and makes it current; `orc down` takes it out again. Other
//! clusters' entries are kept as they are, as `kind create cluster` does.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use orc_apiserver::pki::Issued;
use serde_yaml::{Mapping, Value};

/// The three lists a kubeconfig names its entries in.
const LISTS: [(&str, &str); 3] = [
    ("clusters", "cluster"),
    ("users", "user"),
    ("contexts", "context"),
];

/// The credentials a context carries: the CA to trust and the client
/// certificate to present, embedded (base64 PEM), as kubeadm's admin.conf.
pub struct Credentials<'a> {
    /// `https://ADDRESS:6443`.
    pub server: &'a str,
    /// The cluster CA, PEM.
    pub ca_pem: &'a str,
    /// The admin's certificate and key.
    pub user: &'a Issued,
}

/// `existing` (a kubeconfig's text, or none) with a cluster, a user and a
/// context all named `name` for `credentials`, replacing only entries of
/// that name, and `name` as the current context.
pub fn merge(existing: Option<&str>, name: &str, credentials: &Credentials) -> Result<String> {
    let mut config = parse(existing.unwrap_or(""))?;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let mut cluster = Mapping::new();
    cluster.insert("server".into(), credentials.server.into());
    cluster.insert(
        "certificate-authority-data".into(),
        b64(credentials.ca_pem).into(),
    );
    let mut user = Mapping::new();
    user.insert(
        "client-certificate-data".into(),
        b64(&credentials.user.cert_pem).into(),
    );
    user.insert(
        "client-key-data".into(),
        b64(&credentials.user.key_pem).into(),
    );
    let entries = [
        Value::Mapping(cluster),
        Value::Mapping(user),
        yaml(&format!("{{cluster: {name}, user: {name}}}")),
    ];
    for ((list, kind), value) in LISTS.into_iter().zip(entries) {
        let items = list_of(&mut config, list)?;
        items.retain(|item| item.get("name").and_then(Value::as_str) != Some(name));
        let mut entry = Mapping::new();
        entry.insert("name".into(), name.into());
        entry.insert(kind.into(), value);
        items.push(Value::Mapping(entry));
    }
    config.insert("current-context".into(), name.into());
    Ok(serde_yaml::to_string(&config)?)
}

/// `text` without the entries named `name`; the current context becomes
/// empty if it was `name`. Answers whether anything else is left.
pub fn remove(text: &str, name: &str) -> Result<(String, bool)> {
    let mut config = parse(text)?;
    let mut left = false;
    for (list, _) in LISTS {
        let items = list_of(&mut config, list)?;
        items.retain(|item| item.get("name").and_then(Value::as_str) != Some(name));
        left |= !items.is_empty();
    }
    if config.get("current-context").and_then(Value::as_str) == Some(name) {
        config.insert("current-context".into(), "".into());
    }
    Ok((serde_yaml::to_string(&config)?, left))
}

/// Writes `text` to `path` readable and writable by its owner only (it
/// holds the keys to the cluster), making the directory if needed.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

fn parse(text: &str) -> Result<Mapping> {
    if text.trim().is_empty() {
        let mut config = Mapping::new();
        config.insert("apiVersion".into(), "v1".into());
        config.insert("kind".into(), "Config".into());
        return Ok(config);
    }
    match serde_yaml::from_str(text).context("reading the kubeconfig")? {
        Value::Mapping(config) => Ok(config),
        _ => bail!("the kubeconfig is not a YAML mapping; fix it or pass --kubeconfig PATH"),
    }
}

fn list_of<'a>(config: &'a mut Mapping, list: &str) -> Result<&'a mut Vec<Value>> {
    let slot = config
        .entry(list.into())
        .or_insert_with(|| Value::Sequence(vec![]));
    if slot.is_null() {
        *slot = Value::Sequence(vec![]);
    }
    match slot {
        Value::Sequence(items) => Ok(items),
        _ => bail!("the kubeconfig's `{list}` is not a list; fix it or pass --kubeconfig PATH"),
    }
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).expect("orc's own YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTHER: &str = "apiVersion: v1\nkind: Config\n\
        clusters:\n- name: prod\n  cluster: {server: 'https://prod:6443'}\n\
        users:\n- name: prod\n  user: {token: secret}\n\
        contexts:\n- name: prod\n  context: {cluster: prod, user: prod}\n\
        current-context: prod\n";

    fn issued() -> Issued {
        Issued {
            cert_pem: "CERT".into(),
            key_pem: "KEY".into(),
        }
    }

    fn at<'a>(server: &'a str, user: &'a Issued) -> Credentials<'a> {
        Credentials {
            server,
            ca_pem: "CA",
            user,
        }
    }

    #[test]
    fn adds_a_context_and_keeps_the_others() {
        let user = issued();
        let merged = merge(
            Some(OTHER),
            "orc-1",
            &at("https://192.168.200.254:6443", &user),
        )
        .unwrap();
        let config: Value = serde_yaml::from_str(&merged).unwrap();
        assert_eq!(config["current-context"], "orc-1");
        assert_eq!(config["users"][0]["user"]["token"], "secret");
        assert_eq!(
            config["clusters"][1]["cluster"]["server"],
            "https://192.168.200.254:6443"
        );
        assert_eq!(
            config["clusters"][1]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        assert_eq!(config["users"][1]["user"]["client-key-data"], "S0VZ");
        // Merging again replaces, never duplicates.
        let again = merge(Some(&merged), "orc-1", &at("https://x:1", &user)).unwrap();
        let config: Value = serde_yaml::from_str(&again).unwrap();
        assert_eq!(config["contexts"].as_sequence().unwrap().len(), 2);

        let (back, left) = remove(&again, "orc-1").unwrap();
        assert!(left);
        let config: Value = serde_yaml::from_str(&back).unwrap();
        assert_eq!(config["contexts"].as_sequence().unwrap().len(), 1);
        assert_eq!(config["current-context"], "");
    }

    #[test]
    fn a_file_orc_made_alone_is_empty_after_removal() {
        let user = issued();
        let made = merge(None, "orc-1", &at("https://h:1", &user)).unwrap();
        let (_, left) = remove(&made, "orc-1").unwrap();
        assert!(!left);
        assert!(merge(Some("- a list"), "orc-1", &at("https://h:1", &user)).is_err());
    }
}

//! Where the API server is and who we are to it: a kubeconfig file, read
//! as kubectl reads it.
//!
//! A kubeconfig names clusters (a server URL and the CA to trust), users
//! (credentials: a client certificate and key, or a bearer token) and
//! contexts (a cluster, a user and a default namespace), and says which
//! context is current. Components take `--kubeconfig` as Kubernetes'
//! components do; [`locate`] finds the file in the order kubectl looks,
//! and [`load`] turns its current context into a [`Connection`].
//!
//! Certificates and keys come inline (`*-data`, base64 PEM) or as file
//! paths, relative to the kubeconfig's own directory as kubectl resolves
//! them.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use crate::Client;
use crate::tls::{ClientTls, Identity, TlsError};

/// Why a kubeconfig could not be used; each says which file.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The file could not be read.
    #[error(
        "no kubeconfig at {path} ({source}); pass --kubeconfig FILE, or start a cluster \
         that writes one: `sudo orc up` (or `sudo orc demo`)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a kubeconfig.
    #[error("reading the kubeconfig {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    /// It parsed, but its current context cannot be used.
    #[error("in the kubeconfig {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// Its TLS credentials are unusable.
    #[error("in the kubeconfig {path}: {source}")]
    Tls { path: PathBuf, source: TlsError },
}

/// What a client needs from the current context.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `https://127.0.0.1:6443`, without a trailing slash.
    pub server: String,
    /// The user's bearer token, when the user has one.
    pub token: Option<String>,
    /// The CA to trust and the client certificate to present (https only).
    pub tls: Option<ClientTls>,
    /// The context's namespace: the default for `-n`.
    pub namespace: Option<String>,
}

impl Connection {
    /// A [`Client`] with these credentials.
    pub fn client(&self) -> Client {
        let mut client = Client::new(&self.server);
        if let Some(tls) = &self.tls {
            client = client.with_tls(tls);
        }
        if let Some(token) = &self.token {
            client = client.with_token(token);
        }
        client
    }
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
#[serde(rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
}

#[derive(Deserialize)]
struct ContextEntry {
    cluster: String,
    #[serde(default)]
    user: String,
    namespace: Option<String>,
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
pub fn load(path: &Path) -> Result<Connection, KubeconfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| KubeconfigError::Read {
        path: path.into(),
        source,
    })?;
    let config: KubeConfig =
        serde_yaml::from_str(&text).map_err(|source| KubeconfigError::Parse {
            path: path.into(),
            source,
        })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    connection(&config, dir).map_err(|e| match e {
        Problem::Message(message) => KubeconfigError::Invalid {
            path: path.into(),
            message,
        },
        Problem::Tls(source) => KubeconfigError::Tls {
            path: path.into(),
            source,
        },
    })
}

/// What is wrong with a parsed kubeconfig, before the file is named.
enum Problem {
    Message(String),
    Tls(TlsError),
}

impl From<String> for Problem {
    fn from(message: String) -> Problem {
        Problem::Message(message)
    }
}

/// The current context's server, credentials and namespace; relative
/// paths are read from `dir`.
fn connection(config: &KubeConfig, dir: &Path) -> Result<Connection, Problem> {
    let context = config
        .contexts
        .iter()
        .find(|c| c.name == config.current_context)
        .map(|c| &c.value)
        .ok_or_else(|| {
            format!(
                "the current context {:?} is not among its contexts",
                config.current_context
            )
        })?;
    let cluster = &config
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .ok_or_else(|| {
            format!(
                "the context names cluster {:?}, which it lacks",
                context.cluster
            )
        })?
        .value;
    let user = config
        .users
        .iter()
        .find(|u| u.name == context.user)
        .map(|u| &u.value);
    let server = cluster.server.trim_end_matches('/').to_string();
    let tls = match server.starts_with("https://") {
        true => Some(client_tls(cluster, user, dir)?),
        false => None,
    };
    Ok(Connection {
        server,
        token: user.and_then(|u| u.token.clone()),
        tls,
        namespace: context.namespace.clone(),
    })
}

/// The CA of `cluster` and the certificate of `user`, as rustls wants them.
fn client_tls(cluster: &Cluster, user: Option<&User>, dir: &Path) -> Result<ClientTls, Problem> {
    if cluster.insecure_skip_tls_verify {
        return Err(format!(
            "{}: insecure-skip-tls-verify is refused by orc: give the cluster's certificate-authority",
            cluster.server
        )
        .into());
    }
    let ca = pem(
        "certificate-authority",
        &cluster.certificate_authority_data,
        &cluster.certificate_authority,
        dir,
    )?
    .ok_or_else(|| {
        format!(
            "{} is https but its cluster has no certificate-authority(-data) to trust",
            cluster.server
        )
    })?;
    let identity = match user {
        None => None,
        Some(user) => {
            let cert = pem(
                "client-certificate",
                &user.client_certificate_data,
                &user.client_certificate,
                dir,
            )?;
            let key = pem("client-key", &user.client_key_data, &user.client_key, dir)?;
            match (cert, key) {
                (Some(cert_pem), Some(key_pem)) => Some(Identity { cert_pem, key_pem }),
                (None, None) => None,
                _ => {
                    return Err(
                        "a user needs both client-certificate and client-key, or neither"
                            .to_string()
                            .into(),
                    );
                }
            }
        }
    };
    ClientTls::new(&ca, identity.as_ref()).map_err(Problem::Tls)
}

/// A PEM given inline as base64 `data`, or in the file `path`.
fn pem(
    field: &str,
    data: &Option<String>,
    path: &Option<PathBuf>,
    dir: &Path,
) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("{field}-data is not base64: {e}"))?;
        return Ok(Some(bytes));
    }
    match path {
        None => Ok(None),
        Some(path) => {
            let path = dir.join(path);
            std::fs::read(&path)
                .map(Some)
                .map_err(|e| format!("{field} {}: {e}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> KubeConfig {
        serde_yaml::from_str(text).unwrap()
    }

    fn message(result: Result<Connection, Problem>) -> String {
        match result {
            Err(Problem::Message(m)) => m,
            Err(Problem::Tls(e)) => e.to_string(),
            Ok(c) => panic!("expected an error, got {c:?}"),
        }
    }

    #[test]
    fn reads_the_current_context() {
        let config = parse(
            "clusters:\n- name: a\n  cluster: {server: 'http://x:1/'}\n\
             users:\n- name: u\n  user: {token: t}\n\
             contexts:\n- name: c\n  context: {cluster: a, user: u, namespace: demo}\n\
             current-context: c\n",
        );
        let c = connection(&config, Path::new(".")).ok().unwrap();
        assert_eq!(c.server, "http://x:1");
        assert_eq!(c.token.as_deref(), Some("t"));
        assert_eq!(c.namespace.as_deref(), Some("demo"));
        assert!(c.tls.is_none());
    }

    #[test]
    fn https_needs_a_ca_and_never_skips_verification() {
        let https = |extra: &str| {
            parse(&format!(
                "clusters:\n- name: a\n  cluster: {{server: 'https://x:1'{extra}}}\n\
                 contexts:\n- name: c\n  context: {{cluster: a}}\ncurrent-context: c\n"
            ))
        };
        let dir = Path::new("/nonexistent");
        assert!(message(connection(&https(""), dir)).contains("no certificate-authority"));
        assert!(
            message(connection(&https(", insecure-skip-tls-verify: true"), dir))
                .contains("insecure-skip-tls-verify is refused")
        );
        assert_eq!(
            message(connection(&https(", certificate-authority: ca.crt"), dir)),
            "certificate-authority /nonexistent/ca.crt: No such file or directory (os error 2)"
        );
        assert!(
            message(connection(
                &https(", certificate-authority-data: '!!'"),
                dir
            ))
            .starts_with("certificate-authority-data is not base64")
        );
    }
}

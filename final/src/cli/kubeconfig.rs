//! Where the API server is: a kubeconfig file, read as kubectl reads it.
//!
//! Reading one is orc-client's (`orc_client::kubeconfig`: every component
//! takes `--kubeconfig`); here is what the `orc` binary adds: the small
//! kubeconfig `orc demo` and `orc server` write next to the server they
//! start ([`render`]).

use std::path::Path;

use base64::Engine;
use orc_apiserver::pki::Issued;

pub use orc_client::kubeconfig::{Connection, locate};

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

/// Reads the current context of the kubeconfig at `path`
/// (orc-client's loader: server, CA, client certificate or token).
pub fn load(path: &Path) -> anyhow::Result<Connection> {
    Ok(orc_client::kubeconfig::load(path)?)
}

/// A kubeconfig for the https server at `server` that trusts `ca_pem` and
/// presents `issued`, all embedded (`*-data`, base64 PEM), so the one file
/// is the whole credential: written 0600, as kubeadm's `admin.conf`.
pub fn render_embedded(server: &str, ca_pem: &str, issued: &Issued) -> String {
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: {server}\n    \
         certificate-authority-data: {}\nusers:\n- name: orc\n  user:\n    client-certificate-data: {}\n    \
         client-key-data: {}\ncontexts:\n- name: orc\n  context:\n    cluster: orc\n    user: orc\n\
         current-context: orc\n",
        b64(ca_pem),
        b64(&issued.cert_pem),
        b64(&issued.key_pem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_render_writes_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, render("http://127.0.0.1:6443", Some("t0k"), None)).unwrap();
        let c = load(&path).unwrap();
        assert_eq!(c.server, "http://127.0.0.1:6443");
        assert_eq!(c.token.as_deref(), Some("t0k"));
        let text = render("http://h:1", None, Some(Path::new("/ca.pem")));
        assert!(
            text.contains("    certificate-authority: /ca.pem\n"),
            "{text}"
        );
    }
}

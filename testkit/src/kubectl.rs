//! The installed kubectl against a test API server: a kubeconfig as a
//! user would write it, and one way to run kubectl that keeps its
//! discovery cache inside the test's own directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::require_command;

/// Writes `dir/kubeconfig-<token>` for the plain-HTTP server at `addr`,
/// using bearer `token` and the `default` namespace.
pub fn kubeconfig(dir: &Path, addr: SocketAddr, token: &str) -> PathBuf {
    let path = dir.join(format!("kubeconfig-{token}"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: http://{addr}\n\
         users:\n- name: me\n  user:\n    token: {token}\ncontexts:\n- name: orc\n  context:\n    \
         cluster: orc\n    user: me\n    namespace: default\ncurrent-context: orc\n"
    );
    std::fs::write(&path, text).expect("the test directory is writable");
    path
}

/// Writes `dir/kubeconfig-https-<token>` for the HTTPS server at `addr`
/// (its certificate not checked: tests make their own), using bearer
/// `token` and the `default` namespace. kubectl sends a token only over
/// HTTPS, so this is the kubeconfig for tests of authentication and
/// authorization.
pub fn https_kubeconfig(dir: &Path, addr: SocketAddr, token: &str) -> PathBuf {
    let path = dir.join(format!("kubeconfig-https-{token}"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: https://{addr}\n    \
         insecure-skip-tls-verify: true\nusers:\n- name: me\n  user:\n    token: {token}\ncontexts:\n- name: orc\n  \
         context:\n    cluster: orc\n    user: me\n    namespace: default\ncurrent-context: orc\n"
    );
    std::fs::write(&path, text).expect("the test directory is writable");
    path
}

/// A kubectl command on `config`, with its discovery cache in `dir/cache`
/// (so parallel tests never share one); add arguments and run it.
pub fn command(dir: &Path, config: &Path) -> Command {
    let mut command = Command::new(require_command("kubectl"));
    command
        .arg(format!("--kubeconfig={}", config.display()))
        .arg(format!("--cache-dir={}", dir.join("cache").display()));
    command
}

/// Runs `command` to its end: whether it succeeded, and its standard
/// output followed by its standard error.
pub fn output(mut command: Command) -> (bool, String) {
    let out = command.output().expect("kubectl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A self-signed certificate and key for 127.0.0.1 (PEM files in `dir`),
/// made by `openssl`: for TLS servers and `kubectl create secret tls`.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let openssl = require_command("openssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=orc", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

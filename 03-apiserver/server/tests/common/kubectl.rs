//! Running the installed kubectl against a test server.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::TestServer;

/// A kubeconfig for `server` with `token`, as a user would write it.
pub fn kubeconfig(dir: &Path, server: &TestServer, token: &str) -> PathBuf {
    orc_testkit::kubectl::kubeconfig(dir, server.addr, token)
}

/// Runs kubectl off the async runtime, with its own discovery cache.
pub async fn kubectl(dir: &Path, config: &Path, args: &[&str]) -> (bool, String) {
    kubectl_with_env(dir, config, args, &[]).await
}

/// [`kubectl`] with extra environment variables (`KUBE_EDITOR` for `edit`).
pub async fn kubectl_with_env(
    dir: &Path,
    config: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (bool, String) {
    let mut command = orc_testkit::kubectl::command(dir, config);
    command.envs(env.iter().copied()).args(args);
    tokio::task::spawn_blocking(move || orc_testkit::kubectl::output(command))
        .await
        .unwrap()
}

/// A self-signed certificate and key for 127.0.0.1 (PEM files in `dir`),
/// made by `openssl`: for TLS servers and `kubectl create secret tls`.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let openssl = orc_testkit::require_command("openssl");
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
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

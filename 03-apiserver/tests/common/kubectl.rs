//! Running the installed kubectl against a test server.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::TestServer;

/// A kubeconfig for `server` with `token`, as a user would write it.
pub fn kubeconfig(dir: &Path, server: &TestServer, token: &str) -> PathBuf {
    let path = dir.join(format!("kubeconfig-{token}"));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: http://{}\n\
         users:\n- name: me\n  user:\n    token: {token}\ncontexts:\n- name: orc\n  context:\n    \
         cluster: orc\n    user: me\n    namespace: default\ncurrent-context: orc\n",
        server.addr
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs kubectl off the async runtime, with its own discovery cache.
pub async fn kubectl(dir: &Path, config: &Path, args: &[&str]) -> (bool, String) {
    let kubectl = orc_testkit::require_command("kubectl");
    let mut command = Command::new(kubectl);
    command
        .arg(format!("--kubeconfig={}", config.display()))
        .arg(format!("--cache-dir={}", dir.join("cache").display()))
        .args(args);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

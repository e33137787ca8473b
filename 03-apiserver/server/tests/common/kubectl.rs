//! Running the installed kubectl against a test server.

use std::path::{Path, PathBuf};

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

/// Re-exported for the tests that serve HTTPS (not every test binary does).
#[allow(unused_imports)]
pub use orc_testkit::kubectl::self_signed_cert;

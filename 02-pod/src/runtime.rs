//! The agent's side of the container runtime: [`RuntimeClient`].
//!
//! The kubelet never forks containers itself: it talks to a runtime over
//! CRI, which runs runc. orc's agent is a multi-threaded tokio process, and
//! forking namespaced children from one is unsafe (the architecture
//! invariant "no fork or unshare from a multi-threaded process"),
//! so it runs the `orc-container` binary for everything that changes a
//! container: `create`/`start` through the [`shim`](crate::shim), `kill`,
//! `delete` and `exec` directly. Only reading state (`list`) uses the
//! runtime library in-process: it reads files and cgroup counters, never
//! forks, and saves one process per container per sync.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use thiserror::Error;

use crate::shim::stdio::StdioMode;
use tokio::io::AsyncBufReadExt;
use tokio::process::Command;

/// A runtime command that failed, with what it printed.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("orc-container {verb} {id}: {message}")]
    Command {
        verb: String,
        id: String,
        message: String,
    },
    #[error("running {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("listing containers under {root}: {message}")]
    List { root: PathBuf, message: String },
}

/// How to reach the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeClient {
    /// The `orc-container` binary.
    pub program: PathBuf,
    /// Its `--root`: the agent's own, so `orc-container list` there shows
    /// exactly the agent's containers.
    pub root: PathBuf,
    /// The program that runs `shim` (the `orc-agent` binary).
    pub shim: PathBuf,
}

impl RuntimeClient {
    /// Creates and starts a container through a new shim; returns the
    /// init's pid once the program runs.
    pub async fn start_container(
        &self,
        id: &str,
        bundle: &Path,
        log: &Path,
        stdio: StdioMode,
    ) -> Result<i32, RuntimeError> {
        let mut child = Command::new(&self.shim)
            .arg("shim")
            .arg("--runtime")
            .arg(&self.program)
            .arg("--root")
            .arg(&self.root)
            .arg("--id")
            .arg(id)
            .arg("--bundle")
            .arg(bundle)
            .arg("--log")
            .arg(log)
            .args(stdio.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| RuntimeError::Spawn {
                program: self.shim.clone(),
                source,
            })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let _ = tokio::io::BufReader::new(stdout).read_line(&mut line).await;
        // The shim lives on with the container. Its exit is reaped in the
        // background: tokio reaps dropped children (and after an agent
        // restart, pid 1 does).
        drop(child);
        match line.trim().strip_prefix("ok ") {
            Some(pid) => Ok(pid.parse().unwrap_or(0)),
            None => Err(RuntimeError::Command {
                verb: "create".into(),
                id: id.into(),
                message: line.trim().trim_start_matches("error: ").to_string(),
            }),
        }
    }

    async fn command(&self, verb: &str, id: &str, extra: &[&str]) -> Result<(), RuntimeError> {
        let out = Command::new(&self.program)
            .arg("--root")
            .arg(&self.root)
            .arg(verb)
            .args(extra.iter().filter(|a| a.starts_with("--")))
            .arg(id)
            .args(extra.iter().filter(|a| !a.starts_with("--")))
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| RuntimeError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(RuntimeError::Command {
                verb: verb.into(),
                id: id.into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// `orc-container kill ID SIGNAL`.
    pub async fn kill(&self, id: &str, signal: &str) -> Result<(), RuntimeError> {
        self.command("kill", id, &[signal]).await
    }

    /// `orc-container delete --force ID`.
    pub async fn delete(&self, id: &str) -> Result<(), RuntimeError> {
        self.command("delete", id, &["--force"]).await
    }

    /// `orc-container exec ID -- COMMAND...` with a time limit; returns the
    /// exit code and what the command wrote (stdout, then stderr: an exec
    /// probe's failure event quotes it), or `None` on timeout, after
    /// killing the exec.
    pub async fn exec(
        &self,
        id: &str,
        command: &[String],
        timeout: Duration,
    ) -> Result<Option<(i32, String)>, RuntimeError> {
        let child = Command::new(&self.program)
            .arg("--root")
            .arg(&self.root)
            .args(["exec", id, "--"])
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| RuntimeError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                Ok(Some((out.status.code().unwrap_or(255), text)))
            }
            Ok(Err(source)) => Err(RuntimeError::Spawn {
                program: self.program.clone(),
                source,
            }),
            Err(_) => Ok(None),
        }
    }

    /// Every container under the agent's `--root`, with its annotations.
    pub fn list(&self) -> Result<Vec<orc_container::state::State>, RuntimeError> {
        orc_container::Runtime::new(&self.root)
            .list()
            .map_err(|e| RuntimeError::List {
                root: self.root.clone(),
                message: e.to_string(),
            })
    }
}

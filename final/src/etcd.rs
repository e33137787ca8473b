//! etcd as a child process.
//!
//! orc keeps all cluster state in etcd, and on one machine the simplest way
//! to have one is to start it: a single-member cluster on loopback, with its
//! data in a directory orc owns. `orc demo` does this with a throwaway
//! directory; `orc server` with a persistent one (`--data-dir`), so the
//! cluster survives a restart.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long etcd may take to answer after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A running etcd, stopped when dropped.
pub struct EtcdProcess {
    child: Child,
    endpoint: String,
    log: PathBuf,
}

impl EtcdProcess {
    /// Starts etcd with its data and log under `dir`, on free loopback
    /// ports, and waits until it serves requests.
    pub async fn start(dir: &Path) -> Result<EtcdProcess> {
        let (client, peer) = (free_port()?, free_port()?);
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = dir.join("etcd.log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new("etcd")
            .arg("--name=orc")
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=orc={peer_url}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting etcd (install it with `sudo ./scripts/setup.sh`)")?;
        let mut etcd = EtcdProcess {
            child,
            endpoint,
            log,
        };
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    /// Polls etcd's status RPC until it answers, etcd exits, or time runs out.
    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "etcd exited with {status}; its log is {}",
                    self.log.display()
                );
            }
            let options = etcd_client::ConnectOptions::new().with_timeout(Duration::from_secs(1));
            if let Ok(mut client) =
                etcd_client::Client::connect([&self.endpoint], Some(options)).await
            {
                if client.status().await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd did not answer within {READY_TIMEOUT:?}; its log is {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The client URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        // Our own child: end it and reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

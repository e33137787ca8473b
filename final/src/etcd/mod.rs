//! etcd as a supervised child process.
//!
//! orc keeps all cluster state in etcd, and on one machine the simplest way
//! to have one is to start it: a single-member cluster with its data in a
//! directory orc owns. `orc demo` does this with a throwaway directory;
//! `orc server` with a persistent one (`--data-dir`), so the cluster
//! survives a restart. Since every object (Secrets included) lives there,
//! the child is run the way a service manager would run it:
//!
//! - **Reachable by root alone.** etcd listens on unix sockets (clients
//!   and its peer port) in `<dir>/etcd-socket`, a 0700 directory, and keeps
//!   its data in `<dir>/etcd`, also 0700: another local user cannot
//!   connect, so cannot read or write `/registry` around the API server.
//! - **Dies with its parent** (`PR_SET_PDEATHSIG`), so a killed `orc
//!   server` leaves no etcd holding the data directory; one left by other
//!   means is named in the error ([`stale`]).
//! - **Restarted when it crashes**, with back-off, and logged
//!   ([`supervisor`]).
//! - **Logs appended and rotated** ([`log_file`]).
//! - **Stopped with SIGTERM**, so it closes its files itself.
//!
//! ## Layout
//!
//! - [`EtcdProcess`] (here): start, endpoint, stop.
//! - [`supervisor`]: the thread that runs etcd and restarts it.
//! - [`stale`]: finding an etcd already on the data directory.
//! - [`log_file`]: `etcd.log`, appended and rotated.
//! - [`command`]: `orc etcd defrag`.

pub mod command;
pub mod log_file;
pub mod stale;
pub mod supervisor;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use log_file::LogFile;
use supervisor::{Backoff, Shared};

/// How long etcd may take to answer after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long etcd has to stop on SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The client socket's name inside the socket directory. etcd 3.4 wants
/// `host:port` even in a `unix://` URL and makes the socket file of that
/// name in its working directory.
const CLIENT_SOCKET: &str = "etcd:2379";
const PEER_SOCKET: &str = "etcd:2380";

/// A running, supervised etcd; stopped (SIGTERM) when dropped.
pub struct EtcdProcess {
    /// `unix:///<dir>/etcd-socket/etcd:2379`.
    endpoint: String,
    log: PathBuf,
    shared: Arc<Shared>,
}

impl EtcdProcess {
    /// Starts etcd with its data, socket and log under `dir`, and waits
    /// until it serves requests.
    pub async fn start(dir: &Path) -> Result<EtcdProcess> {
        let data = dir.join("etcd");
        let sockets = dir.join("etcd-socket");
        let holders = stale::holders(stale::processes(), &data);
        if !holders.is_empty() {
            bail!("{}", stale::message(&holders, &data));
        }
        for private in [&data, &sockets] {
            make_private_dir(private)?;
        }
        let log = dir.join("etcd.log");
        let log_file = LogFile::open(&log, log_file::DEFAULT_LIMIT)
            .with_context(|| format!("opening {}", log.display()))?;
        let shared = Arc::new(Shared::default());
        let launch = supervisor::Launch {
            command: etcd_command(&data, &sockets),
            // Left by an etcd that was killed; nobody serves them (no
            // process holds the data directory).
            stale_files: vec![sockets.join(CLIENT_SOCKET), sockets.join(PEER_SOCKET)],
        };
        let shared_for_thread = shared.clone();
        std::thread::Builder::new()
            .name("etcd-supervisor".into())
            .spawn(move || {
                supervisor::supervise(
                    launch,
                    Arc::new(Mutex::new(log_file)),
                    shared_for_thread,
                    Backoff::default(),
                )
            })
            .context("starting etcd's supervisor thread")?;
        let etcd = EtcdProcess {
            endpoint: client_endpoint(dir),
            log,
            shared,
        };
        etcd.wait_ready().await?;
        Ok(etcd)
    }

    /// Polls etcd's status RPC until it answers, its first run ends, or
    /// time runs out.
    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(ended) = self.first_exit() {
                bail!("etcd stopped: {ended}; its log is {}", self.log.display());
            }
            if let Ok(mut client) = orc_apiserver::etcd_socket::connect(&self.endpoint).await {
                let status = tokio::time::timeout(Duration::from_secs(1), client.status()).await;
                if matches!(status, Ok(Ok(_))) {
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

    /// How the first run ended, if it has.
    fn first_exit(&self) -> Option<String> {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.last_exit.clone()
    }

    /// The client URL (a unix socket only root may reach).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The running etcd's pid (0 between a crash and its restart).
    pub fn pid(&self) -> u32 {
        let state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.pid.unwrap_or(0)
    }

    /// Stops etcd: SIGTERM, and SIGKILL if it has not exited after
    /// [`STOP_GRACE`]. Blocks until it has exited.
    pub fn stop(&self) {
        supervisor::stop(&self.shared, STOP_GRACE);
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The client URL of the etcd started on `dir`.
pub fn client_endpoint(dir: &Path) -> String {
    let socket = dir.join("etcd-socket").join(CLIENT_SOCKET);
    format!("unix://{}", socket.display())
}

/// The etcd command line: a one-member cluster on unix sockets, run in
/// the socket directory (where etcd makes the socket files).
fn etcd_command(data: &Path, sockets: &Path) -> Command {
    let client = format!("unix://{CLIENT_SOCKET}");
    let peer = format!("unix://{PEER_SOCKET}");
    let mut command = Command::new("etcd");
    command
        .current_dir(sockets)
        .arg("--name=orc")
        .arg(format!("--data-dir={}", data.display()))
        .arg(format!("--listen-client-urls={client}"))
        .arg(format!("--advertise-client-urls={client}"))
        .arg(format!("--listen-peer-urls={peer}"))
        .arg(format!("--initial-advertise-peer-urls={peer}"))
        .arg(format!("--initial-cluster=orc={peer}"))
        // etcd keeps every raft entry since its last snapshot in memory;
        // 3.4 and 3.5 snapshot every 100,000 writes, so a busy cluster's
        // etcd grows until then (the soak bench, `benches/soak.rs`: 340 MB
        // at revision 78,000, 158 MB with this flag). 10,000 is etcd 3.6's
        // default.
        .arg("--snapshot-count=10000");
    command
}

/// Creates `dir` if needed and makes it root's alone (0700), whatever
/// mode an older orc left it with.
fn make_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private (mode 0700)", dir.display()))
}

//! A real etcd for one test.
//!
//! orc keeps all cluster state in etcd, so tests of the API server and
//! everything above it run against the real thing, not a map in memory: real
//! revisions, real compare-and-swap transactions, real watch and compaction.
//!
//! Each [`Etcd`] is its own single-member cluster: its own data dir in a temp
//! dir, its own free client and peer ports on loopback. Dropping it kills the
//! process and removes the data; when the test is failing, the drop prints
//! etcd's log first, because "connection refused" alone explains nothing.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::ports::free_port;
use crate::root::require_command;

/// How long etcd may take to answer its health check. A cold start on a
/// loaded 2-core machine takes about a second; ten leaves room for CI.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times [`Etcd::start`] tries fresh ports when the ones it picked
/// were taken between choosing and binding them.
const START_ATTEMPTS: usize = 3;

/// A running single-member etcd cluster, removed on drop.
pub struct Etcd {
    child: Child,
    client_port: u16,
    /// Holds the data dir and the log; deleting it is the cleanup.
    dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts etcd and waits until it answers `/health`.
    ///
    /// Panics (failing the test) when the `etcd` binary is missing or etcd
    /// does not become healthy; the panic message includes etcd's log.
    #[track_caller]
    pub fn start() -> Etcd {
        Self::start_with_args(&[])
    }

    /// [`Etcd::start`] with more flags, e.g. `--quota-backend-bytes=...`
    /// for a test that fills etcd up.
    #[track_caller]
    pub fn start_with_args(extra: &[&str]) -> Etcd {
        let binary = require_command("etcd");
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&binary, extra) {
                Ok(etcd) => return etcd,
                Err(error) => last_error = error,
            }
        }
        panic!("etcd did not start after {START_ATTEMPTS} attempts: {last_error}");
    }

    fn try_start(binary: &Path, extra: &[&str]) -> Result<Etcd, String> {
        let dir = tempfile::Builder::new()
            .prefix("orc-etcd-")
            .tempdir()
            .map_err(|e| format!("creating a temp dir: {e}"))?;
        let (client_port, peer_port) = (free_port(), free_port());
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let log = File::create(dir.path().join("etcd.log"))
            .map_err(|e| format!("creating etcd.log: {e}"))?;
        let child = Command::new(binary)
            .arg("--name=orc-test")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=orc-test={peer}"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", binary.display()))?;
        let mut etcd = Etcd {
            child,
            client_port,
            dir,
        };
        etcd.wait_healthy()?;
        Ok(etcd)
    }

    /// Polls `GET /health` until etcd says it is healthy, it exits, or time runs out.
    fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("etcd exited with {status}:\n{}", self.log()));
            }
            if self.is_healthy() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "etcd was not healthy within {START_TIMEOUT:?}:\n{}",
            self.log()
        ))
    }

    /// One plain HTTP/1.0 health request; etcd answers `{"health":"true",...}`.
    fn is_healthy(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.client_port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream
            .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.contains("\"health\":\"true\"")
    }

    /// The client URL, for example `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The client port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.client_port
    }

    /// The etcd process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The data directory, inside the fixture's temp dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Everything etcd has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log"))
            .unwrap_or_else(|e| format!("(etcd.log unreadable: {e})"))
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- etcd log ({}) ----\n{}---- end of etcd log ----",
                self.endpoint(),
                self.log()
            );
        }
        // We started this process, so we may end it; wait so it is not a zombie
        // and its files are closed before the temp dir is removed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

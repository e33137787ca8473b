//! Throwaway network namespaces.
//!
//! Every networking test runs in namespaces it creates, so it never touches
//! the host's links, routes or iptables rules, and many tests run at once. A
//! [`NetnsHost`] is one such namespace with loopback up: chapter 02 uses a few
//! of them joined by veth links as the "nodes" of a cluster.
//!
//! The namespace is made the way `ip netns add` makes it (a bind mount of a
//! namespace file under `/run/netns/`), so `ip netns exec NAME ...` and
//! `ip -n NAME ...` work on it while a test runs, which helps when debugging.

use std::fs::File;
use std::process::{Command, Output};

use crate::root::{require_command, require_root};
use crate::unique_name;

/// A network namespace named `/run/netns/<name>`, deleted on drop.
pub struct NetnsHost {
    name: String,
}

impl NetnsHost {
    /// Creates a fresh namespace with a unique name and brings loopback up.
    #[track_caller]
    pub fn new() -> NetnsHost {
        require_root();
        require_command("ip");
        let host = NetnsHost {
            name: unique_name("orc-t"),
        };
        run_ok(Command::new("ip").args(["netns", "add", &host.name]));
        run_ok(Command::new("ip").args(["-n", &host.name, "link", "set", "lo", "up"]));
        host
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace file that `setns(2)` joins.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// A command that runs `program` inside the namespace
    /// (`ip netns exec NAME program ...`), to add arguments to and run.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `program args...` inside the namespace and returns its stdout;
    /// fails the test with the command's stderr when it exits non-zero.
    #[track_caller]
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let output = run_ok(self.command(program).args(args));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs `f` on a thread that has joined this namespace and returns its
    /// result.
    ///
    /// `setns(2)` changes the namespace of the calling *thread* only, so a
    /// fresh thread keeps the caller's own threads (and a tokio runtime's
    /// workers) in the host namespace.
    pub fn enter<T, F>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let path = self.path();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
                        .unwrap_or_else(|e| panic!("setns {path}: {e}"));
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }
}

impl NetnsHost {
    /// Runs `future` to its end on a two-thread tokio runtime built inside
    /// this namespace ([`NetnsHost::enter`]): its threads, and every
    /// process they start (etcd, kubectl), live in the namespace, and the
    /// runtime is gone when this returns.
    pub fn block_on<F: std::future::Future>(&self, future: impl FnOnce() -> F + Send) -> F::Output
    where
        F::Output: Send,
    {
        self.enter(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("a tokio runtime: {e}"));
            runtime.block_on(future())
        })
    }
}

impl Default for NetnsHost {
    fn default() -> Self {
        NetnsHost::new()
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        // Deleting the namespace also removes every link inside it; a veth
        // whose peer lived here goes with it.
        let status = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
        if !matches!(status, Ok(s) if s.success()) && !std::thread::panicking() {
            panic!("could not delete network namespace {}", self.name);
        }
    }
}

/// Runs a command and fails the test, with its stderr, unless it succeeds.
#[track_caller]
pub fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{command:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    output
}

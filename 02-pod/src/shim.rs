//! The container shim: one small process per container that outlives the agent.
//!
//! A runc-style runtime is not a daemon: `orc-container create` clones the
//! container's init and exits, so the init is re-parented and its exit
//! status would go to whoever adopts it (normally pid 1, which throws it
//! away). Kubernetes runtimes solve this with a *shim* (containerd-shim,
//! CRI-O's conmon): a tiny process that
//! - declares itself a *child subreaper* (`PR_SET_CHILD_SUBREAPER`), so the
//!   orphaned init becomes its child;
//! - runs `create` and `start` with the container's stdout and stderr
//!   sent to the log file;
//! - waits for the init and writes its exit code (and whether the OOM
//!   killer struck) to `exit.json`.
//!
//! Its two times, when `start` succeeded (`started`) and when the init
//! ended (`exit.json`'s `finishedAt`), are RFC 3339 text in UTC to the
//! nanosecond (`2024-05-01T12:00:00.123456789Z`): what `cat` shows a
//! person, and what the agent reads back as the same [`Timestamp`].
//!
//! With `--stdin`, `--stdin-once` or `--tty` (the container's `stdin`,
//! `stdinOnce` and `tty`), it also holds the container's stdin open, or
//! its terminal, for `kubectl attach` ([`stdio`]).
//!
//! It is started in its own session, so an agent that stops or restarts
//! leaves its containers, and their exit codes, intact. It is single-threaded
//! plain Rust (no tokio), so it may fork and wait freely (the architecture
//! invariant "no fork or unshare from a multi-threaded process").
//! `orc-agent shim ...` runs [`run`]; the agent starts it with
//! [`RuntimeClient::start_container`](crate::runtime::RuntimeClient::start_container).

pub mod stdio;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// What the shim needs to run one container; also its command line
/// (`shim --runtime P --root R --id I --bundle B --log L`), so every
/// binary that can be a shim (`orc-agent`, `orc`) parses it alike.
#[derive(Debug, Clone, clap::Args)]
pub struct ShimArgs {
    #[arg(long)]
    pub runtime: PathBuf,
    #[arg(long)]
    pub root: PathBuf,
    #[arg(long)]
    pub id: String,
    /// The bundle; `started` and `exit.json` are written next to `config.json`.
    #[arg(long)]
    pub bundle: PathBuf,
    #[arg(long)]
    pub log: PathBuf,
    /// The container's stdin and terminal, as its spec asks.
    #[command(flatten)]
    pub stdio: stdio::StdioMode,
}

/// How long the shim waits, after the container ended, for a terminal's
/// last output to reach the log (a process left in the background may
/// hold the terminal open for ever).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// How a container's run ended, as the shim saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExitRecord {
    /// The shell's convention: the code, or 128 + N for death by signal N.
    pub exit_code: i32,
    pub oom_killed: bool,
    /// When the shim saw the init end.
    pub finished_at: Timestamp,
}

/// The file the exit record is written to, in the bundle.
pub fn exit_file(bundle: &Path) -> PathBuf {
    bundle.join("exit.json")
}

/// The file holding the start time, in the bundle.
pub fn started_file(bundle: &Path) -> PathBuf {
    bundle.join("started")
}

/// Reads a bundle's exit record, if the run has ended.
pub fn read_exit(bundle: &Path) -> Option<ExitRecord> {
    let text = std::fs::read_to_string(exit_file(bundle)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Reads when a bundle's run started.
pub fn read_started(bundle: &Path) -> Option<Timestamp> {
    let text = std::fs::read_to_string(started_file(bundle)).ok()?;
    text.trim().parse().ok()
}

/// Records when a bundle's run started, for [`read_started`].
fn write_started(bundle: &Path, at: Timestamp) -> std::io::Result<()> {
    std::fs::write(started_file(bundle), at.to_string())
}

// ANCHOR: shim
/// The shim's whole life. Reports `ok <pid>` or `error: <why>` on stdout
/// (which the agent reads), then waits for the container and records its end.
pub fn run(args: &ShimArgs) -> i32 {
    let mut report = std::io::stdout();
    match start(args) {
        Ok((pid, serving)) => {
            let _ = writeln!(report, "ok {pid}");
            let _ = report.flush();
            // Nobody reads stdout any more: point it at /dev/null so a
            // later write cannot fail with EPIPE.
            if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                let _ = nix::unistd::dup2_stdout(null);
            }
            let waited = wait_exit(pid);
            // The run's last byte goes into the log before its exit record.
            serving.finish(OUTPUT_GRACE);
            let state = runtime_state(args);
            // `orc-container create` leaves a monitor process as the init's
            // parent (chapter 01): we then reap the monitor, not the init,
            // and the runtime's state holds the init's real exit code.
            let exit_code = state
                .as_ref()
                .and_then(|s| s["exitCode"].as_i64())
                .map_or(waited, |code| code as i32);
            let oom_killed = state.is_some_and(|s| s["oomKilled"] == true);
            let record = ExitRecord {
                exit_code,
                oom_killed,
                finished_at: Timestamp::now(),
            };
            let tmp = args.bundle.join("exit.json.tmp");
            let json = serde_json::to_vec(&record).unwrap_or_default();
            let _ = std::fs::write(&tmp, json)
                .and_then(|_| std::fs::rename(&tmp, exit_file(&args.bundle)));
            0
        }
        Err(message) => {
            let _ = writeln!(report, "error: {message}");
            1
        }
    }
}
// ANCHOR_END: shim

fn start(args: &ShimArgs) -> Result<(i32, stdio::Serving), String> {
    // Orphans among our descendants (the init, once `create` exits) become
    // our children instead of pid 1's.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    // A session of our own: the agent's terminal or process group going
    // away must not take the container with it.
    let _ = nix::unistd::setsid();
    let _ = std::fs::write(args.bundle.join("shim.pid"), std::process::id().to_string());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .map_err(|e| format!("opening log {}: {e}", args.log.display()))?;
    let runtime = |verb: &str| {
        let mut cmd = Command::new(&args.runtime);
        cmd.arg("--root").arg(&args.root).arg(verb).arg(&args.id);
        cmd
    };
    let clone = |f: &std::fs::File| f.try_clone().map(Stdio::from).map_err(|e| e.to_string());
    // The container inherits create's stdio: that is how its output
    // reaches the log, and how it gets the stdin or terminal we hold.
    let mut container_stdio = stdio::prepare(&args.bundle, args.stdio, &log)?;
    let (stdin, stdout, stderr) = container_stdio.streams();
    let created = runtime("create")
        .arg("--bundle")
        .arg(&args.bundle)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .map_err(|e| format!("running {}: {e}", args.runtime.display()))?;
    if !created.success() {
        return Err(last_line(&args.log));
    }
    let pid = runtime_state(args)
        .and_then(|s| s["pid"].as_i64())
        .ok_or("the runtime reports no pid after create")? as i32;
    let started = runtime("start")
        .stdin(Stdio::null())
        .stdout(clone(&log)?)
        .stderr(clone(&log)?)
        .status()
        .map_err(|e| e.to_string())?;
    if !started.success() {
        let _ = runtime("delete").arg("--force").status();
        return Err(last_line(&args.log));
    }
    let _ = write_started(&args.bundle, Timestamp::now());
    if args.stdio.tty {
        ignore_terminal_signals();
    }
    Ok((pid, container_stdio.serve(&args.bundle, args.stdio, &log)))
}

/// With a terminal the container shares our session and our process
/// group, which is the terminal's foreground group: Ctrl-C typed by an
/// attached user is SIGINT for us too, and a job-control stop would stop
/// us. Ignored, here, only after `create`: ignored signals are inherited
/// through exec, and the container must get the default dispositions.
fn ignore_terminal_signals() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    for sig in [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGHUP,
    ] {
        // SAFETY: SIG_IGN installs no handler code; nothing of ours runs
        // in signal context.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
}

/// Waits for `pid` to end, reaping every orphan that lands on us meanwhile:
/// the init itself if it is our child, or the runtime's monitor that is its
/// parent (then 255 once no child is left, and the runtime's state says
/// how the init ended).
fn wait_exit(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return code,
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => return 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            // No children: the init was not ours after all (should not happen).
            Err(_) => return 255,
        }
    }
}

fn runtime_state(args: &ShimArgs) -> Option<serde_json::Value> {
    let out = Command::new(&args.runtime)
        .arg("--root")
        .arg(&args.root)
        .args(["state", &args.id])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

fn last_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("the runtime failed without a message")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_record_holds_rfc3339_text() {
        let record = ExitRecord {
            exit_code: 3,
            oom_killed: false,
            finished_at: Timestamp::new(1_714_564_800, 123_456_789).unwrap(),
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "exitCode": 3,
                "oomKilled": false,
                "finishedAt": "2024-05-01T12:00:00.123456789Z"
            })
        );
        let bundle = tempfile::tempdir().unwrap();
        assert_eq!(read_exit(bundle.path()), None);
        std::fs::write(exit_file(bundle.path()), json.to_string()).unwrap();
        assert_eq!(read_exit(bundle.path()), Some(record));
    }

    #[test]
    fn the_start_time_reads_back_to_the_nanosecond() {
        let bundle = tempfile::tempdir().unwrap();
        assert_eq!(read_started(bundle.path()), None);
        let at = Timestamp::new(1_714_564_800, 5).unwrap();
        write_started(bundle.path(), at).unwrap();
        let text = std::fs::read_to_string(started_file(bundle.path())).unwrap();
        assert_eq!(text, "2024-05-01T12:00:00.000000005Z");
        assert_eq!(read_started(bundle.path()), Some(at));
    }
}

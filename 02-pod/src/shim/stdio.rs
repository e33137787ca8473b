//! A container's stdin and terminal, held by its shim for `kubectl attach`.
//!
//! A container normally gets no stdin (`/dev/null`) and writes to its log
//! file. Three fields of the container spec change that, as they do for
//! the kubelet and containerd's shim:
//!
//! - `stdin: true`: the container's stdin is the read end of a FIFO in
//!   its bundle (`stdin`). The shim keeps a write end open, so the
//!   container waits for input instead of reading end-of-file while nobody
//!   is attached; each `kubectl attach -i` opens the FIFO and writes to it.
//!   A detach leaves stdin open for the next attach.
//! - `stdinOnce: true`: the first attach that ends closes stdin for good:
//!   the agent says so on the `control` FIFO, the shim drops its write end
//!   and the container reads end-of-file (Kubernetes' "close after the
//!   first attach").
//! - `tty: true`: the container's three streams are the slave of a pty
//!   whose master the shim keeps; the slave is the controlling terminal
//!   of the shim's session, which the container shares, so Ctrl-C and
//!   window changes become signals for it. A thread copies what the
//!   terminal shows into the log (where `kubectl logs` and attach read it),
//!   another copies the stdin FIFO into the master, and the `control` FIFO
//!   carries window sizes (`TIOCSWINSZ` on the master).
//!
//! FIFOs rather than a socket because a FIFO outlives the agent: an agent
//! that restarts opens them again, and the container notices nothing.
//! See chapter 03, "Attaching to a container".

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::agent::terminal::{Master, Pty};

/// The terminal's end-of-file character (`VEOF`, Ctrl-D): what closing
/// stdin means to a program that reads a terminal.
const END_OF_FILE: u8 = 0x04;

// ANCHOR: mode
/// What the pod asks of one container's stdio; the shim's command line
/// carries it as `--stdin`, `--stdin-once`, `--tty`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct StdioMode {
    /// Keep the container's stdin open for attach (`stdin: true`).
    #[arg(long)]
    pub stdin: bool,
    /// Close it once the first attach ends (`stdinOnce: true`).
    #[arg(long)]
    pub stdin_once: bool,
    /// Give the container a terminal (`tty: true`).
    #[arg(long)]
    pub tty: bool,
}
// ANCHOR_END: mode

impl StdioMode {
    /// The shim's flags for this mode.
    pub fn args(&self) -> Vec<&'static str> {
        [
            (self.stdin, "--stdin"),
            (self.stdin_once, "--stdin-once"),
            (self.tty, "--tty"),
        ]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect()
    }

    /// Whether the shim holds anything: without stdin or a terminal the
    /// container's stdio is `/dev/null` and the log, as before.
    pub fn holds(&self) -> bool {
        self.stdin || self.tty
    }
}

/// The FIFO attach writes the container's stdin into.
pub fn stdin_fifo(bundle: &Path) -> PathBuf {
    bundle.join("stdin")
}

/// The FIFO that carries [`Control`] lines from the agent to the shim.
pub fn control_fifo(bundle: &Path) -> PathBuf {
    bundle.join("control")
}

/// Written by the shim once a `stdinOnce` container's stdin is closed:
/// later attaches then neither write stdin nor replay the run.
pub fn stdin_closed_file(bundle: &Path) -> PathBuf {
    bundle.join("stdin.closed")
}

// ANCHOR: control
/// One request from the agent to the shim: a line on the control FIFO
/// (shorter than `PIPE_BUF`, so lines from two attaches never interleave).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// The attached terminal's new size (kubectl's channel 4).
    Resize { width: u16, height: u16 },
    /// The first attach of a `stdinOnce` container ended.
    CloseStdin,
}

impl Control {
    /// The line as written on the FIFO.
    pub fn line(&self) -> String {
        match self {
            Control::Resize { width, height } => format!("resize {width} {height}\n"),
            Control::CloseStdin => "close-stdin\n".to_string(),
        }
    }

    /// Reads one line; anything else is ignored (`None`), as the kubelet
    /// ignores a malformed resize.
    pub fn parse(line: &str) -> Option<Control> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["resize", width, height] => Some(Control::Resize {
                width: width.parse().ok()?,
                height: height.parse().ok()?,
            }),
            ["close-stdin"] => Some(Control::CloseStdin),
            _ => None,
        }
    }
}
// ANCHOR_END: control

/// The container's three streams for `create`, and what the shim keeps
/// of them until the container ends.
pub struct PreparedStdio {
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    held: Held,
}

/// What the shim holds for a container.
enum Held {
    /// Neither stdin nor a terminal.
    Nothing,
    /// `stdin: true` without a terminal: the FIFO's write end that keeps
    /// the container's stdin open; `None` once closed.
    Pipe(Arc<Mutex<Option<File>>>),
    /// `tty: true`: the pty's master.
    Terminal(Master),
}

/// Makes the container's stdio as `mode` asks, in `bundle`, with `log`
/// (opened for appending) as its output when it has no terminal.
pub fn prepare(bundle: &Path, mode: StdioMode, log: &File) -> Result<PreparedStdio, String> {
    let to_log = || {
        log.try_clone()
            .map(Stdio::from)
            .map_err(|e| format!("duplicating the log: {e}"))
    };
    if !mode.holds() {
        return Ok(PreparedStdio {
            stdin: Stdio::null(),
            stdout: to_log()?,
            stderr: to_log()?,
            held: Held::Nothing,
        });
    }
    make_fifo(&stdin_fifo(bundle))?;
    make_fifo(&control_fifo(bundle))?;
    if mode.tty {
        return prepare_terminal();
    }
    // ANCHOR: hold_stdin
    // The read end first, without blocking (a FIFO's open waits for the
    // other end otherwise); then our write end, which now succeeds at
    // once; then the read end goes back to blocking reads for the
    // container.
    let fifo = stdin_fifo(bundle);
    let read_end = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo)
        .map_err(|e| format!("opening {}: {e}", fifo.display()))?;
    let write_end = OpenOptions::new()
        .write(true)
        .open(&fifo)
        .map_err(|e| format!("opening {}: {e}", fifo.display()))?;
    nix::fcntl::fcntl(
        &read_end,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .map_err(|e| format!("making {} blocking: {e}", fifo.display()))?;
    // ANCHOR_END: hold_stdin
    Ok(PreparedStdio {
        stdin: Stdio::from(read_end),
        stdout: to_log()?,
        stderr: to_log()?,
        held: Held::Pipe(Arc::new(Mutex::new(Some(write_end)))),
    })
}

/// `tty: true`: a pty whose slave is all three streams and the session's
/// controlling terminal (the shim leads its own session, see `shim.rs`).
fn prepare_terminal() -> Result<PreparedStdio, String> {
    let pty = Pty::open().map_err(|e| format!("opening a pty: {e}"))?;
    pty.make_controlling()
        .map_err(|e| format!("making the pty the controlling terminal: {e}"))?;
    let slave = || pty.stdio().map_err(|e| format!("duplicating the pty: {e}"));
    Ok(PreparedStdio {
        stdin: slave()?,
        stdout: slave()?,
        stderr: slave()?,
        held: Held::Terminal(pty.into_master()),
    })
}

fn make_fifo(path: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(
        path,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .map_err(|e| format!("making the FIFO {}: {e}", path.display()))
}

/// The shim's stdio threads while the container runs.
pub struct Serving {
    /// Completes when the terminal's output has all reached the log.
    output_done: Option<mpsc::Receiver<()>>,
}

impl PreparedStdio {
    /// The container's stdin, stdout and stderr, for `create` (which
    /// passes them on to the container); the shim keeps the rest.
    pub fn streams(&mut self) -> (Stdio, Stdio, Stdio) {
        (
            std::mem::replace(&mut self.stdin, Stdio::null()),
            std::mem::replace(&mut self.stdout, Stdio::null()),
            std::mem::replace(&mut self.stderr, Stdio::null()),
        )
    }

    /// Once the container runs (`create` and `start` hold their copies of
    /// the streams no more): starts the threads that serve attach.
    /// `log` is the container's log, `bundle` where the FIFOs are.
    pub fn serve(self, bundle: &Path, mode: StdioMode, log: &File) -> Serving {
        let PreparedStdio { held, .. } = self;
        let closed = Arc::new(AtomicBool::new(false));
        let mut output_done = None;
        if let Held::Terminal(master) = &held {
            output_done = copy_terminal_output(master, log);
            copy_stdin_into_terminal(master, bundle, Arc::clone(&closed));
        }
        if !matches!(held, Held::Nothing) {
            let bundle = bundle.to_path_buf();
            std::thread::spawn(move || serve_control(&bundle, mode, &held, &closed));
        }
        Serving { output_done }
    }
}

impl Serving {
    /// After the container ended: waits (at most `grace`: a background
    /// process may hold the terminal open) until its last output is in the
    /// log, so the exit record is written after the run's last byte.
    pub fn finish(self, grace: Duration) {
        if let Some(done) = self.output_done {
            let _ = done.recv_timeout(grace);
        }
    }
}

/// Terminal → log, until every slave is closed (the read then fails with
/// EIO); answers the channel that says so.
fn copy_terminal_output(master: &Master, log: &File) -> Option<mpsc::Receiver<()>> {
    let (mut from, mut to) = (master.file().ok()?, log.try_clone().ok()?);
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = done_tx.send(());
    });
    Some(done)
}

/// Stdin FIFO → terminal. The FIFO is opened for reading *and* writing,
/// so it never reads end-of-file between two attaches.
fn copy_stdin_into_terminal(master: &Master, bundle: &Path, closed: Arc<AtomicBool>) {
    let (Ok(mut to), Ok(mut from)) = (
        master.file(),
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(stdin_fifo(bundle)),
    ) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            // After a stdinOnce close, input has nowhere to go.
            if !closed.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
}

// ANCHOR: serve_control
/// Reads [`Control`] lines for as long as the shim lives and applies them.
fn serve_control(bundle: &Path, mode: StdioMode, held: &Held, closed: &AtomicBool) {
    let Ok(fifo) = OpenOptions::new()
        .read(true)
        .write(true)
        .open(control_fifo(bundle))
    else {
        return;
    };
    for line in BufReader::new(fifo).lines() {
        let Ok(line) = line else { return };
        match (Control::parse(&line), held) {
            (Some(Control::Resize { width, height }), Held::Terminal(master)) => {
                // The kernel sends SIGWINCH to the foreground processes.
                let _ = master.resize(width, height);
            }
            (Some(Control::CloseStdin), _) if mode.stdin_once => {
                if closed.swap(true, Ordering::SeqCst) {
                    continue;
                }
                match held {
                    // Our write end was the last one left: the container
                    // reads end-of-file.
                    Held::Pipe(write_end) => {
                        write_end.lock().unwrap_or_else(|p| p.into_inner()).take();
                    }
                    // A terminal has no end-of-file of its own: type one.
                    Held::Terminal(master) => {
                        if let Ok(mut typing) = master.file() {
                            let _ = typing.write_all(&[END_OF_FILE]);
                        }
                    }
                    Held::Nothing => {}
                }
                let _ = std::fs::write(stdin_closed_file(bundle), "");
            }
            _ => {}
        }
    }
}
// ANCHOR_END: serve_control

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines_round_trip_and_garbage_is_ignored() {
        for control in [
            Control::Resize {
                width: 120,
                height: 40,
            },
            Control::CloseStdin,
        ] {
            let line = control.line();
            assert!(line.ends_with('\n') && line.len() < 64);
            assert_eq!(Control::parse(&line), Some(control));
        }
        assert_eq!(Control::parse("resize 80"), None);
        assert_eq!(Control::parse("resize 80 x"), None);
        assert_eq!(Control::parse("resize 70000 1"), None);
        assert_eq!(Control::parse("reboot"), None);
    }

    #[test]
    fn the_mode_becomes_the_shims_flags() {
        let mode = StdioMode {
            stdin: true,
            stdin_once: true,
            tty: false,
        };
        assert_eq!(mode.args(), ["--stdin", "--stdin-once"]);
        assert!(mode.holds());
        assert!(StdioMode::default().args().is_empty());
        assert!(!StdioMode::default().holds());
    }

    #[test]
    fn held_stdin_stays_open_until_a_stdin_once_close() {
        let bundle = tempfile::tempdir().unwrap();
        let log = tempfile::tempfile().unwrap();
        let mode = StdioMode {
            stdin: true,
            stdin_once: true,
            tty: false,
        };
        let prepared = prepare(bundle.path(), mode, &log).unwrap();
        // The container's end, as `create` would hand it on.
        let Held::Pipe(write_end) = &prepared.held else {
            panic!("stdin without a terminal is a held pipe");
        };
        let write_end = Arc::clone(write_end);
        let fifo = stdin_fifo(bundle.path());
        // An attach writes; the container reads it.
        let mut container = OpenOptions::new().read(true).open(&fifo).unwrap();
        let serving = prepared.serve(bundle.path(), mode, &log);
        let mut attach = OpenOptions::new().write(true).open(&fifo).unwrap();
        attach.write_all(b"hello\n").unwrap();
        drop(attach);
        let mut line = [0u8; 6];
        container.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"hello\n");
        // The attach is gone, the shim's end is not: no end-of-file yet.
        assert!(write_end.lock().unwrap().is_some());
        // The first attach ended: the shim closes, the container reads EOF.
        let mut control = OpenOptions::new()
            .write(true)
            .open(control_fifo(bundle.path()))
            .unwrap();
        control
            .write_all(Control::CloseStdin.line().as_bytes())
            .unwrap();
        let mut rest = vec![];
        container.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        assert!(write_end.lock().unwrap().is_none());
        serving.finish(Duration::ZERO);
    }
}

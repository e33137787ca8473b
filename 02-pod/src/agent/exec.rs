//! `GET /exec/{namespace}/{pod}/{container}`: a command in a running
//! container, its streams carried over a WebSocket (or, from an older
//! or configured kubectl, SPDY streams: [`super::streams`]).
//!
//! The kubelet's streaming server does the same for `kubectl exec`: the API
//! server forwards kubectl's upgrade request here unchanged, so the
//! WebSocket is in fact kubectl's, end to end. The agent then
//! 1. finds the container's current run ([`running_container`]),
//! 2. accepts the upgrade with a [`channels::PROTOCOLS`] subprotocol (or
//!    the SPDY upgrade, translated to the same messages),
//! 3. runs `orc-container exec ID -- COMMAND` (chapter 01's exec: the
//!    container's cgroup, then `setns` into each of its namespaces, then a
//!    fork), with pipes for the streams kubectl asked for, or with `-t` a
//!    terminal ([`super::terminal`]),
//! 4. pumps each pipe (or the terminal) into messages with its channel
//!    byte, and kubectl's stdin messages into the process's stdin (and its
//!    window sizes into the terminal),
//! 5. sends the exit as a `Status` on channel 3 and lets go of the link,
//!    which closes the connection normally.
//!
//! The agent is multi-threaded, so it runs the runtime's binary rather
//! than forking into namespaces itself (the architecture invariant "no fork
//! or unshare from a multi-threaded process").

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::channels::{self, Incoming, StreamOptions};
use super::layout::StateLayout;
use super::server::{Refusal, find_pod};
use super::streams::{self, Link};
use super::terminal::{Master, Pty};
use crate::sandbox::{ATTEMPT, CONTAINER_NAME};

/// How long a command's output is waited for after it exited (a process
/// it left in the background may hold the pipe or terminal open).
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// How long an exec with a terminal waits for kubectl's first window size
/// before it starts the command on a terminal of no size (kubectl sends
/// the size as soon as the stream is up; a client that never does still
/// gets its command).
const FIRST_SIZE_WAIT: Duration = Duration::from_secs(2);

/// How to run `orc-container exec`: the binary and the agent's `--root`.
#[derive(Debug, Clone)]
pub struct ExecRuntime {
    pub program: PathBuf,
    pub root: PathBuf,
}

/// A container's current run, as exec needs it.
#[derive(Debug, Clone)]
pub struct Run {
    /// The runtime's id, for `orc-container exec`.
    pub id: String,
    /// Its init's pid on the host: the way into its `/dev/pts`.
    pub pid: i32,
}

/// The run of the container `namespace/pod/container` while it runs; its
/// newest run when it restarted. The refusal is the kubelet's.
pub fn running_container(
    layout: &StateLayout,
    namespace: &str,
    pod_name: &str,
    container: &str,
) -> Result<Run, Refusal> {
    let pod = find_pod(layout, namespace, pod_name).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("pod {pod_name:?} does not exist"),
        )
    })?;
    // App or init container: a running sidecar takes `kubectl exec -c`
    // as any container does.
    if pod.container(container).is_none() {
        return Err((
            StatusCode::NOT_FOUND,
            format!("container {container:?} not found in pod {pod_name:?}"),
        ));
    }
    let states = orc_container::Runtime::new(layout.runtime_root())
        .list()
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let uid = &pod.metadata.uid;
    states
        .into_iter()
        .filter(|s| s.id.starts_with(uid.as_str()))
        .filter(|s| s.annotations.get(CONTAINER_NAME).map(String::as_str) == Some(container))
        .filter(|s| s.status == orc_container::state::Status::Running)
        .max_by_key(|s| {
            s.annotations
                .get(ATTEMPT)
                .and_then(|a| a.parse::<u32>().ok())
        })
        .map(|s| Run {
            id: s.id,
            pid: s.pid,
        })
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("container {container:?} in pod {pod_name:?} is not running"),
            )
        })
}

// ANCHOR: handler
/// Checks the request, then accepts the upgrade and runs the command.
pub async fn handle(
    layout: StateLayout,
    runtime: ExecRuntime,
    (namespace, pod, container): (String, String, String),
    query: &str,
    request: Request,
) -> Response {
    let options = match StreamOptions::from_query(query) {
        Ok(o) if o.command.is_empty() => {
            return (StatusCode::BAD_REQUEST, "you must specify a command").into_response();
        }
        Ok(o) => o,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let lookup = tokio::task::spawn_blocking(move || {
        running_container(&layout, &namespace, &pod, &container)
    });
    let container = match lookup.await {
        Ok(Ok(run)) => run,
        Ok(Err(refusal)) => return refusal.into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let run_options = options.clone();
    streams::accept(request, "exec", options, move |link| {
        run(link, runtime, container, run_options)
    })
    .await
}
// ANCHOR_END: handler

// ANCHOR: run
/// One exec, from the accepted connection to its close.
async fn run(link: Link, runtime: ExecRuntime, container: Run, options: StreamOptions) {
    let Link {
        mut incoming,
        outgoing: out,
    } = link;
    // With a terminal, kubectl's first message is its window's size. The
    // terminal is opened with it, so the command never starts on a 0×0
    // terminal that a resize fixes only a moment later (`stty size` would
    // fail in between; Docker passes the size with the exec for the same
    // reason). Anything else that came first is fed after the start.
    let mut early = None;
    let mut size = None;
    if options.tty {
        match tokio::time::timeout(FIRST_SIZE_WAIT, incoming.recv()).await {
            Ok(None) => return,
            Ok(Some(data)) => match channels::parse(&data) {
                Incoming::Resize { width, height } => size = Some((width, height)),
                _ => early = Some(data),
            },
            Err(_) => {}
        }
    }
    let Session {
        mut child,
        mut stdin,
        outputs,
        terminal,
    } = match spawn_exec(&runtime, &container, &options, size) {
        Ok(session) => session,
        Err(e) => {
            let message = format!("running {}: {e}", runtime.program.display());
            let status = channels::error_status(&message);
            let _ = out.send(status_message(&status)).await;
            return;
        }
    };
    let pumps: Vec<_> = outputs
        .into_iter()
        .map(|(channel, output)| tokio::spawn(pump(output, channel, out.clone())))
        .collect();
    if let Some(data) = early {
        feed(&mut stdin, terminal.as_ref(), &data).await;
    }

    // kubectl's messages until the process ends. If kubectl goes away
    // first, the exec is killed (dropping `child` kills it, and chapter
    // 01's exec takes the command with it).
    let code = loop {
        tokio::select! {
            status = child.wait() => break status.ok().and_then(|s| s.code()).unwrap_or(255),
            message = incoming.recv() => match message {
                Some(data) => feed(&mut stdin, terminal.as_ref(), &data).await,
                None => return,
            },
        }
    };
    // Everything the process wrote goes out before the status does. A
    // process it left in the background may hold the pipe or terminal
    // open: its later output is not waited for beyond the grace.
    let drained = futures::future::join_all(pumps);
    let _ = tokio::time::timeout(OUTPUT_GRACE, drained).await;
    let status = channels::exit_status(code, &options.command);
    let _ = out.send(status_message(&status)).await;
    // Dropping the link's sender ends the connection, as the link says.
}
// ANCHOR_END: run

/// The exec'd process and its streams, however they are wired.
struct Session {
    child: Child,
    /// Where kubectl's stdin goes: a pipe, or the terminal's master.
    stdin: Option<Box<dyn AsyncWrite + Unpin + Send>>,
    /// What is pumped to kubectl, each on its channel.
    outputs: Vec<(u8, Box<dyn AsyncRead + Unpin + Send>)>,
    /// With `-t`, the terminal kubectl's window sizes go to.
    terminal: Option<Master>,
}

/// The terminal type a container's terminal announces.
pub const TERM: &str = "TERM=xterm";

/// `orc-container --root ROOT exec ID -- COMMAND`, piped as asked, or
/// with `--tty` on a terminal when kubectl asked for one.
fn spawn_exec(
    runtime: &ExecRuntime,
    container: &Run,
    options: &StreamOptions,
    size: Option<(u16, u16)>,
) -> std::io::Result<Session> {
    let mut command = Command::new(&runtime.program);
    command.arg("--root").arg(&runtime.root).arg("exec");
    if options.tty {
        return spawn_on_terminal(command, container, options, size);
    }
    let id = container.id.as_str();
    let pipe = |wanted: bool| {
        if wanted {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    let mut child = command
        .args([id, "--"])
        .args(&options.command)
        .stdin(pipe(options.stdin))
        .stdout(pipe(options.stdout))
        .stderr(pipe(options.stderr))
        .kill_on_drop(true)
        .spawn()?;
    let mut outputs: Vec<(u8, Box<dyn AsyncRead + Unpin + Send>)> = vec![];
    if let Some(stdout) = child.stdout.take() {
        outputs.push((channels::STDOUT, Box::new(stdout)));
    }
    if let Some(stderr) = child.stderr.take() {
        outputs.push((channels::STDERR, Box::new(stderr)));
    }
    let stdin = child
        .stdin
        .take()
        .map(|pipe| Box::new(pipe) as Box<dyn AsyncWrite + Unpin + Send>);
    Ok(Session {
        child,
        stdin,
        outputs,
        terminal: None,
    })
}

/// `kubectl exec -t`: the command's three streams are one terminal, so
/// its output (stderr included, as on any terminal) comes back on the
/// stdout channel, and kubectl's keys go in through the master. The
/// terminal is allocated on the container's own devpts, as runc's console
/// is, so `tty` inside names it; a container without one (a config that
/// mounts no `/dev/pts`) gets one of the node's.
fn spawn_on_terminal(
    mut command: Command,
    container: &Run,
    options: &StreamOptions,
    size: Option<(u16, u16)>,
) -> std::io::Result<Session> {
    let ptmx = PathBuf::from(format!("/proc/{}/root/dev/pts/ptmx", container.pid));
    let pty = Pty::open_on(&ptmx, size).or_else(|e| {
        tracing::info!(
            "{}: no terminal on the container's devpts ({e}); using the node's",
            container.id
        );
        Pty::open_sized(size)
    })?;
    let id = container.id.as_str();
    let child = command
        // TERM as containerd's CRI sets it for a terminal: programs that
        // draw (top, vi, less) need to know what they draw on.
        .args(["--tty", "--env", TERM, id, "--"])
        .args(&options.command)
        .stdin(pty.stdio()?)
        .stdout(pty.stdio()?)
        .stderr(pty.stdio()?)
        .kill_on_drop(true)
        .spawn()?;
    // `command` still holds copies of the slave: gone with it, here.
    drop(command);
    let master = pty.into_master();
    let stdin: Option<Box<dyn AsyncWrite + Unpin + Send>> = if options.stdin {
        Some(Box::new(master.writer()?))
    } else {
        None
    };
    Ok(Session {
        child,
        stdin,
        outputs: vec![(channels::STDOUT, Box::new(master.reader()?))],
        terminal: Some(master),
    })
}

/// One message from kubectl, applied to the process.
async fn feed(
    stdin: &mut Option<Box<dyn AsyncWrite + Unpin + Send>>,
    terminal: Option<&Master>,
    message: &[u8],
) {
    match channels::parse(message) {
        Incoming::Stdin(data) => {
            if let Some(pipe) = stdin.as_mut() {
                // A process that closed its stdin makes this fail: its
                // further input has nowhere to go, as with any pipe.
                let written = pipe.write_all(data).await.and(pipe.flush().await);
                if written.is_err() {
                    *stdin = None;
                }
            }
        }
        // Dropping the pipe is what gives the process its end-of-file.
        // (On a terminal, end-of-file is the Ctrl-D kubectl passes on.)
        Incoming::StdinClosed if terminal.is_none() => *stdin = None,
        Incoming::Resize { width, height } => {
            if let Some(terminal) = terminal {
                // A failed resize leaves the old size; nothing to report.
                let _ = terminal.resize(width, height);
            }
        }
        Incoming::StdinClosed | Incoming::Ignored => {}
    }
}

/// Copies one pipe into messages on `channel` until end-of-file.
async fn pump(mut pipe: impl AsyncRead + Unpin, channel: u8, out: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0; 32 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if out.send(channels::frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn status_message(status: &serde_json::Value) -> Vec<u8> {
    channels::frame(channels::STATUS, status.to_string().as_bytes())
}

/// The runtime the `orc agent` and `orc-agent run` servers exec with.
impl ExecRuntime {
    /// `program` with the agent's runtime root under `layout`.
    pub fn new(program: &Path, layout: &StateLayout) -> ExecRuntime {
        ExecRuntime {
            program: program.to_path_buf(),
            root: layout.runtime_root(),
        }
    }
}

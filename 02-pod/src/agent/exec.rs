//! `GET /exec/{namespace}/{pod}/{container}`: a command in a running
//! container, its streams carried over a WebSocket.
//!
//! The kubelet's streaming server does the same for `kubectl exec`: the API
//! server forwards kubectl's upgrade request here unchanged, so the
//! WebSocket is in fact kubectl's, end to end. The agent then
//! 1. finds the container's current run ([`running_container`]),
//! 2. accepts the upgrade with a [`channels::PROTOCOLS`] subprotocol,
//! 3. runs `orc-container exec ID -- COMMAND` (chapter 01's exec: the
//!    container's cgroup, then `setns` into each of its namespaces, then a
//!    fork), with pipes for the streams kubectl asked for,
//! 4. pumps each pipe into messages with its channel byte, and kubectl's
//!    stdin messages into the process's stdin,
//! 5. sends the exit as a `Status` on channel 3 and closes the WebSocket
//!    normally.
//!
//! The agent is multi-threaded, so it runs the runtime's binary rather
//! than forking into namespaces itself (the architecture invariant "no fork
//! or unshare from a multi-threaded process").

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::channels::{self, Incoming, StreamOptions};
use super::layout::StateLayout;
use super::server::{Refusal, find_pod};
use crate::sandbox::{ATTEMPT, CONTAINER_NAME};

/// How long the agent waits for kubectl to answer its close frame before
/// it drops the connection anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How to run `orc-container exec`: the binary and the agent's `--root`.
#[derive(Debug, Clone)]
pub struct ExecRuntime {
    pub program: PathBuf,
    pub root: PathBuf,
}

/// The runtime id of the container `namespace/pod/container` while it
/// runs; its newest run when it restarted. The refusal is the kubelet's.
pub fn running_container(
    layout: &StateLayout,
    namespace: &str,
    pod_name: &str,
    container: &str,
) -> Result<String, Refusal> {
    let pod = find_pod(layout, namespace, pod_name).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            format!("pod {pod_name:?} does not exist"),
        )
    })?;
    if !pod.spec.containers.iter().any(|c| c.name == container) {
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
        .map(|s| s.id)
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("container {container:?} in pod {pod_name:?} is not running"),
            )
        })
}

// ANCHOR: handler
/// Checks the request, then accepts the WebSocket and runs the command.
pub async fn handle(
    layout: StateLayout,
    runtime: ExecRuntime,
    (namespace, pod, container): (String, String, String),
    query: &str,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let options = match StreamOptions::from_query(query) {
        Ok(o) if o.command.is_empty() => {
            return (StatusCode::BAD_REQUEST, "you must specify a command").into_response();
        }
        Ok(o) => o,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let Ok(upgrade) = upgrade else {
        return (
            StatusCode::BAD_REQUEST,
            "orc's agent streams exec over WebSocket only (v5.channel.k8s.io or \
             v4.channel.k8s.io); kubectl v1.30 or newer uses it by default",
        )
            .into_response();
    };
    let lookup = tokio::task::spawn_blocking(move || {
        running_container(&layout, &namespace, &pod, &container)
    });
    let id = match lookup.await {
        Ok(Ok(id)) => id,
        Ok(Err(refusal)) => return refusal.into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    upgrade
        .protocols(channels::PROTOCOLS)
        .on_upgrade(move |socket| run(socket, runtime, id, options))
}
// ANCHOR_END: handler

// ANCHOR: run
/// One exec, from the accepted WebSocket to its close.
async fn run(socket: WebSocket, runtime: ExecRuntime, id: String, options: StreamOptions) {
    let (sink, mut incoming) = socket.split();
    // One writer owns the socket's sending half; the stdout and stderr
    // pumps and the final status queue their messages to it.
    let (out, queue) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(write_all(sink, queue));

    let mut child = match spawn_exec(&runtime, &id, &options) {
        Ok(child) => child,
        Err(e) => {
            let message = format!("running {}: {e}", runtime.program.display());
            let status = channels::error_status(&message);
            let _ = out.send(status_message(&status)).await;
            close(out, writer, incoming).await;
            return;
        }
    };
    let mut pumps = vec![];
    if let Some(stdout) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(stdout, channels::STDOUT, out.clone())));
    }
    if let Some(stderr) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(stderr, channels::STDERR, out.clone())));
    }
    let mut stdin = child.stdin.take();

    // kubectl's messages until the process ends. If kubectl goes away
    // first, the exec is killed (dropping `child` kills it).
    let code = loop {
        tokio::select! {
            status = child.wait() => break status.ok().and_then(|s| s.code()).unwrap_or(255),
            message = incoming.next() => match message {
                Some(Ok(Message::Binary(data))) => feed(&mut stdin, &data).await,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
        }
    };
    // Everything the process wrote goes out before the status does.
    for pump in pumps {
        let _ = pump.await;
    }
    let status = channels::exit_status(code, &options.command);
    let _ = out.send(status_message(&status)).await;
    close(out, writer, incoming).await;
}
// ANCHOR_END: run

/// `orc-container --root ROOT exec ID -- COMMAND`, piped as asked.
fn spawn_exec(runtime: &ExecRuntime, id: &str, options: &StreamOptions) -> std::io::Result<Child> {
    let pipe = |wanted: bool| {
        if wanted {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    Command::new(&runtime.program)
        .arg("--root")
        .arg(&runtime.root)
        .args(["exec", id, "--"])
        .args(&options.command)
        .stdin(pipe(options.stdin))
        .stdout(pipe(options.stdout))
        .stderr(pipe(options.stderr))
        .kill_on_drop(true)
        .spawn()
}

/// One message from kubectl, applied to the process.
async fn feed(stdin: &mut Option<ChildStdin>, message: &[u8]) {
    match channels::parse(message) {
        Incoming::Stdin(data) => {
            if let Some(pipe) = stdin.as_mut() {
                // A process that closed its stdin makes this fail: its
                // further input has nowhere to go, as with any pipe.
                if pipe.write_all(data).await.is_err() {
                    *stdin = None;
                }
            }
        }
        // Dropping the pipe is what gives the process its end-of-file.
        Incoming::StdinClosed => *stdin = None,
        // Without a terminal there is nothing to resize.
        Incoming::Resize { .. } | Incoming::Ignored => {}
    }
}

/// Copies one pipe into messages on `channel` until end-of-file.
async fn pump(mut pipe: impl AsyncRead + Unpin, channel: u8, out: mpsc::Sender<Message>) {
    let mut buf = vec![0; 32 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let message = Message::Binary(channels::frame(channel, &buf[..n]).into());
                if out.send(message).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn status_message(status: &serde_json::Value) -> Message {
    Message::Binary(channels::frame(channels::STATUS, status.to_string().as_bytes()).into())
}

/// Sends every queued message, in order, until the queue closes.
async fn write_all(
    mut sink: futures::stream::SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
) -> futures::stream::SplitSink<WebSocket, Message> {
    while let Some(message) = queue.recv().await {
        if sink.send(message).await.is_err() {
            break;
        }
    }
    sink
}

/// Ends the WebSocket as the kubelet does: a normal close frame after the
/// last message, then kubectl's answering close, so no buffered output is
/// lost to a reset connection.
async fn close(
    out: mpsc::Sender<Message>,
    writer: tokio::task::JoinHandle<futures::stream::SplitSink<WebSocket, Message>>,
    mut incoming: futures::stream::SplitStream<WebSocket>,
) {
    drop(out);
    let Ok(mut sink) = writer.await else { return };
    let frame = CloseFrame {
        code: axum::extract::ws::close_code::NORMAL,
        reason: "".into(),
    };
    if sink.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let answered = async {
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, answered).await;
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

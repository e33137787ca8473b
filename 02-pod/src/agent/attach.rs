//! `GET /attach/{namespace}/{pod}/{container}`: a running container's
//! own streams, live, over the same channels as exec (a WebSocket, or
//! SPDY streams: [`super::streams`]).
//!
//! The kubelet's attach joins the container's stdio as the runtime holds
//! it. orc's shim sends a container's output to its log file, and, when
//! the pod asks for it, holds its stdin (`stdin: true`) or its terminal
//! (`tty: true`) open ([`crate::shim::stdio`]). So attach
//! - follows the current run's log from its end (what was written before
//!   is `kubectl logs`' business), on channel 1 (the file holds both
//!   streams, interleaved as written), until the run ends or kubectl
//!   goes away;
//! - with `-i`, writes kubectl's channel 0 into the shim's stdin FIFO;
//! - with `-t`, passes kubectl's window sizes (channel 4) to the shim,
//!   which sizes the terminal;
//! - for a `stdinOnce` container, closes its stdin when the first attach
//!   ends, and replays that first attach's run from its start, so
//!   `kubectl run -it -- echo hi` shows `hi` even when the command wrote
//!   it before kubectl got there.
//!
//! A request for stdin or a terminal that the container was not started
//! with is refused before the upgrade with what to do instead.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use super::channels::{self, Incoming, StreamOptions};
use super::exec::running_container;
use super::layout::StateLayout;
use super::server::{ChosenLog, Refusal, choose_log, find_pod};
use super::streams::{self, Link};
use crate::logs::LogOptions;
use crate::shim::stdio::{Control, StdioMode, control_fifo, stdin_closed_file, stdin_fifo};

/// How often the log is checked for new output, as `kubectl logs -f`.
const POLL: Duration = Duration::from_millis(100);

/// How long the agent waits for kubectl to answer the connection's close.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The run an attach joins: its log, its bundle (where the shim's FIFOs
/// are) and what its spec asked of stdin and the terminal.
struct AttachTarget {
    log: ChosenLog,
    bundle: PathBuf,
    mode: StdioMode,
}

// ANCHOR: refuse
/// What the container cannot give, refused with the alternative.
fn refusal(options: &StreamOptions, mode: StdioMode, container: &str, pod: &str) -> Option<String> {
    let (what, field) = match (options.stdin && !mode.stdin, options.tty && !mode.tty) {
        (true, _) => ("stdin", "stdin"),
        (false, true) => ("a terminal", "tty"),
        (false, false) => return None,
    };
    Some(format!(
        "cannot attach {what} to container {container:?} in pod {pod:?}: it was not started with \
         `{field}: true` in its spec; run kubectl attach without -i and -t for its output, \
         or kubectl exec -it {pod} -c {container} -- sh for a shell"
    ))
}
// ANCHOR_END: refuse

/// Where to start following the log: a `stdinOnce` run's first attach
/// sees the run from its start, any other attach from now on.
fn start_at(mode: StdioMode, bundle: &Path) -> std::io::SeekFrom {
    if mode.stdin_once && !stdin_closed_file(bundle).exists() {
        std::io::SeekFrom::Start(0)
    } else {
        std::io::SeekFrom::End(0)
    }
}

/// The kubelet's checks (pod, container, running), then the run's files.
fn find_target(
    layout: &StateLayout,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<AttachTarget, Refusal> {
    running_container(layout, namespace, pod, container)?;
    let mode = find_pod(layout, namespace, pod)
        .and_then(|p| p.container(container).map(|c| c.stdio_mode()))
        .unwrap_or_default();
    let log = choose_log(layout, namespace, pod, container, &LogOptions::default())?;
    let bundle = log
        .run_ended
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(AttachTarget { log, bundle, mode })
}

/// Checks the request, then joins the container's streams.
pub async fn handle(
    layout: StateLayout,
    (namespace, pod, container): (String, String, String),
    query: &str,
    request: Request,
) -> Response {
    let options = match StreamOptions::from_query(query) {
        Ok(options) => options,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let names = (pod.clone(), container.clone());
    let lookup =
        tokio::task::spawn_blocking(move || find_target(&layout, &namespace, &pod, &container));
    let target = match lookup.await {
        Ok(Ok(target)) => target,
        Ok(Err(refusal)) => return refusal.into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    if let Some(text) = refusal(&options, target.mode, &names.1, &names.0) {
        return (StatusCode::BAD_REQUEST, text).into_response();
    }
    let attach_options = options.clone();
    streams::accept(request, "attach", options, move |link| {
        attach(link, target, attach_options)
    })
    .await
}

// ANCHOR: attach
/// One attach: the output goes out while kubectl's input comes in, until
/// the run ends (then a success status and a normal close) or kubectl
/// goes away (the container runs on).
async fn attach(link: Link, target: AttachTarget, options: StreamOptions) {
    let Link { incoming, outgoing } = link;
    // Where the output starts is fixed before any input goes in: what
    // the container answers to kubectl's first keys is not lost.
    let Ok(mut log) = tokio::fs::File::open(&target.log.path).await else {
        return;
    };
    let start = start_at(target.mode, &target.bundle);
    if log.seek(start).await.is_err() {
        return;
    }
    let output = std::pin::pin!(send_output(outgoing, log, &target));
    let mut input = std::pin::pin!(take_input(incoming, &target, &options));
    let run_ended = tokio::select! {
        () = output => true,
        // kubectl went away: the container runs on.
        () = &mut input => false,
    };
    if run_ended {
        // The link closes the connection; the input ends once kubectl
        // has answered.
        let _ = tokio::time::timeout(CLOSE_GRACE, input).await;
    }
    // Kubernetes' stdinOnce: the first attach that used stdin closes it
    // when it ends, whatever ended it (the shim ignores a second close).
    if options.stdin && target.mode.stdin_once {
        send_control(&target.bundle, Control::CloseStdin);
    }
}
// ANCHOR_END: attach

// ANCHOR: follow
/// Sends what the run writes, then a success status once the run has
/// ended (letting go of `out` then closes the connection normally).
async fn send_output(out: mpsc::Sender<Vec<u8>>, mut file: tokio::fs::File, target: &AttachTarget) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // Looked at before reading: the exit record comes after the
        // run's last byte, so an empty read after it means the end.
        let ended = tokio::fs::try_exists(&target.log.run_ended)
            .await
            .unwrap_or(false);
        let n = file.read(&mut buf).await.unwrap_or(0);
        if n > 0 {
            if out
                .send(channels::frame(channels::STDOUT, &buf[..n]))
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        if ended {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let status = channels::exit_status(0, &[]).to_string();
    let _ = out
        .send(channels::frame(channels::STATUS, status.as_bytes()))
        .await;
}
// ANCHOR_END: follow

// ANCHOR: input
/// kubectl's messages until it closes: stdin into the shim's FIFO, window
/// sizes to the shim's control FIFO.
async fn take_input(
    mut incoming: mpsc::Receiver<Vec<u8>>,
    target: &AttachTarget,
    options: &StreamOptions,
) {
    // Opening fails (ENXIO) only when nobody reads the FIFO any more: the
    // container closed its stdin, or ended. kubectl's input then has
    // nowhere to go, as with any closed pipe.
    let mut stdin = if options.stdin {
        pipe::OpenOptions::new()
            .open_sender(stdin_fifo(&target.bundle))
            .ok()
    } else {
        None
    };
    while let Some(data) = incoming.recv().await {
        match channels::parse(&data) {
            Incoming::Stdin(bytes) => {
                if let Some(fifo) = stdin.as_mut()
                    && fifo.write_all(bytes).await.is_err()
                {
                    stdin = None;
                }
            }
            // kubectl's stdin ended (v5): our end of the FIFO goes, and
            // a stdinOnce container's stdin closes now (it may be what
            // the container waits for before it ends, and the attach
            // with it: `kubectl attach -i pod < file`).
            Incoming::StdinClosed => {
                stdin = None;
                if target.mode.stdin_once {
                    send_control(&target.bundle, Control::CloseStdin);
                }
            }
            Incoming::Resize { width, height } if target.mode.tty => {
                send_control(&target.bundle, Control::Resize { width, height });
            }
            Incoming::Resize { .. } | Incoming::Ignored => {}
        }
    }
}
// ANCHOR_END: input

/// One line to the shim. Non-blocking and shorter than `PIPE_BUF`: it goes
/// in whole at once, or not at all when the shim is gone.
fn send_control(bundle: &Path, control: Control) {
    let fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(control_fifo(bundle));
    if let Ok(mut fifo) = fifo {
        let _ = fifo.write_all(control.line().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_or_a_terminal_the_spec_did_not_ask_for_is_refused_with_a_way_out() {
        let options = |q: &str| StreamOptions::from_query(q).unwrap();
        let plain = StdioMode::default();
        let interactive = StdioMode {
            stdin: true,
            stdin_once: false,
            tty: true,
        };
        let output_only = options("stdout=true&stderr=true");
        assert_eq!(refusal(&output_only, plain, "main", "web"), None);
        let stdin = refusal(&options("stdin=true&stdout=true"), plain, "main", "web").unwrap();
        assert!(stdin.starts_with("cannot attach stdin to container \"main\" in pod \"web\""));
        assert!(stdin.contains("`stdin: true`"));
        assert!(stdin.contains("kubectl exec -it web -c main -- sh"));
        let tty = refusal(&options("stdout=true&tty=true"), plain, "main", "web").unwrap();
        assert!(tty.contains("cannot attach a terminal") && tty.contains("`tty: true`"));
        let both = options("stdin=true&stdout=true&tty=true");
        assert_eq!(refusal(&both, interactive, "main", "web"), None);
    }

    #[test]
    fn only_a_stdin_once_runs_first_attach_replays_the_run() {
        let bundle = tempfile::tempdir().unwrap();
        let once = StdioMode {
            stdin: true,
            stdin_once: true,
            tty: true,
        };
        let open = StdioMode {
            stdin_once: false,
            ..once
        };
        let end = std::io::SeekFrom::End(0);
        assert_eq!(start_at(once, bundle.path()), std::io::SeekFrom::Start(0));
        assert_eq!(start_at(open, bundle.path()), end);
        std::fs::write(stdin_closed_file(bundle.path()), "").unwrap();
        assert_eq!(start_at(once, bundle.path()), end);
    }
}

//! `GET /attach/{namespace}/{pod}/{container}`: a running container's
//! output, live, over the same WebSocket channels as exec.
//!
//! The kubelet's attach joins the container's own stdio: its output as it
//! is written, and its stdin if the pod asked for one (`stdin: true`),
//! which the runtime then holds open. orc's shim points a container's
//! stdout and stderr at its log file and gives it no stdin, so orc's
//! attach is the output half: it follows the current run's log from its
//! end (what was written before the attach is `kubectl logs`' business),
//! on channel 1 (the file holds both streams, interleaved as written),
//! until the run ends or kubectl goes away. A request for stdin or a
//! terminal is refused before the upgrade with what to do instead;
//! `kubectl run -i` then falls back to streaming the pod's logs.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::channels::{self, StreamOptions};
use super::exec::running_container;
use super::layout::StateLayout;
use super::server::{ChosenLog, choose_log};
use crate::logs::LogOptions;

/// How often the log is checked for new output, as `kubectl logs -f`.
const POLL: Duration = Duration::from_millis(100);

// ANCHOR: refuse
/// What orc's attach cannot give, refused with the alternative.
fn refusal(options: &StreamOptions, container: &str, pod: &str) -> Option<String> {
    let what = match (options.stdin, options.tty) {
        (true, _) => "stdin",
        (false, true) => "a terminal",
        (false, false) => return None,
    };
    Some(format!(
        "orc cannot attach {what} to container {container:?} in pod {pod:?}: its agent does not \
         hold a container's stdin open, so attach streams the output only; run kubectl attach \
         without -i and -t, or kubectl exec -it {pod} -c {container} -- sh for a shell"
    ))
}
// ANCHOR_END: refuse

/// Checks the request, then follows the container's output.
pub async fn handle(
    layout: StateLayout,
    (namespace, pod, container): (String, String, String),
    query: &str,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let options = match StreamOptions::from_query(query) {
        Ok(options) => options,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    if let Some(text) = refusal(&options, &container, &pod) {
        return (StatusCode::BAD_REQUEST, text).into_response();
    }
    let Ok(upgrade) = upgrade else {
        return (
            StatusCode::BAD_REQUEST,
            "orc's agent streams attach over WebSocket only (v5.channel.k8s.io or \
             v4.channel.k8s.io); kubectl v1.30 or newer uses it by default",
        )
            .into_response();
    };
    let lookup = tokio::task::spawn_blocking(move || {
        running_container(&layout, &namespace, &pod, &container)?;
        choose_log(
            &layout,
            &namespace,
            &pod,
            &container,
            &LogOptions::default(),
        )
    });
    let chosen = match lookup.await {
        Ok(Ok(chosen)) => chosen,
        Ok(Err(refusal)) => return refusal.into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    upgrade
        .protocols(channels::PROTOCOLS)
        .on_upgrade(move |socket| follow(socket, chosen))
}

// ANCHOR: follow
/// Sends what the run writes from now on, then a success status and a
/// normal close once the run has ended.
async fn follow(socket: WebSocket, chosen: ChosenLog) {
    let (mut sink, mut incoming) = socket.split();
    let Ok(mut file) = tokio::fs::File::open(&chosen.path).await else {
        return;
    };
    if file.seek(std::io::SeekFrom::End(0)).await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // Looked at before reading: the exit record comes after the
        // run's last byte, so an empty read after it means the end.
        let ended = tokio::fs::try_exists(&chosen.run_ended)
            .await
            .unwrap_or(false);
        let n = file.read(&mut buf).await.unwrap_or(0);
        if n > 0 {
            let message = channels::frame(channels::STDOUT, &buf[..n]);
            if sink.send(Message::Binary(message.into())).await.is_err() {
                return;
            }
            continue;
        }
        if ended {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            message = incoming.next() => match message {
                // kubectl went away (Ctrl-C): nothing to stop, the
                // container runs on.
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
    let status = channels::exit_status(0, &[]).to_string();
    let message = channels::frame(channels::STATUS, status.as_bytes());
    let _ = sink.send(Message::Binary(message.into())).await;
    let close = CloseFrame {
        code: axum::extract::ws::close_code::NORMAL,
        reason: "".into(),
    };
    let _ = sink.send(Message::Close(Some(close))).await;
}
// ANCHOR_END: follow

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_only_attaches_and_stdin_or_a_terminal_is_refused_with_a_way_out() {
        let options = |q: &str| StreamOptions::from_query(q).unwrap();
        assert_eq!(
            refusal(&options("stdout=true&stderr=true"), "main", "web"),
            None
        );
        let stdin = refusal(&options("stdin=true&stdout=true"), "main", "web").unwrap();
        assert!(stdin.starts_with("orc cannot attach stdin to container \"main\" in pod \"web\""));
        assert!(stdin.contains("kubectl exec -it web -c main -- sh"));
        let tty = refusal(&options("stdout=true&tty=true"), "main", "web").unwrap();
        assert!(tty.contains("cannot attach a terminal"));
    }
}

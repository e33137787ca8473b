//! Exec's and attach's streams, whichever connection carries them.
//!
//! kubectl v1.30 and newer asks for a WebSocket (`v5.channel.k8s.io`):
//! one sequence of messages, each led by its channel byte
//! ([`super::channels`]). With `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`,
//! or when the WebSocket upgrade fails, it asks for the legacy SPDY
//! upgrade (`X-Stream-Protocol-Version: v4.channel.k8s.io`) instead, and
//! opens one SPDY stream per channel, named by its `streamType` header:
//!
//! | `streamType` | carries                                             |
//! |--------------|-----------------------------------------------------|
//! | `error`      | node → kubectl: the end, a `metav1.Status` JSON     |
//! | `stdin`      | kubectl → node; its FIN is stdin's end              |
//! | `stdout`     | node → kubectl                                      |
//! | `stderr`     | node → kubectl (not with a terminal)                |
//! | `resize`     | kubectl → node: `{"Width":..,"Height":..}` objects  |
//!
//! Exec and attach are written once, against a [`Link`]: messages in the
//! WebSocket's form both ways. [`websocket`] and [`spdy`] translate. The
//! kubelet does the same (`remotecommand`'s `createStreams`, with one
//! function per transport).

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::channels::{self, CLOSE, RESIZE, STATUS, STDERR, STDIN, STDOUT, StreamOptions};
use super::spdy::connection::{self, read_frames, write_frames};
use super::spdy::headers::get;
use super::spdy::{Frame, FrameError};

/// The SPDY upgrade's protocol for exec and attach.
pub const SPDY_PROTOCOL: &str = "v4.channel.k8s.io";

/// How long the peer has to answer a close, or to open its streams
/// (the kubelet's stream creation timeout is 30 s).
const CLOSE_GRACE: Duration = Duration::from_secs(5);
const STREAMS_TIMEOUT: Duration = Duration::from_secs(30);

// ANCHOR: link
/// Exec's or attach's side of a connection: messages with their channel
/// byte in front, both ways. `incoming` ends when kubectl goes away;
/// dropping every `outgoing` sender ends the connection politely (a
/// close frame, or FIN on every stream).
pub struct Link {
    pub incoming: mpsc::Receiver<Vec<u8>>,
    pub outgoing: mpsc::Sender<Vec<u8>>,
}
// ANCHOR_END: link

// ANCHOR: accept
/// Upgrades `request` to whichever transport kubectl asked for, then
/// hands the [`Link`] to `start`. `what` names the verb in the refusal.
pub async fn accept<F>(
    request: Request,
    what: &str,
    options: StreamOptions,
    start: impl FnOnce(Link) -> F + Send + 'static,
) -> Response
where
    F: Future<Output = ()> + Send + 'static,
{
    if connection::asks_for(&request, SPDY_PROTOCOL) {
        return connection::upgrade(request, SPDY_PROTOCOL, move |reader, writer| async move {
            if let Some(link) = spdy(reader, writer, &options).await {
                start(link).await;
            }
        });
    }
    let (mut parts, _) = request.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade
            .protocols(channels::PROTOCOLS)
            .on_upgrade(move |socket| async move { start(websocket(socket)).await }),
        Err(_) => (
            StatusCode::BAD_REQUEST,
            format!(
                "{what} needs an upgrade to WebSocket ({}) or to SPDY/3.1 with \
                 X-Stream-Protocol-Version: {SPDY_PROTOCOL}",
                channels::PROTOCOLS.join(" or ")
            ),
        )
            .into_response(),
    }
}
// ANCHOR_END: accept

// ANCHOR: websocket
/// The WebSocket's binary messages are already in the link's form. The
/// end is the kubelet's: a normal close frame after the last message,
/// then kubectl's answering close, so no buffered output is lost to a
/// reset connection.
pub fn websocket(socket: WebSocket) -> Link {
    let (to_exec, incoming) = mpsc::channel(16);
    let (outgoing, mut from_exec) = mpsc::channel::<Vec<u8>>(16);
    let (mut sink, mut stream) = socket.split();
    tokio::spawn(async move {
        let mut to_exec = Some(to_exec);
        loop {
            tokio::select! {
                message = from_exec.recv() => match message {
                    Some(data) => {
                        if sink.send(Message::Binary(data.into())).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
                message = stream.next() => match message {
                    Some(Ok(Message::Binary(data))) => {
                        if let Some(tx) = &to_exec {
                            let _ = tx.send(data.to_vec()).await;
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => to_exec = None,
                    Some(Ok(_)) => {}
                },
            }
            // kubectl went away: nothing more will be read; the queue
            // still drains until exec or attach lets go of it.
            if to_exec.is_none() {
                while from_exec.recv().await.is_some() {}
                return;
            }
        }
        drop(to_exec);
        let close = CloseFrame {
            code: axum::extract::ws::close_code::NORMAL,
            reason: "".into(),
        };
        if sink.send(Message::Close(Some(close))).await.is_err() {
            return;
        }
        let answered = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_GRACE, answered).await;
    });
    Link { incoming, outgoing }
}
// ANCHOR_END: websocket

/// The SPDY streams kubectl opened, by what they carry.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamIds {
    pub error: Option<u32>,
    pub stdin: Option<u32>,
    pub stdout: Option<u32>,
    pub stderr: Option<u32>,
    pub resize: Option<u32>,
}

impl StreamIds {
    /// Records stream `id` by its `streamType`; false for a type exec
    /// does not know.
    pub fn add(&mut self, kind: &str, id: u32) -> bool {
        let slot = match kind {
            "error" => &mut self.error,
            "stdin" => &mut self.stdin,
            "stdout" => &mut self.stdout,
            "stderr" => &mut self.stderr,
            "resize" => &mut self.resize,
            _ => return false,
        };
        *slot = Some(id);
        true
    }

    /// Whether every stream `options` implies is open (the kubelet's
    /// `expectedStreams`): error always, resize with a terminal, stderr
    /// only without one.
    pub fn complete(&self, options: &StreamOptions) -> bool {
        self.error.is_some()
            && (!options.stdin || self.stdin.is_some())
            && (!options.stdout || self.stdout.is_some())
            && (!options.stderr || options.tty || self.stderr.is_some())
            && (!options.tty || self.resize.is_some())
    }

    /// The stream a message of the link goes out on.
    pub fn for_channel(&self, channel: u8) -> Option<u32> {
        match channel {
            STDOUT => self.stdout,
            STDERR => self.stderr,
            STATUS => self.error,
            _ => None,
        }
    }
}

/// Complete JSON objects from the front of `buf` (kubectl's resize stream
/// is a sequence of them, split wherever the frames split it); the rest
/// stays for the next frame.
pub fn take_json_objects(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut objects = vec![];
    let mut values = serde_json::Deserializer::from_slice(buf).into_iter::<serde_json::Value>();
    let mut used = 0;
    // Each object's own bytes (the parse only finds where it ends).
    while let Some(Ok(_)) = values.next() {
        let end = values.byte_offset();
        objects.push(buf[used..end].to_vec());
        used = end;
    }
    buf.drain(..used);
    objects
}

// ANCHOR: spdy
/// Waits for kubectl's streams, then translates: stdin's DATA and FIN and
/// resize's objects become link messages, the link's messages DATA on
/// their streams, and the link's end FIN on every stream kubectl reads.
/// `None` when the streams did not all come.
pub async fn spdy(
    reader: impl AsyncRead + Unpin + Send + 'static,
    writer: impl AsyncWrite + Unpin + Send + 'static,
    options: &StreamOptions,
) -> Option<Link> {
    let (frames_out, queue) = mpsc::channel::<Frame>(64);
    tokio::spawn(write_frames(writer, queue));
    let (frames_tx, mut frames) = mpsc::channel(16);
    tokio::spawn(read_frames(reader, frames_tx));
    let ids = open_streams(&mut frames, &frames_out, options).await?;
    let (to_exec, incoming) = mpsc::channel(16);
    let (outgoing, from_exec) = mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(pump_spdy(frames, frames_out, ids, to_exec, from_exec));
    Some(Link { incoming, outgoing })
}
// ANCHOR_END: spdy

/// Every SYN_STREAM answered with a SYN_REPLY, until the streams are all
/// there.
async fn open_streams(
    frames: &mut mpsc::Receiver<Result<Frame, FrameError>>,
    out: &mpsc::Sender<Frame>,
    options: &StreamOptions,
) -> Option<StreamIds> {
    let mut ids = StreamIds::default();
    let deadline = tokio::time::Instant::now() + STREAMS_TIMEOUT;
    while !ids.complete(options) {
        let frame = tokio::time::timeout_at(deadline, frames.recv()).await;
        match frame {
            Ok(Some(Ok(Frame::SynStream {
                stream_id, headers, ..
            }))) => {
                let reply = Frame::SynReply {
                    stream_id,
                    fin: false,
                    headers: vec![],
                };
                let _ = out.send(reply).await;
                let kind = get(&headers, "streamType").unwrap_or("");
                if !ids.add(kind, stream_id) {
                    tracing::warn!("exec over SPDY: stream {stream_id} of unknown type {kind:?}");
                }
            }
            Ok(Some(Ok(Frame::Ping { id }))) => {
                let _ = out.send(Frame::Ping { id }).await;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                tracing::warn!("exec over SPDY: {e}");
                return None;
            }
            Ok(None) => return None,
            Err(_) => {
                tracing::warn!("exec over SPDY: kubectl did not open its streams in time");
                return None;
            }
        }
    }
    Some(ids)
}

/// The translation, until both sides are done.
async fn pump_spdy(
    mut frames: mpsc::Receiver<Result<Frame, FrameError>>,
    out: mpsc::Sender<Frame>,
    ids: StreamIds,
    to_exec: mpsc::Sender<Vec<u8>>,
    mut from_exec: mpsc::Receiver<Vec<u8>>,
) {
    let mut to_exec = Some(to_exec);
    let mut resize = Vec::new();
    let data = |stream_id: u32, fin: bool, data: Vec<u8>| Frame::Data {
        stream_id,
        fin,
        data,
    };
    loop {
        tokio::select! {
            message = from_exec.recv() => match message {
                Some(message) => {
                    if let Some((&channel, bytes)) = message.split_first()
                        && let Some(stream_id) = ids.for_channel(channel)
                    {
                        let _ = out.send(data(stream_id, false, bytes.to_vec())).await;
                    }
                }
                None => break,
            },
            frame = frames.recv(), if to_exec.is_some() => match frame {
                Some(Ok(Frame::Data { stream_id, fin, data })) => {
                    let Some(tx) = &to_exec else { continue };
                    if Some(stream_id) == ids.stdin {
                        if !data.is_empty() {
                            let _ = tx.send(channels::frame(STDIN, &data)).await;
                        }
                        if fin {
                            let _ = tx.send(vec![CLOSE, STDIN]).await;
                        }
                    } else if Some(stream_id) == ids.resize {
                        resize.extend_from_slice(&data);
                        for size in take_json_objects(&mut resize) {
                            let _ = tx.send(channels::frame(RESIZE, &size)).await;
                        }
                    }
                }
                Some(Ok(Frame::Ping { id })) => {
                    let _ = out.send(Frame::Ping { id }).await;
                }
                Some(Ok(Frame::GoAway { .. })) | Some(Err(_)) | None => to_exec = None,
                Some(Ok(_)) => {}
            },
        }
    }
    // Exec or attach is done: every stream kubectl reads ends, the error
    // stream (with the status already on it) last.
    for stream_id in [ids.stdout, ids.stderr, ids.error].into_iter().flatten() {
        let _ = out.send(data(stream_id, true, vec![])).await;
    }
    // kubectl closes the connection once it has read them all.
    let closed = async { while let Some(Ok(_)) = frames.recv().await {} };
    let _ = tokio::time::timeout(CLOSE_GRACE, closed).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(query: &str) -> StreamOptions {
        StreamOptions::from_query(query).unwrap()
    }

    #[test]
    fn the_expected_streams_follow_the_query() {
        let mut ids = StreamIds::default();
        let piped = options("command=ls&stdin=true&stdout=true&stderr=true");
        assert!(ids.add("error", 1) && ids.add("stdin", 3) && ids.add("stdout", 5));
        assert!(!ids.complete(&piped));
        assert!(ids.add("stderr", 7));
        assert!(ids.complete(&piped));
        // A terminal: no stderr stream, but a resize stream.
        let tty = options("command=sh&stdin=true&stdout=true&stderr=true&tty=true");
        let mut ids = StreamIds::default();
        for (kind, id) in [("error", 1), ("stdin", 3), ("stdout", 5)] {
            ids.add(kind, id);
        }
        assert!(!ids.complete(&tty));
        ids.add("resize", 7);
        assert!(ids.complete(&tty));
        assert_eq!(ids.for_channel(STATUS), Some(1));
        assert_eq!(ids.for_channel(STDERR), None);
        assert!(!ids.add("video", 9));
    }

    #[test]
    fn resize_objects_are_taken_whole_wherever_frames_split_them() {
        let mut buf = br#"{"Width":80,"Height":24}{"Width":1"#.to_vec();
        assert_eq!(
            take_json_objects(&mut buf),
            [br#"{"Width":80,"Height":24}"#.to_vec()]
        );
        buf.extend_from_slice(b"00,\"Height\":30}\n");
        let objects = take_json_objects(&mut buf);
        assert_eq!(objects.len(), 1);
        assert!(matches!(
            channels::parse(&channels::frame(RESIZE, &objects[0])),
            channels::Incoming::Resize {
                width: 100,
                height: 30
            }
        ));
    }
}

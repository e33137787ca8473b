//! Exec's streams on either transport, as the messages of
//! `v5.channel.k8s.io` (client-go's `remotecommand` has one executor per
//! transport and a fallback between them; orc translates instead).
//!
//! `orc exec` reads and writes one kind of message: a channel byte, then
//! data ([`orc_pod::agent::channels`]). Over a WebSocket that is already
//! the wire format. Over the legacy SPDY upgrade (`v4.channel.k8s.io`)
//! the client opens one SPDY stream per channel, named by its
//! `streamType` header, as the agent's `streams.rs` expects them:
//!
//! | channel          | SPDY                                          |
//! |------------------|-----------------------------------------------|
//! | 0 stdin          | DATA on `stdin`; `[255, 0]` is its FIN         |
//! | 1 stdout, 2 stderr | DATA on `stdout`, `stderr`                  |
//! | 3 status         | the `error` stream's bytes, at its FIN         |
//! | 4 resize         | DATA on `resize`, one JSON object each        |

use futures::{SinkExt, StreamExt};
use orc_pod::agent::channels::{CLOSE, RESIZE, STATUS, STDERR, STDIN, STDOUT};
use orc_pod::agent::spdy::Frame;
use orc_pod::agent::spdy::connection::{read_frames, write_frames};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::stream::{Io, Socket};

/// One exec's messages, channel byte first: `incoming` ends with the
/// connection; `outgoing` queues what the client sends.
pub struct Channels {
    pub incoming: mpsc::Receiver<Vec<u8>>,
    pub outgoing: mpsc::Sender<Vec<u8>>,
}

/// The WebSocket's binary messages are the channel messages.
pub fn over_websocket(socket: Box<Socket>) -> Channels {
    let (mut sink, mut stream) = socket.split();
    let (to_client, incoming) = mpsc::channel(16);
    let (outgoing, mut queue) = mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            if sink.send(Message::Binary(message.into())).await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Binary(data) if to_client.send(data.to_vec()).await.is_err() => return,
                Message::Close(_) => return,
                _ => {}
            }
        }
    });
    Channels { incoming, outgoing }
}

/// The streams an exec opens, by what they carry (odd ids: the client's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamIds {
    pub error: u32,
    pub stdin: Option<u32>,
    pub stdout: u32,
    pub stderr: Option<u32>,
    pub resize: Option<u32>,
}

impl StreamIds {
    // ANCHOR: streams
    /// kubectl's set for the query it sent: error and stdout always, stdin
    /// with `-i`, stderr without a terminal (a terminal has one output),
    /// resize with one.
    pub fn for_exec(stdin: bool, tty: bool) -> StreamIds {
        let mut next = 1;
        let mut take = || {
            let id = next;
            next += 2;
            id
        };
        StreamIds {
            error: take(),
            stdin: stdin.then(&mut take),
            stdout: take(),
            stderr: (!tty).then(&mut take),
            resize: tty.then(&mut take),
        }
    }

    // ANCHOR_END: streams

    /// `(id, streamType)` of each stream to open, in order.
    pub fn opened(&self) -> Vec<(u32, &'static str)> {
        [
            (Some(self.error), "error"),
            (self.stdin, "stdin"),
            (Some(self.stdout), "stdout"),
            (self.stderr, "stderr"),
            (self.resize, "resize"),
        ]
        .into_iter()
        .filter_map(|(id, kind)| Some((id?, kind)))
        .collect()
    }

    /// The frame one outgoing channel message becomes; `None` for a
    /// channel without a stream.
    pub fn outgoing(&self, message: &[u8]) -> Option<Frame> {
        let data = |stream_id, fin, data: &[u8]| Frame::Data {
            stream_id,
            fin,
            data: data.to_vec(),
        };
        match message.split_first()? {
            (&STDIN, bytes) => Some(data(self.stdin?, false, bytes)),
            (&CLOSE, [STDIN]) => Some(data(self.stdin?, true, &[])),
            (&RESIZE, json) => Some(data(self.resize?, false, json)),
            _ => None,
        }
    }
}

/// Opens the exec's streams on a SPDY connection and translates both
/// ways until the connection ends.
pub fn over_spdy(io: Box<dyn Io>, stdin: bool, tty: bool) -> Channels {
    let ids = StreamIds::for_exec(stdin, tty);
    let (reader, writer) = tokio::io::split(io);
    let (frames_out, frame_queue) = mpsc::channel::<Frame>(64);
    tokio::spawn(write_frames(writer, frame_queue));
    let (frames_tx, mut frames) = mpsc::channel(16);
    tokio::spawn(read_frames(reader, frames_tx));
    let (to_client, incoming) = mpsc::channel(16);
    let (outgoing, mut queue) = mpsc::channel::<Vec<u8>>(16);
    let opener = frames_out.clone();
    tokio::spawn(async move {
        // The SYN_STREAMs go first: the agent starts the command only once
        // every stream it expects is open.
        for (stream_id, kind) in ids.opened() {
            let syn = Frame::SynStream {
                stream_id,
                fin: false,
                headers: vec![("streamType".into(), kind.into())],
            };
            if opener.send(syn).await.is_err() {
                return;
            }
        }
        while let Some(message) = queue.recv().await {
            if let Some(frame) = ids.outgoing(&message)
                && opener.send(frame).await.is_err()
            {
                return;
            }
        }
    });
    tokio::spawn(async move {
        // The status may span frames: it is whole at the error stream's FIN.
        let mut status = Vec::new();
        while let Some(Ok(frame)) = frames.recv().await {
            let message = match frame {
                Frame::Data {
                    stream_id, data, ..
                } if stream_id == ids.stdout && !data.is_empty() => [&[STDOUT], &data[..]].concat(),
                Frame::Data {
                    stream_id, data, ..
                } if Some(stream_id) == ids.stderr && !data.is_empty() => {
                    [&[STDERR], &data[..]].concat()
                }
                Frame::Data {
                    stream_id,
                    fin,
                    data,
                } if stream_id == ids.error => {
                    status.extend_from_slice(&data);
                    if !fin {
                        continue;
                    }
                    if status.is_empty() {
                        // No error written is success (client-go's v4 decoder).
                        status = br#"{"status":"Success"}"#.to_vec();
                    }
                    [&[STATUS], &status[..]].concat()
                }
                Frame::Ping { id } => {
                    let _ = frames_out.send(Frame::Ping { id }).await;
                    continue;
                }
                Frame::GoAway { .. } => return,
                _ => continue,
            };
            if to_client.send(message).await.is_err() {
                return;
            }
        }
    });
    Channels { incoming, outgoing }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streams_follow_the_flags_as_kubectls_do() {
        let piped = StreamIds::for_exec(true, false);
        assert_eq!(
            piped.opened(),
            [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")]
        );
        let terminal = StreamIds::for_exec(true, true);
        assert_eq!(
            terminal.opened(),
            [(1, "error"), (3, "stdin"), (5, "stdout"), (7, "resize")]
        );
        assert_eq!(
            StreamIds::for_exec(false, false).opened(),
            [(1, "error"), (3, "stdout"), (5, "stderr")]
        );
    }

    #[test]
    fn channel_messages_become_frames_on_their_streams() {
        let ids = StreamIds::for_exec(true, true);
        let data = |stream_id, fin, data: &[u8]| {
            Some(Frame::Data {
                stream_id,
                fin,
                data: data.to_vec(),
            })
        };
        assert_eq!(ids.outgoing(&[STDIN, b'l', b's']), data(3, false, b"ls"));
        assert_eq!(ids.outgoing(&[CLOSE, STDIN]), data(3, true, b""));
        let size = br#"{"Width":80,"Height":24}"#;
        assert_eq!(
            ids.outgoing(&[&[RESIZE], &size[..]].concat()),
            data(7, false, size)
        );
        // No stdin stream without -i: its messages have nowhere to go.
        assert_eq!(
            StreamIds::for_exec(false, false).outgoing(&[STDIN, 1]),
            None
        );
    }
}

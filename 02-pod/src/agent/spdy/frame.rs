//! SPDY/3.1 frames: the subset a port-forward session uses, encoded and
//! decoded.
//!
//! Every frame starts with eight bytes. The first bit says which kind:
//!
//! ```text
//! control: |1| version (15) | type (16) | flags (8) | length (24) | payload
//! data:    |0| stream id (31)           | flags (8) | length (24) | data
//! ```
//!
//! Flag 0x01 is FIN on both: "the sender is done with this stream". The
//! control types kubectl's port-forward uses are SYN_STREAM (1, open a
//! stream, with headers), SYN_REPLY (2, accept it), RST_STREAM (3, abort
//! it), SETTINGS (4), PING (6, answered with the same id), GOAWAY (7, no
//! new streams) and WINDOW_UPDATE (9). Neither kubectl's SPDY library
//! nor the kubelet's enforces SPDY's flow-control windows, so orc reads
//! SETTINGS and WINDOW_UPDATE and does nothing with them.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::headers::{HeaderCompressor, HeaderDecompressor, HeaderError, Headers};

/// The only version spoken.
pub const VERSION: u16 = 3;
/// FIN: the sender sends nothing more on the stream.
pub const FLAG_FIN: u8 = 0x01;

/// RST_STREAM status codes used here.
pub const PROTOCOL_ERROR: u32 = 1;
pub const REFUSED_STREAM: u32 = 3;

mod kind {
    pub const SYN_STREAM: u16 = 1;
    pub const SYN_REPLY: u16 = 2;
    pub const RST_STREAM: u16 = 3;
    pub const PING: u16 = 6;
    pub const GOAWAY: u16 = 7;
    pub const HEADERS: u16 = 8;
}

// ANCHOR: frame
/// One frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The peer opens stream `stream_id` (odd: the client's).
    SynStream {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    /// The stream opened is accepted.
    SynReply {
        stream_id: u32,
        fin: bool,
        headers: Headers,
    },
    /// The stream is aborted, with a status code.
    RstStream { stream_id: u32, status: u32 },
    /// Answered with the same id; the peer measures the connection.
    Ping { id: u32 },
    /// No new streams after `last_good`; the connection is ending.
    GoAway { last_good: u32, status: u32 },
    /// Bytes on a stream; `fin` ends the sender's side of it.
    Data {
        stream_id: u32,
        fin: bool,
        data: Vec<u8>,
    },
    /// SETTINGS, HEADERS, WINDOW_UPDATE, NOOP or a type SPDY/3.1 adds
    /// later: read whole and set aside.
    Ignored { kind: u16 },
}
// ANCHOR_END: frame

/// Why bytes are not a frame.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("reading a frame: {0}")]
    Io(#[from] std::io::Error),
    #[error("SPDY version {0} is not spoken here, only 3")]
    Version(u16),
    #[error("a type {kind} frame of {len} bytes is too short")]
    Short { kind: u16, len: usize },
    #[error(transparent)]
    Headers(#[from] HeaderError),
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The 31-bit stream id at `at` (the top bit is reserved).
fn stream_id_at(bytes: &[u8], at: usize) -> u32 {
    u32_at(bytes, at) & 0x7fff_ffff
}

// ANCHOR: read_frame
/// The next frame from `reader`; `None` at a clean end of the connection
/// (between frames).
pub async fn read_frame(
    reader: &mut (impl AsyncRead + Unpin),
    headers: &mut HeaderDecompressor,
) -> Result<Option<Frame>, FrameError> {
    let mut head = [0u8; 8];
    match reader.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    if head[0] & 0x80 == 0 {
        return Ok(Some(Frame::Data {
            stream_id: stream_id_at(&head, 0),
            fin: flags & FLAG_FIN != 0,
            data: payload,
        }));
    }
    let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
    if version != VERSION {
        return Err(FrameError::Version(version));
    }
    let kind = u16::from_be_bytes([head[2], head[3]]);
    decode_control(kind, flags, &payload, headers).map(Some)
}
// ANCHOR_END: read_frame

/// A control frame's payload, by type.
pub fn decode_control(
    kind: u16,
    flags: u8,
    payload: &[u8],
    headers: &mut HeaderDecompressor,
) -> Result<Frame, FrameError> {
    let need = |n: usize| {
        if payload.len() < n {
            Err(FrameError::Short {
                kind,
                len: payload.len(),
            })
        } else {
            Ok(())
        }
    };
    let fin = flags & FLAG_FIN != 0;
    Ok(match kind {
        kind::SYN_STREAM => {
            // stream id, associated stream id, priority and slot.
            need(10)?;
            Frame::SynStream {
                stream_id: stream_id_at(payload, 0),
                fin,
                headers: headers.decompress(&payload[10..])?,
            }
        }
        kind::SYN_REPLY => {
            need(4)?;
            Frame::SynReply {
                stream_id: stream_id_at(payload, 0),
                fin,
                headers: headers.decompress(&payload[4..])?,
            }
        }
        kind::RST_STREAM => {
            need(8)?;
            Frame::RstStream {
                stream_id: stream_id_at(payload, 0),
                status: u32_at(payload, 4),
            }
        }
        kind::PING => {
            need(4)?;
            Frame::Ping {
                id: u32_at(payload, 0),
            }
        }
        kind::GOAWAY => {
            need(8)?;
            Frame::GoAway {
                last_good: stream_id_at(payload, 0),
                status: u32_at(payload, 4),
            }
        }
        // A HEADERS frame's block still advances the zlib stream: inflate
        // it, or every later block would be read from the wrong place.
        kind::HEADERS => {
            need(4)?;
            headers.decompress(&payload[4..])?;
            Frame::Ignored { kind }
        }
        kind => Frame::Ignored { kind },
    })
}

// ANCHOR: encode
/// The bytes of `frame`; header blocks continue `headers`' zlib stream,
/// so frames must be sent in the order they were encoded.
pub fn encode(frame: &Frame, headers: &mut HeaderCompressor) -> Vec<u8> {
    let (kind, flags, payload) = match frame {
        Frame::Data {
            stream_id,
            fin,
            data,
        } => {
            let mut bytes = Vec::with_capacity(8 + data.len());
            bytes.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
            bytes.push(if *fin { FLAG_FIN } else { 0 });
            bytes.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
            bytes.extend_from_slice(data);
            return bytes;
        }
        Frame::SynStream {
            stream_id,
            fin,
            headers: pairs,
        } => {
            let mut p = stream_id.to_be_bytes().to_vec();
            p.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
            p.extend(headers.compress(pairs));
            (kind::SYN_STREAM, fin_flag(*fin), p)
        }
        Frame::SynReply {
            stream_id,
            fin,
            headers: pairs,
        } => {
            let mut p = stream_id.to_be_bytes().to_vec();
            p.extend(headers.compress(pairs));
            (kind::SYN_REPLY, fin_flag(*fin), p)
        }
        Frame::RstStream { stream_id, status } => {
            (kind::RST_STREAM, 0, two_words(*stream_id, *status))
        }
        Frame::Ping { id } => (kind::PING, 0, id.to_be_bytes().to_vec()),
        Frame::GoAway { last_good, status } => (kind::GOAWAY, 0, two_words(*last_good, *status)),
        Frame::Ignored { kind } => (*kind, 0, vec![]),
    };
    let mut bytes = Vec::with_capacity(8 + payload.len());
    bytes.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    bytes.extend_from_slice(&kind.to_be_bytes());
    bytes.push(flags);
    bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    bytes.extend(payload);
    bytes
}
// ANCHOR_END: encode

fn fin_flag(fin: bool) -> u8 {
    if fin { FLAG_FIN } else { 0 }
}

fn two_words(a: u32, b: u32) -> Vec<u8> {
    let mut p = a.to_be_bytes().to_vec();
    p.extend_from_slice(&b.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(frames: &[Frame]) -> Vec<Frame> {
        let mut out = HeaderCompressor::new();
        let bytes: Vec<u8> = frames.iter().flat_map(|f| encode(f, &mut out)).collect();
        let mut reader = &bytes[..];
        let mut back = HeaderDecompressor::new();
        let mut decoded = vec![];
        while let Some(frame) = read_frame(&mut reader, &mut back).await.unwrap() {
            decoded.push(frame);
        }
        decoded
    }

    #[tokio::test]
    async fn every_frame_kubectl_exchanges_round_trips() {
        let headers: Headers = vec![
            ("streamtype".into(), "error".into()),
            ("port".into(), "80".into()),
            ("requestid".into(), "0".into()),
        ];
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                fin: false,
                headers: headers.clone(),
            },
            Frame::SynReply {
                stream_id: 1,
                fin: false,
                headers: vec![],
            },
            Frame::Data {
                stream_id: 3,
                fin: false,
                data: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            },
            Frame::Data {
                stream_id: 3,
                fin: true,
                data: vec![],
            },
            Frame::RstStream {
                stream_id: 5,
                status: REFUSED_STREAM,
            },
            Frame::Ping { id: 7 },
            Frame::GoAway {
                last_good: 9,
                status: 0,
            },
        ];
        assert_eq!(round_trip(&frames).await, frames);
    }

    #[test]
    fn the_fixed_header_is_laid_out_as_the_draft_says() {
        let mut out = HeaderCompressor::new();
        // PING 1: control bit and version 3, type 6, no flags, length 4.
        assert_eq!(
            encode(&Frame::Ping { id: 1 }, &mut out),
            [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]
        );
        // DATA on stream 3 with FIN: no control bit, flags 1, length 2.
        let data = Frame::Data {
            stream_id: 3,
            fin: true,
            data: b"hi".to_vec(),
        };
        assert_eq!(
            encode(&data, &mut out),
            [0, 0, 0, 3, 1, 0, 0, 2, b'h', b'i']
        );
    }

    #[tokio::test]
    async fn a_wrong_version_or_short_frame_is_an_error() {
        let mut back = HeaderDecompressor::new();
        let v2_ping = [0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1];
        assert!(matches!(
            read_frame(&mut &v2_ping[..], &mut back).await,
            Err(FrameError::Version(2))
        ));
        let short_rst = [0x80, 3, 0, 3, 0, 0, 0, 2, 0, 0];
        assert!(matches!(
            read_frame(&mut &short_rst[..], &mut back).await,
            Err(FrameError::Short { kind: 3, len: 2 })
        ));
        // A frame cut off in the middle is an I/O error, not a clean end.
        let cut = [0, 0, 0, 3, 0, 0, 0, 9, b'x'];
        assert!(read_frame(&mut &cut[..], &mut back).await.is_err());
    }

    /// Every frame of a capture, in order.
    async fn decode_all(mut bytes: &[u8]) -> Vec<Frame> {
        let mut headers = HeaderDecompressor::new();
        let mut frames = vec![];
        while let Some(frame) = read_frame(&mut bytes, &mut headers).await.unwrap() {
            frames.push(frame);
        }
        frames
    }

    fn syn(stream_id: u32, pairs: &[(&str, &str)]) -> Frame {
        Frame::SynStream {
            stream_id,
            fin: false,
            headers: pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn data(stream_id: u32, fin: bool, data: &[u8]) -> Frame {
        Frame::Data {
            stream_id,
            fin,
            data: data.to_vec(),
        }
    }

    // The fixtures are the bytes kubectl v1.32 wrote after its SPDY
    // upgrade (`KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`,
    // `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`) to a server on loopback
    // that answered every SYN_STREAM: Go's zlib, not ours, compressed the
    // header blocks.

    #[tokio::test]
    async fn frames_captured_from_kubectl_port_forward_decode() {
        // `kubectl port-forward web 18998:80`, one connection that sent
        // "ping\n" and closed its side; then kubectl's pings.
        let frames = decode_all(include_bytes!("fixtures/kubectl-port-forward.bin")).await;
        let pair = |kind| [("streamtype", kind), ("port", "80"), ("requestid", "0")];
        assert_eq!(
            frames,
            [
                syn(1, &pair("error")),
                data(1, true, b""),
                syn(3, &pair("data")),
                data(3, false, b"ping\n"),
                data(3, true, b""),
                Frame::Ping { id: 1 },
                Frame::Ping { id: 3 },
            ]
        );
    }

    #[tokio::test]
    async fn frames_captured_from_kubectl_exec_decode() {
        // `echo hi | kubectl exec -i web -c main -- cat`: one stream per
        // channel, stdin's bytes, then stdin's FIN; once it has read the
        // status, kubectl resets the streams it read (CANCEL, 5) and
        // ends the session.
        let frames = decode_all(include_bytes!("fixtures/kubectl-exec.bin")).await;
        let cancel = |stream_id| Frame::RstStream {
            stream_id,
            status: 5,
        };
        assert_eq!(
            frames,
            [
                syn(1, &[("streamtype", "error")]),
                syn(3, &[("streamtype", "stdin")]),
                syn(5, &[("streamtype", "stdout")]),
                syn(7, &[("streamtype", "stderr")]),
                data(3, false, b"hi\n"),
                data(3, true, b""),
                cancel(5),
                cancel(7),
                cancel(1),
                Frame::GoAway {
                    last_good: 0,
                    status: 0
                },
            ]
        );
    }
}

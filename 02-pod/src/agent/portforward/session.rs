//! One port-forward session: a SPDY connection from kubectl, its streams
//! paired and each pair forwarded to a port of the pod.
//!
//! The session is a loop over kubectl's frames, and one task per
//! forwarded connection:
//!
//! - SYN_STREAM: answered at once with a SYN_REPLY (kubectl waits up to
//!   30 s for it), then read as half of a pair ([`super::pairs`]); a
//!   whole pair starts a [`forward`] task.
//! - DATA: the bytes go to the pair's task, which writes them to the pod;
//!   FIN half-closes the pod connection's write side.
//! - RST_STREAM: the pair's task is stopped.
//! - PING: sent back unchanged (kubectl pings every few seconds and ends
//!   the session when the answers stop).
//! - GOAWAY, or the connection's end: every task stops.
//!
//! One writer task owns the sending half and the header compressor: frames
//! from the loop and the tasks queue to it, so the compressed header
//! blocks go out in the order they were compressed.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::pairs::{Pairing, StreamPair, parse_request};
use crate::agent::spdy::Frame;
use crate::agent::spdy::connection::{read_frames, write_frames};
use crate::agent::spdy::frame::PROTOCOL_ERROR;

/// How much of a pod connection's output goes into one DATA frame.
const CHUNK: usize = 32 * 1024;

/// Where the session's connections go, and the names its errors use.
#[derive(Debug, Clone)]
pub struct Target {
    /// The pod's network namespace (`/proc/PID/ns/net` of its sandbox).
    pub netns: PathBuf,
    /// `namespace/name`, for the error text.
    pub pod: String,
    pub uid: String,
}

/// A stream's channel towards its forward, made before the pair is whole.
type Channel = (mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>);

/// A pair being forwarded: where kubectl's bytes go, and its task.
struct Forwarding {
    pair: StreamPair,
    /// `None` once kubectl sent FIN on the data stream.
    to_pod: Option<mpsc::Sender<Vec<u8>>>,
    task: JoinHandle<()>,
}

// ANCHOR: serve
/// Serves one session until kubectl ends it or `gone` completes (the pod
/// was deleted): then a GOAWAY goes out and the connection closes.
pub async fn serve(
    reader: impl AsyncRead + Unpin + Send + 'static,
    writer: impl AsyncWrite + Unpin + Send + 'static,
    target: Target,
    gone: impl Future<Output = ()>,
) {
    let (out, queue) = mpsc::channel::<Frame>(64);
    let writer = tokio::spawn(write_frames(writer, queue));
    let (done_tx, mut done) = mpsc::unbounded_channel::<u32>();
    // Frames are read in a task of their own and queued: a frame read
    // half-way must not be dropped when another branch of the loop's
    // select wins (read_exact is not cancel-safe; a queue's recv is).
    let (frames_tx, mut frames) = mpsc::channel(16);
    let reading = tokio::spawn(read_frames(reader, frames_tx));
    let mut pairing = Pairing::default();
    // Streams seen but not yet paired: their first DATA waits here.
    let mut unpaired: HashMap<u32, Channel> = HashMap::new();
    // Forwardings by data stream id; `owner` maps both ids of a pair to it.
    let mut forwardings: HashMap<u32, Forwarding> = HashMap::new();
    let mut owner: HashMap<u32, u32> = HashMap::new();
    let mut last_stream = 0;
    tokio::pin!(gone);

    loop {
        let frame = tokio::select! {
            frame = frames.recv() => frame.transpose(),
            Some(data) = done.recv() => {
                if let Some(f) = forwardings.remove(&data) {
                    owner.remove(&f.pair.data);
                    owner.remove(&f.pair.error);
                }
                continue;
            }
            () = &mut gone => {
                let _ = out.send(Frame::GoAway { last_good: last_stream, status: 0 }).await;
                break;
            }
        };
        match frame {
            Ok(Some(Frame::SynStream {
                stream_id,
                fin,
                headers,
            })) => {
                last_stream = stream_id;
                let reply = Frame::SynReply {
                    stream_id,
                    fin: false,
                    headers: vec![],
                };
                let _ = out.send(reply).await;
                let paired = parse_request(stream_id, &headers)
                    .and_then(|request| pairing.add(stream_id, request));
                let pair = match paired {
                    Ok(Some(pair)) => pair,
                    Ok(None) => {
                        unpaired.insert(stream_id, mpsc::channel(16));
                        if fin {
                            // Nothing will come from kubectl on it.
                            unpaired.remove(&stream_id);
                        }
                        continue;
                    }
                    Err(reason) => {
                        tracing::warn!(
                            "port-forward to {}: stream {stream_id}: {reason}",
                            target.pod
                        );
                        let reset = Frame::RstStream {
                            stream_id,
                            status: PROTOCOL_ERROR,
                        };
                        let _ = out.send(reset).await;
                        continue;
                    }
                };
                // The data stream's channel: made now if it just arrived.
                let (to_pod, from_client) = unpaired
                    .remove(&pair.data)
                    .unwrap_or_else(|| mpsc::channel(16));
                unpaired.remove(&pair.error);
                let closed = fin && stream_id == pair.data;
                let task = tokio::spawn(forward(
                    pair,
                    target.clone(),
                    from_client,
                    out.clone(),
                    done_tx.clone(),
                ));
                owner.insert(pair.data, pair.data);
                owner.insert(pair.error, pair.data);
                let to_pod = (!closed).then_some(to_pod);
                forwardings.insert(pair.data, Forwarding { pair, to_pod, task });
            }
            Ok(Some(Frame::Data {
                stream_id,
                fin,
                data,
            })) => {
                let sender = match owner.get(&stream_id) {
                    Some(&key) if key == stream_id => {
                        forwardings.get_mut(&key).and_then(|f| f.to_pod.as_ref())
                    }
                    // The error stream's bytes (kubectl sends none) and
                    // streams already over go nowhere.
                    Some(_) => None,
                    None => unpaired.get(&stream_id).map(|(tx, _)| tx),
                };
                if let Some(sender) = sender
                    && !data.is_empty()
                {
                    // Waits while the pod is slower than kubectl: SPDY
                    // without flow control can only push back this way.
                    let _ = sender.send(data).await;
                }
                if fin
                    && let Some(f) = owner.get(&stream_id).and_then(|k| forwardings.get_mut(k))
                    && f.pair.data == stream_id
                {
                    f.to_pod = None;
                }
            }
            Ok(Some(Frame::RstStream { stream_id, .. })) => {
                pairing.forget(stream_id);
                unpaired.remove(&stream_id);
                if let Some(key) = owner.get(&stream_id).copied()
                    && let Some(f) = forwardings.remove(&key)
                {
                    f.task.abort();
                    owner.remove(&f.pair.data);
                    owner.remove(&f.pair.error);
                }
            }
            Ok(Some(Frame::Ping { id })) => {
                let _ = out.send(Frame::Ping { id }).await;
            }
            Ok(Some(Frame::GoAway { .. })) | Ok(None) => break,
            Ok(Some(_)) => {}
            Err(e) => {
                tracing::warn!("port-forward to {}: {e}", target.pod);
                break;
            }
        }
    }
    reading.abort();
    for (_, forwarding) in forwardings {
        forwarding.task.abort();
    }
    // The writer ends once every sender is gone: the loop's and the
    // aborted tasks' (dropped with them).
    drop(out);
    let _ = writer.await;
}
// ANCHOR_END: serve

// ANCHOR: forward
/// One forwarded connection: dials the pod's port, then copies kubectl's
/// bytes in and the pod's bytes out until the pod closes its side.
async fn forward(
    pair: StreamPair,
    target: Target,
    from_client: mpsc::Receiver<Vec<u8>>,
    out: mpsc::Sender<Frame>,
    done: mpsc::UnboundedSender<u32>,
) {
    match dial(&target.netns, pair.port).await {
        Ok(tcp) => copy_both_ways(tcp, pair.data, from_client, &out).await,
        Err(e) => {
            // The kubelet's wording, then why: kubectl prints it as
            // "an error occurred forwarding LOCAL -> PORT: <this>".
            let message = format!(
                "error forwarding port {} to pod {}, uid {}: failed to connect to \
                 localhost:{} inside the pod's network namespace: {e}",
                pair.port, target.pod, target.uid, pair.port
            );
            let error = Frame::Data {
                stream_id: pair.error,
                fin: false,
                data: message.into_bytes(),
            };
            let _ = out.send(error).await;
        }
    }
    // Both streams end: kubectl waits for the error stream's FIN before
    // it closes the local connection.
    for stream_id in [pair.data, pair.error] {
        let fin = Frame::Data {
            stream_id,
            fin: true,
            data: vec![],
        };
        let _ = out.send(fin).await;
    }
    let _ = done.send(pair.data);
}
// ANCHOR_END: forward

// ANCHOR: dial
/// A connection to `localhost:port` in the namespace at `netns`: the
/// socket is created on a thread that joined the namespace, and keeps
/// belonging to it when the runtime drives it (see `crate::netns`).
async fn dial(netns: &std::path::Path, port: u16) -> std::io::Result<TcpStream> {
    let netns = netns.to_path_buf();
    let connect = move || {
        crate::netns::run_in(&netns, || {
            std::net::TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        })
        .map_err(std::io::Error::other)?
    };
    let tcp = tokio::task::spawn_blocking(connect)
        .await
        .map_err(std::io::Error::other)??;
    tcp.set_nonblocking(true)?;
    TcpStream::from_std(tcp)
}
// ANCHOR_END: dial

/// kubectl → pod until kubectl's FIN (then the pod's write side is shut,
/// as TCP half-closes), pod → kubectl until the pod closes.
async fn copy_both_ways(
    tcp: TcpStream,
    data_stream: u32,
    mut from_client: mpsc::Receiver<Vec<u8>>,
    out: &mpsc::Sender<Frame>,
) {
    let (mut from_pod, mut to_pod) = tcp.into_split();
    let upload = async move {
        while let Some(chunk) = from_client.recv().await {
            if to_pod.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to_pod.shutdown().await;
        // The pod may still be answering: the download decides the end.
        std::future::pending::<()>().await;
    };
    let download = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from_pod.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let data = Frame::Data {
                        stream_id: data_stream,
                        fin: false,
                        data: buf[..n].to_vec(),
                    };
                    if out.send(data).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = upload => {}
        () = download => {}
    }
}

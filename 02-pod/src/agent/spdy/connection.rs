//! A SPDY connection's two directions, and the upgrade that starts one.
//!
//! Whatever the streams mean (port-forward's pairs, exec's stdin, stdout,
//! stderr, error and resize), a server reads frames in a task of its own
//! and writes them from one task that owns the header compressor, so the
//! compressed header blocks go out in the order they were compressed.
//! kubectl reaches either over the legacy SPDY upgrade (`POST`,
//! `Upgrade: SPDY/3.1`, `X-Stream-Protocol-Version: <protocol>`), which
//! [`upgrade`] answers.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

use super::{Frame, FrameError, HeaderCompressor, HeaderDecompressor, encode, read_frame};

/// The connection's two halves once upgraded.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Reads frames until the connection ends or fails (the failure is
/// queued last) or the reader of the queue goes away. A task of its own:
/// a frame read half-way must not be dropped when another branch of a
/// select wins (`read_exact` is not cancel-safe; a queue's `recv` is).
pub async fn read_frames(
    mut reader: impl AsyncRead + Unpin,
    frames: mpsc::Sender<Result<Frame, FrameError>>,
) {
    let mut headers = HeaderDecompressor::new();
    loop {
        let next = read_frame(&mut reader, &mut headers).await;
        let last = !matches!(next, Ok(Some(_)));
        let Some(next) = next.transpose() else { return };
        if frames.send(next).await.is_err() || last {
            return;
        }
    }
}

/// Encodes and sends frames in queue order; shuts the connection's
/// sending side at the end.
pub async fn write_frames(mut writer: impl AsyncWrite + Unpin, mut queue: mpsc::Receiver<Frame>) {
    let mut headers = HeaderCompressor::new();
    while let Some(frame) = queue.recv().await {
        let bytes = encode(&frame, &mut headers);
        if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

// ANCHOR: upgrade
/// Answers a SPDY upgrade with `101 Switching Protocols` naming
/// `protocol`; once hyper hands the connection over, `serve` gets its
/// halves.
pub fn upgrade<F>(
    mut request: Request,
    protocol: &'static str,
    serve: impl FnOnce(ReadHalf<Upgraded>, WriteHalf<Upgraded>) -> F + Send + 'static,
) -> Response
where
    F: Future<Output = ()> + Send + 'static,
{
    let upgraded = hyper::upgrade::on(&mut request);
    let path = request.uri().path().to_string();
    tokio::spawn(async move {
        match upgraded.await {
            Ok(connection) => {
                let (reader, writer) = tokio::io::split(TokioIo::new(connection));
                serve(reader, writer).await;
            }
            Err(e) => tracing::warn!("{path}: the SPDY upgrade failed: {e}"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    headers.insert(
        "x-stream-protocol-version",
        HeaderValue::from_static(protocol),
    );
    response
}
// ANCHOR_END: upgrade

/// Whether `request` asks for the SPDY upgrade with `protocol` among the
/// versions it offers.
pub fn asks_for(request: &Request, protocol: &str) -> bool {
    let values = |name: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    values("upgrade").iter().any(|u| u.starts_with("spdy/3.1"))
        && values("x-stream-protocol-version")
            .iter()
            .any(|p| p == protocol)
}

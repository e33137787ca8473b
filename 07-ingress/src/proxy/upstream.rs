//! One worker's keep-alive connections to backends: orc's own pool, as
//! nginx's `keepalive` directive keeps one per worker process.
//!
//! Opening a TCP connection to a backend for every request would cost a
//! handshake (a round trip) and a socket each time, and leave the backend
//! a TIME_WAIT per request; so the proxy keeps connections open between
//! requests and reuses them. The first version borrowed hyper-util's
//! pooled client for this: a general-purpose client, built for any
//! program that talks to any host. It pays for that generality on every
//! request: it parses the URI for a host key, checks the pool out through
//! a lock shared by every thread that holds a clone, spawns a task per
//! response to put the connection back once it is ready, and routes
//! everything through a connector trait and an executor (17% of the
//! proxy's instructions, BENCH.md).
//!
//! A reverse proxy knows much more than a general client: it talks to a
//! few addresses it already has as `SocketAddr`s, always HTTP/1.1, and
//! each worker thread talks only through its own connections. So this pool
//! is small:
//! - one per worker ([`super::workers`]), whose lock only that worker's
//!   thread ever takes (never waited on);
//! - per endpoint address, a stack of idle connections, each a hyper
//!   `conn::http1` handshake over a `TcpStream` whose connection task runs
//!   on the worker's own runtime. The last connection put back is the
//!   first taken (LIFO): it is the one most likely still open, and the
//!   ones at the bottom age out;
//! - a connection goes back on its stack when the response body it carried
//!   has ended (the [`Returning`] body's drop), and no sooner: an HTTP/1.1
//!   connection carries one exchange at a time;
//! - at most `max_idle` idle per endpoint (nginx's `keepalive N`), the
//!   least recently used closed first; idle longer than `idle_timeout`
//!   (nginx's `keepalive_timeout`), closed by a sweep;
//! - a request that finds its pooled connection closed by the backend
//!   before a byte was written comes back unsent, and is sent on the next
//!   connection: a backend that closes idle connections is no error. Once
//!   written, a failed request is the caller's to retry (`handle.rs`).
//!
//! See chapter 07, "A connection pool of one's own".

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustc_hash::FxHashMap;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::handle::UpstreamBody;
use super::health::InFlight;

/// How a worker's pool behaves.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// How long to wait for a new connection to a backend.
    pub connect_timeout: Duration,
    /// How long a connection may stay idle before it is closed.
    pub idle_timeout: Duration,
    /// Idle connections kept per endpoint; more are closed.
    pub max_idle: usize,
}

/// One worker's connections to backends.
#[derive(Debug)]
pub struct Pool {
    config: PoolConfig,
    /// Idle connections by endpoint, the most recently used last. A std
    /// `Mutex` only ever taken by this worker's thread, for a push or a
    /// pop: it is never contended, and never held across an `.await`.
    /// Hashed with rustc's Fx hash, not std's SipHash: every request looks
    /// its endpoint up twice (take, then put back), and SipHash's defence
    /// against keys chosen to collide is not needed for keys no client
    /// chooses (endpoint addresses come from the API). SipHash cost 1.4%
    /// of a request's instructions (BENCH.md).
    idle: Mutex<FxHashMap<SocketAddr, Vec<Idle>>>,
}

/// A connection waiting for its next request.
#[derive(Debug)]
struct Idle {
    sender: SendRequest<UpstreamBody>,
    since: Instant,
}

/// Why a request got no response.
#[derive(Debug)]
pub enum Failure {
    /// The connection was refused, reset or unreachable.
    Connect(std::io::Error),
    /// The backend did not accept the connection in time.
    ConnectTimeout(Duration),
    /// The connection failed after it was opened.
    Http(hyper::Error),
}

impl Failure {
    /// Whether no connection could be opened at all: the endpoint is
    /// likely gone, and is ejected.
    pub fn is_connect(&self) -> bool {
        matches!(self, Failure::Connect(_) | Failure::ConnectTimeout(_))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connecting: {e}"),
            Failure::ConnectTimeout(after) => write!(f, "connecting: no answer in {after:?}"),
            Failure::Http(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Connect(e) => Some(e),
            Failure::ConnectTimeout(_) => None,
            Failure::Http(e) => Some(e),
        }
    }
}

/// A failed request, and the request itself when none of it was written:
/// then it may be sent elsewhere as it is, whatever its method.
#[derive(Debug)]
pub struct Failed {
    pub failure: Failure,
    pub unsent: Option<Request<UpstreamBody>>,
    /// Whether it failed on a kept connection: one the backend may have
    /// closed (its own idle timeout) just as the request went out.
    pub reused: bool,
}

/// A connection lent to one exchange; [`Lease::release`] puts it back.
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Pool>,
    address: SocketAddr,
    sender: SendRequest<UpstreamBody>,
}

impl Lease {
    /// Puts the connection back on its endpoint's stack. Only once the
    /// response has ended: until then the connection is still busy.
    pub fn release(self) {
        self.pool.put(self.address, self.sender);
    }
}

impl Pool {
    pub fn new(config: PoolConfig) -> Pool {
        Pool {
            config,
            idle: Mutex::default(),
        }
    }

    // ANCHOR: send
    /// Sends `request` to `address` over an idle connection, the most
    /// recently used first, or over a new one. A pooled connection that
    /// turns out to be closed hands the request back unsent, and the next
    /// one is tried.
    pub async fn send(
        self: &Arc<Self>,
        address: SocketAddr,
        mut request: Request<UpstreamBody>,
    ) -> Result<(Response<Incoming>, Lease), Failed> {
        while let Some(mut sender) = self.take(address) {
            // Ready at once, unless its last response ended a moment ago
            // and hyper has yet to see the connection idle.
            if sender.ready().await.is_err() {
                continue; // Closed meanwhile: dropped.
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, self.lease(address, sender))),
                Err(mut error) => match error.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(failed(Failure::Http(error.into_error()), None, true)),
                },
            }
        }
        // Boxed: opening a connection is the rare path, and its future
        // (TCP connect and hyper's handshake) would otherwise make every
        // request's future larger, and every move of it a longer copy.
        let mut sender = match Box::pin(self.connect(address)).await {
            Ok(sender) => sender,
            Err(failure) => return Err(failed(failure, Some(request), false)),
        };
        match sender.try_send_request(request).await {
            Ok(response) => Ok((response, self.lease(address, sender))),
            Err(mut error) => {
                let unsent = error.take_message();
                Err(failed(Failure::Http(error.into_error()), unsent, false))
            }
        }
    }
    // ANCHOR_END: send

    // ANCHOR: connect
    /// A new connection to `address`: TCP (within the connect timeout,
    /// `TCP_NODELAY` as on the client side), then hyper's HTTP/1.1 client
    /// handshake, whose connection task runs on this worker's runtime. It
    /// ends when the backend closes, or when the last handle to it (a
    /// lease or an idle entry) is dropped. `with_upgrades`: after a 101
    /// the connection is handed to the WebSocket relay instead of closed.
    async fn connect(&self, address: SocketAddr) -> Result<SendRequest<UpstreamBody>, Failure> {
        let timeout = self.config.connect_timeout;
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(Failure::Connect(e)),
            Err(_) => return Err(Failure::ConnectTimeout(timeout)),
        };
        let _ = stream.set_nodelay(true);
        // One buffer per request, head and body copied into it, as on the
        // client side (`mod.rs`): cheaper than queueing small buffers.
        let (sender, connection) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(Failure::Http)?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(%address, "backend connection ended: {e}");
            }
        });
        Ok(sender)
    }
    // ANCHOR_END: connect

    fn lease(self: &Arc<Self>, address: SocketAddr, sender: SendRequest<UpstreamBody>) -> Lease {
        Lease {
            pool: self.clone(),
            address,
            sender,
        }
    }

    /// The most recently used idle connection to `address` that is still
    /// open.
    fn take(&self, address: SocketAddr) -> Option<SendRequest<UpstreamBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let stack = idle.get_mut(&address)?;
        while let Some(entry) = stack.pop() {
            if !entry.sender.is_closed() {
                return Some(entry.sender);
            }
        }
        None
    }

    // ANCHOR: put
    /// Puts a connection back on top of its endpoint's stack; past
    /// `max_idle`, the one at the bottom (least recently used) is closed.
    fn put(&self, address: SocketAddr, sender: SendRequest<UpstreamBody>) {
        if sender.is_closed() || self.config.max_idle == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let stack = idle.entry(address).or_default();
        if stack.len() >= self.config.max_idle {
            stack.remove(0);
        }
        stack.push(Idle {
            sender,
            since: Instant::now(),
        });
    }
    // ANCHOR_END: put

    /// Closes the connections idle since before `now - idle_timeout`, and
    /// forgets endpoints left with none.
    fn close_expired(&self, now: Instant) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        for stack in idle.values_mut() {
            // Oldest at the bottom: they expire from the front.
            let expired = stack
                .iter()
                .take_while(|e| now.duration_since(e.since) >= self.config.idle_timeout)
                .count();
            stack.drain(..expired);
        }
        idle.retain(|_, stack| !stack.is_empty());
    }

    /// Sweeps the idle connections four times per idle timeout, so none
    /// stays open more than a quarter of it too long. Runs as long as the
    /// worker does.
    pub async fn sweep(self: Arc<Self>) {
        let period = (self.config.idle_timeout / 4).max(Duration::from_millis(1));
        loop {
            tokio::time::sleep(period).await;
            self.close_expired(Instant::now());
        }
    }

    /// How many idle connections to `address` the pool holds.
    pub fn idle(&self, address: SocketAddr) -> usize {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.get(&address).map_or(0, Vec::len)
    }
}

fn failed(failure: Failure, unsent: Option<Request<UpstreamBody>>, reused: bool) -> Failed {
    Failed {
        failure,
        unsent,
        reused,
    }
}

// ANCHOR: returning
/// A backend's response body on its way to the client. When it is dropped
/// having ended, its connection goes back to the pool; dropped before the
/// end (the client went away), the connection is closed, since the rest
/// of the body would still arrive on it. The in-flight guard lives as long
/// as the body: least connections counts a request until its last byte.
pub struct Returning {
    inner: Incoming,
    lease: Option<Lease>,
    ended: bool,
    _in_flight: InFlight,
}

impl Returning {
    pub fn new(inner: Incoming, lease: Option<Lease>, in_flight: InFlight) -> Returning {
        Returning {
            inner,
            lease,
            ended: false,
            _in_flight: in_flight,
        }
    }
}

impl Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        this.ended |= frame.is_none();
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if (self.ended || self.inner.is_end_stream())
            && let Some(lease) = self.lease.take()
        {
            lease.release();
        }
    }
}
// ANCHOR_END: returning

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http_body_util::{BodyExt, Empty, Full};
    use tokio::net::TcpListener;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::proxy::health::EndpointState;

    /// A keep-alive backend on loopback that counts the connections it
    /// accepted, and adds a permit to `closed` as each one ends.
    struct Backend {
        address: SocketAddr,
        accepted: Arc<AtomicUsize>,
        closed: Arc<Semaphore>,
    }

    async fn backend() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (accepted, closed) = (Arc::new(AtomicUsize::new(0)), Arc::new(Semaphore::new(0)));
        let (counter, ends) = (accepted.clone(), closed.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let ends = ends.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    ends.add_permits(1);
                });
            }
        });
        Backend {
            address,
            accepted,
            closed,
        }
    }

    fn pool(max_idle: usize, idle_timeout: Duration) -> Arc<Pool> {
        Arc::new(Pool::new(PoolConfig {
            connect_timeout: Duration::from_secs(5),
            idle_timeout,
            max_idle,
        }))
    }

    fn get() -> Request<UpstreamBody> {
        let body = Empty::new().map_err(|never| match never {}).boxed();
        let mut request = Request::new(body);
        *request.uri_mut() = "/".parse().unwrap();
        request
            .headers_mut()
            .insert(hyper::header::HOST, "pool.test".parse().unwrap());
        request
    }

    /// Sends a GET and answers the response's body, still unread.
    async fn send(pool: &Arc<Pool>, address: SocketAddr) -> Returning {
        let (response, lease) = pool.send(address, get()).await.unwrap();
        let state = Arc::new(EndpointState::new(Instant::now()));
        Returning::new(response.into_body(), Some(lease), state.start())
    }

    /// Reads a body to its end, then drops it: the connection goes back.
    async fn read(body: Returning) -> Bytes {
        body.collect().await.unwrap().to_bytes()
    }

    async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), f)
            .await
            .unwrap_or_else(|_| panic!("{what}: not within 10 s"))
    }

    #[tokio::test]
    async fn requests_one_after_another_share_one_connection() {
        let backend = backend().await;
        let pool = pool(8, Duration::from_secs(60));
        for _ in 0..5 {
            assert_eq!(read(send(&pool, backend.address).await).await, "ok");
        }
        assert_eq!(backend.accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle(backend.address), 1);
    }

    #[tokio::test]
    async fn a_connection_goes_back_only_once_its_response_has_ended() {
        let backend = backend().await;
        let pool = pool(8, Duration::from_secs(60));
        // Three responses not yet read: three connections busy at once.
        let mut open = Vec::new();
        for _ in 0..3 {
            open.push(send(&pool, backend.address).await);
        }
        assert_eq!(backend.accepted.load(Ordering::SeqCst), 3);
        assert_eq!(pool.idle(backend.address), 0);
        // One dropped unread: its connection is closed, not kept.
        drop(open.pop());
        within("the unread connection closes", backend.closed.acquire())
            .await
            .unwrap()
            .forget();
        for body in open {
            read(body).await;
        }
        assert_eq!(pool.idle(backend.address), 2);
    }

    #[tokio::test]
    async fn past_max_idle_the_least_recently_used_are_closed() {
        let backend = backend().await;
        let pool = pool(1, Duration::from_secs(60));
        let mut open = Vec::new();
        for _ in 0..3 {
            open.push(send(&pool, backend.address).await);
        }
        for body in open {
            read(body).await;
        }
        assert_eq!(pool.idle(backend.address), 1);
        within("two connections close", backend.closed.acquire_many(2))
            .await
            .unwrap()
            .forget();
        // The one kept still serves.
        assert_eq!(read(send(&pool, backend.address).await).await, "ok");
        assert_eq!(backend.accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn idle_connections_are_closed_after_the_idle_timeout() {
        let backend = backend().await;
        let timeout = Duration::from_millis(200);
        let pool = pool(8, timeout);
        let sweeper = tokio::spawn(pool.clone().sweep());
        read(send(&pool, backend.address).await).await;
        let idle_since = Instant::now();
        assert_eq!(pool.idle(backend.address), 1);
        within("the idle connection closes", backend.closed.acquire())
            .await
            .unwrap()
            .forget();
        assert!(
            idle_since.elapsed() >= timeout,
            "closed after {:?}",
            idle_since.elapsed()
        );
        assert_eq!(pool.idle(backend.address), 0);
        sweeper.abort();
    }

    #[tokio::test]
    async fn a_refused_connection_hands_the_request_back() {
        // Bound, then closed: nothing listens there now.
        let address = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let pool = pool(8, Duration::from_secs(60));
        let failed = pool.send(address, get()).await.unwrap_err();
        assert!(failed.failure.is_connect(), "{}", failed.failure);
        assert!(failed.unsent.is_some());
    }
}

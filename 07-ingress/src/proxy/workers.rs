//! The proxy's runtime model: a thread per core, each with an event loop
//! of its own, as nginx runs one worker process per core.
//!
//! The first version ran the proxy on tokio's default runtime: a pool of
//! worker threads that steal tasks from each other. A request then often
//! woke a task on the *other* thread (the client's connection on one, the
//! pooled backend connection on the other), and every such wake-up is a
//! context switch: `perf` put about half of the proxy's time in the
//! kernel, first of all in `finish_task_switch`.
//!
//! Here each worker is one OS thread running a *current-thread* runtime,
//! and owns everything a request touches on its way through:
//! - its own listening socket. All workers' sockets are bound to the same
//!   address with `SO_REUSEPORT`, and the kernel spreads new connections
//!   over them by a hash of the connection's addresses, so no thread hands
//!   a connection to another;
//! - its own pool of backend connections ([`Pool`]), so a request and the
//!   backend connection it travels on are always polled by the same thread.
//!
//! What the workers still share is read-mostly or atomic: the resolved
//! route table, the balancers' cursors (moved by compare-and-swap, so
//! round robin stays one rotation, not one per worker), in-flight counts
//! and ejections; the metrics are a few instructions under a lock.
//!
//! See chapter 07, "One event loop per core".

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::Proxy;

/// How many connections may wait in each socket's accept queue (tokio's
/// own `TcpListener::bind` asks for the same).
const BACKLOG: u32 = 1024;

// ANCHOR: listener
/// One listening address, as one socket per worker. All are bound to the
/// same address with `SO_REUSEPORT`; the kernel picks the socket (so the
/// worker) for each new connection.
#[derive(Debug)]
pub struct Listener {
    address: SocketAddr,
    sockets: Vec<std::net::TcpListener>,
}

impl Listener {
    /// Binds `workers` sockets (at least one) to `address`. Fails when
    /// the address is in use, by any socket: a plain bind tries it first,
    /// since `SO_REUSEPORT` alone would let a second orc-ingress of the
    /// same user share the port silently. Port 0 takes the port that
    /// first bind got.
    pub async fn bind(address: SocketAddr, workers: usize) -> io::Result<Listener> {
        let address = std::net::TcpListener::bind(address)?.local_addr()?;
        let mut sockets = Vec::new();
        for _ in 0..workers.max(1) {
            let socket = match address {
                SocketAddr::V4(_) => TcpSocket::new_v4()?,
                SocketAddr::V6(_) => TcpSocket::new_v6()?,
            };
            socket.set_reuseaddr(true)?;
            socket.set_reuseport(true)?;
            socket.bind(address)?;
            let listener = socket.listen(BACKLOG)?;
            // Unregistered from this runtime: each worker registers its
            // own socket with its own runtime.
            sockets.push(listener.into_std()?);
        }
        Ok(Listener { address, sockets })
    }
    // ANCHOR_END: listener

    /// The address bound (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// How many workers will serve it.
    pub fn workers(&self) -> usize {
        self.sockets.len()
    }
}

/// The running workers of one listener. Dropping it stops them: each
/// worker's runtime shuts down, closing its socket and its connections,
/// and the drop waits until every thread has ended, so the port is free
/// when it returns.
pub struct Workers {
    /// Dropped to stop them: every worker waits on a receiver.
    stop: Option<watch::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

// ANCHOR: start
/// Starts one thread per socket of `listener`, each serving its socket on
/// a current-thread runtime of its own. What can fail (a runtime, a
/// socket's registration, a thread) fails here, before anything serves.
pub fn start(
    proxy: Arc<Proxy>,
    listener: Listener,
    tls: Option<TlsAcceptor>,
) -> io::Result<Workers> {
    let (stop, stopped) = watch::channel(());
    let mut workers = Workers {
        stop: Some(stop),
        threads: Vec::new(),
    };
    for (i, socket) in listener.sockets.into_iter().enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registered with the runtime that will poll it.
        let socket = {
            let _entered = runtime.enter();
            TcpListener::from_std(socket)?
        };
        let (proxy, tls, mut stopped) = (proxy.clone(), tls.clone(), stopped.clone());
        // The thread inherits this one's network namespace, which matters
        // for the backend connections it opens (tests run in their own).
        let thread = std::thread::Builder::new()
            .name(format!("orc-ingress-{i}"))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = proxy.accept_loop(socket, tls) => {}
                        _ = stopped.changed() => {}
                    }
                });
                // Dropping the runtime here cancels the worker's
                // connections, on its own thread.
            })?;
        workers.threads.push(thread);
    }
    Ok(workers)
}
// ANCHOR_END: start

impl Drop for Workers {
    fn drop(&mut self) {
        drop(self.stop.take());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("an orc-ingress worker thread panicked");
            }
        }
    }
}

/// How many workers to run by default: one per CPU this process may use
/// (nginx's `worker_processes auto`).
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

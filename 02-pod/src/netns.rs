//! Working inside another network namespace.
//!
//! A node's links, addresses, routes and iptables rules live in *its* network
//! namespace, and a pod's `eth0` lives in the pod's. Two kernel facts decide
//! how orc reaches into a namespace:
//!
//! - `setns(2)` moves only the calling **thread** into a namespace. So orc
//!   never calls it on a thread it shares (a tokio worker, the test harness):
//!   it starts a short-lived thread, joins the namespace there, and lets the
//!   thread end.
//! - A socket belongs to the namespace it was **created** in, for its whole
//!   life, whichever thread uses it later. So a netlink socket opened on such
//!   a thread keeps talking to that namespace after the thread is gone, and
//!   can be driven by the tokio runtime as usual.
//!
//! Namespaces are named by path: `/run/netns/NAME` for those made by
//! `ip netns add`, `/proc/PID/ns/net` for a process's, and
//! [`HOST_NETNS`] for the caller's own.

use std::fs::File;
use std::path::Path;

use crate::error::NetError;

/// The network namespace of the calling process: a real node runs its pod
/// network here. Tests pass the path of a throwaway namespace instead.
pub const HOST_NETNS: &str = "/proc/self/ns/net";

// ANCHOR: run_in
/// Runs `f` on a new thread that has joined the network namespace at
/// `netns`, and returns what `f` returns.
///
/// Everything `f` creates that belongs to a namespace (sockets, child
/// processes such as `iptables`) belongs to `netns`.
pub fn run_in<T, F>(netns: &Path, f: F) -> Result<T, NetError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let netns_error = |source| NetError::Netns {
        path: netns.to_path_buf(),
        source,
    };
    let file = File::open(netns).map_err(netns_error)?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|errno| netns_error(errno.into()))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
// ANCHOR_END: run_in

// ANCHOR: connect
/// Opens a netlink connection to the network namespace at `netns` and starts
/// driving it on the current tokio runtime.
///
/// The socket is created on a thread inside `netns` (see the module doc), and
/// registered with the caller's runtime from that thread, so the returned
/// handle works from any task.
pub async fn connect(netns: &Path) -> Result<rtnetlink::Handle, NetError> {
    let runtime = tokio::runtime::Handle::current();
    let (connection, handle, _) = run_in(netns, move || {
        let _inside_runtime = runtime.enter();
        rtnetlink::new_connection()
    })?
    .map_err(|source| NetError::Netns {
        path: netns.to_path_buf(),
        source,
    })?;
    // The connection task ends by itself once every handle is dropped.
    tokio::spawn(connection);
    Ok(handle)
}
// ANCHOR_END: connect

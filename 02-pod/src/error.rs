//! The one error type of the node network.
//!
//! Every variant says *what* orc was doing and *where* (which namespace, which
//! link), because "File exists (os error 17)" alone does not tell a reader
//! which of a dozen netlink requests failed.

use std::io;
use std::path::PathBuf;

use crate::ipam::IpamError;

/// Why setting up or tearing down the pod network failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A namespace file could not be opened or joined: usually the pod's
    /// sandbox is gone, or the path is not a network namespace.
    #[error("network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The kernel refused a netlink request.
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// The kernel's answer was not what the request implies (a link that was
    /// just created cannot be found, for example).
    #[error("{0}")]
    Unexpected(String),
    /// An `iptables` command failed. The `iptables` crate's error is not
    /// `Send`, so its message is kept as text.
    #[error("iptables in network namespace {netns}: {message}")]
    Iptables { netns: PathBuf, message: String },
    /// A sysctl under `/proc/sys` could not be written.
    #[error("setting {what} in network namespace {netns}: {source}")]
    Sysctl {
        what: String,
        netns: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Ipam(#[from] IpamError),
}

/// Whether the kernel answered a netlink request with error `errno` (such as
/// `ENODEV`, "no such device"). Netlink reports errors as negated errno values.
pub(crate) fn is_errno(error: &rtnetlink::Error, errno: i32) -> bool {
    matches!(error, rtnetlink::Error::NetlinkError(e) if e.raw_code() == -errno)
}

/// Attaches a description of the request to a netlink error.
pub(crate) trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, NetError>;
}

impl<T> Context<T> for Result<T, rtnetlink::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, NetError> {
        self.map_err(|source| NetError::Netlink {
            what: what(),
            source,
        })
    }
}

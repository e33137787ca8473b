//! SPDY/3.1, the subset `kubectl port-forward` speaks.
//!
//! kubectl multiplexes every local connection of a port-forward over one
//! connection to the node, as SPDY streams (SPDY is HTTP/2's
//! predecessor; Kubernetes kept it for port-forward, and since v1.31
//! kubectl tunnels it through a WebSocket, `SPDY/3.1+portforward.k8s.io`,
//! so proxies that only know WebSockets let it through). No maintained
//! Rust SPDY crate exists; this module is the part a server needs:
//!
//! - [`dictionary`]: the fixed zlib dictionary of SPDY/3 header blocks,
//! - [`headers`]: header blocks, and the one zlib stream per direction
//!   that compresses them,
//! - [`frame`]: the frames, read from a byte stream and encoded;
//! - [`connection`]: a connection's reading and writing tasks, and the
//!   SPDY upgrade that starts one.
//!
//! What the streams *mean* for port-forward (pairs of data and error
//! streams, keyed by `requestID`) is [`super::portforward`]'s business;
//! for exec and attach (one stream per stdio channel) it is
//! [`super::streams`]'.
//! See chapter 03, "What port-forward tunnels".

pub mod connection;
pub mod dictionary;
pub mod frame;
pub mod headers;

pub use frame::{Frame, FrameError, encode, read_frame};
pub use headers::{HeaderCompressor, HeaderDecompressor, Headers};

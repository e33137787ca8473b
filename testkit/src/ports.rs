//! Free loopback ports.
//!
//! The kernel hands out a free port when we bind port 0; we read it and let
//! the socket go. Another process may grab the same port before our server
//! binds it, so callers that start servers retry with fresh ports (see
//! [`crate::Etcd::start`]).

use std::net::TcpListener;

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

//! The conversation between `create` and the container's init.
//!
//! A Unix socket pair, one JSON message per line, exactly two messages:
//!
//! ```text
//! create (parent)                          init (child, in the namespaces)
//!   clone(CLONE_NEW*) ------------------->  exec /proc/self/exe init
//!   write uid/gid maps, join cgroup
//!   Bootstrap {spec, bundle, rootfs} ---->  mounts, pivot_root, user, caps...
//!                                    <----  Report::Ready | Report::Failed(why)
//!   write state.json, exit                  block on exec.fifo until `start`
//! ```
//!
//! The parent sends the bootstrap only *after* the maps and the cgroup are
//! in place, so the child cannot run a single setup step unmapped or
//! unlimited. The socket also tells the parent when the child dies without a
//! word: the read returns end-of-file, never hangs.

use crate::spec::Spec;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// The fd number the child finds its end of the socket at.
pub const SYNC_FD: i32 = 3;
/// The fd number of the exec fifo, opened `O_PATH` by the parent.
pub const FIFO_FD: i32 = 4;

/// Parent to child: everything the init needs, so it never re-reads the
/// bundle (which could have changed since `create` validated it).
#[derive(Debug, Serialize, Deserialize)]
pub struct Bootstrap {
    pub spec: Spec,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
}

/// Child to parent: setup finished, or why it did not.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Report {
    Ready,
    Failed(String),
}

/// Send one message as a JSON line.
pub fn send<T: Serialize>(stream: &mut UnixStream, msg: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}

/// Receive one message; `Ok(None)` if the other side closed first.
pub fn recv<T: for<'de> Deserialize<'de>>(stream: &UnixStream) -> std::io::Result<Option<T>> {
    // One message per connection direction: a fresh BufReader cannot steal
    // bytes belonging to a later message.
    let mut line = String::new();
    if BufReader::new(stream).read_line(&mut line)? == 0 {
        return Ok(None);
    }
    serde_json::from_str(&line)
        .map(Some)
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (mut a, b) = UnixStream::pair().unwrap();
        send(&mut a, &Report::Failed("cwd /nope: No such file".into())).unwrap();
        assert_eq!(
            recv::<Report>(&b).unwrap(),
            Some(Report::Failed("cwd /nope: No such file".into()))
        );
        drop(a);
        assert_eq!(recv::<Report>(&b).unwrap(), None);
    }
}

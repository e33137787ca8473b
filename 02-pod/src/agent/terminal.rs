//! `kubectl exec -t`: a pseudo-terminal between kubectl and the command.
//!
//! With `-t`, kubectl puts the user's terminal in raw mode and sends every
//! key as it is typed; echo, line editing and Ctrl-C → SIGINT must then
//! happen on the other side, in a terminal the command owns. The agent
//! opens a pty pair: the *slave* becomes the command's stdin, stdout and
//! stderr (and, through `orc-container exec --tty`, its controlling
//! terminal), and the agent keeps the *master*: what the command prints
//! is read from it, kubectl's keystrokes are written to it, and kubectl's
//! window size messages become `TIOCSWINSZ` on it. The kubelet does the
//! same through the container runtime's console.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

/// A freshly opened pty pair, before the command starts.
pub struct Pty {
    master: OwnedFd,
    /// The command's end. The agent must not keep a copy once the command
    /// runs: reading the master ends (EIO) only when every slave is closed.
    slave: OwnedFd,
}

/// The agent's end of a command's terminal.
pub struct Master {
    fd: OwnedFd,
}

impl Pty {
    /// Opens a pty pair (`posix_openpt`, `grantpt`, `unlockpt` in libc's
    /// `openpty`; the slave opened with `O_NOCTTY`, so it does not become
    /// the agent's own terminal).
    pub fn open() -> std::io::Result<Pty> {
        Pty::open_sized(None)
    }

    /// [`Pty::open`], with the window size (`width`, `height`) the command
    /// finds when it starts, rather than 0×0 until a first resize.
    pub fn open_sized(size: Option<(u16, u16)>) -> std::io::Result<Pty> {
        let size = size.map(|(width, height)| nix::pty::Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let pair = nix::pty::openpty(size.as_ref(), None)?;
        Ok(Pty {
            master: pair.master,
            slave: pair.slave,
        })
    }

    // ANCHOR: open_on
    /// A pty pair on the devpts instance whose multiplexer is `ptmx`: a
    /// container's own (`/proc/PID/root/dev/pts/ptmx`), so the slave is a
    /// `/dev/pts/N` *inside* the container and `tty` there names it. The
    /// slave is reached from the master (`TIOCGPTPEER`), never by a path
    /// an image could have replaced.
    pub fn open_on(ptmx: &Path, size: Option<(u16, u16)>) -> std::io::Result<Pty> {
        use std::os::unix::fs::OpenOptionsExt;
        let flags = nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC;
        let master = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags)
            .open(ptmx)?;
        let unlock: nix::libc::c_int = 0;
        // SAFETY: TIOCSPTLCK reads one int (0: unlock the slave) from our
        // stack; the fd is the pty master just opened.
        if unsafe { nix::libc::ioctl(master.as_raw_fd(), nix::libc::TIOCSPTLCK, &unlock) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: TIOCGPTPEER takes open flags by value and returns a new
        // fd for the slave, which we own from here on.
        let slave = unsafe {
            nix::libc::ioctl(
                master.as_raw_fd(),
                nix::libc::TIOCGPTPEER,
                nix::libc::O_RDWR | flags,
            )
        };
        if slave < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `slave` is a fresh fd nothing else owns.
        let slave = unsafe { OwnedFd::from_raw_fd(slave) };
        let pty = Pty {
            master: master.into(),
            slave,
        };
        if let Some((width, height)) = size {
            Master::resize_fd(&pty.master, width, height)?;
        }
        Ok(pty)
    }
    // ANCHOR_END: open_on

    /// A copy of the slave for one of the command's standard streams.
    pub fn stdio(&self) -> std::io::Result<Stdio> {
        Ok(Stdio::from(self.slave.try_clone()?))
    }

    /// Makes the slave the controlling terminal of the caller's session
    /// (`TIOCSCTTY`): the caller must lead a session that has none. The
    /// shim does this for a `tty: true` container, which stays in the
    /// shim's session, so the kernel turns Ctrl-C into SIGINT and a resize
    /// into SIGWINCH for the container's foreground processes.
    pub fn make_controlling(&self) -> std::io::Result<()> {
        // SAFETY: TIOCSCTTY takes an int argument (0: do not steal the
        // terminal from another session) and touches no memory of ours;
        // the fd is a pty slave we own.
        let rc = unsafe { nix::libc::ioctl(self.slave.as_raw_fd(), nix::libc::TIOCSCTTY, 0) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The master, once the command holds the slave: the agent's copy of
    /// the slave is closed here.
    pub fn into_master(self) -> Master {
        Master { fd: self.master }
    }
}

impl Master {
    // ANCHOR: resize
    /// Sets the terminal's size, as kubectl reports it on channel 4; the
    /// kernel sends the command SIGWINCH.
    pub fn resize(&self, width: u16, height: u16) -> std::io::Result<()> {
        Master::resize_fd(&self.fd, width, height)
    }
    // ANCHOR_END: resize

    fn resize_fd(fd: &OwnedFd, width: u16, height: u16) -> std::io::Result<()> {
        let size = nix::libc::winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one `winsize`, which lives on our stack
        // for the whole call; the fd is a pty master we own.
        let rc = unsafe { nix::libc::ioctl(fd.as_raw_fd(), nix::libc::TIOCSWINSZ, &size) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// A handle to read what the command prints (and echoes). A pty
    /// master is not a socket that epoll serves well in every kernel, so
    /// tokio's file (a blocking read on its thread pool) reads it; the read
    /// fails with EIO once the command and its children closed the slave.
    pub fn reader(&self) -> std::io::Result<tokio::fs::File> {
        Ok(tokio::fs::File::from_std(std::fs::File::from(
            self.fd.try_clone()?,
        )))
    }

    /// A handle to type into the terminal.
    pub fn writer(&self) -> std::io::Result<tokio::fs::File> {
        self.reader()
    }

    /// A blocking handle on the master, for the shim's threads (the shim
    /// has no async runtime).
    pub fn file(&self) -> std::io::Result<std::fs::File> {
        Ok(std::fs::File::from(self.fd.try_clone()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn the_slave_sees_the_size_set_on_the_master_and_echoes_input() {
        let pty = Pty::open().unwrap();
        let slave = std::fs::File::from(pty.slave.try_clone().unwrap());
        let master = pty.into_master();
        master.resize(100, 30).unwrap();
        let mut size = nix::libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one `winsize` into our stack variable.
        let rc = unsafe { nix::libc::ioctl(slave.as_raw_fd(), nix::libc::TIOCGWINSZ, &mut size) };
        assert_eq!(rc, 0);
        assert_eq!((size.ws_col, size.ws_row), (100, 30));
        // A terminal in its default (cooked, echoing) mode echoes what is
        // typed on the master back to the master.
        let mut typed = std::fs::File::from(master.fd.try_clone().unwrap());
        typed.write_all(b"hi\n").unwrap();
        let mut echoed = [0u8; 4];
        typed.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"hi\r\n");
    }
}

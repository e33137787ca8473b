//! The OCI lifecycle: create, start, state, kill, delete (and run, list).
//!
//! Each operation is a short synchronous function over the state directory,
//! so the CLI can run each one as a separate process, like runc. The
//! interesting one is [`Runtime::create`]: it is the only place a process is
//! born, and the only code that must run single-threaded.

use crate::bundle::Bundle;
use crate::cgroups::{self, Cgroup};
use crate::error::{Context, Error, Result};
use crate::spec::{Linux, NamespaceType};
use crate::state::{self, Record, State, Status, container_dir};
use crate::sync::{self, Bootstrap, FIFO_FD, Report, SYNC_FD};
use crate::{monitor, namespaces, signals};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The runtime: where state lives and which program is the init.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The `--root` directory; one subdirectory per container.
    pub root: PathBuf,
    /// The program re-executed as the container's init with the argument
    /// `init`. `/proc/self/exe` (this very binary) unless a library user
    /// embeds the runtime in a binary of its own that routes `init` too.
    pub init_program: PathBuf,
}

/// The default `--root`, on tmpfs so that a reboot forgets dead containers.
pub const DEFAULT_ROOT: &str = "/run/orc-container";

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            init_program: PathBuf::from("/proc/self/exe"),
        }
    }

    /// Set up a container from `bundle_dir` and leave its init waiting for
    /// [`Runtime::start`]. Returns the init's pid (in the host's namespace).
    ///
    /// Must be called from a single-threaded process: it clones.
    pub fn create(&self, id: &str, bundle_dir: &Path) -> Result<i32> {
        self.create_with(id, bundle_dir, true)
    }

    /// `create`, with or without a [`monitor`] process as the container's
    /// parent. Without one, the caller is the parent and must reap it.
    fn create_with(&self, id: &str, bundle_dir: &Path, monitored: bool) -> Result<i32> {
        require_single_thread("create")?;
        state::check_id(id)?;
        let bundle = Bundle::load(bundle_dir)?;
        let dir = container_dir(&self.root, id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .context(|| format!("creating --root {}", self.root.display()))?;
        match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::AlreadyExists(id.to_string()));
            }
            other => other.context(|| format!("creating {}", dir.display()))?,
        }
        let linux = bundle.spec.linux_or_default();
        let cgroup_path = cgroups::container_path(linux.cgroups_path.as_deref(), id);
        let cgroup = cgroups::open(&cgroup_path);
        let spawn = || self.spawn_init(id, &bundle, &dir, cgroup.as_ref());
        let spawned = if monitored {
            monitor::spawn_monitored(&dir, spawn)
        } else {
            spawn()
        };
        match spawned {
            Ok((pid, start_time)) => {
                let record = Record {
                    oci_version: bundle.spec.oci_version.clone(),
                    id: id.to_string(),
                    pid,
                    start_time,
                    bundle: bundle.dir.clone(),
                    rootfs: bundle.rootfs.clone(),
                    created: jiff::Timestamp::now(),
                    cgroup_path,
                    annotations: bundle.spec.annotations.clone(),
                };
                if let Err(e) = record.save(&self.root) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
                    let _ = cgroup.remove();
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
                Ok(pid)
            }
            Err(e) => {
                let _ = cgroup.remove();
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Clone the init, configure it from outside, and wait for its report.
    /// On any failure the child is killed and reaped before returning.
    ///
    /// The steps, in order: the exec fifo `start` will open
    /// ([`make_exec_fifo`]), the cgroup, the clone that runs this program
    /// again as `init` ([`Runtime::clone_init`]), and the conversation over
    /// the socket pair ([`handshake`]).
    // ANCHOR: spawn_init
    fn spawn_init(
        &self,
        id: &str,
        bundle: &Bundle,
        dir: &Path,
        cgroup: &dyn Cgroup,
    ) -> Result<(i32, u64)> {
        let linux = bundle.spec.linux_or_default();
        let fifo_fd = make_exec_fifo(dir)?;

        cgroup.create()?;
        if let Some(resources) = &linux.resources {
            cgroup.apply(resources)?;
        }

        let (mut parent_sock, child_sock) = UnixStream::pair().context(|| "socketpair".into())?;
        let pid = self.clone_init(&linux, child_sock, fifo_fd)?;

        match handshake(id, pid, bundle, &linux, cgroup, &mut parent_sock)
            .and_then(|_| init_start_time(id, pid))
        {
            Ok(start_time) => Ok((pid.as_raw(), start_time)),
            Err(e) => {
                let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(pid, None);
                Err(e)
            }
        }
    }
    // ANCHOR_END: spawn_init

    /// Clone a child into the new namespaces and have it execute the init
    /// program (`/proc/self/exe`) as `orc-container init`, with its end of
    /// the socket pair at [`SYNC_FD`] and the exec fifo at [`FIFO_FD`]. Our
    /// copies of both close when this returns: the child has its own.
    // ANCHOR: clone_init
    fn clone_init(&self, linux: &Linux, child_sock: UnixStream, fifo_fd: OwnedFd) -> Result<Pid> {
        let exe = CString::new(self.init_program.as_os_str().as_encoded_bytes())
            .map_err(std::io::Error::other)
            .context(|| "init program path".into())?;
        let argv0 = CString::new("orc-container").unwrap_or_default();
        let arg1 = CString::new("init").unwrap_or_default();
        let argv = [argv0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
        let (sock_fd, fifo_raw) = (child_sock.as_raw_fd(), fifo_fd.as_raw_fd());
        let userns = linux.namespace(NamespaceType::User).is_some();
        let child = Box::new(move || -> isize {
            // SAFETY: this runs only in the freshly cloned child of a
            // single-threaded process, as exec_init_in_child requires.
            unsafe { exec_init_in_child(userns, sock_fd, fifo_raw, &exe, &argv) }
        });
        let mut stack = vec![0u8; 256 * 1024];
        let flags = namespaces::clone_flags(linux);
        // SAFETY: the process is single-threaded (the CLI never starts
        // threads), the child runs only the closure above on its own stack,
        // and without CLONE_VM it has its own copy of memory.
        let pid = unsafe { nix::sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) }
            .context(|| format!("clone({flags:?})"))?;
        drop(child_sock);
        drop(fifo_fd);
        Ok(pid)
    }
    // ANCHOR_END: clone_init

    /// Let a created container's init exec the user's program.
    // ANCHOR: start
    pub fn start(&self, id: &str) -> Result<()> {
        let record = Record::load(&self.root, id)?;
        let status = record.status(&self.root);
        if status != Status::Created {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                hint: "only a created container can be started".into(),
            });
        }
        let fifo_path = container_dir(&self.root, id).join("exec.fifo");
        // Non-blocking open: a blocking one would hang forever if the init
        // died in the meantime. Opening the read end wakes the init, which
        // is blocked opening the write end; it then writes one byte.
        let fifo = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo_path)
            .context(|| format!("opening {}", fifo_path.display()))?;
        // The init writes one byte, then keeps its end open until execve
        // closes it: reading to end-of-file means "the program is running".
        let mut got_byte = false;
        loop {
            let mut buf = [0u8; 1];
            match nix::unistd::read(&fifo, &mut buf) {
                Ok(1) => got_byte = true,
                Ok(_) if got_byte => break,
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => {
                    if !got_byte && !state::process_alive(record.pid, record.start_time) {
                        return Err(Error::Init {
                            id: id.into(),
                            message: "init died before it could be started".into(),
                        });
                    }
                    let mut fds = [nix::poll::PollFd::new(
                        std::os::fd::AsFd::as_fd(&fifo),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(50u16));
                }
                Err(e) => return Err(e).context(|| format!("reading {}", fifo_path.display())),
            }
        }
        std::fs::remove_file(&fifo_path).context(|| format!("removing {}", fifo_path.display()))
    }
    // ANCHOR_END: start

    /// The OCI state of a container, with orc's extras.
    pub fn state(&self, id: &str) -> Result<State> {
        let record = Record::load(&self.root, id)?;
        Ok(self.state_of(&record))
    }

    fn state_of(&self, record: &Record) -> State {
        let status = record.status(&self.root);
        let stats = cgroups::open(&record.cgroup_path).stats();
        State {
            oci_version: record.oci_version.clone(),
            id: record.id.clone(),
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                record.pid
            },
            bundle: record.bundle.clone(),
            annotations: record.annotations.clone(),
            rootfs: record.rootfs.clone(),
            created: record.created,
            oom_killed: stats.oom_kills > 0,
            exit_code: match status {
                Status::Stopped => monitor::read_exit_code(&container_dir(&self.root, &record.id)),
                _ => None,
            },
            stats,
        }
    }

    /// Every container under `--root`, sorted by id.
    pub fn list(&self) -> Result<Vec<State>> {
        let entries = match std::fs::read_dir(&self.root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            other => other.context(|| format!("reading {}", self.root.display()))?,
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        ids.sort();
        // A directory without state.json is a create in progress: skip it.
        Ok(ids
            .iter()
            .filter_map(|id| Record::load(&self.root, id).ok())
            .map(|r| self.state_of(&r))
            .collect())
    }

    /// Send a signal to the container's init.
    ///
    /// Note the pid-namespace rule: the kernel delivers to a namespace's
    /// init only signals it installed a handler for, plus SIGKILL and
    /// SIGSTOP from outside. `kill ID TERM` to a `sleep` does nothing.
    pub fn kill(&self, id: &str, signal: Signal) -> Result<()> {
        let record = Record::load(&self.root, id)?;
        let status = record.status(&self.root);
        if status == Status::Stopped {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                hint: "there is no process left to signal".into(),
            });
        }
        nix::sys::signal::kill(Pid::from_raw(record.pid), signal)
            .context(|| format!("kill -{signal} {}", record.pid))
    }

    /// Remove a stopped (or created) container: its cgroup and its state.
    /// With `force`, kill a running one first.
    // ANCHOR: delete
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let record = match Record::load(&self.root, id) {
            // A create stopped between making the directory and saving
            // `state.json` (its caller killed mid-way) leaves a directory
            // that every later create of this id refuses as "already
            // exists". With --force it goes: it holds no record of a
            // process to stop.
            Err(Error::NotFound(_)) if force && container_dir(&self.root, id).is_dir() => {
                let dir = container_dir(&self.root, id);
                return std::fs::remove_dir_all(&dir)
                    .context(|| format!("removing {}", dir.display()));
            }
            other => other?,
        };
        let status = record.status(&self.root);
        if status != Status::Stopped {
            // Like runc, a created (never started) container may be deleted
            // without --force: nothing of the user's is running yet.
            if status == Status::Running && !force {
                return Err(Error::WrongState {
                    id: id.into(),
                    status: status.to_string(),
                    hint: "kill it first, or use delete --force".into(),
                });
            }
            let _ = nix::sys::signal::kill(Pid::from_raw(record.pid), Signal::SIGKILL);
        }
        let cgroup = cgroups::open(&record.cgroup_path);
        // The deadline is a safety net (see KILLED_GONE_WITHIN): what ends
        // the wait is the init's exit, then the cgroup found empty.
        let deadline = Instant::now() + KILLED_GONE_WITHIN;
        state::wait_exit(record.pid, record.start_time, deadline);
        // Killing a pid namespace's init kills the whole namespace, but a
        // container sharing the host's pid namespace could leave children
        // behind: kill whatever is still in the cgroup.
        loop {
            let left = cgroup.processes();
            let init_gone = !state::process_alive(record.pid, record.start_time);
            if left.is_empty() && init_gone {
                break;
            }
            if Instant::now() > deadline {
                return Err(Error::WrongState {
                    id: id.into(),
                    status: "still running".into(),
                    hint: format!(
                        "processes {left:?} (init {}) still exist {KILLED_GONE_WITHIN:?} after \
                         SIGKILL: stuck in the kernel (state D in /proc/PID/stat; its \
                         /proc/PID/stack says where); delete again once they are gone",
                        record.pid
                    ),
                });
            }
            if force || status != Status::Running {
                for pid in left {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        cgroup.remove()?;
        remove_state_dir(&container_dir(&self.root, id))
    }
    // ANCHOR_END: delete

    /// `create`, `start`, wait for the exit, `delete`: the `docker run`
    /// shape. Returns the exit code as a shell reports it (128+N for a
    /// death by signal N).
    pub fn run(&self, id: &str, bundle_dir: &Path) -> Result<i32> {
        let pid = Pid::from_raw(self.create_with(id, bundle_dir, false)?);
        // From here on, signals sent to `run` (Ctrl-C, a supervisor's TERM)
        // go to the container: we stand in for it. Installed before
        // `start`, so no signal can slip in between the program starting
        // and the relay being in place.
        signals::forward_to(pid);
        if let Err(e) = self.start(id) {
            signals::forward_to(Pid::from_raw(0));
            let _ = self.delete(id, true);
            return Err(e);
        }
        let code = signals::wait_exit_code(pid);
        signals::forward_to(Pid::from_raw(0));
        self.delete(id, true)?;
        code
    }
}

/// Removes a deleted container's state directory. The monitor (see
/// `monitor.rs`) writes the exit code into it when the init dies, the same
/// death `delete` wakes on, so the file can appear while the directory is
/// being emptied (`ENOTEMPTY`): then the directory is taken again. The
/// monitor writes once, so a second pass finds nothing new; a write after
/// the directory is gone fails in the monitor, harmlessly.
fn remove_state_dir(dir: &Path) -> Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 3 => {
                tries += 1;
            }
            other => return other.context(|| format!("removing {}", dir.display())),
        }
    }
}

/// How long [`Runtime::delete`] waits for the processes it killed to be
/// gone: a safety net, not a schedule. SIGKILL cannot be caught or
/// ignored, so a killed process exits as soon as the kernel runs it, and
/// that event (its pidfd readable, the cgroup empty) is what the wait
/// ends on. Only a process stuck in the kernel (state D: a hung NFS or
/// FUSE server) outlives a minute, and then `delete` says so instead of
/// hanging. It was once 5 s of wall time, which a starved machine (a VM
/// under software emulation beside a loaded host) can spend before it
/// runs a dying process at all.
const KILLED_GONE_WITHIN: Duration = Duration::from_secs(60);

/// The exec fifo in the container's state directory: the init blocks
/// opening it for writing until `start` opens it for reading. Answers an
/// `O_PATH` descriptor to it, which the init inherits at [`FIFO_FD`] and
/// reopens through `/proc` once the host's paths are out of its sight.
// ANCHOR: make_exec_fifo
fn make_exec_fifo(dir: &Path) -> Result<OwnedFd> {
    // 0622 so that an init running as a mapped, unprivileged uid can
    // still open it.
    let fifo = dir.join("exec.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .context(|| format!("mkfifo {}", fifo.display()))?;
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622))
        .context(|| format!("chmod {}", fifo.display()))?;
    let fifo_fd: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(&fifo)
        .context(|| format!("opening {}", fifo.display()))?
        .into();
    Ok(fifo_fd)
}
// ANCHOR_END: make_exec_fifo

/// The clone callback, in the child: wait for the id maps if there is a
/// user namespace, move the socket and the fifo to the descriptor numbers
/// the init expects, and exec the init program. Never returns but by exec
/// or `_exit` (125: the id maps never came; 126: no descriptors; 127:
/// exec failed).
///
/// # Safety
///
/// Only for the freshly cloned child of a single-threaded process: these
/// calls only read one byte, set ids, shuffle descriptors and exec. `argv`
/// is NULL-terminated and, like `exe`, lives until the exec.
// ANCHOR: exec_init_in_child
unsafe fn exec_init_in_child(
    userns: bool,
    sock_fd: i32,
    fifo_raw: i32,
    exe: &CString,
    argv: &[*const libc::c_char; 3],
) -> isize {
    // SAFETY: as the function's contract says. Descriptors are first moved
    // above 10 so that placing one at 3 cannot overwrite the other.
    unsafe {
        if userns {
            // execve recomputes capabilities, and keeps them only for
            // the namespace's root. Our uid is still the host's 0,
            // unmapped here: wait for the parent to write the maps,
            // then become uid 0 *of the namespace* before exec.
            let mut byte = 0u8;
            if libc::read(sock_fd, (&mut byte as *mut u8).cast(), 1) != 1
                || libc::setresgid(0, 0, 0) != 0
                || libc::setresuid(0, 0, 0) != 0
            {
                libc::_exit(125);
            }
        }
        let s = libc::fcntl(sock_fd, libc::F_DUPFD_CLOEXEC, 10);
        let f = libc::fcntl(fifo_raw, libc::F_DUPFD_CLOEXEC, 10);
        if s < 0 || f < 0 || libc::dup2(s, SYNC_FD) < 0 || libc::dup2(f, FIFO_FD) < 0 {
            libc::_exit(126);
        }
        libc::execv(exe.as_ptr(), argv.as_ptr());
        libc::_exit(127)
    }
}
// ANCHOR_END: exec_init_in_child

/// From outside, finish the init's setup and wait for its verdict: write
/// its id maps and wake it (with a user namespace), put it in its cgroup,
/// and only then send the bootstrap, so it never runs a setup step
/// unmapped or unlimited. End-of-file instead of a report means the init
/// died without a word.
// ANCHOR: handshake
fn handshake(
    id: &str,
    pid: Pid,
    bundle: &Bundle,
    linux: &Linux,
    cgroup: &dyn Cgroup,
    parent_sock: &mut UnixStream,
) -> Result<()> {
    if linux.namespace(NamespaceType::User).is_some() {
        namespaces::write_id_maps(pid.as_raw(), linux)?;
        std::io::Write::write_all(parent_sock, b"m")
            .context(|| "waking init after the id maps".into())?;
    }
    cgroup.add_process(pid.as_raw())?;
    let boot = Bootstrap {
        spec: bundle.spec.clone(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
    };
    sync::send(parent_sock, &boot).context(|| "sending the bootstrap to init".into())?;
    match sync::recv::<Report>(parent_sock).context(|| "reading init's report".into())? {
        Some(Report::Ready) => Ok(()),
        Some(Report::Failed(message)) => Err(Error::Init {
            id: id.to_string(),
            message,
        }),
        None => Err(Error::Init {
            id: id.to_string(),
            message: "init exited before reporting (was the runtime binary replaced?)".into(),
        }),
    }
}
// ANCHOR_END: handshake

/// The init's start time (from `/proc/<pid>/stat`), which the state record
/// keeps so that a recycled pid is never taken for the container.
fn init_start_time(id: &str, pid: Pid) -> Result<u64> {
    state::proc_stat(pid.as_raw())
        .map(|(_, start)| start)
        .ok_or_else(|| Error::Init {
            id: id.to_string(),
            message: "init vanished after reporting ready".into(),
        })
}

/// Architecture invariant: no clone or fork from a multi-threaded process.
/// The child of a threaded process gets only the calling thread: a lock
/// another thread held (in the allocator, in a logger) stays locked forever
/// in the child, and `setns` into a mount or user namespace
/// fails outright. A threaded program, such as an async node agent, should
/// run the `orc-container` binary instead.
pub(crate) fn require_single_thread(what: &str) -> Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1);
    if threads > 1 {
        return Err(Error::Threaded {
            what: what.into(),
            threads,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn create_refuses_a_threaded_process() {
        // Keep a second thread alive during the call, whatever the harness does.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        let rt = super::Runtime::new("/nonexistent");
        let err = rt
            .create("x", std::path::Path::new("/nonexistent"))
            .unwrap_err();
        drop(tx);
        let _ = other.join();
        assert!(
            err.to_string()
                .contains("must run in a single-threaded process"),
            "{err}"
        );
    }
}

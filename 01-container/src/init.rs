//! The container's init: the re-executed runtime, inside the namespaces.
//!
//! `create` clones a child into new namespaces and that child immediately
//! executes `/proc/self/exe init`: a fresh, single-threaded copy of the
//! runtime, with nothing inherited but two file descriptors (see
//! [`crate::sync`]). Being a fresh process matters: `unshare`, `setns` and
//! the user switch act on the calling *thread* or require a single-threaded
//! process, and any thread a library started before the fork would not
//! have been copied into the child anyway.
//!
//! The init then configures the container from the inside, reports to
//! `create`, waits on the exec fifo until `start`, and finally replaces
//! itself with the user's program, which therefore *is* pid 1.

use crate::error::{Context, Error, Result};
use crate::spec::NamespaceType;
use crate::sync::{Bootstrap, FIFO_FD, Report, SYNC_FD, recv, send};
use crate::{capabilities, namespaces, process, rootfs, seccomp};
use nix::sched::CloneFlags;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// What setup leaves for the last moment, after `start`.
struct Prepared {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    /// A seccomp filter still to install right before exec (with
    /// no_new_privs set, loading it needs no capability, so it can go last
    /// and need not allow the setup's own syscalls).
    late_seccomp: Option<Vec<libc::sock_filter>>,
}

/// Entry point of `orc-container init`. Never returns: it either becomes
/// the container's program or exits.
pub fn main() -> ! {
    // Only `create` starts us, with a socket at SYNC_FD. A human typing
    // `orc-container init` gets told so instead of us reading their fd 3.
    // SAFETY: fstat only reads the descriptor's metadata; an fd that is not
    // open just makes it fail with EBADF. The borrow ends with the call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(SYNC_FD) };
    let is_socket =
        nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK);
    if !is_socket {
        eprintln!("orc-container init is internal: it is started by `create`");
        std::process::exit(2);
    }
    // SAFETY: the parent's clone callback placed our end of the socket pair
    // at SYNC_FD just before exec; nothing else in this fresh process owns it.
    let mut sock = unsafe { UnixStream::from_raw_fd(SYNC_FD) };
    // Name ourselves in `ps` (we were exec'd as /proc/self/exe, so the
    // kernel's name for us would be "exe").
    // SAFETY: PR_SET_NAME reads a NUL-terminated string that outlives the call.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"orc-init".as_ptr(), 0, 0, 0) };
    let _ = set_cloexec(SYNC_FD);
    let _ = set_cloexec(FIFO_FD);
    let boot: Bootstrap = match recv(&sock) {
        Ok(Some(boot)) => boot,
        // The parent died or sent garbage: nobody is listening for errors.
        _ => std::process::exit(1),
    };
    let prepared = match setup(&boot) {
        Ok(p) => p,
        Err(e) => {
            let _ = send(&mut sock, &Report::Failed(e.to_string()));
            std::process::exit(1);
        }
    };
    if send(&mut sock, &Report::Ready).is_err() {
        std::process::exit(1);
    }
    drop(sock);
    // Held open (close-on-exec) until the exec: see wait_for_start.
    let _fifo = match wait_for_start() {
        Ok(fifo) => fifo,
        Err(e) => {
            eprintln!("orc-container init: {e}");
            std::process::exit(1);
        }
    };
    exec(prepared)
}

/// Every setup step, in order. Errors name the step.
// ANCHOR: setup
fn setup(boot: &Bootstrap) -> Result<Prepared> {
    let spec = &boot.spec;
    let linux = spec.linux_or_default();
    let proc = spec.process.clone().unwrap_or_default();
    // (In a user namespace we are already its root: the clone callback in
    // `create` switched to uid 0 of the namespace before exec.)
    if linux
        .namespace(NamespaceType::Cgroup)
        .is_some_and(|ns| ns.path.is_none())
    {
        // Now that the parent placed us in our cgroup, a new cgroup
        // namespace makes that cgroup the container's "/".
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .context(|| "unshare(CLONE_NEWCGROUP)".into())?;
    }
    namespaces::join_configured(&linux)?;
    if let Some(name) = &spec.hostname {
        nix::unistd::sethostname(name).context(|| format!("sethostname {name}"))?;
    }
    rootfs::prepare(spec, &boot.bundle, &boot.rootfs)?;
    rootfs::pivot(&boot.rootfs)?;
    rootfs::create_cwd(&proc.cwd)?;
    rootfs::finish(spec)?;
    process::apply_rlimits(&proc.rlimits)?;

    let filter = match &linux.seccomp {
        Some(profile) => Some(
            seccomp::compile(profile)
                .map_err(std::io::Error::other)
                .context(|| "linux.seccomp".into())?,
        ),
        None => None,
    };
    let mut late_seccomp = None;
    if let Some(f) = filter {
        if proc.no_new_privileges {
            late_seccomp = Some(f);
        } else {
            // Without no_new_privs the kernel demands CAP_SYS_ADMIN, which
            // we are about to drop: load it now (runc does the same).
            seccomp::install(&f).context(|| "loading the seccomp filter".into())?;
        }
    }

    let path = become_process(&proc)?;
    // wait_for_start reaches the fifo through /proc; check now, while a
    // failure still reaches `create`, rather than dying after "ready".
    let fifo_link = format!("/proc/self/fd/{FIFO_FD}");
    std::fs::symlink_metadata(&fifo_link).context(|| {
        format!("{fifo_link} (the container needs /proc mounted: add a proc mount to the config)")
    })?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));

    let cstr = |s: &str| {
        CString::new(s)
            .map_err(std::io::Error::other)
            .context(|| format!("NUL byte in {s:?}"))
    };
    Ok(Prepared {
        path: cstr(&path.to_string_lossy())?,
        args: proc.args.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
        env: default_home(proc.env.clone(), proc.user.uid)
            .iter()
            .map(|e| cstr(e))
            .collect::<Result<_>>()?,
        late_seccomp,
    })
}
// ANCHOR_END: setup

/// The context of the error [`become_process`] returns when the program
/// does not exist (exec turns it into exit code 127, like a shell).
pub(crate) const NOT_FOUND_CONTEXT: &str = "process.args[0]";

/// Become the configured process, short of exec: bounding set, user,
/// capabilities, cwd, no_new_privs. Returns the program's path. Shared by
/// the init and by `exec`, which must drop privileges the same way.
// ANCHOR: become_process
pub(crate) fn become_process(proc: &crate::spec::Process) -> Result<std::path::PathBuf> {
    let caps = proc.capabilities.clone().unwrap_or_default();
    capabilities::drop_bounding(&caps)?;
    set_keepcaps(true)?;
    process::switch_user(&proc.user)?;
    set_keepcaps(false)?;
    capabilities::apply(&caps)?;

    std::env::set_current_dir(&proc.cwd).context(|| format!("process.cwd {}", proc.cwd))?;
    let path = process::find_executable(&proc.args[0], &proc.env, Path::new(&proc.cwd)).map_err(
        |message| Error::Io {
            context: NOT_FOUND_CONTEXT.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, message),
        },
    )?;
    if proc.no_new_privileges {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).context(|| "setting no_new_privs".into());
        }
    }
    Ok(path)
}
// ANCHOR_END: become_process

/// Set HOME if the config did not, as runc does: the user's home from the
/// container's `/etc/passwd`, or `/` when the image has no entry for it.
pub(crate) fn default_home(mut env: Vec<String>, uid: u32) -> Vec<String> {
    if process::env_value(&env, "HOME").is_none() {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let home = process::passwd_home(&passwd, uid).unwrap_or("/");
        env.push(format!("HOME={home}"));
    }
    env
}

/// `PR_SET_KEEPCAPS`: keep the permitted set across the switch away from
/// uid 0, so `capset` can then grant what the config asks for.
fn set_keepcaps(on: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context(|| "prctl(PR_SET_KEEPCAPS)".into());
    }
    Ok(())
}

fn set_cloexec(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on an integer fd; an invalid fd just returns EBADF.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Block until `start` opens the fifo's read end, then tell it we are going.
///
/// The returned write end stays open, close-on-exec, until `execve`
/// succeeds (or we die): `start` reads until end-of-file, so it returns
/// only once the user's program has replaced the init.
///
/// The fifo lives in the state directory on the host, which `pivot_root`
/// made unreachable by path. The parent handed us an `O_PATH` descriptor to
/// it (`FIFO_FD`); reopening `/proc/self/fd/N` for writing goes through that
/// descriptor, not through the host path (the same trick as runc).
// ANCHOR: wait_for_start
fn wait_for_start() -> Result<std::fs::File> {
    let path = format!("/proc/self/fd/{FIFO_FD}");
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .context(|| format!("opening the exec fifo through {path} (is /proc mounted?)"))?;
    fifo.write_all(b"0")
        .context(|| "writing to the exec fifo".into())?;
    // SAFETY: FIFO_FD is ours (see main) and nothing else uses it.
    unsafe { libc::close(FIFO_FD) };
    Ok(fifo)
}
// ANCHOR_END: wait_for_start

/// Install the late seccomp filter, close stray descriptors, and exec.
fn exec(p: Prepared) -> ! {
    if let Some(filter) = &p.late_seccomp {
        if let Err(e) = seccomp::install(filter) {
            eprintln!("orc-container init: loading the seccomp filter: {e}");
            std::process::exit(1);
        }
    }
    // Any descriptor the runtime inherited (say, from whoever ran
    // `create`) must not leak into the container. Mark all but stdio
    // close-on-exec, so they vanish exactly at execve.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    let err = nix::unistd::execve(&p.path, &p.args, &p.env).unwrap_err();
    eprintln!("orc-container init: exec {:?}: {err}", p.path);
    std::process::exit(127)
}

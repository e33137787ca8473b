//! `exec`: run another process inside a running container.
//!
//! There is no "container" object in the kernel to attach to, only the init
//! process's namespaces and cgroup. Joining a container therefore means:
//! move into its cgroup, `setns` into each of its namespaces (found under
//! `/proc/PID/ns/`), and fork, because a pid namespace applies only to
//! children of the process that joined it. The child then drops privileges
//! exactly like the init did and execs.

use crate::bundle::Bundle;
use crate::container::Runtime;
use crate::error::{Context, Error, Result};
use crate::signals::{forward_to, wait_exit_code};
use crate::spec::NamespaceType;
use crate::state::{Record, Status};
use crate::{cgroups, namespaces, process, seccomp};

/// The order namespaces are joined in. User first: it grants the
/// capabilities needed to join the others, which it owns. Mount last: after
/// it, paths are the container's, and `/proc/PID/ns` of the host is gone.
const JOIN_ORDER: &[NamespaceType] = &[
    NamespaceType::User,
    NamespaceType::Ipc,
    NamespaceType::Uts,
    NamespaceType::Network,
    NamespaceType::Pid,
    NamespaceType::Cgroup,
    NamespaceType::Mount,
];

/// What the exec'd command's standard input is to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminal {
    /// Whatever the caller passed (pipes, files): nothing to set up.
    Inherited,
    /// A terminal (a pty's slave, opened by the caller, for example the
    /// agent serving `kubectl exec -t`): the command starts a session and
    /// takes it as its controlling terminal, so Ctrl-C reaches it as
    /// SIGINT and a shell gets job control, as under runc's `exec --tty`.
    Controlling,
}

impl Runtime {
    /// Run `args` in the running container `id`, with its process settings
    /// (env, cwd, user, capabilities, seccomp) and `env` (`NAME=VALUE`)
    /// over its environment, wait, and return the exit code. Must be
    /// called from a single-threaded process.
    pub fn exec(
        &self,
        id: &str,
        args: &[String],
        env: &[String],
        terminal: Terminal,
    ) -> Result<i32> {
        crate::container::require_single_thread("exec")?;
        let record = Record::load(&self.root, id)?;
        let status = record.status(&self.root);
        if status != Status::Running {
            return Err(Error::WrongState {
                id: id.into(),
                status: status.to_string(),
                hint: "exec needs a running container".into(),
            });
        }
        if args.is_empty() {
            return Err(Error::Init {
                id: id.into(),
                message: "exec needs a command".into(),
            });
        }
        let spec = Bundle::load(&record.bundle)?.spec;
        let mut proc = spec.process.clone().unwrap_or_default();
        proc.args = args.to_vec();
        proc.env = crate::image::bundle::merge_env(&proc.env, env);
        let filter = match spec.linux_or_default().seccomp {
            Some(p) => Some(seccomp::compile(&p).map_err(|e| Error::Init {
                id: id.into(),
                message: e.to_string(),
            })?),
            None => None,
        };

        // Open every namespace that differs from ours before joining any:
        // after the mount namespace switch the host's /proc is out of reach.
        let mut to_join = Vec::new();
        for kind in JOIN_ORDER {
            let name = namespaces::proc_name(*kind);
            let theirs = format!("/proc/{}/ns/{name}", record.pid);
            let ours = format!("/proc/self/ns/{name}");
            // Joining our own user namespace is EINVAL; skipping equal ones
            // is correct for all types.
            if std::fs::read_link(&theirs).ok() == std::fs::read_link(&ours).ok() {
                continue;
            }
            let file = std::fs::File::open(&theirs).context(|| format!("opening {theirs}"))?;
            to_join.push((*kind, file));
        }
        cgroups::open(&record.cgroup_path).add_process(std::process::id() as i32)?;
        for (kind, file) in &to_join {
            nix::sched::setns(file, namespaces::flag(*kind)).context(|| {
                format!(
                    "joining the {} namespace of {id}",
                    namespaces::proc_name(*kind)
                )
            })?;
        }

        // SAFETY: the CLI process is single-threaded, so the child is a
        // complete copy; it only sets credentials and execs.
        match unsafe { nix::unistd::fork() }.context(|| "fork".into())? {
            nix::unistd::ForkResult::Parent { child } => {
                forward_to(child);
                wait_exit_code(child)
            }
            nix::unistd::ForkResult::Child => {
                let err = match take_terminal(terminal) {
                    Ok(()) => exec_child(&proc, filter.as_deref()),
                    Err(err) => err,
                };
                eprintln!("orc-container exec: {err}");
                std::process::exit(
                    if matches!(err, Error::Io { ref context, .. } if context == crate::init::NOT_FOUND_CONTEXT)
                    {
                        127
                    } else {
                        126
                    },
                );
            }
        }
    }
}

/// In the forked child, before privileges drop: with
/// [`Terminal::Controlling`], a new session whose controlling terminal is
/// standard input. `TIOCSCTTY` needs a session leader without a terminal,
/// which `setsid` just made us.
fn take_terminal(terminal: Terminal) -> Result<()> {
    if terminal == Terminal::Inherited {
        return Ok(());
    }
    nix::unistd::setsid().context(|| "setsid for the terminal".into())?;
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal the
    // terminal from another session) and touches no memory of ours.
    let rc = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .context(|| "making standard input the controlling terminal (is it a tty?)".into());
    }
    Ok(())
}

/// In the forked child, inside the container: drop privileges and exec.
/// Only returns on failure.
fn exec_child(proc: &crate::spec::Process, filter: Option<&[libc::sock_filter]>) -> Error {
    let result = (|| -> Result<std::convert::Infallible> {
        process::apply_rlimits(&proc.rlimits)?;
        // Without no_new_privs the kernel loads a filter only for a holder
        // of CAP_SYS_ADMIN, which become_process is about to drop: load it
        // first, as the init does (and runc's exec).
        let (early, late) = match proc.no_new_privileges {
            true => (None, filter),
            false => (filter, None),
        };
        if let Some(f) = early {
            seccomp::install(f).context(|| "loading the seccomp filter".into())?;
        }
        let path = crate::init::become_process(proc)?;
        // The command dies with this exec. Whoever ran the exec (the agent,
        // for kubectl) kills it when its client goes away, and SIGKILL
        // cannot be forwarded: without this the command would live on in
        // the container, orphaned. Set after the credentials change, which
        // clears it.
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .context(|| "prctl(PR_SET_PDEATHSIG)".into())?;
        if let Some(f) = late {
            seccomp::install(f).context(|| "loading the seccomp filter".into())?;
        }
        let cstr = |s: &str| {
            std::ffi::CString::new(s)
                .map_err(std::io::Error::other)
                .context(|| format!("NUL in {s:?}"))
        };
        let args = proc
            .args
            .iter()
            .map(|a| cstr(a))
            .collect::<Result<Vec<_>>>()?;
        // HOME as the init sets it; /etc/passwd is the container's now.
        let env = crate::init::default_home(proc.env.clone(), proc.user.uid);
        let env = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>>>()?;
        let path = cstr(&path.to_string_lossy())?;
        nix::unistd::execve(&path, &args, &env).context(|| format!("exec {}", proc.args[0]))
    })();
    match result {
        Err(e) => e,
        Ok(never) => match never {},
    }
}

//! The last steps before `execve`: limits, identity, the program's path.
//!
//! Everything here runs inside the container's init, after `pivot_root`, so
//! paths are the container's paths.

use crate::error::{Context, Result};
use crate::spec::{Rlimit, User};
use nix::sys::resource::Resource;
use nix::unistd::{Gid, Uid};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The `setrlimit` resource for an OCI rlimit name (`"RLIMIT_NOFILE"`).
pub fn rlimit_resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    })
}

/// Apply the config's rlimits. They are inherited across `execve`, which is
/// why setting them on ourselves is enough.
pub(crate) fn apply_rlimits(rlimits: &[Rlimit]) -> Result<()> {
    for r in rlimits {
        // Names were validated when the bundle was loaded.
        let Some(resource) = rlimit_resource(&r.kind) else {
            continue;
        };
        nix::sys::resource::setrlimit(resource, r.soft, r.hard)
            .context(|| format!("setrlimit {} soft={} hard={}", r.kind, r.soft, r.hard))?;
    }
    Ok(())
}

/// Become `user`: supplementary groups first, then gid, then uid, because
/// once the uid is not 0 we may no longer change the others.
pub(crate) fn switch_user(user: &User) -> Result<()> {
    let groups: Vec<Gid> = user
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // In a user namespace with setgroups denied this fails with EPERM; an
    // empty list is then already what we have.
    if let Err(e) = nix::unistd::setgroups(&groups) {
        if !(groups.is_empty() && e == nix::errno::Errno::EPERM) {
            return Err(e).context(|| format!("setgroups {:?}", user.additional_gids));
        }
    }
    let gid = Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).context(|| format!("setgid {}", user.gid))?;
    let uid = Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).context(|| format!("setuid {}", user.uid))?;
    Ok(())
}

/// Value of `KEY` in a `KEY=value` list.
pub fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// The home directory of `uid` in `/etc/passwd` text
/// (`name:x:uid:gid:gecos:home:shell`).
pub fn passwd_home(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2].parse() == Ok(uid)).then_some(fields[5])
    })
}

/// Find the program to execute the way `execvp` would: a name with a slash
/// is a path, anything else is searched in `PATH` (from the *container's*
/// environment, not ours).
///
/// Doing this ourselves, before waiting for `start`, is what lets `create`
/// report "executable file not found" instead of a container that dies the
/// moment it starts.
// ANCHOR: find_executable
pub fn find_executable(program: &str, env: &[String], cwd: &Path) -> Result<PathBuf, String> {
    let is_exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let path = cwd.join(program);
        return if is_exec(&path) {
            Ok(path)
        } else {
            Err(format!(
                "`{program}`: no such executable file in the container"
            ))
        };
    }
    let search = env_value(env, "PATH").unwrap_or("/usr/local/bin:/usr/bin:/bin");
    search
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| is_exec(p))
        .ok_or_else(|| format!("`{program}`: executable file not found in $PATH ({search})"))
}
// ANCHOR_END: find_executable

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_like_execvp() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("tool"), "").unwrap();
        std::fs::set_permissions(bin.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("data"), "").unwrap();
        let env = vec![format!("PATH=/nope:{}", bin.display())];
        assert_eq!(
            find_executable("tool", &env, Path::new("/")),
            Ok(bin.join("tool"))
        );
        assert!(
            find_executable("data", &env, Path::new("/"))
                .unwrap_err()
                .contains("not found in $PATH")
        );
        assert_eq!(
            find_executable("bin/tool", &env, dir.path()),
            Ok(bin.join("tool"))
        );
        assert!(find_executable("./missing", &env, dir.path()).is_err());
    }

    #[test]
    fn rlimit_names() {
        assert_eq!(
            rlimit_resource("RLIMIT_NOFILE"),
            Some(Resource::RLIMIT_NOFILE)
        );
        assert_eq!(rlimit_resource("NOFILE"), None);
        assert_eq!(
            env_value(&["A=1".into(), "PATH=/bin".into()], "PATH"),
            Some("/bin")
        );
    }
}

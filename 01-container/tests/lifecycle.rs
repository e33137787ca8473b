//! The OCI lifecycle through the real binary: create, start, state, kill,
//! exec, delete, run; and the errors a user sees. Needs root.

mod common;
use common::{Fixture, add_user_namespace, cgroup_dirs, text};

#[test]
fn exit_codes_are_propagated_by_run() {
    let mut f = Fixture::new(&["sh", "-c", "exit 7"]);
    assert_eq!(f.run().0, 7);
    f.edit(|s| s.process.as_mut().unwrap().args = vec!["true".into()]);
    assert_eq!(f.run().0, 0);
}

#[test]
fn create_start_state_kill_delete() {
    let mut f = Fixture::new(&["sleep", "100"]);
    let id = f.id("life");
    let pid_file = f.dir.path().join("pid");
    let status = f
        .command()
        .args(["create", &id, "--pid-file"])
        .arg(&pid_file)
        .arg("--bundle")
        .arg(&f.bundle)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    let state = f.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(state["ociVersion"], "1.0.2");
    assert_eq!(state["id"], id.as_str());
    assert_eq!(state["bundle"], f.bundle.display().to_string());
    let pid = state["pid"].as_i64().unwrap();
    assert!(pid > 1);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // Created: the init waits, it is not yet running sleep.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "orc-init");

    let list = text(&f.orc(&["list"]).stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&id) && l.contains("created")),
        "{list}"
    );

    assert!(f.orc(&["start", &id]).status.success());
    assert_eq!(f.wait_status(&id, "running")["pid"], pid);
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sleep");

    // A second start is refused with the reason.
    let again = f.orc(&["start", &id]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("is running: only a created container can be started"));
    // So is deleting a running container without --force.
    let del = f.orc(&["delete", &id]);
    assert!(
        text(&del.stderr).contains("use delete --force"),
        "{}",
        text(&del.stderr)
    );

    assert!(f.orc(&["kill", &id, "KILL"]).status.success());
    let state = f.wait_status(&id, "stopped");
    assert_eq!(state["pid"], 0);
    assert!(f.orc(&["delete", &id]).status.success());
    assert!(text(&f.orc(&["state", &id]).stderr).contains("does not exist"));
}

#[test]
fn nothing_is_left_after_delete() {
    let mut f = Fixture::new(&["sleep", "100"]);
    // A created, never started container is deleted without --force.
    let created = f.id("created");
    assert!(f.create(&created).status.success());
    let out = f.orc(&["delete", &created]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!f.state_dir(&created).exists());
    for dir in cgroup_dirs(&created) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    let id = f.id("leak");
    assert!(f.create(&id).status.success());
    assert!(f.orc(&["start", &id]).status.success());
    let pid = f.state(&id)["pid"].as_i64().unwrap() as i32;
    for dir in cgroup_dirs(&id) {
        assert!(dir.exists(), "{} missing while running", dir.display());
    }
    let out = f.orc(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for dir in cgroup_dirs(&id) {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(!f.state_dir(&id).exists(), "state dir left behind");
    // The process is gone (reaped by its monitor; a zombie for an instant
    // at most, and a zombie holds no resources).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "process {pid} still alive: {stat}"
    );
    // Mounts lived only in the container's mount namespace.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&f.bundle.display().to_string()),
        "{mounts}"
    );
}

#[test]
fn an_unfinished_create_is_removed_by_delete_force() {
    let mut f = Fixture::new(&["sleep", "100"]);
    // What a create killed before it saved its state leaves: the
    // container's directory and no state.json. Without --force it is
    // still "not found"; with it, it goes, and the id can be used again.
    let id = f.id("unfinished");
    std::fs::create_dir_all(f.state_dir(&id)).unwrap();
    let bundle = f.bundle.display().to_string();
    let out = f.orc(&["create", &id, "--bundle", &bundle]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    assert!(!f.orc(&["delete", &id]).status.success());
    let out = f.orc(&["delete", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!f.state_dir(&id).exists());
    assert!(f.create(&id).status.success());
    assert!(f.orc(&["delete", &id]).status.success());
}

#[test]
fn exec_joins_a_running_container() {
    let mut f = Fixture::new(&["sleep", "100"]);
    let id = f.start_detached("exec");
    let out = f.orc(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "echo $$; hostname; cat /proc/1/comm; ls /bin/busybox; echo $HOME; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    assert_ne!(lines[0], "1");
    assert_eq!(lines[1..], ["orc", "sleep", "/bin/busybox", "/"]);

    // Killed by signal N: exit code 128+N, as a shell reports it. (The
    // container's pid 1 could not be killed this way from inside: the kernel
    // shields a namespace's init from its own namespace's signals.)
    let out = f.orc(&["exec", &id, "--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(137));

    let out = f.orc(&["exec", &id, "--", "nope"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("`nope`: executable file not found"),
        "{}",
        text(&out.stderr)
    );
    let deleted = f.orc(&["delete", "--force", &id]);
    assert!(deleted.status.success(), "{}", text(&deleted.stderr));
}

/// Without no_new_privs (Kubernetes' default unless
/// `allowPrivilegeEscalation: false`) the seccomp filter must be loaded
/// while the exec still holds CAP_SYS_ADMIN: a filter loaded after the
/// capabilities are dropped is refused with EACCES, and every exec (every
/// exec probe) failed.
#[test]
fn exec_without_no_new_privs_still_gets_the_seccomp_filter() {
    let mut f = Fixture::new(&["sleep", "100"]);
    f.edit(|spec| spec.process.as_mut().unwrap().no_new_privileges = false);
    let id = f.start_detached("exec-nnp");
    let out = f.orc(&[
        "exec",
        &id,
        "--",
        "grep",
        "-E",
        "^(NoNewPrivs|Seccomp):",
        "/proc/self/status",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "NoNewPrivs:\t0\nSeccomp:\t2\n");
    assert!(f.orc(&["delete", "--force", &id]).status.success());
}

#[test]
fn exec_tty_makes_the_terminal_the_commands_own() {
    use std::io::Read;
    let mut f = Fixture::new(&["sleep", "100"]);
    let id = f.start_detached("exectty");
    let pty = nix::pty::openpty(None, None).unwrap();
    let stdio = || std::process::Stdio::from(pty.slave.try_clone().unwrap());
    // A session leader (sid = its own pid) whose stdin is a terminal.
    let script = "read -r _ _ _ _ _ sid _ < /proc/$$/stat; \
                  [ \"$sid\" = \"$$\" ] && echo leader; [ -t 0 ] && echo terminal; exit 4";
    let mut child = f
        .command()
        .args(["exec", "--tty", &id, "--", "sh", "-c", script])
        .stdin(stdio())
        .stdout(stdio())
        .stderr(stdio())
        .spawn()
        .unwrap();
    drop(pty.slave);
    // Read while the command runs: data left in the terminal when the last
    // slave closes may be lost to a reader that starts only afterwards.
    let mut master = std::fs::File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut output = Vec::new();
        let mut buf = [0u8; 1024];
        // Ends with EIO once every slave is closed.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            output.extend_from_slice(&buf[..n]);
        }
        output
    });
    let status = child.wait().unwrap();
    let output = reader.join().unwrap();
    assert_eq!(status.code(), Some(4), "{}", text(&output));
    assert_eq!(text(&output), "leader\r\nterminal\r\n");
    assert!(f.orc(&["delete", "--force", &id]).status.success());
}

#[test]
fn an_exec_dies_with_the_process_that_ran_it() {
    let mut f = Fixture::new(&["sleep", "100"]);
    let id = f.start_detached("execorphan");
    let mut exec = f
        .command()
        .args(["exec", &id, "--", "sleep", "4242"])
        .spawn()
        .unwrap();
    let running = |f: &Fixture| {
        let ps = f.orc(&["exec", &id, "--", "ps", "-o", "args"]);
        text(&ps.stdout).lines().any(|l| l.trim() == "sleep 4242")
    };
    wait_until("the exec'd sleep to run", || running(&f));
    // SIGKILL cannot be forwarded to the command: the agent does this
    // when kubectl goes away.
    exec.kill().unwrap();
    exec.wait().unwrap();
    wait_until("the orphaned sleep to be gone", || !running(&f));
    assert!(f.orc(&["delete", "--force", &id]).status.success());
}

/// Polls `done` until it holds, failing after 20 s with `what`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The error text of a failed `create`, after checking nothing was left.
fn create_error(f: &mut Fixture) -> String {
    let id = f.id("bad");
    let out = f.create(&id);
    assert!(!out.status.success());
    assert!(!f.state_dir(&id).exists(), "failed create left state");
    for dir in cgroup_dirs(&id) {
        assert!(!dir.exists(), "failed create left {}", dir.display());
    }
    text(&out.stderr)
}

#[test]
fn setup_failures_in_the_child_are_reported_by_create() {
    let mut f = Fixture::new(&["no-such-program"]);
    let err = create_error(&mut f);
    assert!(
        err.contains("`no-such-program`: executable file not found in $PATH"),
        "{err}"
    );

    f.edit(|s| {
        let p = s.process.as_mut().unwrap();
        p.args = vec!["true".into()];
        // A missing cwd is created; a file in its way is an error.
        p.cwd = "/bin/busybox/work".into();
    });
    let err = create_error(&mut f);
    assert!(
        err.contains(
            "process.cwd /bin/busybox/work: /bin/busybox exists in the root filesystem \
             and is not a directory"
        ),
        "{err}"
    );

    f.edit(|s| {
        s.process.as_mut().unwrap().cwd = "/".into();
        s.mounts.push(orc_container::spec::Mount {
            destination: "/data".into(),
            kind: Some("bind".into()),
            source: Some("/definitely/not/here".into()),
            options: vec![],
        });
    });
    let err = create_error(&mut f);
    assert!(
        err.contains("bind source /definitely/not/here for /data"),
        "{err}"
    );

    f.edit(|s| {
        s.mounts
            .retain(|m| m.destination != "/data" && m.destination != "/proc")
    });
    let err = create_error(&mut f);
    assert!(err.contains("needs /proc mounted"), "{err}");
}

#[test]
fn bad_bundles_give_clear_errors() {
    let mut f = Fixture::new(&["true"]);
    std::fs::write(
        f.bundle.join("config.json"),
        "{\"ociVersion\": \"1.0.2\",\n \"process\": {\"args\": [\"true\"], \"cwd\": 5}}",
    )
    .unwrap();
    let err = create_error(&mut f);
    let file = f.bundle.join("config.json").canonicalize().unwrap();
    assert!(err.contains(&format!("{}:2:", file.display())), "{err}");
    assert!(err.contains("field `process.cwd`"), "{err}");

    std::fs::remove_file(f.bundle.join("config.json")).unwrap();
    let err = create_error(&mut f);
    assert!(
        err.contains("config.json") && err.contains("No such file"),
        "{err}"
    );

    let out = f.orc(&["create", "../evil", "--bundle", "/"]);
    assert!(
        text(&out.stderr).contains("invalid container id"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn signals_sent_to_run_reach_the_container() {
    // The trap makes TERM deliverable to the namespace's init.
    let mut f = Fixture::new(&[
        "sh",
        "-c",
        "trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.05; done",
    ]);
    let id = f.id("fwd");
    let mut child = f
        .command()
        .args(["run", &id, "--bundle"])
        .arg(&f.bundle)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "got TERM\n");
    assert_eq!(status.code(), Some(3));
    assert!(!f.state_dir(&id).exists());
}

#[test]
fn exec_joins_a_user_namespaced_container() {
    let mut f = Fixture::new(&["sleep", "100"]);
    f.edit(|s| add_user_namespace(s, 200_000));
    let id = f.start_detached("usrexec");
    let out = f.orc(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let words: Vec<String> = text(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(words, ["0", "0", "200000", "65536"]);
    assert!(f.orc(&["delete", "--force", &id]).status.success());
}

#[test]
fn detached_containers_exit_code_is_recorded_by_the_monitor() {
    let mut f = Fixture::new(&["sh", "-c", "exit 7"]);
    let id = f.id("exitcode");
    assert!(
        f.create(&id).status.success(),
        "{}",
        f.container_output(&id)
    );
    assert!(f.state(&id).get("exitCode").is_none());
    assert!(f.orc(&["start", &id]).status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let state = loop {
        let state = f.wait_status(&id, "stopped");
        if state.get("exitCode").is_some() || std::time::Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(state["exitCode"], 7, "{state}");
    assert!(f.orc(&["delete", &id]).status.success());
}

#[test]
fn run_detach_returns_at_once_and_state_shows_the_exit() {
    let mut f = Fixture::new(&["sh", "-c", "sleep 0.2; exit 5"]);
    let id = f.id("detach");
    let status = f
        .command()
        .args(["run", "--detach", &id, "--bundle"])
        .arg(&f.bundle)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(f.state(&id)["status"], "running");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while f.state(&id).get("exitCode").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "no exit code recorded"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(f.state(&id)["exitCode"], 5);
    assert!(f.orc(&["delete", &id]).status.success());
}

#[test]
fn container_output_can_go_to_files() {
    let mut f = Fixture::new(&["sh", "-c", "echo to-out; echo to-err >&2; exit 3"]);
    let id = f.id("logs");
    let (out, err) = (f.dir.path().join("out.log"), f.dir.path().join("err.log"));
    std::fs::write(&out, "earlier\n").unwrap();
    let output = f
        .command()
        .args(["run", &id, "--stdout"])
        .arg(&out)
        .arg("--stderr")
        .arg(&err)
        .arg("--bundle")
        .arg(&f.bundle)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "the exit code still comes back"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "earlier\nto-out\n",
        "appended"
    );
    assert_eq!(std::fs::read_to_string(&err).unwrap(), "to-err\n");
    assert!(
        output.stdout.is_empty(),
        "nothing reaches the caller's stdout"
    );
}

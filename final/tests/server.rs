//! `orc server` as a user runs it: the real binary starts etcd and the API
//! server, writes a kubeconfig the installed kubectl uses, stops cleanly on
//! SIGTERM, and keeps the cluster's objects across a restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_testkit::require_command;

/// A running `orc server`, killed (by its pid) if the test fails midway.
struct OrcServer {
    child: Child,
    kubeconfig: PathBuf,
}

impl OrcServer {
    /// Starts `orc server` on `data_dir` and waits for its kubeconfig and
    /// for the API to answer.
    fn start(data_dir: &Path) -> OrcServer {
        require_command("etcd");
        let port = orc_testkit::ports::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_orc"))
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .arg(format!("--listen=127.0.0.1:{port}"))
            .stdout(output_file(data_dir, "out"))
            .stderr(output_file(data_dir, "err"))
            .spawn()
            .expect("orc runs");
        let server = OrcServer {
            child,
            kubeconfig: data_dir.join("kubeconfig"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(server.kubeconfig.exists() && kubectl(&server.kubeconfig, &["get", "ns"]).0) {
            assert!(Instant::now() < deadline, "orc server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// SIGKILL, which gives the server no chance to stop anything itself.
    fn kill_hard(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL).unwrap();
        self.child.wait().unwrap();
        std::mem::forget(self);
    }

    /// SIGTERM, then waits for the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for OrcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `<data_dir>.out` or `.err` beside the data directory, appended to, so
/// a test reads what every start printed.
fn output_file(data_dir: &Path, extension: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.with_extension(extension))
        .unwrap()
}

fn output(data_dir: &Path, extension: &str) -> String {
    std::fs::read_to_string(data_dir.with_extension(extension)).unwrap_or_default()
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(require_command("kubectl"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .output()
        .unwrap();
    success_and_text(&out)
}

/// Whether a command succeeded, and its standard output then error.
fn success_and_text(out: &std::process::Output) -> (bool, String) {
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Processes whose command line names `needle` (our etcd's data dir).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn the_control_plane_serves_kubectl_stops_on_sigterm_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let etcd_data = format!("--data-dir={}", data.join("etcd").display());

    let server = OrcServer::start(&data);
    assert_eq!(processes_mentioning(&etcd_data).len(), 1, "one etcd child");
    // Secure by default: HTTPS, the admin's certificate in a 0600 file.
    use std::os::unix::fs::PermissionsExt;
    let kubeconfig = std::fs::read_to_string(&server.kubeconfig).unwrap();
    assert!(
        kubeconfig.contains("server: https://127.0.0.1:"),
        "{kubeconfig}"
    );
    assert!(kubeconfig.contains("client-key-data: "), "{kubeconfig}");
    let mode = std::fs::metadata(&server.kubeconfig)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let (ok, out) = kubectl(&server.kubeconfig, &["auth", "whoami"]);
    assert!(ok && out.contains("kubernetes-admin"), "{out}");
    let (ok, out) = kubectl(
        &server.kubeconfig,
        &[
            "create",
            "configmap",
            "kept",
            "--from-literal=a=b",
            "--dry-run=client",
            "-o",
            "yaml",
        ],
    );
    assert!(ok, "{out}");
    let manifest = dir.path().join("kept.yaml");
    std::fs::write(&manifest, out).unwrap();
    let (ok, out) = kubectl(
        &server.kubeconfig,
        &["create", "-f", manifest.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "configmap/kept created");
    // Audited by default: the create in `<data-dir>/audit.log`, root's
    // alone, under orc's policy written beside it.
    let log = data.join("audit.log");
    wait_until("the create in the audit log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .any(|line| {
                let event: serde_json::Value = serde_json::from_str(line).unwrap();
                event["verb"] == "create"
                    && event["objectRef"]["name"] == "kept"
                    && event["user"]["username"] == "kubernetes-admin"
                    && event["responseStatus"]["code"] == 201
            })
    });
    for file in [log, data.join("audit-policy.yaml")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }

    let status = server.stop();
    assert!(status.success(), "orc server exits 0 on SIGTERM: {status}");
    assert_eq!(
        processes_mentioning(&etcd_data),
        Vec::<u32>::new(),
        "etcd stopped with it"
    );

    let server = OrcServer::start(&data);
    let (ok, out) = kubectl(
        &server.kubeconfig,
        &["get", "configmap", "kept", "-o", "jsonpath={.data.a}"],
    );
    assert!(ok, "{out}");
    assert_eq!(out, "b", "the object survived the restart");

    // The controllers run too: the garbage collector deletes a dependent
    // once its owner is gone.
    let (ok, uid) = kubectl(
        &server.kubeconfig,
        &["get", "configmap", "kept", "-o", "jsonpath={.metadata.uid}"],
    );
    assert!(ok, "{uid}");
    let child = dir.path().join("child.yaml");
    std::fs::write(
        &child,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: child\n  ownerReferences:\n  \
             - {{apiVersion: v1, kind: ConfigMap, name: kept, uid: {uid}}}\n"
        ),
    )
    .unwrap();
    let (ok, out) = kubectl(
        &server.kubeconfig,
        &["create", "-f", child.to_str().unwrap()],
    );
    assert!(ok, "{out}");
    let (ok, out) = kubectl(&server.kubeconfig, &["delete", "configmap", "kept"]);
    assert!(ok, "{out}");
    let gone = (0..100).any(|_| {
        let (found, out) = kubectl(&server.kubeconfig, &["get", "configmap", "child"]);
        std::thread::sleep(std::time::Duration::from_millis(200));
        !found && out.contains("NotFound")
    });
    assert!(gone, "the collector deletes the dependent");
    assert!(server.stop().success());
}

#[test]
fn a_busy_address_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    require_command("etcd");
    let out = Command::new(env!("CARGO_BIN_EXE_orc"))
        .arg("server")
        .arg("--data-dir")
        .arg(dir.path())
        .arg(format!("--listen={}", taken.local_addr().unwrap()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("listening on {}", taken.local_addr().unwrap()))
            && stderr.contains("Address already in use"),
        "{stderr}"
    );
    assert_eq!(
        processes_mentioning(&format!("--data-dir={}", dir.path().join("etcd").display())),
        Vec::<u32>::new(),
        "the etcd it started is gone"
    );
}

#[test]
fn plain_http_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_orc"))
        .arg("server")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen=0.0.0.0:0", "--insecure-plain-http"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--insecure-plain-http on 0.0.0.0:0: anyone who reaches that address would be cluster admin"),
        "{stderr}"
    );
}
/// Waits until `done` holds, polling every 50 ms, for at most 30 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// etcdctl against `endpoint`, as root or as `nobody` (uid 65534, no
/// groups); success and output.
fn etcdctl(endpoint: &str, as_nobody: bool, args: &[&str]) -> (bool, String) {
    let etcdctl = require_command("etcdctl");
    let mut command = if as_nobody {
        let mut c = Command::new(require_command("setpriv"));
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(etcdctl);
        c
    } else {
        Command::new(etcdctl)
    };
    let out = command
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .arg("--dial-timeout=2s")
        .args(args)
        .output()
        .unwrap();
    success_and_text(&out)
}

/// The etcd endpoint `orc server` printed ("etcd (pid N) at URL").
fn printed_endpoint(data_dir: &Path) -> String {
    let out = output(data_dir, "out");
    out.lines()
        .find_map(|l| l.strip_prefix("etcd (pid ")?.split(" at ").nth(1))
        .unwrap_or_else(|| panic!("orc server names its etcd: {out}"))
        .to_string()
}

/// A directory others may enter (tempfile makes 0700 ones), so only
/// what orc itself restricts keeps them out.
fn open_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `orc server` on a fresh data directory in an [`open_tempdir`]: the
/// temp dir (removed on drop), the data directory, the `--data-dir=` flag
/// its etcd runs with (to find it in /proc), and the server.
fn fresh_server() -> (tempfile::TempDir, PathBuf, String, OrcServer) {
    let dir = open_tempdir();
    let data = dir.path().join("server");
    let etcd_data = format!("--data-dir={}", data.join("etcd").display());
    let server = OrcServer::start(&data);
    (dir, data, etcd_data, server)
}

#[test]
fn only_root_reaches_etcd_and_a_killed_server_leaves_no_etcd_behind() {
    let (_dir, data, etcd_data, server) = fresh_server();
    let endpoint = printed_endpoint(&data);

    // Root (the API server's user) reads the cluster's keys...
    let (ok, out) = etcdctl(
        &endpoint,
        false,
        &["get", "--prefix", "--keys-only", "/registry"],
    );
    assert!(ok && out.contains("/registry/"), "{out}");
    // ...another local user can neither read nor write them.
    let (ok, out) = etcdctl(&endpoint, true, &["get", "--prefix", "/registry"]);
    assert!(
        !ok && !out.contains("/registry/"),
        "nobody read etcd: {out}"
    );
    let (ok, out) = etcdctl(&endpoint, true, &["put", "/registry/secrets/x", "y"]);
    assert!(!ok, "nobody wrote etcd: {out}");
    let (_, out) = etcdctl(&endpoint, false, &["get", "/registry/secrets/x"]);
    assert!(!out.contains("/registry/secrets/x"), "{out}");
    for private in [data.clone(), data.join("etcd")] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{}", private.display());
    }
    // The server logs with tracing on standard error.
    assert!(
        output(&data, "err").contains("orc-apiserver serving"),
        "{}",
        output(&data, "err")
    );

    // SIGKILL gives the server no chance to stop etcd: the kernel does.
    server.kill_hard();
    wait_until("etcd to die with its parent", || {
        processes_mentioning(&etcd_data).is_empty()
    });

    // So the next start finds its data directory free, and etcd's log
    // holds both runs.
    let server = OrcServer::start(&data);
    let log = std::fs::read_to_string(data.join("etcd.log")).unwrap();
    assert_eq!(log.matches("etcdmain: etcd Version:").count(), 2, "{log}");
    assert!(server.stop().success());
}

#[test]
fn a_crashed_etcd_is_restarted_and_writes_work_again() {
    let (_dir, data, etcd_data, server) = fresh_server();
    let first = processes_mentioning(&etcd_data);
    assert_eq!(first.len(), 1);
    kill(Pid::from_raw(first[0] as i32), Signal::SIGKILL).unwrap();

    wait_until("a new etcd", || {
        let now = processes_mentioning(&etcd_data);
        now.len() == 1 && now != first
    });
    // Writes go through once it answers (the API server's connection to
    // the socket comes back by itself).
    wait_until("a write after the restart", || {
        kubectl(&server.kubeconfig, &["create", "configmap", "after-crash"]).0
    });
    let err = output(&data, "err");
    assert!(err.contains("etcd stopped; restarting it"), "{err}");
    assert!(server.stop().success());
    assert!(
        processes_mentioning(&etcd_data).is_empty(),
        "SIGTERM stopped etcd"
    );
}

#[test]
fn an_etcd_left_on_the_data_directory_is_named_in_the_error() {
    let dir = open_tempdir();
    let data = dir.path().join("server");
    let stray_dir = dir.path().join("stray");
    std::fs::create_dir_all(&stray_dir).unwrap();
    let (client, peer) = (
        orc_testkit::ports::free_port(),
        orc_testkit::ports::free_port(),
    );
    // An etcd on the data directory, as an older orc killed with SIGKILL
    // left it.
    let mut stray = Command::new(require_command("etcd"))
        .current_dir(&stray_dir)
        .arg(format!("--data-dir={}", data.join("etcd").display()))
        .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
        ))
        .arg(format!("--initial-cluster=default=http://127.0.0.1:{peer}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stray_pid = stray.id();
    let out = Command::new(env!("CARGO_BIN_EXE_orc"))
        .arg("server")
        .arg("--data-dir")
        .arg(&data)
        .arg(format!(
            "--listen=127.0.0.1:{}",
            orc_testkit::ports::free_port()
        ))
        .output()
        .unwrap();
    let _ = stray.kill();
    let _ = stray.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("etcd (pid {stray_pid})"))
            && stderr.contains(&data.join("etcd").display().to_string())
            && stderr.contains(&format!("kill {stray_pid}")),
        "{stderr}"
    );
}

#[test]
fn orc_etcd_defrag_shrinks_the_database_to_its_live_data() {
    let (dir, data, _, server) = fresh_server();
    // History to free: one ConfigMap rewritten with 256 KiB values
    // (created, then replaced: `kubectl apply` would copy each value into
    // its last-applied annotation, over the 256 KiB annotations allow).
    let manifest = dir.path().join("cm.yaml");
    for i in 0..20 {
        let value = format!("{i}").repeat(256 * 1024);
        std::fs::write(
            &manifest,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: churn\ndata:\n  v: \"{value}\"\n"),
        )
        .unwrap();
        let verb = if i == 0 { "create" } else { "replace" };
        let (ok, out) = kubectl(
            &server.kubeconfig,
            &[verb, "-f", manifest.to_str().unwrap()],
        );
        assert!(ok, "{out}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["etcd", "defrag", "--compact", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "defragmented etcd at URL: BEFORE bytes → AFTER bytes"
    let sizes: Vec<u64> = stdout
        .lines()
        .find(|l| l.starts_with("defragmented etcd at "))
        .and_then(|l| l.rsplit(": ").next())
        .map(|l| l.split(' ').filter_map(|w| w.parse().ok()).collect())
        .unwrap_or_default();
    assert_eq!(sizes.len(), 2, "{stdout}");
    assert!(sizes[1] < sizes[0] / 2, "{stdout}");
    // The cluster still has its object.
    let (ok, out) = kubectl(&server.kubeconfig, &["get", "configmap", "churn"]);
    assert!(ok, "{out}");
    assert!(server.stop().success());
}

/// The stored value of Secret `name` in `default`.
fn stored_secret(endpoint: &str, name: &str) -> String {
    let key = format!("/registry/secrets/default/{name}");
    let (ok, out) = etcdctl(endpoint, false, &["get", &key, "--print-value-only"]);
    assert!(ok, "{out}");
    out
}

/// `orc secrets reencrypt` with the kubeconfig `orc server` wrote.
fn reencrypt(kubeconfig: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["secrets", "reencrypt", "--kubeconfig"])
        .arg(kubeconfig)
        .output()
        .unwrap();
    success_and_text(&out)
}

/// Secrets are ciphertext in etcd with no flag at all, under a key `orc
/// server` generated into the PKI directory (root's only); rotating it by
/// Kubernetes' procedure with `orc secrets reencrypt` leaves every Secret
/// readable and sealed with the new key.
#[test]
fn secrets_are_encrypted_by_default_and_the_key_rotates() {
    let (_dir, data, _, server) = fresh_server();
    let endpoint = printed_endpoint(&data);
    let config = data.join("pki/encryption-config.yaml");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", config.display());
    for name in ["one", "two"] {
        let (ok, out) = kubectl(
            &server.kubeconfig,
            &[
                "create",
                "secret",
                "generic",
                name,
                "--from-literal=pw=hunter2",
            ],
        );
        assert!(ok, "{out}");
        let raw = stored_secret(&endpoint, name);
        assert!(raw.starts_with("k8s:enc:aesgcm:v1:key1:"), "{raw}");
        assert!(
            !raw.contains("hunter2") && !raw.contains("aHVudGVyMg"),
            "{raw}"
        );
    }

    // Rotation: key2 first, key1 still there to read the old values.
    let text = std::fs::read_to_string(&config).unwrap();
    let key2 = "            - name: key2\n              secret: MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=\n";
    let rotated = text.replacen("          keys:\n", &format!("          keys:\n{key2}"), 1);
    assert_ne!(rotated, text, "the generated file has a keys list: {text}");
    std::fs::write(&config, rotated).unwrap();
    assert!(server.stop().success());
    let server = OrcServer::start(&data);
    let endpoint = printed_endpoint(&data);
    assert!(stored_secret(&endpoint, "one").starts_with("k8s:enc:aesgcm:v1:key1:"));

    let (ok, out) = reencrypt(&server.kubeconfig);
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "2 secrets re-encrypted, 0 rewritten meanwhile by another client, 0 unreadable"
        ),
        "{out}"
    );
    for name in ["one", "two"] {
        let raw = stored_secret(&endpoint, name);
        assert!(raw.starts_with("k8s:enc:aesgcm:v1:key2:"), "{raw}");
        let (ok, out) = kubectl(
            &server.kubeconfig,
            &["get", "secret", name, "-o", "jsonpath={.data.pw}"],
        );
        assert_eq!((ok, out.as_str()), (true, "aHVudGVyMg=="));
    }
    assert!(server.stop().success());
}

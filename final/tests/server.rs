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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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

fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(require_command("kubectl"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .output()
        .unwrap();
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

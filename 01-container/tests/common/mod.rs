//! Fixtures for the runtime's integration tests: a busybox bundle in a temp
//! dir, a private `--root`, and the real `orc-container` binary.
//!
//! Every test gets its own ids, state root and bundle, so tests run in
//! parallel; [`Fixture`] force-deletes its containers when dropped.

#![allow(dead_code)]

use orc_container::Spec;
use orc_container::cgroups::{CGROUP_ROOT, Layout};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Fixture {
    /// Holds the bundle and the state root; removed on drop.
    pub dir: tempfile::TempDir,
    pub bundle: PathBuf,
    pub root: PathBuf,
    ids: Vec<String>,
}

impl Fixture {
    /// A bundle whose rootfs is busybox, with `Spec::example(args)` as config.
    pub fn new(args: &[&str]) -> Fixture {
        orc_testkit::require_root();
        let dir = tempfile::tempdir().unwrap();
        // World-traversable, so a user-namespaced init (host uid 100000)
        // can reach the rootfs and the state directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bundle = dir.path().join("bundle");
        orc_container::busybox::rootfs(&bundle.join("rootfs")).unwrap();
        let root = dir.path().join("state");
        let f = Fixture {
            dir,
            bundle,
            root,
            ids: vec![],
        };
        f.write_spec(&Spec::example(args));
        f
    }

    pub fn write_spec(&self, spec: &Spec) {
        let json = serde_json::to_string_pretty(spec).unwrap();
        std::fs::write(self.bundle.join("config.json"), json).unwrap();
    }

    pub fn spec(&self) -> Spec {
        let text = std::fs::read_to_string(self.bundle.join("config.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Edit the config in place.
    pub fn edit(&self, f: impl FnOnce(&mut Spec)) {
        let mut spec = self.spec();
        f(&mut spec);
        self.write_spec(&spec);
    }

    /// A fresh container id, remembered for cleanup.
    pub fn id(&mut self, prefix: &str) -> String {
        let id = orc_testkit::unique_name(prefix);
        self.ids.push(id.clone());
        id
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orc-container"));
        cmd.arg("--root").arg(&self.root);
        cmd
    }

    /// Run a subcommand to completion, capturing output. Only for commands
    /// that do not leave a container holding our pipes (everything but
    /// `create`, which [`Fixture::create`] handles).
    pub fn orc(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// `create` with the container's stdio sent to files in the temp dir
    /// (a pipe would stay open as long as the container runs). Returns the
    /// create command's output; the container's output is read with
    /// [`Fixture::container_output`].
    pub fn create(&self, id: &str) -> Output {
        let out = std::fs::File::create(self.dir.path().join(format!("{id}.out"))).unwrap();
        let err = out.try_clone().unwrap();
        let status = self
            .command()
            .args(["create", id, "--bundle"])
            .arg(&self.bundle)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap();
        Output {
            status,
            stdout: vec![],
            stderr: self.container_output(id).into_bytes(),
        }
    }

    /// `create` and `start` a new container, asserting both succeed.
    pub fn start_detached(&mut self, prefix: &str) -> String {
        let id = self.id(prefix);
        let out = self.create(&id);
        assert!(out.status.success(), "create: {}", text(&out.stderr));
        let out = self.orc(&["start", &id]);
        assert!(out.status.success(), "start: {}", text(&out.stderr));
        id
    }

    pub fn container_output(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{id}.out"))).unwrap_or_default()
    }

    /// `state` parsed as JSON.
    pub fn state(&self, id: &str) -> serde_json::Value {
        let out = self.orc(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Poll `state` until the status is `want` (or panic after 2 minutes).
    /// The bound only catches a hang: in the emulated cgroup v2 VM, beside
    /// a CPU hog, a memory hog took over 10 s to reach a 16 MiB limit.
    pub fn wait_status(&self, id: &str, want: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let state = self.state(id);
            if state["status"] == want {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {want}: {state}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `run` the current bundle: (exit code, stdout, stderr).
    pub fn run(&mut self) -> (i32, String, String) {
        let id = self.id("run");
        let out = self
            .command()
            .args(["run", &id, "--bundle"])
            .arg(&self.bundle)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            text(&out.stdout),
            text(&out.stderr),
        )
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for id in &self.ids {
            if self.root.join(id).exists() {
                let _ = self.orc(&["delete", "--force", id]);
            }
        }
    }
}

/// Give `spec` a user namespace whose root is `host_id` on the host
/// (65536 ids, for uids and gids alike).
pub fn add_user_namespace(spec: &mut Spec, host_id: u32) {
    use orc_container::spec::{IdMapping, Namespace, NamespaceType};
    let linux = spec.linux.as_mut().unwrap();
    linux.namespaces.push(Namespace {
        kind: NamespaceType::User,
        path: None,
    });
    let map = IdMapping {
        container_id: 0,
        host_id,
        size: 65_536,
    };
    linux.uid_mappings = vec![map.clone()];
    linux.gid_mappings = vec![map];
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The cgroup directories a container with this id has while it exists:
/// one per controller on a v1 host, the one unified directory on v2.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    cgroup_dirs_at(&format!("orc/{id}"))
}

/// [`cgroup_dirs`] of the cgroup at `path` (relative to the hierarchy root).
pub fn cgroup_dirs_at(path: &str) -> Vec<PathBuf> {
    let root = Path::new(CGROUP_ROOT);
    match Layout::of_host() {
        Layout::V1 => ["memory", "cpu", "cpuacct", "pids"]
            .iter()
            .map(|c| root.join(c).join(path))
            .collect(),
        Layout::V2 => vec![root.join(path)],
    }
}

/// A file of container `id`'s cgroup, trimmed: by its v1 name (controller,
/// file) on a v1 host and its v2 name on a v2 host, so one test asserts the
/// same limit on both layouts. Panics, naming the file, when it is missing.
pub fn cgroup_file(id: &str, v1: (&str, &str), v2: &str) -> String {
    cgroup_file_at(&format!("orc/{id}"), v1, v2)
}

/// [`cgroup_file`] of the cgroup at `path` (relative to the hierarchy root).
pub fn cgroup_file_at(path: &str, v1: (&str, &str), v2: &str) -> String {
    let root = Path::new(CGROUP_ROOT);
    let path = match Layout::of_host() {
        Layout::V1 => root.join(v1.0).join(path).join(v1.1),
        Layout::V2 => root.join(path).join(v2),
    };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The value of `key` in a `key value` cgroup file (memory.events,
/// pids.events, cpu.stat), or a panic that shows the file.
pub fn keyed(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"))
}

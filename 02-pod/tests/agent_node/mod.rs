//! A node for the agent tests: a network namespace standing in for the
//! node, a temp state directory, a manifest directory, a unique cgroup
//! root, and the real `orc-container` and `orc-agent` (shim) binaries.
//!
//! Dropping a [`Node`] force-deletes whatever containers are left (a test
//! that failed half-way) and removes its cgroups; the namespace goes with
//! its [`NetnsHost`].

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orc_container::image::Store;
use orc_pod::agent::clock::ManualClock;
use orc_pod::agent::events::{EventSink, PodEvent};
use orc_pod::agent::layout::StateLayout;
use orc_pod::agent::{Agent, AgentConfig};
use orc_pod::image::StoreImages;
use orc_pod::pod_spec::Pod;
use orc_pod::source::{ManifestDir, PodSource};
use orc_pod::status::PodStatus;
use orc_testkit::NetnsHost;

/// The `orc-container` binary.
pub fn runtime_binary() -> PathBuf {
    workspace_binary("orc-container", "orc-container")
}

/// The `orc-agent` binary, which the agent also runs as each container's
/// shim. Cargo names it in `CARGO_BIN_EXE_orc-agent` for this package's
/// tests; `orc`'s own tests (which include this module) have `orc shim`,
/// the same shim; lab 02, which includes this module, has it built.
pub fn agent_binary() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_orc-agent").or(option_env!("CARGO_BIN_EXE_orc")) {
        Some(path) => path.into(),
        None => workspace_binary("orc-pod", "orc-agent"),
    }
}

/// The runtime for a node whose files are under `dir`: a link named
/// `orc-container` (in the node's directory, gone with it) to a binary
/// cargo built before the tests ran. `orc` is the runtime when called
/// `orc-container` (final/src/main.rs; `orc agent` links it the same way),
/// and so is `orc-agent` (src/bin/orc-agent.rs): chapter 02's tests get
/// the agent's binary from cargo as `CARGO_BIN_EXE_orc-agent`, `orc`'s get
/// `CARGO_BIN_EXE_orc`. Building `orc-container` from inside every test
/// process instead ran cargo there, which waits for cargo's lock on the
/// target directory and, after a change to chapter 01, compiles and links
/// the runtime inside the test: minutes at nice 19 on a loaded machine,
/// while the test's timeout runs. Only lab 02, which has neither binary,
/// still builds it (once per test process).
fn runtime_for(dir: &Path) -> PathBuf {
    let Some(node_binary) =
        option_env!("CARGO_BIN_EXE_orc").or(option_env!("CARGO_BIN_EXE_orc-agent"))
    else {
        return runtime_binary();
    };
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("orc-container");
    std::os::unix::fs::symlink(node_binary, &link).unwrap();
    link
}

/// Binary `bin` of workspace package `package`, built on first use.
///
/// Cargo sets `CARGO_BIN_EXE_<name>` only for binaries of the package under
/// test. For another package's binary, the first test to ask builds it with
/// the same cargo, into the same target directory, and finds it where cargo
/// puts binaries: next to the `deps/` directory this test executable runs
/// from (`target/<profile>/`). Cargo releases its build lock before it runs
/// tests, so this does not deadlock (the `escargot` crate relies on the
/// same).
///
/// With `ORC_TEST_BINARIES=DIR` set, the binary is taken from DIR as it is,
/// and cargo never runs: that is how scripts/vm/suite runs these tests in
/// its VM, whose binaries were all built on the host first (a build inside
/// the emulated guest would take many minutes, or hang).
fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("ORC_TEST_BINARIES") {
        let path = Path::new(&dir).join(bin);
        assert!(
            path.is_file(),
            "ORC_TEST_BINARIES: {} does not exist; build it first: cargo build -p {package} --bin {bin}",
            path.display()
        );
        return path;
    }
    assert!(
        std::env::var_os("ORC_IN_VM").is_none(),
        "in the test VM, cargo must not run: set ORC_TEST_BINARIES to the directory of prebuilt binaries"
    );
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = built.get(bin) {
        return path.clone();
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let mut cargo = Command::new(env!("CARGO"));
    // This test runs with the variables cargo sets for the package under
    // test (CARGO_PKG_NAME, CARGO_MANIFEST_DIR, ...). Some build scripts
    // (ring's) rerun when those change, so passing them on would rebuild
    // ring and everything above it here, and again in the next top-level
    // build: minutes each time, inside a test with a timeout.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || key.starts_with("CARGO_BIN_")
            || [
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&key.as_ref())
        {
            cargo.env_remove(key.as_ref());
        }
    }
    cargo
        .args(["build", "-q", "-p", package, "--bin", bin])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().unwrap() == "release" {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("running cargo build");
    assert!(
        status.success(),
        "cargo build -p {package} --bin {bin} failed"
    );
    let path = profile_dir.join(bin);
    assert!(path.exists(), "{} missing after the build", path.display());
    built.insert(bin.to_string(), path.clone());
    path
}

pub struct Node {
    pub host: NetnsHost,
    pub dir: tempfile::TempDir,
    pub manifests: PathBuf,
    pub clock: Arc<ManualClock>,
    pub config: AgentConfig,
    pub layout: StateLayout,
}

impl Node {
    pub fn new() -> Node {
        orc_testkit::require_root();
        Node::on(NetnsHost::new(), "10.244.7.0/24".parse().unwrap())
    }

    /// A node whose network namespace is `host` (one plugged into a test
    /// underlay, say) and whose pods get addresses from `pod_cidr`.
    pub fn on(host: NetnsHost, pod_cidr: orc_pod::Ipv4Cidr) -> Node {
        orc_testkit::require_root();
        let dir = tempfile::tempdir().unwrap();
        let manifests = dir.path().join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        let state = dir.path().join("state");
        let config = AgentConfig {
            state_dir: state.clone(),
            runtime_program: runtime_for(dir.path()),
            shim_program: agent_binary(),
            node_netns: host.path().into(),
            pod_cidr,
            cluster_cidr: "10.244.0.0/16".parse().unwrap(),
            bridge: "orc0".into(),
            cgroup_root: orc_testkit::unique_name("orc-agent-test"),
            sync_period: Duration::from_millis(100),
            node_ip: None,
            cluster_dns: None,
            host_resolv_conf: "/etc/resolv.conf".into(),
        };
        Node {
            host,
            dir,
            manifests,
            clock: Arc::new(ManualClock::default()),
            layout: StateLayout::new(&state),
            config,
        }
    }

    /// An agent for this node (a second call after dropping the first is
    /// an agent restart).
    pub async fn agent(&self) -> Agent {
        let sources: Vec<Box<dyn PodSource>> = vec![Box::new(ManifestDir::new(&self.manifests))];
        let images = Arc::new(StoreImages::new(self.store(), None));
        Agent::new(self.config.clone(), sources, images, self.clock.clone())
            .await
            .unwrap()
    }

    /// An agent that pulls from registries (loopback ones over plain
    /// HTTP), as `orc agent` does unless `--no-pull`.
    pub async fn pulling_agent(&self) -> Agent {
        let sources: Vec<Box<dyn PodSource>> = vec![Box::new(ManifestDir::new(&self.manifests))];
        let pull = orc_container::image::registry::PullOptions::default();
        let images = Arc::new(StoreImages::new(self.store(), Some(pull)));
        Agent::new(self.config.clone(), sources, images, self.clock.clone())
            .await
            .unwrap()
    }

    /// The node's image store: `busybox` appears there on first use; tests
    /// import other images into it.
    pub fn store(&self) -> Store {
        Store::open(self.dir.path().join("images")).unwrap()
    }

    pub fn write_manifest(&self, file: &str, yaml: &str) {
        std::fs::write(self.manifests.join(file), yaml).unwrap();
    }

    pub fn remove_manifest(&self, file: &str) {
        std::fs::remove_file(self.manifests.join(file)).unwrap();
    }

    /// The uid of pod `name`, once the agent wrote it down.
    pub fn uid(&self, name: &str) -> Option<String> {
        self.pods()
            .into_iter()
            .find(|(p, _)| p.metadata.name == name)
            .map(|(p, _)| p.metadata.uid)
    }

    /// Every pod the agent wrote a status for.
    pub fn pods(&self) -> Vec<(Pod, PodStatus)> {
        orc_pod::agent::report::read_statuses(&self.layout)
    }

    pub fn status(&self, name: &str) -> Option<PodStatus> {
        self.pods()
            .into_iter()
            .find(|(p, _)| p.metadata.name == name)
            .map(|(_, s)| s)
    }

    /// Syncs every 100 ms until `done` holds for pod `name`'s status, or
    /// panics after `limit` with the last status.
    pub async fn sync_until(
        &self,
        agent: &mut Agent,
        name: &str,
        limit: Duration,
        done: impl Fn(&PodStatus) -> bool,
    ) -> PodStatus {
        let deadline = Instant::now() + limit;
        loop {
            agent.sync_once().unwrap();
            if let Some(status) = self.status(name) {
                if done(&status) {
                    return status;
                }
                if Instant::now() > deadline {
                    panic!(
                        "pod {name}: condition not met in {limit:?}; status: {}",
                        serde_json::to_string_pretty(&status).unwrap()
                    );
                }
            } else if Instant::now() > deadline {
                panic!("pod {name} has no status after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Syncs until `done()` holds.
    pub async fn sync_while(
        &self,
        agent: &mut Agent,
        limit: Duration,
        what: &str,
        mut done: impl FnMut() -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what}: not done after {limit:?}"
            );
            agent.sync_once().unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The runtime's containers (id, status).
    pub fn containers(&self) -> Vec<(String, String)> {
        orc_container::Runtime::new(self.layout.runtime_root())
            .list()
            .unwrap()
            .into_iter()
            .map(|s| (s.id, s.status.to_string()))
            .collect()
    }

    /// The pid of the running container whose id starts with `prefix`
    /// (`<uid>-pod` is a pod's sandbox, whose namespaces its containers
    /// share; `<uid>-<name>-` a container).
    pub fn pid(&self, prefix: &str) -> Option<i32> {
        orc_container::Runtime::new(self.layout.runtime_root())
            .list()
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.id.starts_with(prefix) && s.status.to_string() == "running")
            .map(|s| s.pid)
    }

    /// The cgroup directories left under this node's cgroup root, in any
    /// hierarchy: `/sys/fs/cgroup/<root>` on v2, under each controller on v1.
    pub fn cgroups_left(&self) -> Vec<PathBuf> {
        let base = Path::new("/sys/fs/cgroup");
        std::iter::once(base.to_path_buf())
            .chain(std::fs::read_dir(base).unwrap().flatten().map(|e| e.path()))
            .map(|p| p.join(&self.config.cgroup_root))
            .filter(|p| p.is_dir())
            .collect()
    }

    /// Mount points under this node's temp directory: container roots
    /// (overlayfs) that were not unmounted.
    pub fn mounts_left(&self) -> Vec<PathBuf> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        mountinfo
            .lines()
            // Field 5 is the mount point (spaces escaped as \040).
            .filter_map(|line| line.split(' ').nth(4))
            .map(PathBuf::from)
            .filter(|p| p.starts_with(self.dir.path()))
            .collect()
    }

    /// Checks that a drained node left nothing behind.
    pub fn assert_clean(&self) {
        assert_eq!(self.containers(), vec![], "containers left");
        assert_eq!(self.mounts_left(), Vec::<PathBuf>::new(), "mounts left");
        assert_eq!(self.cgroups_left(), Vec::<PathBuf>::new(), "cgroups left");
        let ipam: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.layout.ipam()).unwrap()).unwrap();
        assert_eq!(ipam["allocations"], serde_json::json!({}), "addresses left");
        let links = self.host.run("ip", &["-o", "link"]);
        assert!(
            !links.contains("veth") && !links.contains("orc0"),
            "links left: {links}"
        );
    }

    /// A file of the cgroup `<root>/<qos>pod<uid>/<id>` (`qos` is
    /// `burstable/`, `besteffort/` or empty for Guaranteed; `id` empty for
    /// the pod's own cgroup), read by its v1 name (`(controller, file)`,
    /// under `/sys/fs/cgroup/<controller>/`) or its v2 name, whichever this
    /// host has.
    pub fn cgroup_file(
        &self,
        qos: &str,
        uid: &str,
        id: &str,
        v1: (&str, &str),
        v2: &str,
    ) -> String {
        self.cgroup_read(&format!("{qos}pod{uid}/{id}"), v1, v2)
    }

    /// A file of cgroup `<root>/<rel>`, by its v1 or v2 name.
    pub fn cgroup_read(&self, rel: &str, (controller, v1): (&str, &str), v2: &str) -> String {
        let base = Path::new("/sys/fs/cgroup");
        let (hierarchy, file) = match orc_container::cgroups::Layout::of_host() {
            orc_container::cgroups::Layout::V1 => (base.join(controller), v1),
            orc_container::cgroups::Layout::V2 => (base.to_path_buf(), v2),
        };
        let path = hierarchy
            .join(&self.config.cgroup_root)
            .join(rel.trim_matches('/'))
            .join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_string()
    }
}

/// The events an agent wrote, kept for a test to read.
#[derive(Default)]
pub struct RecordedEvents(Mutex<Vec<(String, PodEvent)>>);

impl RecordedEvents {
    /// Every event so far about pod `name`.
    pub fn of(&self, name: &str) -> Vec<PodEvent> {
        let events = self.0.lock().unwrap_or_else(|p| p.into_inner());
        events
            .iter()
            .filter(|(pod, _)| pod == name)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// `reason: message` of each event about pod `name`'s part `field_path`.
    pub fn lines(&self, name: &str, field_path: &str) -> Vec<String> {
        self.of(name)
            .into_iter()
            .filter(|e| e.field_path.as_deref() == Some(field_path))
            .map(|e| format!("{}: {}", e.reason, e.message))
            .collect()
    }
}

impl EventSink for RecordedEvents {
    fn pod_event(&self, pod: &Pod, event: PodEvent) {
        let mut events = self.0.lock().unwrap_or_else(|p| p.into_inner());
        events.push((pod.metadata.name.clone(), event));
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let rt = orc_container::Runtime::new(self.layout.runtime_root());
        for s in rt.list().unwrap_or_default() {
            let _ = rt.delete(&s.id, true);
        }
        for dir in self.cgroups_left() {
            remove_tree(&dir);
        }
        // Deepest first, so that nothing is unmounted from under another.
        let mut mounts = self.mounts_left();
        mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for mount in mounts {
            let _ = nix::mount::umount2(&mount, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn remove_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            remove_tree(&e.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

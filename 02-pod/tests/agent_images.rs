//! The agent runs images from chapter 01's image store: images built here
//! as OCI layouts (no registry needed), imported into the node's store, and
//! run by real containers, each on its own overlayfs root.
//!
//! Root only, like `tests/agent.rs`.

mod agent_node;

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use agent_node::{Node, RecordedEvents};
use orc_container::image::build::{self, DEFAULT_PATH, LayerBuilder};
use orc_container::image::manifest::RunConfig;
use orc_container::image::oci_layout;
use orc_pod::status::{ContainerState, Phase, PodStatus};
use orc_testkit::registry::Registry;

/// How long a step may take before the test fails: a bound, not a wait.
/// A pull from the test's registry goes through a registry process, the
/// image store and a layer unpack; beside a CPU hog and other builds it
/// took over 30 s (2 failures in 20), so the bound is generous.
const LONG: Duration = Duration::from_secs(120);

/// `app:1`: busybox, plus `/app/hello.txt`, run from `/app` by default.
fn import_app_image(node: &Node) {
    let mut app = LayerBuilder::new();
    app.file("app/hello.txt", b"from the image\n", 0o644);
    let run = RunConfig {
        env: vec![DEFAULT_PATH.into(), "GREETING=image".into()],
        entrypoint: vec!["sh".into(), "-c".into()],
        cmd: vec![
            "cat hello.txt; echo $GREETING; pwd; echo written > /app/note; sleep 3600".into(),
        ],
        working_dir: "/app".into(),
        ..RunConfig::default()
    };
    let base = build::busybox_layer(Path::new("/bin/busybox")).unwrap();
    let layout = node.dir.path().join("app-layout");
    build::write_image(&layout, "app:1", &[base, app.finish()], run).unwrap();
    oci_layout::import(&node.store(), &layout, None).unwrap();
}

fn state<'a>(s: &'a PodStatus, container: &str) -> &'a ContainerState {
    &s.container_statuses
        .iter()
        .find(|c| c.name == container)
        .unwrap()
        .state
}

fn running(s: &PodStatus) -> bool {
    s.container_statuses
        .iter()
        .all(|c| matches!(c.state, ContainerState::Running { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_store_images_each_container_on_its_own_overlay() {
    let node = Node::new();
    import_app_image(&node);
    // `first` runs the image's default command with one variable
    // overridden; `second` only sleeps, on a root of the same image.
    node.write_manifest(
        "app.yaml",
        "metadata: {name: app}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - name: first\n    image: app:1\n    env: [{name: GREETING, value: pod}]\n  - {name: second, image: app:1, command: [sleep, '3600']}\n",
    );
    let mut agent = node.agent().await;
    node.sync_until(&mut agent, "app", LONG, running).await;
    let uid = node.uid("app").unwrap();

    // The image's entrypoint, cmd and working directory; the pod's env.
    let log = node.layout.log(&uid, "first", 0);
    node.sync_while(&mut agent, LONG, "first's output", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.lines().count() >= 3)
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "from the image\npod\n/app\n"
    );

    // first's write went to its own upper dir: not into the shared layers,
    // not into second's root.
    let first = node.layout.bundle(&uid, "first", 0);
    let second = node.layout.bundle(&uid, "second", 0);
    node.sync_while(&mut agent, LONG, "first's write", || {
        first.join("root/upper/app/note").exists()
    })
    .await;
    assert!(!second.join("root/upper/app/note").exists());
    for layer in std::fs::read_dir(node.store().root().join("layers")).unwrap() {
        assert!(!layer.unwrap().path().join("app/note").exists());
    }
    let exec = |id: &str, script: &str| {
        std::process::Command::new(&node.config.runtime_program)
            .arg("--root")
            .arg(node.layout.runtime_root())
            .args(["exec", id, "--", "sh", "-c", script])
            .status()
            .unwrap()
            .success()
    };
    let second_id = orc_pod::sandbox::container_id(&uid, "second", 0);
    assert!(exec(
        &second_id,
        "test -f /app/hello.txt && test ! -e /app/note"
    ));
    assert_eq!(node.mounts_left().len(), 3, "sandbox, first, second");

    // Removing the pod unmounts every root and deletes the upper dirs.
    node.remove_manifest("app.yaml");
    node.sync_while(&mut agent, LONG, "pod removal", || {
        node.mounts_left().is_empty() && !node.layout.pod(&uid).exists()
    })
    .await;
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_image_waits_with_err_image_pull() {
    let node = Node::new();
    node.write_manifest(
        "ghost.yaml",
        "metadata: {name: ghost}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {name: main, image: 'example.org/ghost:1.0'}\n",
    );
    let mut agent = node.agent().await;
    let status = node
        .sync_until(&mut agent, "ghost", LONG, |s| {
            state(s, "main").reason() == "ErrImagePull"
        })
        .await;
    assert_eq!(status.phase, Phase::Pending);
    let ContainerState::Waiting { message, .. } = state(&status, "main") else {
        unreachable!()
    };
    let message = message.clone().unwrap_or_default();
    assert!(message.contains("example.org/ghost:1.0"), "{message}");
    assert!(message.contains("not in the store"), "{message}");
    // Only the sandbox's root is mounted: a failed container leaves none.
    assert_eq!(node.mounts_left().len(), 1);

    node.remove_manifest("ghost.yaml");
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_run_loses_its_root_but_keeps_how_it_ended() {
    let node = Node::new();
    node.write_manifest(
        "crasher.yaml",
        "metadata: {name: crasher}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {name: main, image: busybox, command: [sh, -c, 'echo x > /x; exit 3']}\n",
    );
    let mut agent = node.agent().await;
    // The first restart is immediate; the second waits (the clock is the test's).
    node.sync_until(&mut agent, "crasher", LONG, |s| {
        s.container_statuses[0].restart_count == 1
            && state(s, "main").reason() == "CrashLoopBackOff"
    })
    .await;
    let uid = node.uid("crasher").unwrap();
    let first = node.layout.bundle(&uid, "main", 0);
    // The replaced run 0 is removed from the runtime, and its root with it.
    node.sync_while(&mut agent, LONG, "run 0's root removed", || {
        !first.join("root").exists()
    })
    .await;
    assert!(first.join("exit.json").exists());
    let status = node.status("crasher").unwrap();
    let last = status.container_statuses[0].last_state.as_ref().unwrap();
    assert!(
        matches!(last, ContainerState::Terminated { exit_code: 3, .. }),
        "{last:?}"
    );
    assert_eq!(node.mounts_left().len(), 2, "the sandbox's and run 1's");

    node.remove_manifest("crasher.yaml");
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

/// An OCI layout holding `app:v`: busybox and a `/version` file saying
/// `version`.
fn version_layout(node: &Node, version: &str) -> std::path::PathBuf {
    let mut app = LayerBuilder::new();
    app.file("version", format!("{version}\n").as_bytes(), 0o644);
    let run = RunConfig {
        env: vec![DEFAULT_PATH.into()],
        ..RunConfig::default()
    };
    let base = build::busybox_layer(Path::new("/bin/busybox")).unwrap();
    let layout = node.dir.path().join(format!("layout-{version}"));
    build::write_image(&layout, "app:v", &[base, app.finish()], run).unwrap();
    layout
}

fn restarts(s: &PodStatus) -> u32 {
    s.container_statuses[0].restart_count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_policy_always_fetches_the_tag_again_at_each_start() {
    let node = Node::new();
    let registry = Registry::start(None);
    registry.push(&version_layout(&node, "1"), "app:v", "app:latest", &[]);
    // No tag: the default policy is Always. The container prints the
    // image's version, then exits when the test says so.
    let image = format!("{}/app", registry.addr);
    node.write_manifest(
        "moving.yaml",
        &format!(
            "metadata: {{name: moving}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - name: app\n    image: {image}\n    command: [sh, -c, 'cat /version; until [ -e /tmp/go ]; do sleep 0.1; done; exit 1']\n"
        ),
    );
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.pulling_agent().await;
    agent.set_event_sink(events.clone());
    node.sync_until(&mut agent, "moving", LONG, running).await;
    let uid = node.uid("moving").unwrap();
    let log = |attempt| node.layout.log(&uid, "app", attempt);
    node.sync_while(&mut agent, LONG, "run 0's output", || {
        std::fs::read_to_string(log(0)).is_ok_and(|l| !l.is_empty())
    })
    .await;
    assert_eq!(std::fs::read_to_string(log(0)).unwrap(), "1\n");

    // The tag moves on the registry; the next start fetches it again.
    registry.push(&version_layout(&node, "2"), "app:v", "app:latest", &[]);
    let run0 = orc_pod::sandbox::container_id(&uid, "app", 0);
    let go = std::process::Command::new(&node.config.runtime_program)
        .arg("--root")
        .arg(node.layout.runtime_root())
        .args(["exec", &run0, "--", "touch", "/tmp/go"])
        .status()
        .unwrap();
    assert!(go.success());
    node.sync_until(&mut agent, "moving", LONG, |s| {
        restarts(s) == 1 && running(s)
    })
    .await;
    node.sync_while(&mut agent, LONG, "run 1's output", || {
        std::fs::read_to_string(log(1)).is_ok_and(|l| !l.is_empty())
    })
    .await;
    assert_eq!(std::fs::read_to_string(log(1)).unwrap(), "2\n");

    // Each start said Pulling and Pulled, about the container.
    let lines = events.lines("moving", "spec.containers{app}");
    let pulling = format!("Pulling: Pulling image {image:?}");
    let pulled = format!("Pulled: Successfully pulled image {image:?} in ");
    assert_eq!(
        lines.iter().filter(|l| **l == pulling).count(),
        2,
        "{lines:#?}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with(&pulled) && l.contains(" including waiting). Image size: "))
            .count(),
        2,
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("already present")),
        "{lines:#?}"
    );

    node.remove_manifest("moving.yaml");
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_not_present_uses_the_store_and_never_does_not_fetch() {
    let node = Node::new();
    import_app_image(&node);
    // `app:1` is in the store; `app:2` is nowhere. The agent may pull
    // (from Docker Hub, for these names), but no policy here lets it.
    node.write_manifest(
        "local.yaml",
        "metadata: {name: local}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {name: present, image: 'app:1', command: [sleep, '3600']}\n  - {name: pinned, image: 'app:1', imagePullPolicy: Never, command: [sleep, '3600']}\n  - {name: absent, image: 'app:2', imagePullPolicy: Never}\n",
    );
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.pulling_agent().await;
    agent.set_event_sink(events.clone());
    let want = "Container image \"app:2\" is not present with pull policy of Never";
    let status = node
        .sync_until(&mut agent, "local", LONG, |s| {
            matches!(state(s, "present"), ContainerState::Running { .. })
                && matches!(state(s, "pinned"), ContainerState::Running { .. })
                && state(s, "absent").reason() == "ErrImageNeverPull"
        })
        .await;
    let ContainerState::Waiting { message, .. } = state(&status, "absent") else {
        unreachable!()
    };
    assert_eq!(message.as_deref(), Some(want));
    assert_eq!(status.phase, Phase::Pending);

    let present = "Pulled: Container image \"app:1\" already present on machine";
    for container in ["present", "pinned"] {
        let lines = events.lines("local", &format!("spec.containers{{{container}}}"));
        assert_eq!(lines[0], present, "{lines:#?}");
        assert!(
            !lines.iter().any(|l| l.starts_with("Pulling")),
            "{lines:#?}"
        );
    }
    let lines = events.lines("local", "spec.containers{absent}");
    assert_eq!(lines, [format!("ErrImageNeverPull: {want}")]);

    node.remove_manifest("local.yaml");
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

//! The agent runs images from chapter 01's image store: images built here
//! as OCI layouts (no registry needed), imported into the node's store, and
//! run by real containers, each on its own overlayfs root.
//!
//! Root only, like `tests/agent.rs`.

mod agent_node;

use std::path::Path;
use std::time::Duration;

use agent_node::{Node, runtime_binary};
use orc_container::image::build::{self, DEFAULT_PATH, LayerBuilder};
use orc_container::image::manifest::RunConfig;
use orc_container::image::oci_layout;
use orc_pod::status::{ContainerState, Phase, PodStatus};

const LONG: Duration = Duration::from_secs(30);

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
        std::process::Command::new(runtime_binary())
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

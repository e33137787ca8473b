//! A pod's `securityContext` on real containers: who the process is, its
//! capabilities, `no_new_privs`, a read-only root, and the group that
//! owns the pod's volumes. Root only; each test has its own node.

mod agent_node;

use std::time::Duration;

use agent_node::Node;
use orc_pod::status::{ContainerState, PodStatus};

/// Generous: these tests also run under QEMU's software emulation.
const LONG: Duration = Duration::from_secs(120);

fn all_terminated(s: &PodStatus) -> bool {
    !s.container_statuses.is_empty()
        && s.container_statuses
            .iter()
            .all(|c| matches!(c.state, ContainerState::Terminated { .. }))
}

/// The kernel's capability masks of the container's process and its
/// no_new_privs flag, as `/proc/self/status` prints them (one line each).
const STATUS: &str = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_groups_capabilities_and_a_read_only_root_reach_the_process() {
    let node = Node::new();
    node.write_manifest(
        "secure.yaml",
        &format!(
            r#"
metadata: {{name: secure}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    supplementalGroups: [4000]
    fsGroup: 2000
  volumes:
  - {{name: data, emptyDir: {{}}}}
  containers:
  - name: ident
    image: busybox
    command: [sh, -c, "id; echo hi > /data/f; stat -c '%g %A' /data/f /data; {STATUS}"]
    volumeMounts: [{{name: data, mountPath: /data}}]
  - name: root-default
    image: busybox
    command: [sh, -c, "{STATUS}"]
    securityContext: {{runAsUser: 0, runAsGroup: 0}}
  - name: drop-all
    image: busybox
    command: [sh, -c, "{STATUS}"]
    securityContext:
      runAsUser: 0
      allowPrivilegeEscalation: false
      capabilities: {{drop: [ALL]}}
  - name: net-admin
    image: busybox
    command: [sh, -c, "{STATUS}"]
    securityContext:
      runAsUser: 0
      capabilities: {{add: [NET_ADMIN]}}
  - name: read-only
    image: busybox
    command: [sh, -c, "touch /x || echo root is read-only; touch /data/y && echo volume is writable"]
    securityContext: {{runAsUser: 0, readOnlyRootFilesystem: true}}
    volumeMounts: [{{name: data, mountPath: /data}}]
"#
        ),
    );
    let mut agent = node.agent().await;
    node.sync_until(&mut agent, "secure", LONG, all_terminated)
        .await;
    let uid = node.uid("secure").unwrap();
    let log = |name: &str| std::fs::read_to_string(node.layout.log(&uid, name, 0)).unwrap();

    // runAsUser, runAsGroup, then the primary group, fsGroup and
    // supplementalGroups as supplementary groups; a file the process
    // creates in the emptyDir belongs to fsGroup (the setgid directory);
    // a non-root process keeps no capability across exec, only the
    // bounding set.
    let bounding = "00000000a80425fb";
    assert_eq!(
        log("ident"),
        format!(
            "uid=1000 gid=3000 groups=2000,3000,4000\n\
             2000 -rw-r--r--\n\
             2000 drwxrwsrwx\n\
             CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n\
             CapBnd:\t{bounding}\nCapAmb:\t0000000000000000\nNoNewPrivs:\t0\n"
        )
    );
    let masks = |mask: &str, nnp: u8| {
        format!(
            "CapInh:\t0000000000000000\nCapPrm:\t{mask}\nCapEff:\t{mask}\n\
             CapBnd:\t{mask}\nCapAmb:\t0000000000000000\nNoNewPrivs:\t{nnp}\n"
        )
    };
    // containerd's fourteen, no more.
    assert_eq!(log("root-default"), masks(bounding, 0));
    assert_eq!(log("drop-all"), masks("0000000000000000", 1));
    // CAP_NET_ADMIN is bit 12.
    assert_eq!(log("net-admin"), masks("00000000a80435fb", 0));
    let read_only = log("read-only");
    assert!(
        read_only.ends_with("root is read-only\nvolume is writable\n"),
        "{read_only}"
    );
    assert!(read_only.contains("Read-only file system"), "{read_only}");

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_as_non_root_with_a_root_image_is_a_create_container_config_error() {
    let node = Node::new();
    node.write_manifest(
        "nonroot.yaml",
        "metadata: {name: nonroot, uid: u-nonroot}\nspec:\n  terminationGracePeriodSeconds: 1\n  securityContext: {runAsNonRoot: true}\n  containers:\n  - {name: app, image: busybox, command: [sleep, '3600']}\n",
    );
    let mut agent = node.agent().await;
    let waiting = |s: &PodStatus| {
        s.container_statuses.first().is_some_and(|c| {
            matches!(&c.state, ContainerState::Waiting { reason, .. } if reason == "CreateContainerConfigError")
        })
    };
    let status = node.sync_until(&mut agent, "nonroot", LONG, waiting).await;
    let ContainerState::Waiting { message, .. } = &status.container_statuses[0].state else {
        unreachable!()
    };
    // The busybox image names no user: it runs as root.
    assert_eq!(
        message.as_deref(),
        Some(
            "container has runAsNonRoot and image will run as root (pod: \"nonroot_default(u-nonroot)\", container: app)"
        )
    );
    // Nothing runs but the sandbox, and the refused container's root was
    // not left mounted.
    let app = format!("{}-app-", node.uid("nonroot").unwrap());
    assert!(
        node.containers()
            .iter()
            .all(|(id, _)| !id.starts_with(&app))
    );
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

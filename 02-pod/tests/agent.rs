//! The node agent with real containers on a node made of a network namespace.
//!
//! Root only. Each test has its own node (namespace, state directory,
//! cgroup root), drains it at the end and checks that nothing is left.

mod agent_node;

use std::time::{Duration, Instant};

use agent_node::Node;
use orc_pod::status::{ContainerState, Phase};

const LONG: Duration = Duration::from_secs(30);

fn ready(s: &orc_pod::status::PodStatus) -> bool {
    s.conditions
        .iter()
        .any(|c| c.kind == "Ready" && c.status == "True")
}

fn reason(s: &orc_pod::status::PodStatus, container: &str) -> String {
    let c = s
        .container_statuses
        .iter()
        .find(|c| c.name == container)
        .unwrap();
    c.state.reason().to_string()
}

fn restarts(s: &orc_pod::status::PodStatus, container: &str) -> u32 {
    s.container_statuses
        .iter()
        .find(|c| c.name == container)
        .unwrap()
        .restart_count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_share_localhost_volumes_and_become_ready() {
    let node = Node::new();
    let host_dir = node.dir.path().join("host");
    std::fs::create_dir_all(&host_dir).unwrap();
    node.write_manifest(
        "web.yaml",
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {{app: web}}
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: shared
    emptyDir: {{}}
  - name: host
    hostPath: {{path: {host}}}
  containers:
  - name: server
    image: busybox
    command: [sh, -c, "echo hello from $HOSTNAME > /www/index.html; exec httpd -f -p 8080 -h /www"]
    ports: [{{containerPort: 8080}}]
    resources:
      requests: {{cpu: 250m}}
      limits: {{cpu: 500m, memory: 64Mi}}
    volumeMounts: [{{name: shared, mountPath: /www}}]
    readinessProbe:
      httpGet: {{path: /index.html, port: 8080}}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
  - name: client
    image: busybox
    command: [sh, -c]
    args:
    - until wget -q -O /data/fetched http://127.0.0.1:8080/index.html; do sleep 0.2; done;
      cp /data/fetched /host/fetched; echo fetched; exec sleep 3600
    volumeMounts:
    - {{name: shared, mountPath: /data}}
    - {{name: host, mountPath: /host}}
"#,
            host = host_dir.display()
        ),
    );
    let mut agent = node.agent().await;
    let status = node.sync_until(&mut agent, "web", LONG, ready).await;
    assert_eq!(status.phase, Phase::Running);
    let ip = status.pod_ip.clone().expect("pod IP");
    assert!(ip.starts_with("10.244.7."), "{ip}");

    // The client reached the server on localhost, through the shared
    // emptyDir, and wrote to the hostPath.
    node.sync_while(&mut agent, LONG, "client fetched", || {
        host_dir.join("fetched").exists()
    })
    .await;
    let fetched = std::fs::read_to_string(host_dir.join("fetched")).unwrap();
    assert_eq!(
        fetched, "hello from web\n",
        "the pod's hostname is its name"
    );

    // The pod IP answers from the node's namespace.
    let page = node.host.run(
        "busybox",
        &[
            "wget",
            "-q",
            "-O",
            "-",
            &format!("http://{ip}:8080/index.html"),
        ],
    );
    assert_eq!(page, "hello from web\n");

    // Resources became cgroup settings inside the pod's cgroup.
    let uid = node.uid("web").unwrap();
    let id = format!("{uid}-server-0");
    assert_eq!(
        node.cgroup_file("memory", &uid, &id, "memory.limit_in_bytes"),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        node.cgroup_file("cpu", &uid, &id, "cpu.cfs_quota_us"),
        "50000"
    );
    assert_eq!(node.cgroup_file("cpu", &uid, &id, "cpu.shares"), "256");

    // Logs are on disk, per container and run.
    let log = std::fs::read_to_string(node.layout.log(&uid, "client", 0)).unwrap();
    assert_eq!(log, "fetched\n");

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_policies_and_crash_loop_back_off() {
    let node = Node::new();
    let pod = |name: &str, policy: &str, script: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {policy}\n  terminationGracePeriodSeconds: 0\n  containers:\n  - name: main\n    image: busybox\n    command: [sh, -c, '{script}']\n"
        )
    };
    let all = [
        pod("crasher", "Always", "echo crashing; exit 3"),
        pod("job-ok", "OnFailure", "exit 0"),
        pod("job-retry", "OnFailure", "exit 1"),
        pod("once", "Never", "exit 2"),
    ];
    node.write_manifest("pods.yaml", &all.join("---\n"));
    let mut agent = node.agent().await;

    // Never: one run, then Failed with the exit code and reason Error.
    let once = node
        .sync_until(&mut agent, "once", LONG, |s| s.phase == Phase::Failed)
        .await;
    let main = &once.container_statuses[0];
    assert_eq!(main.restart_count, 0);
    assert!(
        matches!(&main.state, ContainerState::Terminated { exit_code: 2, reason, .. } if reason == "Error"),
        "{main:?}"
    );
    // OnFailure, exit 0: Succeeded, Completed.
    let ok = node
        .sync_until(&mut agent, "job-ok", LONG, |s| s.phase == Phase::Succeeded)
        .await;
    assert_eq!(reason(&ok, "main"), "Completed");

    // Always: the first restart is immediate, the second waits 10 s in
    // CrashLoopBackOff. The clock is the test's: nothing moves until it does.
    let crasher = node
        .sync_until(&mut agent, "crasher", LONG, |s| {
            restarts(s, "main") == 1 && reason(s, "main") == "CrashLoopBackOff"
        })
        .await;
    assert_eq!(crasher.phase, Phase::Running, "a restarting pod is Running");
    let last = crasher.container_statuses[0].last_state.as_ref().unwrap();
    assert!(matches!(
        last,
        ContainerState::Terminated { exit_code: 3, .. }
    ));
    let retry = node
        .sync_until(&mut agent, "job-retry", LONG, |s| {
            reason(s, "main") == "CrashLoopBackOff"
        })
        .await;
    assert_eq!(restarts(&retry, "main"), 1, "OnFailure restarts a failure");

    let wait_until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < wait_until {
        agent.sync_once().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        restarts(&node.status("crasher").unwrap(), "main"),
        1,
        "still backing off"
    );

    node.clock.advance(Duration::from_secs(10));
    let crasher = node
        .sync_until(&mut agent, "crasher", LONG, |s| {
            restarts(s, "main") == 2 && reason(s, "main") == "CrashLoopBackOff"
        })
        .await;
    let ContainerState::Waiting { message, .. } = &crasher.container_statuses[0].state else {
        unreachable!()
    };
    assert!(
        message.as_deref().unwrap().contains("back-off 20s"),
        "{message:?}"
    );
    let log =
        std::fs::read_to_string(node.layout.log(&node.uid("crasher").unwrap(), "main", 1)).unwrap();
    assert_eq!(log, "crashing\n", "each run has its own log");

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

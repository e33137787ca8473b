//! The node agent with real containers on a node made of a network namespace.
//!
//! Root only. Each test has its own node (namespace, state directory,
//! cgroup root), drains it at the end and checks that nothing is left.

mod agent_node;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_node::{Node, RecordedEvents};
use orc_container::cgroups::Layout;
use orc_pod::status::{ContainerState, Phase};

/// Generous: these tests also run in scripts/vm/suite's VM, under QEMU's
/// software emulation on one CPU, where four pods took over 120 s to start
/// on a loaded host. Only a failing test waits this long.
const LONG: Duration = Duration::from_secs(300);

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

    // Resources became cgroup settings inside the pod's cgroup, under the
    // Burstable class's cgroup (the server has requests below its limits,
    // the client none), in v1's or v2's files and units.
    let uid = node.uid("web").unwrap();
    let id = format!("{uid}-server-0");
    let server = |v1, v2| node.cgroup_file("burstable/", &uid, &id, v1, v2);
    let pod = |v1, v2| node.cgroup_file("burstable/", &uid, "", v1, v2);
    assert_eq!(
        server(("memory", "memory.limit_in_bytes"), "memory.max"),
        (64u64 << 20).to_string()
    );
    // The pod cgroup: shares from all requests (server's 250m; the client
    // has none), no pod-wide limits since the client has none.
    match Layout::of_host() {
        Layout::V1 => {
            assert_eq!(server(("cpu", "cpu.cfs_quota_us"), ""), "50000");
            assert_eq!(server(("cpu", "cpu.shares"), ""), "256");
            assert_eq!(pod(("cpu", "cpu.shares"), ""), "256");
            assert_eq!(pod(("cpu", "cpu.cfs_quota_us"), ""), "-1");
        }
        Layout::V2 => {
            assert_eq!(server(("", ""), "cpu.max"), "50000 100000");
            // 256 shares on the curve runc and crun use: weight 35. The
            // pod cgroup is the kubelet's, which maps shares linearly: 10.
            assert_eq!(server(("", ""), "cpu.weight"), "35");
            assert_eq!(server(("", ""), "memory.oom.group"), "1");
            assert_eq!(pod(("", ""), "cpu.weight"), "10");
            assert_eq!(pod(("", ""), "cpu.max"), "max 100000");
            assert_eq!(pod(("", ""), "memory.max"), "max");
        }
    }

    // Logs are on disk, per container and run.
    let log = std::fs::read_to_string(node.layout.log(&uid, "client", 0)).unwrap();
    assert_eq!(log, "fetched\n");

    // The command line reads the same files.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orc-agent"))
            .arg("--state")
            .arg(&node.config.state_dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = cli(&["pods"]);
    let row = table.lines().find(|l| l.contains(" web ")).unwrap();
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        words,
        ["default", "web", "2/2", "Running", "0", ip.as_str()],
        "{table}"
    );
    assert_eq!(cli(&["logs", "web", "-c", "client"]), "fetched\n");

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
    // A finished pod's sandbox is stopped and its address given back.
    let uid = node.uid("once").unwrap();
    node.sync_while(
        &mut agent,
        LONG,
        "sandbox of a finished pod stopped",
        || {
            !node
                .containers()
                .iter()
                .any(|(id, _)| id == &format!("{uid}-pod"))
        },
    )
    .await;
    // The status keeps the address the pod had, as the kubelet's does
    // once the sandbox is gone (kubernetes#125404).
    let ended = node
        .sync_until(&mut agent, "once", LONG, |s| s.phase == Phase::Failed)
        .await;
    assert!(ended.pod_ip.is_some(), "{ended:?}");
    assert_eq!(ended.pod_ip, once.pod_ip);
    assert!(!node.containers().is_empty());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_termination_sigterm_then_sigkill_after_the_grace_period() {
    let node = Node::new();
    let host_dir = node.dir.path().join("host");
    std::fs::create_dir_all(&host_dir).unwrap();
    // `sleep` is pid 1 of its pid namespace and has no SIGTERM handler, so
    // the kernel drops the SIGTERM: only the SIGKILL after 2 s stops it.
    node.write_manifest(
        "stubborn.yaml",
        "metadata: {name: stubborn}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - {name: main, image: busybox, command: [sleep, '3600']}\n",
    );
    // This one handles SIGTERM and leaves a note on the node.
    node.write_manifest(
        "polite.yaml",
        &format!(
            "metadata: {{name: polite}}\nspec:\n  terminationGracePeriodSeconds: 60\n  volumes: [{{name: host, hostPath: {{path: {}}}}}]\n  containers:\n  - name: main\n    image: busybox\n    volumeMounts: [{{name: host, mountPath: /host}}]\n    command: [sh, -c, 'trap \"echo got TERM > /host/polite; exit 0\" TERM; while true; do sleep 0.1; done']\n",
            host_dir.display()
        ),
    );
    let mut agent = node.agent().await;
    for pod in ["stubborn", "polite"] {
        node.sync_until(&mut agent, pod, LONG, |s| s.phase == Phase::Running)
            .await;
    }
    let (stubborn, polite) = (node.uid("stubborn").unwrap(), node.uid("polite").unwrap());
    let start = Instant::now();
    node.remove_manifest("stubborn.yaml");
    node.remove_manifest("polite.yaml");
    let (mut stubborn_gone, mut polite_gone) = (None, None);
    node.sync_while(&mut agent, LONG, "both pods stopped", || {
        if stubborn_gone.is_none() && !node.layout.pod(&stubborn).exists() {
            stubborn_gone = Some(start.elapsed());
        }
        if polite_gone.is_none() && !node.layout.pod(&polite).exists() {
            polite_gone = Some(start.elapsed());
        }
        stubborn_gone.is_some() && polite_gone.is_some()
    })
    .await;
    let (stubborn_gone, polite_gone) = (stubborn_gone.unwrap(), polite_gone.unwrap());
    assert!(
        stubborn_gone >= Duration::from_secs(2),
        "SIGKILL came before the grace period: {stubborn_gone:?}"
    );
    assert!(
        polite_gone < Duration::from_secs(30),
        "the polite pod waited out its grace period: {polite_gone:?}"
    );
    assert_eq!(
        std::fs::read_to_string(host_dir.join("polite")).unwrap(),
        "got TERM\n"
    );
    assert_eq!(node.containers(), vec![], "stopped pods leave no container");

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_failure_restarts_and_readiness_flips_ready() {
    let node = Node::new();
    node.write_manifest(
        "probed.yaml",
        r#"
metadata: {name: probed}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "touch /state/alive; exec sleep 3600"]
    volumeMounts: [{name: state, mountPath: /state}]
    readinessProbe:
      exec: {command: [cat, /state/ready]}
      periodSeconds: 1
      failureThreshold: 1
    livenessProbe:
      exec: {command: [cat, /state/alive]}
      periodSeconds: 1
      failureThreshold: 2
"#,
    );
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.agent().await;
    agent.set_event_sink(events.clone());
    let status = node
        .sync_until(&mut agent, "probed", LONG, |s| s.phase == Phase::Running)
        .await;
    assert!(
        !ready(&status),
        "not ready before the readiness probe passes"
    );
    let volume = node.layout.volume(&node.uid("probed").unwrap(), "state");

    // The test plays the application: it makes the readiness check pass...
    std::fs::write(volume.join("ready"), "").unwrap();
    node.sync_until(&mut agent, "probed", LONG, ready).await;
    // ...and fail again.
    std::fs::remove_file(volume.join("ready")).unwrap();
    node.sync_until(&mut agent, "probed", LONG, |s| !ready(s))
        .await;

    // A failing liveness probe gets the container killed and restarted;
    // the new run recreates /state/alive and stays.
    std::fs::remove_file(volume.join("alive")).unwrap();
    let status = node
        .sync_until(&mut agent, "probed", LONG, |s| {
            restarts(s, "main") == 1 && reason(s, "main") == "Running"
        })
        .await;
    let last = status.container_statuses[0].last_state.as_ref().unwrap();
    assert!(
        matches!(last, ContainerState::Terminated { exit_code: 137, .. }),
        "killed by SIGKILL after the grace period: {last:?}"
    );
    // Every failed check was an `Unhealthy` event about the container,
    // quoting what the probe's command said, as the kubelet's are.
    let lines = events.lines("probed", "spec.containers{main}");
    for (kind, file) in [("Readiness", "ready"), ("Liveness", "alive")] {
        let want = format!(
            "Unhealthy: {kind} probe failed: cat: can't open '/state/{file}': No such file or directory"
        );
        assert!(lines.contains(&want), "{want} in {lines:#?}");
    }
    let killing = "Killing: Container main failed liveness probe, will be restarted";
    assert!(lines.iter().any(|l| l == killing), "{lines:#?}");

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_over_its_memory_limit_is_oom_killed() {
    let node = Node::new();
    node.write_manifest(
        "hog.yaml",
        r#"
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    # tail keeps the whole (newline-free) input in memory.
    command: [sh, -c, "head -c 200m /dev/zero | tail"]
    resources:
      limits: {memory: 16Mi}
"#,
    );
    let mut agent = node.agent().await;
    let status = node
        .sync_until(&mut agent, "hog", LONG, |s| s.phase == Phase::Failed)
        .await;
    let main = &status.container_statuses[0];
    assert!(
        matches!(&main.state, ContainerState::Terminated { exit_code: 137, reason, .. } if reason == "OOMKilled"),
        "{main:?}"
    );
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

/// An OOM kill in a container of several processes: on cgroup v2 the agent
/// asks for `memory.oom.group`, and the kernel kills the whole container
/// (its shell and the `sleep` beside the hog), which ends as OOMKilled. v1
/// has no such switch: only the hog dies and the shell lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_kill_ends_the_whole_container_on_cgroup_v2() {
    let node = Node::new();
    node.write_manifest(
        "group.yaml",
        r#"
metadata: {name: group}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "sleep 3600 & head -c 200m /dev/zero | tail; exec sleep 3600"]
    resources:
      limits: {memory: 16Mi}
"#,
    );
    let mut agent = node.agent().await;
    match Layout::of_host() {
        Layout::V2 => {
            let status = node
                .sync_until(&mut agent, "group", LONG, |s| s.phase == Phase::Failed)
                .await;
            let main = &status.container_statuses[0];
            assert!(
                matches!(&main.state, ContainerState::Terminated { exit_code: 137, reason, .. } if reason == "OOMKilled"),
                "{main:?}"
            );
        }
        Layout::V1 => {
            node.sync_until(&mut agent, "group", LONG, |s| s.phase == Phase::Running)
                .await;
            let uid = node.uid("group").unwrap();
            let id = format!("{uid}-main-0");
            let oom_kills = || {
                let text = node.cgroup_file(
                    "burstable/",
                    &uid,
                    &id,
                    ("memory", "memory.oom_control"),
                    "",
                );
                text.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ")?.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            node.sync_while(&mut agent, LONG, "the hog OOM-killed", || oom_kills() > 0)
                .await;
            agent.sync_once().unwrap();
            let status = node.status("group").unwrap();
            assert_eq!(status.phase, Phase::Running, "{status:?}");
            assert_eq!(reason(&status, "main"), "Running");
        }
    }
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

/// The kubelet's cgroup tree: Guaranteed pods right under the root,
/// Burstable and BestEffort ones under a cgroup of their class; each pod's
/// limits the sum of its containers'; BestEffort weighing the least, and
/// Burstable as much as its pods' requests together, following them as
/// pods come and go. On v2 the pod and class cgroups carry the kubelet's
/// linear shares-to-weight map (204 shares: weight 8).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_live_in_the_cgroup_of_their_qos_class() {
    let node = Node::new();
    let pod = |name: &str, resources: &str| {
        format!(
            "metadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {{name: a, image: busybox, command: [sleep, '3600'], resources: {resources}}}\n  - {{name: b, image: busybox, command: [sleep, '3600'], resources: {resources}}}\n"
        )
    };
    node.write_manifest(
        "guaranteed.yaml",
        &pod("guaranteed", "{limits: {cpu: 100m, memory: 16Mi}}"),
    );
    node.write_manifest(
        "burstable.yaml",
        &pod("burstable", "{requests: {cpu: 100m}}"),
    );
    node.write_manifest("besteffort.yaml", &pod("besteffort", "{}"));
    let mut agent = node.agent().await;
    for name in ["guaranteed", "burstable", "besteffort"] {
        node.sync_until(&mut agent, name, LONG, |s| s.phase == Phase::Running)
            .await;
    }

    // `/stats/summary` (what `kubectl top` and the HPA read) from the pod's
    // and the containers' cgroups: CPU time spent, a working set within
    // the pod's memory limit. (A spinning pod here starved the others'
    // start in the one-CPU VM: sleeping ones must do.)
    let summary = orc_pod::agent::stats::read_summary(&node.layout).unwrap();
    let stats = summary
        .pods
        .iter()
        .find(|p| p.pod_ref.name == "guaranteed")
        .expect("the guaranteed pod in the summary");
    assert_eq!(stats.containers.len(), 2, "{stats:?}");
    for c in &stats.containers {
        assert!(c.cpu.usage_core_nano_seconds > 0, "{stats:?}");
        assert!(c.memory.working_set_bytes > 0, "{stats:?}");
    }
    assert!(stats.cpu.usage_core_nano_seconds > 0, "{stats:?}");
    assert!(
        stats.memory.working_set_bytes >= stats.containers[0].memory.working_set_bytes,
        "{stats:?}"
    );
    assert!(
        stats.memory.working_set_bytes < 32 << 20,
        "under its limit: {stats:?}"
    );
    let root = Path::new("/sys/fs/cgroup");
    let hierarchy = match Layout::of_host() {
        Layout::V1 => root.join("cpu"),
        Layout::V2 => root.to_path_buf(),
    };
    let base = hierarchy.join(&node.config.cgroup_root);
    for (name, qos) in [
        ("guaranteed", ""),
        ("burstable", "burstable/"),
        ("besteffort", "besteffort/"),
    ] {
        let uid = node.uid(name).unwrap();
        let places: Vec<bool> = ["", "burstable/", "besteffort/"]
            .iter()
            .map(|q| base.join(format!("{q}pod{uid}")).is_dir())
            .collect();
        let expected: Vec<bool> = ["", "burstable/", "besteffort/"]
            .iter()
            .map(|q| *q == qos)
            .collect();
        assert_eq!(
            places, expected,
            "pod {name} under {qos:?} and nowhere else"
        );
        // Both containers' cgroups are inside the pod's.
        for c in ["a", "b"] {
            assert!(base.join(format!("{qos}pod{uid}/{uid}-{c}-0")).is_dir());
        }
    }
    let g = node.uid("guaranteed").unwrap();
    let b = node.uid("burstable").unwrap();
    let e = node.uid("besteffort").unwrap();
    let read = |rel: &str, v1, v2| node.cgroup_read(rel, v1, v2);
    match Layout::of_host() {
        Layout::V1 => {
            let g = format!("pod{g}");
            assert_eq!(read(&g, ("cpu", "cpu.cfs_quota_us"), ""), "20000");
            assert_eq!(read(&g, ("cpu", "cpu.shares"), ""), "204");
            assert_eq!(
                read(&g, ("memory", "memory.limit_in_bytes"), ""),
                (32u64 << 20).to_string()
            );
            let b = format!("burstable/pod{b}");
            assert_eq!(read(&b, ("cpu", "cpu.shares"), ""), "204");
            assert_eq!(read("burstable", ("cpu", "cpu.shares"), ""), "204");
            assert_eq!(read(&b, ("cpu", "cpu.cfs_quota_us"), ""), "-1");
            assert_eq!(read("besteffort", ("cpu", "cpu.shares"), ""), "2");
            assert_eq!(
                read(&format!("besteffort/pod{e}"), ("cpu", "cpu.shares"), ""),
                "2"
            );
        }
        Layout::V2 => {
            let g = format!("pod{g}");
            assert_eq!(read(&g, ("", ""), "cpu.max"), "20000 100000");
            assert_eq!(read(&g, ("", ""), "cpu.weight"), "8");
            assert_eq!(read(&g, ("", ""), "memory.max"), (32u64 << 20).to_string());
            let b = format!("burstable/pod{b}");
            assert_eq!(read(&b, ("", ""), "cpu.weight"), "8");
            assert_eq!(read("burstable", ("", ""), "cpu.weight"), "8");
            // The containers' cgroups are the runtime's: 102 shares on
            // runc's curve.
            assert_eq!(
                read(
                    &format!("{b}/{}-a-0", node.uid("burstable").unwrap()),
                    ("", ""),
                    "cpu.weight"
                ),
                "17"
            );
            assert_eq!(read(&b, ("", ""), "cpu.max"), "max 100000");
            assert_eq!(read(&b, ("", ""), "memory.max"), "max");
            assert_eq!(read("besteffort", ("", ""), "cpu.weight"), "1");
            assert_eq!(
                read(&format!("besteffort/pod{e}"), ("", ""), "cpu.weight"),
                "1"
            );
            // Controllers handed down the whole way, to each container.
            for dir in ["", "burstable", b.as_str()] {
                assert_eq!(
                    read(dir, ("", ""), "cgroup.subtree_control"),
                    "cpu memory pids"
                );
            }
        }
    }
    // A pod that goes takes its cgroup with it; its class's stays.
    node.remove_manifest("burstable.yaml");
    node.sync_while(&mut agent, LONG, "burstable pod's cgroup removed", || {
        !base.join(format!("burstable/pod{b}")).exists()
    })
    .await;
    assert!(base.join("burstable").is_dir());
    // With no Burstable pod left, the class weighs the least again.
    let (v1, v2) = (("cpu", "cpu.shares"), "cpu.weight");
    let least = if Layout::of_host() == Layout::V1 {
        "2"
    } else {
        "1"
    };
    node.sync_while(
        &mut agent,
        LONG,
        "the Burstable class back to the minimum",
        || read("burstable", v1, v2) == least,
    )
    .await;
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_are_reported_and_do_not_stop_the_others() {
    let node = Node::new();
    node.write_manifest(
        "bad.yaml",
        "metadata: {name: bad}\nspec:\n  containers:\n  - name: main\n    image: busybox\n    ports: [{containerPort: eighty}]\n",
    );
    node.write_manifest(
        "good.yaml",
        "metadata: {name: good}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers: [{name: main, image: busybox, command: [sleep, '3600']}]\n---\nmetadata: {name: elsewhere}\nspec:\n  containers: [{name: main, image: nginx}]\n",
    );
    let mut agent = node.agent().await;
    node.sync_until(&mut agent, "good", LONG, |s| s.phase == Phase::Running)
        .await;
    let missing = node
        .sync_until(&mut agent, "elsewhere", LONG, |s| {
            reason(s, "main") == "ErrImagePull"
        })
        .await;
    assert_eq!(missing.phase, Phase::Pending);

    let errors: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.layout.manifest_errors()).unwrap()).unwrap();
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("manifests/bad.yaml")
    );
    assert_eq!(
        errors[0]["field"],
        "spec.containers[0].ports[0].containerPort"
    );
    assert_eq!(errors[0]["location"], "6:29");

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_adopts_running_pods() {
    let node = Node::new();
    node.write_manifest(
        "steady.yaml",
        "metadata: {name: steady}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {name: a, image: busybox, command: [sleep, '3600']}\n  - {name: b, image: busybox, command: [sleep, '3600']}\n",
    );
    let mut agent = node.agent().await;
    let before = node
        .sync_until(&mut agent, "steady", LONG, |s| {
            s.phase == Phase::Running && ready(s)
        })
        .await;
    let containers = node.containers();
    assert_eq!(
        containers.len(),
        3,
        "a sandbox and two containers: {containers:?}"
    );
    agent.wait_idle().await;
    drop(agent); // the agent stops; its pods go on.

    let mut agent = node.agent().await;
    for _ in 0..15 {
        agent.sync_once().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.wait_idle().await;
    assert_eq!(
        node.containers(),
        containers,
        "no duplicates, nothing restarted"
    );
    let after = node.status("steady").unwrap();
    assert_eq!(after.pod_ip, before.pod_ip, "the same address");
    assert_eq!(restarts(&after, "a") + restarts(&after, "b"), 0);

    // A pod whose manifest went away while no agent ran is an orphan: the
    // next agent stops it and gives its address back.
    agent.wait_idle().await;
    drop(agent);
    node.remove_manifest("steady.yaml");
    let mut agent = node.agent().await;
    node.sync_while(&mut agent, LONG, "orphan stopped", || {
        node.containers().is_empty() && node.pods().is_empty()
    })
    .await;
    agent.wait_idle().await;
    let ipam: serde_json::Value =
        serde_json::from_slice(&std::fs::read(node.layout.ipam()).unwrap()).unwrap();
    assert_eq!(ipam["allocations"], serde_json::json!({}));
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_path_expr_mounts_the_directory_its_variables_name() {
    let node = Node::new();
    node.write_manifest(
        "expr.yaml",
        r#"
metadata: {name: expr}
spec:
  terminationGracePeriodSeconds: 0
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: writer
    image: busybox
    env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
    command: [sh, -c, "echo from $POD_NAME > /out/file; exec sleep 3600"]
    volumeMounts: [{name: data, mountPath: /out, subPathExpr: "logs/$(POD_NAME)"}]
  - name: unset
    image: busybox
    command: [sleep, "3600"]
    volumeMounts: [{name: data, mountPath: /out, subPathExpr: "$(NODE_NAME)"}]
"#,
    );
    let mut agent = node.agent().await;
    let status = node
        .sync_until(&mut agent, "expr", LONG, |s| {
            reason(s, "writer") == "Running" && reason(s, "unset") == "CreateContainerConfigError"
        })
        .await;
    let unset = status.container_statuses.iter().find(|c| c.name == "unset");
    let ContainerState::Waiting { message, .. } = &unset.unwrap().state else {
        unreachable!()
    };
    assert_eq!(message.as_deref(), Some("missing value for NODE_NAME"));

    // The writer's /out is the volume's logs/expr directory.
    let file = node
        .layout
        .volume(&node.uid("expr").unwrap(), "data")
        .join("logs/expr/file");
    node.sync_while(&mut agent, LONG, "the writer's file", || {
        std::fs::read_to_string(&file).is_ok_and(|f| !f.is_empty())
    })
    .await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "from expr\n");

    node.remove_manifest("expr.yaml");
    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

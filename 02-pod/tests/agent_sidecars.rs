//! Startup probes and sidecar containers with real containers, on a node
//! made of a network namespace (chapter 02's test node).
//!
//! Root only. The test plays the application: it creates and removes the
//! files the probes look for in the pod's emptyDir, and the containers
//! leave notes in a host directory, so what happened in which order can be
//! read after the pod is gone. Every wait is on the pod's status, the
//! agent's events or those notes; none is a sleep.

mod agent_node;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_node::{Node, RecordedEvents};
use orc_pod::status::{ContainerState, ContainerStatus, Phase, PodStatus};

/// Generous: these tests also run in scripts/vm/suite's VM.
const LONG: Duration = Duration::from_secs(120);

fn condition(s: &PodStatus, kind: &str) -> bool {
    s.conditions
        .iter()
        .any(|c| c.kind == kind && c.status == "True")
}

/// Container `name`'s status, app or init.
fn container<'a>(s: &'a PodStatus, name: &str) -> &'a ContainerStatus {
    s.container_statuses
        .iter()
        .chain(&s.init_container_statuses)
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no status for {name}: {s:?}"))
}

fn running(s: &PodStatus, name: &str) -> bool {
    matches!(container(s, name).state, ContainerState::Running { .. })
}

fn started(s: &PodStatus, name: &str) -> bool {
    container(s, name).started == Some(true)
}

/// How many of `lines` are exactly `want`.
fn count(lines: &[String], want: &str) -> usize {
    lines.iter().filter(|l| *l == want).count()
}

/// A sh loop as pid 1 that notes `word` in /out/order when it gets
/// SIGTERM (pid 1 gets it only with a handler) and exits 0.
fn noting(word: &str, body: &str) -> String {
    format!("trap 'echo {word} >> /out/order; exit 0' TERM; {body}")
}

fn order(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("order")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_probe_holds_liveness_back_and_its_failure_kills() {
    let node = Node::new();
    // `slow` starts when the test says so; until then its liveness probe,
    // which would fail, must not run. After that it does, and fails.
    node.write_manifest(
        "slow.yaml",
        r#"
metadata: {name: slow}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    volumeMounts: [{name: state, mountPath: /state}]
    startupProbe:
      exec: {command: [cat, /state/up]}
      periodSeconds: 1
      failureThreshold: 1000
    livenessProbe:
      exec: {command: [cat, /state/alive]}
      periodSeconds: 1
      failureThreshold: 1
"#,
    );
    // `never-up` and `gives-up` never pass theirs: killed after two
    // failures, restarted under Always, left terminated under Never.
    for (name, policy) in [("never-up", "Always"), ("gives-up", "Never")] {
        node.write_manifest(
            &format!("{name}.yaml"),
            &format!(
                r#"
metadata: {{name: {name}}}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    startupProbe:
      exec: {{command: [cat, /nope]}}
      periodSeconds: 1
      failureThreshold: 2
"#
            ),
        );
    }
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.agent().await;
    agent.set_event_sink(events.clone());
    let main = "spec.containers{main}";
    let startup_failed = |file: &str| {
        format!(
            "Unhealthy: Startup probe failed: cat: can't open '{file}': No such file or directory"
        )
    };

    // Running, not started, not ready, while the startup probe fails.
    let status = node
        .sync_until(&mut agent, "slow", LONG, |s| running(s, "main"))
        .await;
    assert!(!started(&status, "main") && !container(&status, "main").ready);
    let up_missing = startup_failed("/state/up");
    node.sync_while(&mut agent, LONG, "three startup failures", || {
        count(&events.lines("slow", main), &up_missing) >= 3
    })
    .await;
    let status = node.status("slow").unwrap();
    assert!(!started(&status, "main"), "{status:?}");
    assert!(!condition(&status, "Ready"), "{status:?}");
    // The liveness probe has not run: no Liveness event, no kill.
    let lines = events.lines("slow", main);
    assert!(
        !lines.iter().any(|l| l.contains("Liveness")),
        "liveness ran before the startup probe passed: {lines:#?}"
    );
    assert_eq!(container(&status, "main").restart_count, 0);

    // The application is up: started and ready (no readiness probe).
    let volume = node.layout.volume(&node.uid("slow").unwrap(), "state");
    std::fs::write(volume.join("up"), "").unwrap();
    std::fs::write(volume.join("alive"), "").unwrap();
    node.sync_until(&mut agent, "slow", LONG, |s| {
        started(s, "main") && condition(s, "Ready")
    })
    .await;
    // Now liveness runs: it fails, and the container is restarted.
    std::fs::remove_file(volume.join("alive")).unwrap();
    node.sync_until(&mut agent, "slow", LONG, |s| {
        container(s, "main").restart_count == 1
    })
    .await;
    let killed = "Killing: Container main failed liveness probe, will be restarted";
    node.sync_while(&mut agent, LONG, "liveness kill event", || {
        count(&events.lines("slow", main), killed) >= 1
    })
    .await;

    // A startup probe that never passes: killed and restarted...
    let status = node
        .sync_until(&mut agent, "never-up", LONG, |s| {
            container(s, "main").restart_count >= 1
        })
        .await;
    let last = container(&status, "main").last_state.clone();
    assert!(
        matches!(
            last,
            Some(ContainerState::Terminated { exit_code: 137, .. })
        ),
        "killed by SIGKILL after the grace period: {last:?}"
    );
    let lines = events.lines("never-up", main);
    assert!(lines.contains(&startup_failed("/nope")), "{lines:#?}");
    let killed = "Killing: Container main failed startup probe, will be restarted";
    assert!(lines.iter().any(|l| l == killed), "{lines:#?}");
    // ...or, under Never, left terminated: the pod has failed.
    let status = node
        .sync_until(&mut agent, "gives-up", LONG, |s| s.phase == Phase::Failed)
        .await;
    let state = &container(&status, "main").state;
    assert!(
        matches!(state, ContainerState::Terminated { exit_code: 137, .. }),
        "{state:?}"
    );
    assert!(!started(&status, "main"));
    let lines = events.lines("gives-up", main);
    let killed = "Killing: Container main failed startup probe";
    assert!(lines.iter().any(|l| l == killed), "{lines:#?}");

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

/// A `Never` pod: sidecar `proxy` (with a startup and a readiness probe
/// the test controls), init container `setup`, sidecar `logger`, and the
/// app, which exits 0 when told to.
fn sidecar_pod(name: &str, policy: &str, out: &Path) -> String {
    let forever = "while true; do sleep 0.1; done";
    let proxy = noting("proxy", &format!("touch /work/proxy; {forever}"));
    let logger = noting(
        "logger",
        "while [ ! -e /work/logger-exit ]; do sleep 0.1; done; rm /work/logger-exit",
    );
    let app = noting(
        "app",
        "while [ ! -e /work/done ]; do sleep 0.1; done; echo app done >> /out/order",
    );
    format!(
        r#"
metadata: {{name: {name}}}
spec:
  restartPolicy: {policy}
  terminationGracePeriodSeconds: 30
  volumes:
  - {{name: work, emptyDir: {{}}}}
  - {{name: out, hostPath: {{path: {out}}}}}
  initContainers:
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "{proxy}"]
    volumeMounts: [{{name: work, mountPath: /work}}, {{name: out, mountPath: /out}}]
    startupProbe:
      exec: {{command: [cat, /work/proxy-up]}}
      periodSeconds: 1
      failureThreshold: 1000
    readinessProbe:
      exec: {{command: [cat, /work/proxy-up]}}
      periodSeconds: 1
      failureThreshold: 1
  - name: setup
    image: busybox
    command: [sh, -c, "cat /work/proxy && echo setup >> /out/order"]
    volumeMounts: [{{name: work, mountPath: /work}}, {{name: out, mountPath: /out}}]
  - name: logger
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "{logger}"]
    volumeMounts: [{{name: work, mountPath: /work}}, {{name: out, mountPath: /out}}]
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "{app}"]
    volumeMounts: [{{name: work, mountPath: /work}}, {{name: out, mountPath: /out}}]
"#,
        out = out.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_start_in_turn_keep_running_and_stop_after_the_app() {
    let node = Node::new();
    let out = node.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    node.write_manifest("sided.yaml", &sidecar_pod("sided", "Never", &out));
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.agent().await;
    agent.set_event_sink(events.clone());

    // The proxy runs, but until its startup probe passes `setup` waits.
    node.sync_until(&mut agent, "sided", LONG, |s| running(s, "proxy"))
        .await;
    let up_missing = "Unhealthy: Startup probe failed: cat: can't open '/work/proxy-up': No such file or directory";
    node.sync_while(&mut agent, LONG, "two startup failures", || {
        count(
            &events.lines("sided", "spec.initContainers{proxy}"),
            up_missing,
        ) >= 2
    })
    .await;
    let status = node.status("sided").unwrap();
    assert!(!started(&status, "proxy"), "{status:?}");
    let setup = &container(&status, "setup").state;
    assert!(
        matches!(setup, ContainerState::Waiting { .. }),
        "setup ran before the sidecar started: {setup:?}"
    );
    assert!(!condition(&status, "Initialized") && status.phase == Phase::Pending);

    // It starts: setup runs to completion, then the logger, then the app.
    let uid = node.uid("sided").unwrap();
    let work = node.layout.volume(&uid, "work");
    std::fs::write(work.join("proxy-up"), "").unwrap();
    let status = node
        .sync_until(&mut agent, "sided", LONG, |s| {
            running(s, "app") && condition(s, "Ready")
        })
        .await;
    assert_eq!(status.phase, Phase::Running);
    assert!(condition(&status, "Initialized"));
    for sidecar in ["proxy", "logger"] {
        let c = container(&status, sidecar);
        assert!(
            running(&status, sidecar) && started(&status, sidecar) && c.ready,
            "{c:?}"
        );
    }
    assert_eq!(container(&status, "setup").state.reason(), "Completed");
    assert_eq!(order(&out), "setup\n");
    let names: Vec<&str> = status
        .init_container_statuses
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["proxy", "setup", "logger"]);

    // The proxy's readiness is the pod's: not ready, then ready again.
    std::fs::remove_file(work.join("proxy-up")).unwrap();
    let status = node
        .sync_until(&mut agent, "sided", LONG, |s| !condition(s, "Ready"))
        .await;
    assert!(
        container(&status, "app").ready,
        "the app itself stays ready"
    );
    std::fs::write(work.join("proxy-up"), "").unwrap();
    node.sync_until(&mut agent, "sided", LONG, |s| condition(s, "Ready"))
        .await;

    // A sidecar that exits is restarted, although the pod's policy is
    // Never and it exited 0; the app is left alone.
    std::fs::write(work.join("logger-exit"), "").unwrap();
    node.sync_until(&mut agent, "sided", LONG, |s| {
        container(s, "logger").restart_count == 1 && running(s, "logger")
    })
    .await;
    let status = node.status("sided").unwrap();
    assert_eq!(container(&status, "app").restart_count, 0);
    assert_eq!(container(&status, "setup").restart_count, 0);

    // The app finishes: the sidecars are stopped, the last one first, and
    // the pod has succeeded by its app alone.
    std::fs::write(work.join("done"), "").unwrap();
    let status = node
        .sync_until(&mut agent, "sided", LONG, |s| {
            s.phase == Phase::Succeeded && !running(s, "proxy") && !running(s, "logger")
        })
        .await;
    assert_eq!(order(&out), "setup\napp done\nlogger\nproxy\n");
    assert_eq!(container(&status, "app").state.reason(), "Completed");
    let stopping: Vec<String> = ["logger", "proxy"]
        .iter()
        .flat_map(|c| events.lines("sided", &format!("spec.initContainers{{{c}}}")))
        .filter(|l| l.starts_with("Killing"))
        .collect();
    assert_eq!(
        stopping,
        [
            "Killing: Stopping container logger",
            "Killing: Stopping container proxy"
        ]
    );
    // Nothing of the pod runs any more: its sandbox went too.
    node.sync_while(&mut agent, LONG, "the sandbox stopped", || {
        node.pid(&format!("{uid}-")).is_none()
    })
    .await;

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_pod_stops_its_app_then_its_sidecars_last_first() {
    let node = Node::new();
    let out = node.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    node.write_manifest("served.yaml", &sidecar_pod("served", "Always", &out));
    let mut agent = node.agent().await;
    node.sync_until(&mut agent, "served", LONG, |s| running(s, "proxy"))
        .await;
    let uid = node.uid("served").unwrap();
    let work = node.layout.volume(&uid, "work");
    std::fs::write(work.join("proxy-up"), "").unwrap();
    node.sync_until(&mut agent, "served", LONG, |s| condition(s, "Ready"))
        .await;

    node.remove_manifest("served.yaml");
    node.sync_while(&mut agent, LONG, "the pod stopped", || {
        !node.layout.pod(&uid).exists()
    })
    .await;
    // Each noted its SIGTERM: the app first, then the sidecars in the
    // reverse of their start order.
    assert_eq!(order(&out), "setup\napp\nlogger\nproxy\n");

    agent.drain_and_teardown().await.unwrap();
    node.assert_clean();
}

//! Lifecycle hooks and termination messages with real containers, on a
//! node made of a network namespace (chapter 02's test node).
//!
//! Root only. Containers leave notes in a host directory mounted at
//! `/out`, so the order of what happened (hook, SIGTERM) can be read after
//! the pod is gone. Every wait is on the pod's status, the agent's events
//! or those notes; none is a sleep.

mod agent_node;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agent_node::{Node, RecordedEvents};
use orc_pod::status::{ContainerState, ContainerStatus, PodStatus};

/// Generous: these tests also run in scripts/vm/suite's VM.
const LONG: Duration = Duration::from_secs(120);

fn container<'a>(s: &'a PodStatus, name: &str) -> &'a ContainerStatus {
    s.container_statuses
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no status for {name}: {s:?}"))
}

fn running(s: &PodStatus, name: &str) -> bool {
    matches!(container(s, name).state, ContainerState::Running { .. })
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// A host directory for the pod's notes.
fn out_dir(node: &Node) -> std::path::PathBuf {
    let out = node.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    out
}

/// Removes the manifest and syncs until nothing of pod `name` (`uid`) is left.
async fn delete_pod(node: &Node, agent: &mut orc_pod::agent::Agent, file: &str, uid: &str) {
    node.remove_manifest(file);
    node.sync_while(agent, LONG, "the pod is gone", || {
        !node.layout.pod(uid).exists()
    })
    .await;
    agent.wait_idle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_start_holds_the_container_back_until_it_returns() {
    let node = Node::new();
    let out = out_dir(&node);
    // The hook notes that it began, waits for the test's word, then
    // writes the file the readiness probe looks for.
    node.write_manifest(
        "hooked.yaml",
        &format!(
            r#"
metadata: {{name: hooked}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: out, hostPath: {{path: {out}}}}}]
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      postStart:
        exec:
          command: [sh, -c, "touch /out/hook-began; while [ ! -e /out/go ]; do sleep 0.1; done; echo up > /out/ready"]
    readinessProbe:
      exec: {{command: [cat, /out/ready]}}
      periodSeconds: 1
"#,
            out = out.display()
        ),
    );
    let mut agent = node.agent().await;
    node.sync_while(&mut agent, LONG, "the hook began", || {
        out.join("hook-began").exists()
    })
    .await;
    // The process runs and the hook with it, but the container is still
    // being created: not Running, not started, not ready.
    agent.sync_once().unwrap();
    let status = node.status("hooked").unwrap();
    let main = container(&status, "main");
    assert!(
        matches!(&main.state, ContainerState::Waiting { reason, .. } if reason == "ContainerCreating"),
        "running before its postStart hook returned: {main:?}"
    );
    assert!(!main.ready && main.started == Some(false), "{main:?}");
    assert!(!out.join("ready").exists());

    std::fs::write(out.join("go"), "").unwrap();
    let status = node
        .sync_until(&mut agent, "hooked", LONG, |s| {
            running(s, "main") && container(s, "main").ready
        })
        .await;
    assert_eq!(container(&status, "main").restart_count, 0);
    assert_eq!(read(&out, "ready"), "up\n");
    let uid = node.uid("hooked").unwrap();
    delete_pod(&node, &mut agent, "hooked.yaml", &uid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_post_start_kills_the_container_and_it_restarts() {
    let node = Node::new();
    node.write_manifest(
        "failing.yaml",
        r#"
metadata: {name: failing}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo no config; exit 3"]}
"#,
    );
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.agent().await;
    agent.set_event_sink(events.clone());
    let status = node
        .sync_until(&mut agent, "failing", LONG, |s| {
            container(s, "main").restart_count >= 1
                && matches!(container(s, "main").state, ContainerState::Waiting { .. })
        })
        .await;
    let main = container(&status, "main");
    // The killed run is the last state; it never counted as Running.
    assert!(
        matches!(
            &main.last_state,
            Some(ContainerState::Terminated { exit_code: 137, .. })
        ),
        "{main:?}"
    );
    let lines = events.lines("failing", "spec.containers{main}");
    for want in [
        "Started: Started container main",
        "FailedPostStartHook: PostStartHook failed",
        "Killing: FailedPostStartHook",
    ] {
        assert!(lines.iter().any(|l| l == want), "no {want:?} in {lines:#?}");
    }
    let uid = node.uid("failing").unwrap();
    delete_pod(&node, &mut agent, "failing.yaml", &uid).await;
}

/// A sidecar serving HTTP on port 8080 of the pod (busybox httpd, each
/// request's URL logged to /out/httpd), started (its startup probe
/// passed) before any app container: so an app container's `postStart`
/// `httpGet` finds the server listening, with no race against its start.
const HTTP_SIDECAR: &str = r#"
  initContainers:
  - name: server
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "mkdir -p /www && exec httpd -f -vv -p 8080 -h /www 2>>/out/httpd"]
    volumeMounts: [{name: out, mountPath: /out}]
    startupProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 60"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_post_start_hook_reaches_the_pod_by_port_number_and_by_name() {
    let node = Node::new();
    let out = out_dir(&node);
    // `number` names port 8080; `named` names its own port `web`, which
    // is 8080, served by the sidecar: the pod shares one network.
    node.write_manifest(
        "hooks.yaml",
        &format!(
            r#"
metadata: {{name: hooks}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: out, hostPath: {{path: {out}}}}}]{HTTP_SIDECAR}
  containers:
  - name: number
    image: busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart:
        httpGet: {{path: /by-number, port: 8080}}
  - name: named
    image: busybox
    command: [sleep, "3600"]
    ports: [{{name: web, containerPort: 8080}}]
    lifecycle:
      postStart:
        httpGet: {{path: /by-name, port: web, httpHeaders: [{{name: X-Hook, value: start}}]}}
"#,
            out = out.display()
        ),
    );
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.agent().await;
    agent.set_event_sink(events.clone());
    let status = node
        .sync_until(&mut agent, "hooks", LONG, |s| {
            running(s, "number") && running(s, "named")
        })
        .await;
    // Each hook's GET reached the server before its container ran.
    let log = read(&out, "httpd");
    assert!(log.contains("url:/by-number"), "no hook request in {log:?}");
    assert!(log.contains("url:/by-name"), "no hook request in {log:?}");
    for name in ["number", "named"] {
        assert_eq!(container(&status, name).restart_count, 0, "{status:?}");
        let lines = events.lines("hooks", &format!("spec.containers{{{name}}}"));
        assert!(
            !lines.iter().any(|l| l.starts_with("FailedPostStartHook")),
            "{name}: {lines:#?}"
        );
    }
    let uid = node.uid("hooks").unwrap();
    delete_pod(&node, &mut agent, "hooks.yaml", &uid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_post_start_hook_nobody_answers_kills_the_container_and_it_restarts() {
    let node = Node::new();
    let out = out_dir(&node);
    // The server listens on 8080; the hook asks 8081, where nothing does.
    node.write_manifest(
        "unanswered.yaml",
        &format!(
            r#"
metadata: {{name: unanswered}}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{{name: out, hostPath: {{path: {out}}}}}]{HTTP_SIDECAR}
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart:
        httpGet: {{path: /warm-up, port: 8081}}
"#,
            out = out.display()
        ),
    );
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.agent().await;
    agent.set_event_sink(events.clone());
    let status = node
        .sync_until(&mut agent, "unanswered", LONG, |s| {
            container(s, "main").restart_count >= 1
                && matches!(container(s, "main").state, ContainerState::Waiting { .. })
        })
        .await;
    let main = container(&status, "main");
    assert!(
        matches!(
            &main.last_state,
            Some(ContainerState::Terminated { exit_code: 137, .. })
        ),
        "{main:?}"
    );
    let lines = events.lines("unanswered", "spec.containers{main}");
    for want in [
        "FailedPostStartHook: PostStartHook failed",
        "Killing: FailedPostStartHook",
    ] {
        assert!(lines.iter().any(|l| l == want), "no {want:?} in {lines:#?}");
    }
    // The sidecar's server was up and saw no request: the hook asked
    // the port it named, not another.
    assert!(!read(&out, "httpd").contains("/warm-up"));
    // The sidecar is untouched: it never restarted.
    assert_eq!(container_restarts(&status, "server"), 0);
    let uid = node.uid("unanswered").unwrap();
    delete_pod(&node, &mut agent, "unanswered.yaml", &uid).await;
}

/// The restart count of init container (or sidecar) `name`.
fn container_restarts(s: &PodStatus, name: &str) -> u32 {
    s.init_container_statuses
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no init status for {name}: {s:?}"))
        .restart_count
}

/// pid 1 that notes `term <seconds since the epoch>` in /out/order on
/// SIGTERM and exits.
const TRAPS_TERM: &str =
    "trap 'echo term $(date +%s) >> /out/order; exit 0' TERM; while true; do sleep 0.1; done";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_runs_before_sigterm_and_eats_the_grace_period() {
    let node = Node::new();
    let out = out_dir(&node);
    // `exec` notes itself; `sleeper` sleeps 3 s before its SIGTERM;
    // `broken`'s hook fails, and it is stopped all the same.
    let mut containers = String::new();
    for (name, hook) in [
        (
            "exec",
            r#"{exec: {command: [sh, -c, "echo prestop >> /out/order"]}}"#,
        ),
        ("sleeper", "{sleep: {seconds: 3}}"),
        ("broken", "{exec: {command: [sh, -c, \"exit 1\"]}}"),
    ] {
        std::fs::create_dir_all(out.join(name)).unwrap();
        containers.push_str(&format!(
            r#"
  - name: {name}
    image: busybox
    command: [sh, -c, "{TRAPS_TERM}"]
    volumeMounts: [{{name: out, mountPath: /out, subPath: {name}}}]
    lifecycle: {{preStop: {hook}}}"#
        ));
    }
    node.write_manifest(
        "stopping.yaml",
        &format!(
            r#"
metadata: {{name: stopping}}
spec:
  terminationGracePeriodSeconds: 30
  volumes: [{{name: out, hostPath: {{path: {out}}}}}]
  containers:{containers}
"#,
            out = out.display()
        ),
    );
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.agent().await;
    agent.set_event_sink(events.clone());
    node.sync_until(&mut agent, "stopping", LONG, |s| {
        ["exec", "sleeper", "broken"].iter().all(|c| running(s, c))
    })
    .await;
    let uid = node.uid("stopping").unwrap();
    let began = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    delete_pod(&node, &mut agent, "stopping.yaml", &uid).await;

    let exec = read(&out.join("exec"), "order");
    let lines: Vec<&str> = exec.lines().collect();
    assert_eq!(lines.len(), 2, "{exec}");
    assert_eq!(
        lines[0], "prestop",
        "the hook did not run before SIGTERM: {exec}"
    );
    assert!(lines[1].starts_with("term "), "{exec}");
    // The sleep came first: SIGTERM at least 3 s (2 in whole seconds of
    // `date`) after the stop began.
    let sleeper = read(&out.join("sleeper"), "order");
    let term: u64 = sleeper
        .trim()
        .strip_prefix("term ")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("sleeper got no SIGTERM: {sleeper:?}"));
    assert!(
        term >= began + 2,
        "SIGTERM at {term}, stop began at {began}"
    );
    assert!(read(&out.join("broken"), "order").starts_with("term "));
    let broken = events.lines("stopping", "spec.containers{broken}");
    assert!(
        broken
            .iter()
            .any(|l| l == "FailedPreStopHook: PreStopHook failed"),
        "{broken:#?}"
    );
    let exec_events = events.lines("stopping", "spec.containers{exec}");
    assert!(
        !exec_events
            .iter()
            .any(|l| l.starts_with("FailedPreStopHook")),
        "{exec_events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_stop_hook_that_overruns_the_grace_period_is_cut() {
    let node = Node::new();
    let out = out_dir(&node);
    node.write_manifest(
        "slow.yaml",
        &format!(
            r#"
metadata: {{name: slow}}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{{name: out, hostPath: {{path: {out}}}}}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "{TRAPS_TERM}"]
    volumeMounts: [{{name: out, mountPath: /out}}]
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo hook >> /out/order; sleep 60; echo late >> /out/order"]}}
"#,
            out = out.display()
        ),
    );
    let mut agent = node.agent().await;
    node.sync_until(&mut agent, "slow", LONG, |s| running(s, "main"))
        .await;
    let uid = node.uid("slow").unwrap();
    delete_pod(&node, &mut agent, "slow.yaml", &uid).await;
    // The hook began, was cut at the grace period, and the SIGTERM
    // followed (in the 2 s the kubelet still gives); "late" never came.
    let order = read(&out, "order");
    let lines: Vec<&str> = order.lines().collect();
    assert_eq!(lines.len(), 2, "{order}");
    assert_eq!(lines[0], "hook");
    assert!(lines[1].starts_with("term "), "{order}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_pre_stop_hook_reaches_the_named_port() {
    let node = Node::new();
    let out = out_dir(&node);
    // busybox httpd, verbose, logging each request's URL to /out/httpd.
    node.write_manifest(
        "web.yaml",
        &format!(
            r#"
metadata: {{name: web}}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{{name: out, hostPath: {{path: {out}}}}}]
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -vv -p 8080 -h /www 2>>/out/httpd"]
    ports: [{{name: web, containerPort: 8080}}]
    volumeMounts: [{{name: out, mountPath: /out}}]
    readinessProbe:
      tcpSocket: {{port: web}}
      periodSeconds: 1
    lifecycle:
      preStop:
        httpGet: {{path: /drain, port: web, httpHeaders: [{{name: X-Hook, value: stop}}]}}
"#,
            out = out.display()
        ),
    );
    let events = Arc::new(RecordedEvents::default());
    let mut agent = node.agent().await;
    agent.set_event_sink(events.clone());
    node.sync_until(&mut agent, "web", LONG, |s| container(s, "main").ready)
        .await;
    assert!(!read(&out, "httpd").contains("/drain"));
    let uid = node.uid("web").unwrap();
    delete_pod(&node, &mut agent, "web.yaml", &uid).await;
    let log = read(&out, "httpd");
    assert!(log.contains("url:/drain"), "no hook request in {log:?}");
    let lines = events.lines("web", "spec.containers{main}");
    assert!(
        !lines.iter().any(|l| l.starts_with("FailedPreStopHook")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_messages_come_from_the_file_or_the_logs_tail() {
    let node = Node::new();
    node.write_manifest(
        "said.yaml",
        r#"
metadata: {name: said}
spec:
  restartPolicy: Never
  containers:
  - name: file
    image: busybox
    command: [sh, -c, "echo bye from the file > /dev/termination-log"]
  - name: custom
    image: busybox
    terminationMessagePath: /tmp/why
    command: [sh, -c, "echo out of disk > /tmp/why; exit 4"]
  - name: logs
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, "echo starting; echo config missing; exit 1"]
  - name: quiet
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, "echo all fine"]
"#,
    );
    let mut agent = node.agent().await;
    let status = node
        .sync_until(&mut agent, "said", LONG, |s| {
            s.container_statuses
                .iter()
                .all(|c| matches!(c.state, ContainerState::Terminated { .. }))
        })
        .await;
    let message = |name: &str| match &container(&status, name).state {
        ContainerState::Terminated { message, .. } => message.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(message("file").as_deref(), Some("bye from the file\n"));
    assert_eq!(message("custom").as_deref(), Some("out of disk\n"));
    assert_eq!(
        message("logs").as_deref(),
        Some("starting\nconfig missing\n")
    );
    // A success does not fall back to its log.
    assert_eq!(message("quiet"), None);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(
        json.pointer("/containerStatuses/0/state/terminated/message"),
        Some(&serde_json::json!("bye from the file\n"))
    );
    let uid = node.uid("said").unwrap();
    delete_pod(&node, &mut agent, "said.yaml", &uid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_state_keeps_the_message_of_the_run_that_crashed() {
    let node = Node::new();
    node.write_manifest(
        "crashy.yaml",
        r#"
metadata: {name: crashy}
spec:
  restartPolicy: OnFailure
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "echo crashed on purpose > /dev/termination-log; exit 2"]
"#,
    );
    let mut agent = node.agent().await;
    // The clock stands still, so the second restart waits in back-off
    // with the crashed run as its last state.
    let status = node
        .sync_until(&mut agent, "crashy", LONG, |s| {
            let c = container(s, "main");
            c.restart_count >= 1 && matches!(c.state, ContainerState::Waiting { .. })
        })
        .await;
    let main = container(&status, "main");
    match &main.last_state {
        Some(ContainerState::Terminated {
            exit_code: 2,
            message,
            ..
        }) => assert_eq!(message.as_deref(), Some("crashed on purpose\n")),
        other => panic!("{other:?}"),
    }
    let uid = node.uid("crashy").unwrap();
    delete_pod(&node, &mut agent, "crashy.yaml", &uid).await;
}

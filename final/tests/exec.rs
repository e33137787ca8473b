//! `kubectl exec` and `kubectl cp` end to end: the installed kubectl, a real
//! API server, the real `orc agent` and real containers.
//!
//! The path under test is Kubernetes' own: kubectl upgrades
//! `pods/{name}/exec` to a WebSocket (`v5.channel.k8s.io`), the API server
//! relays it to the agent on the Node's InternalIP and port, and the agent
//! runs chapter 01's `exec` in the container's namespaces and cgroup.
//! Root only; everything is removed at the end as in `node_agent.rs`.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use agent_node::Node;
use cluster::{AgentProcess, ApiServer, kubeconfig, kubectl_command, running};
use orc_client::Method;
use orc_testkit::require_command;
use serde_json::json;

const NODE: &str = "node-exec";
const LONG: Duration = Duration::from_secs(60);

/// Runs the installed kubectl off the async runtime with `stdin` as its
/// standard input (none when `None`), and answers how it ended.
async fn kubectl_output(config: &Path, args: &[&str], stdin: Option<&Path>) -> Output {
    let mut command = kubectl_command(config, args);
    command.stdin(match stdin {
        Some(path) => Stdio::from(std::fs::File::open(path).unwrap()),
        None => Stdio::null(),
    });
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A cluster of one node running pod `web` (containers `main` and `side`,
/// told apart by `$WHO`); answers what the test needs to keep alive.
async fn cluster_with_web() -> (Node, ApiServer, AgentProcess, std::path::PathBuf) {
    let started = std::time::Instant::now();
    let node = Node::new();
    let api = ApiServer::start().await;
    let port = orc_testkit::ports::free_port();
    let agent = AgentProcess::start(&node, NODE, &api, port, "agent.log");
    let container = |name: &str| {
        json!({"name": name, "image": "busybox",
            "env": [{"name": "WHO", "value": name}],
            "command": ["sleep", "3600"]})
    };
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [container("main"), container("side")],
        },
    });
    api.client
        .send_path(
            Method::POST,
            "/api/v1/namespaces/default/pods",
            None,
            Some(("application/json", pod.to_string())),
        )
        .await
        .unwrap();
    api.wait_for("/api/v1/namespaces/default/pods/web", LONG, |p| {
        running(p)
            && p.pointer("/status/containerStatuses")
                .and_then(|c| c.as_array())
                .is_some_and(|c| c.iter().all(|c| c["ready"] == true))
    })
    .await;
    println!(
        "web: cluster start to both containers ready: {:?}",
        started.elapsed()
    );
    let config = kubeconfig(node.dir.path(), &api);
    (node, api, agent, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_runs_commands_in_the_container() {
    let (node, _api, _agent, config) = cluster_with_web().await;

    // The pod's hostname is its name: the command ran in its UTS namespace.
    let out = kubectl_output(
        &config,
        &["exec", "web", "-c", "main", "--", "hostname"],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "web\n");

    // stdout and stderr stay apart; the exit code comes back as kubectl's own.
    let out = kubectl_output(
        &config,
        &[
            "exec",
            "web",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out\n");
    // The last line is kubectl's own, as against any Kubernetes.
    assert_eq!(
        text(&out.stderr),
        "err\ncommand terminated with exit code 3\n"
    );

    // -c picks the container: each sees its own environment.
    let out = kubectl_output(
        &config,
        &["exec", "web", "-c", "side", "--", "sh", "-c", "echo $WHO"],
        None,
    )
    .await;
    assert_eq!(text(&out.stdout), "side\n", "{}", text(&out.stderr));

    // -i: stdin travels on channel 0, and its end (v5's close) reaches wc.
    let input = node.dir.path().join("input");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&input, &bytes).unwrap();
    let out = kubectl_output(
        &config,
        &["exec", "-i", "web", "-c", "main", "--", "wc", "-c"],
        Some(&input),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "200000");

    // -t: the command gets a terminal of its own, sized as kubectl's.
    // kubectl wants a terminal on its own stdin for that, so it runs
    // under script(1), in a terminal of 30 rows and 100 columns.
    let kubectl = require_command("kubectl");
    let line = format!(
        "stty rows 30 cols 100; {} --kubeconfig={} exec -it web -c main -- \
         sh -c '[ -t 0 ] && echo terminal; stty size; exit 5'",
        kubectl.display(),
        config.display()
    );
    let mut script = std::process::Command::new(require_command("script"));
    script
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut child = script.spawn().unwrap();
        // Held open to the end: script types an end-of-file character
        // into kubectl's terminal once its own stdin ends.
        let _typing = child.stdin.take();
        let mut stdout = Vec::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut stdout)
            .unwrap();
        let status = child.wait().unwrap();
        Output {
            status,
            stdout,
            stderr: Vec::new(),
        }
    })
    .await
    .unwrap();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{shown}{}", text(&out.stderr));
    assert!(
        shown.starts_with("terminal\r\n30 100\r\n"),
        "expected the command's terminal and size: {shown:?}"
    );

    // A container that does not exist is refused before any upgrade.
    let out = kubectl_output(&config, &["exec", "web", "-c", "db", "--", "true"], None).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("container db is not valid for pod web"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cp_copies_a_directory_in_and_out_byte_for_byte() {
    let (node, _api, _agent, config) = cluster_with_web().await;
    let local = node.dir.path().join("site");
    std::fs::create_dir_all(local.join("deep/er")).unwrap();
    std::fs::write(local.join("index.html"), "<h1>hello</h1>\n").unwrap();
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(local.join("deep/er/blob.bin"), &blob).unwrap();

    let site = local.to_str().unwrap();
    let out = kubectl_output(&config, &["cp", site, "web:/tmp/site", "-c", "main"], None).await;
    assert!(out.status.success(), "kubectl cp in: {}", text(&out.stderr));

    let back = node.dir.path().join("back");
    let out = kubectl_output(
        &config,
        &["cp", "web:/tmp/site", back.to_str().unwrap(), "-c", "main"],
        None,
    )
    .await;
    assert!(
        out.status.success(),
        "kubectl cp out: {}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(back.join("index.html")).unwrap(),
        b"<h1>hello</h1>\n"
    );
    assert!(std::fs::read(back.join("deep/er/blob.bin")).unwrap() == blob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_attach_follows_the_output_and_run_rm_prints_then_deletes() {
    let (_node, api, _agent, config) = cluster_with_web().await;
    let ticker = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "ticker", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "tick", "image": "busybox", "command": ["sh", "-c",
                "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]}],
        },
    });
    api.post("/api/v1/namespaces/default/pods", ticker).await;
    api.wait_for("/api/v1/namespaces/default/pods/ticker", LONG, running)
        .await;

    // attach: what the container writes from now on, as it writes it.
    let mut attach = kubectl_command(&config, &["attach", "ticker"]);
    attach
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = attach.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .take(3)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    });
    let lines = tokio::time::timeout(LONG, lines).await.unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let numbers: Vec<u32> = lines
        .iter()
        .map(|l| l.strip_prefix("tick ").unwrap().parse().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive ticks: {lines:?}"
    );

    // stdin cannot be attached: refused before the upgrade, with a way out.
    let out = kubectl_output(&config, &["attach", "-i", "ticker"], None).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("orc cannot attach stdin to container \"tick\""),
        "{}",
        text(&out.stderr)
    );

    // run -i --rm: the command's output, then the pod is gone.
    let overrides = json!({"spec": {"nodeName": NODE}}).to_string();
    let out = kubectl_output(
        &config,
        &[
            "run",
            "-i",
            "--rm",
            "--restart=Never",
            "--image=busybox",
            &format!("--overrides={overrides}"),
            "once",
            "--",
            "echo",
            "hi",
        ],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("hi\n"), "{}", text(&out.stdout));
    assert!(
        api.get("/api/v1/namespaces/default/pods/once")
            .await
            .is_none(),
        "run --rm left the pod"
    );
}

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
use cluster::{AgentProcess, ApiServer, kubeconfig, kubectl, kubectl_command, running};
use orc_client::Method;
use orc_testkit::require_command;
use serde_json::json;

const NODE: &str = "node-exec";
const LONG: Duration = Duration::from_secs(60);

/// Runs the installed kubectl off the async runtime with `stdin` as its
/// standard input (none when `None`), and answers how it ended.
async fn kubectl_output(config: &Path, args: &[&str], stdin: Option<&Path>) -> Output {
    kubectl_output_env(config, args, stdin, &[]).await
}

/// kubectl's own switch back to the SPDY upgrade for exec, attach and cp.
const SPDY: [(&str, &str); 1] = [("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")];

/// [`kubectl_output`] with variables `env` set for kubectl.
async fn kubectl_output_env(
    config: &Path,
    args: &[&str],
    stdin: Option<&Path>,
    env: &[(&str, &str)],
) -> Output {
    let mut command = kubectl_command(config, args);
    command.envs(env.iter().copied());
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

/// How `sh -c '...; echo err >&2; exit 3'` ends through any client:
/// its stdout, its stderr apart, then kubectl's last line (as against any
/// Kubernetes), and the command's code as the client's own.
fn assert_exited_3(out: &Output, stdout: &str) {
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), stdout);
    assert_eq!(
        text(&out.stderr),
        "err\ncommand terminated with exit code 3\n"
    );
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
    assert_exited_3(&out, "out\n");

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
         sh -c '[ -t 0 ] && echo terminal; tty; stty size; echo TERM=$TERM; exit 5'",
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
    // The terminal is one of the container's own /dev/pts (runc's console
    // is too), so `tty` names it.
    assert!(
        shown.starts_with("terminal\r\n/dev/pts/")
            && shown.contains("\r\n30 100\r\nTERM=xterm\r\n"),
        "expected the command's terminal, its name, size and type: {shown:?}"
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

    // A container started without `stdin: true` has no stdin to attach:
    // refused before the upgrade, with a way out.
    let out = kubectl_output(&config, &["attach", "-i", "ticker"], None).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot attach stdin to container \"tick\""),
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

/// A pod of one busybox container on the test node running `script`, with
/// `extra` merged into the container (`stdin`, `tty`, ...); never restarted.
fn interactive_pod(name: &str, script: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut container = json!({"name": "main", "image": "busybox",
        "command": ["sh", "-c", script]});
    for (key, value) in extra.as_object().unwrap() {
        container[key] = value.clone();
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [container],
        },
    })
}

/// Lines kubectl prints, read on a thread of their own, so that a test can
/// wait for one with a deadline.
struct Lines(std::sync::mpsc::Receiver<String>);

impl Lines {
    fn of(out: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }

    /// Waits for a line that ends with `wanted` (a terminal's lines end
    /// in `\r`, and a shell's prompt may come first); panics with what came
    /// instead after [`LONG`].
    fn wait_for(&self, wanted: &str) {
        let deadline = std::time::Instant::now() + LONG;
        let mut seen = vec![];
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.0.recv_timeout(left) {
                Ok(line) if line.trim_end_matches('\r').ends_with(wanted) => return,
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        panic!("expected the line {wanted:?}; kubectl printed {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_attach_i_writes_to_the_stdin_the_shim_holds_open() {
    let (node, api, _agent, config) = cluster_with_web().await;
    let pods = "/api/v1/namespaces/default/pods";
    // `stdin: true`: every attach writes to the same stdin, which stays
    // open in between.
    let echo = "while read line; do echo \"got $line\"; done; echo eof";
    api.post(pods, interactive_pod("echo", echo, json!({"stdin": true})))
        .await;
    // `stdinOnce: true`: the first attach's end of input is the container's.
    api.post(
        pods,
        interactive_pod(
            "count",
            "wc -c; echo done",
            json!({"stdin": true, "stdinOnce": true}),
        ),
    )
    .await;
    for pod in ["echo", "count"] {
        api.wait_for(&format!("{pods}/{pod}"), LONG, running).await;
    }

    for word in ["one", "two"] {
        let input = node.dir.path().join(word);
        std::fs::write(&input, format!("{word}\n")).unwrap();
        let mut attach = kubectl_command(&config, &["attach", "-i", "echo"]);
        attach
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = attach.spawn().unwrap();
        let lines = Lines::of(child.stdout.take().unwrap());
        tokio::task::spawn_blocking(move || lines.wait_for(&format!("got {word}")))
            .await
            .unwrap();
        // kubectl's stdin ended, the container's did not: it still runs.
        let _ = child.kill();
        let _ = child.wait();
    }
    let echo_pod = api.get(&format!("{pods}/echo")).await.unwrap();
    assert!(running(&echo_pod), "the echo loop ended: {echo_pod}");

    // The whole input, then end-of-file: wc counts and the run ends,
    // which ends the attach (its output replayed from the run's start).
    let input = node.dir.path().join("count-input");
    std::fs::write(&input, vec![b'x'; 1000]).unwrap();
    let out = kubectl_output(&config, &["attach", "-i", "count"], Some(&input)).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1000\ndone\n");
    api.wait_for(&format!("{pods}/count"), LONG, |p| {
        p["status"]["phase"] == "Succeeded"
    })
    .await;
}

/// A client running on a terminal: the process, what it types, what it shows.
type Session = (
    std::process::Child,
    std::process::ChildStdin,
    std::process::ChildStdout,
);

/// kubectl under script(1), in a terminal of 30 rows and 100 columns:
/// `-t` wants a terminal on kubectl's stdin. Answers the session's input
/// and its output.
fn on_terminal(config: &Path, args: &str, env: &[(&str, &str)]) -> Session {
    let cache = format!(
        "--cache-dir={} {args}",
        config.with_file_name("kube-cache").display()
    );
    let kubectl = require_command("kubectl");
    let mut program = String::new();
    for (name, value) in env {
        program.push_str(&format!("{name}={value} "));
    }
    program.push_str(&kubectl.display().to_string());
    on_terminal_with(program, config, &cache)
}

/// [`on_terminal`] for any client: `program ARGS` with `$KUBECONFIG` set.
fn on_terminal_with(program: impl AsRef<Path>, config: &Path, args: &str) -> Session {
    // The kubeconfig in the environment: both clients read $KUBECONFIG,
    // and orc's flags belong after its verb.
    let line = format!(
        "stty rows 30 cols 100; KUBECONFIG={} {} {args}",
        config.display(),
        program.as_ref().display(),
    );
    let mut child = std::process::Command::new(require_command("script"))
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    (child, stdin, stdout)
}

/// A terminal session that needs no input, to its end: its exit code and
/// everything it showed.
async fn finished(session: Session) -> (Option<i32>, String) {
    let (mut child, typing, stdout) = session;
    let shown = read_all(stdout).await;
    drop(typing);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    (status.code(), shown)
}

/// Everything `stdout` shows until it ends, read off the async runtime.
async fn read_all(mut stdout: std::process::ChildStdout) -> String {
    let read = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut shown = Vec::new();
        let _ = stdout.read_to_end(&mut shown);
        shown
    });
    text(&tokio::time::timeout(LONG, read).await.unwrap().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_attach_it_drives_the_containers_terminal_and_run_it_rm_prints_then_deletes() {
    let (_node, api, _agent, config) = cluster_with_web().await;
    let pods = "/api/v1/namespaces/default/pods";
    let shell = interactive_pod("shell", "exec sh", json!({"stdin": true, "tty": true}));
    api.post(pods, shell).await;
    api.wait_for(&format!("{pods}/shell"), LONG, running).await;

    // The shell reads its terminal; kubectl's window size reached it.
    let (mut child, mut typing, stdout) = on_terminal(&config, "attach -it shell", &[]);
    let output = Lines::of(stdout);
    use std::io::Write;
    // `re""ady` so that the terminal's echo of the line is not the answer.
    typing.write_all(b"echo re\"\"ady\n").unwrap();
    tokio::task::spawn_blocking(move || output.wait_for("ready"))
        .await
        .unwrap();
    typing
        .write_all(b"stty size; echo TERM=$TERM; exit\n")
        .unwrap();
    let status = tokio::time::timeout(
        LONG,
        tokio::task::spawn_blocking(move || child.wait().unwrap()),
    )
    .await
    .expect("kubectl attach -it ends with the shell")
    .unwrap();
    assert!(status.success(), "kubectl attach -it: {status}");
    let logs = kubectl(&config, &["logs", "shell"]).await;
    assert!(
        logs.contains("30 100") && logs.contains("TERM=xterm"),
        "stty size and TERM in the shell's terminal: {logs:?}"
    );

    // kubectl run -it --rm: stdin, stdinOnce and tty; the whole output,
    // then the pod is deleted.
    let overrides = json!({"spec": {"nodeName": NODE}}).to_string();
    let (mut child, typing, stdout) = on_terminal(
        &config,
        &format!(
            "run -it --rm --restart=Never --image=busybox '--overrides={overrides}' t -- echo hi"
        ),
        &[],
    );
    let shown = read_all(stdout).await;
    drop(typing);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "kubectl run -it --rm: {shown}");
    // `hi` reaches kubectl through the attach (replayed from the run's
    // start) or, when echo ended before kubectl attached, through its
    // fallback to the logs: on a terminal either way, so its line ends
    // in carriage returns.
    let lines: Vec<&str> = shown.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines.contains(&"hi"), "{shown:?}");
    assert!(shown.contains("pod \"t\" deleted"), "{shown:?}");
    assert!(
        api.get(&format!("{pods}/t")).await.is_none(),
        "run --rm left the pod"
    );
}

/// `orc exec ARGS` against the cluster of `config`, with `stdin` (a file)
/// as its standard input.
async fn orc_exec(config: &Path, args: &[&str], stdin: Option<&Path>) -> Output {
    orc_exec_env(config, args, stdin, &[]).await
}

/// [`orc_exec`] with variables `env` set for orc.
async fn orc_exec_env(
    config: &Path,
    args: &[&str],
    stdin: Option<&Path>,
    env: &[(&str, &str)],
) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_orc"));
    command
        .envs(env.iter().copied())
        .arg("exec")
        .arg(format!("--kubeconfig={}", config.display()))
        .args(args)
        .stdin(match stdin {
            Some(path) => Stdio::from(std::fs::File::open(path).unwrap()),
            None => Stdio::null(),
        });
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orc_exec_speaks_kubectls_protocol_and_exits_with_the_commands_code() {
    let (node, _api, _agent, config) = cluster_with_web().await;

    let out = orc_exec(
        &config,
        &[
            "web",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            "hostname; echo err >&2; exit 3",
        ],
        None,
    )
    .await;
    assert_exited_3(&out, "web\n");

    // -i: the whole input, then its end.
    let input = node.dir.path().join("input");
    std::fs::write(&input, vec![7u8; 100_000]).unwrap();
    let out = orc_exec(
        &config,
        &["-i", "web", "-c", "side", "--", "wc", "-c"],
        Some(&input),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "100000");

    // -t: a terminal of the local terminal's size.
    let (code, shown) = finished(on_terminal_with(
        env!("CARGO_BIN_EXE_orc"),
        &config,
        "exec -it web -c main -- sh -c '[ -t 0 ] && echo terminal; stty size; echo TERM=$TERM; exit 5'",
    )).await;
    assert_eq!(code, Some(5), "{shown}");
    assert!(
        shown.starts_with("terminal\r\n30 100\r\nTERM=xterm\r\n"),
        "expected the command's terminal, size and type: {shown:?}"
    );

    // What the API server refuses is printed as kubectl prints it.
    let out = orc_exec(&config, &["nothere", "--", "true"], None).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error from server (NotFound): pods \"nothere\" not found\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_attach_and_cp_work_over_spdy_too() {
    let (node, api, _agent, config) = cluster_with_web().await;

    // The exit code travels in the error stream's Status.
    let script = "hostname; echo err >&2; exit 3";
    let out = kubectl_output_env(
        &config,
        &["exec", "web", "-c", "main", "--", "sh", "-c", script],
        None,
        &SPDY,
    )
    .await;
    assert_exited_3(&out, "web\n");

    // stdin's end is its stream's FIN.
    let input = node.dir.path().join("input");
    std::fs::write(&input, vec![1u8; 150_000]).unwrap();
    let args = ["exec", "-i", "web", "-c", "side", "--", "wc", "-c"];
    let out = kubectl_output_env(&config, &args, Some(&input), &SPDY).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "150000");

    // cp is tar over exec.
    let local = node.dir.path().join("site");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("a.txt"), "spdy\n").unwrap();
    let site = local.to_str().unwrap();
    let out = kubectl_output_env(
        &config,
        &["cp", site, "web:/tmp/site", "-c", "main"],
        None,
        &SPDY,
    )
    .await;
    assert!(out.status.success(), "kubectl cp in: {}", text(&out.stderr));
    let args = ["exec", "web", "-c", "main", "--", "cat", "/tmp/site/a.txt"];
    let out = kubectl_output_env(&config, &args, None, &SPDY).await;
    assert_eq!(text(&out.stdout), "spdy\n", "{}", text(&out.stderr));

    // -t: a terminal, and the resize stream's size.
    let (code, shown) = finished(on_terminal(
        &config,
        "exec -it web -c main -- sh -c '[ -t 0 ] && echo terminal; stty size; exit 5'",
        &SPDY,
    ))
    .await;
    assert_eq!(code, Some(5), "{shown}");
    assert!(shown.starts_with("terminal\r\n30 100\r\n"), "{shown:?}");

    // attach -i to a stdinOnce container: the whole input, then its end.
    api.post(
        "/api/v1/namespaces/default/pods",
        interactive_pod(
            "count",
            "wc -c; echo done",
            json!({"stdin": true, "stdinOnce": true}),
        ),
    )
    .await;
    api.wait_for("/api/v1/namespaces/default/pods/count", LONG, running)
        .await;
    std::fs::write(&input, vec![b'x'; 1000]).unwrap();
    let out = kubectl_output_env(&config, &["attach", "-i", "count"], Some(&input), &SPDY).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "1000\ndone\n");

    // orc's own client switched to SPDY as kubectl is: the same streams,
    // the same exit code, stdin's end, a terminal of the right size.
    let orc_spdy = [("ORC_REMOTE_COMMAND_WEBSOCKETS", "false")];
    let args = ["web", "-c", "main", "--", "sh", "-c", script];
    let out = orc_exec_env(&config, &args, None, &orc_spdy).await;
    assert_exited_3(&out, "web\n");
    std::fs::write(&input, vec![2u8; 120_000]).unwrap();
    let args = ["-i", "web", "-c", "side", "--", "wc", "-c"];
    let out = orc_exec_env(&config, &args, Some(&input), &orc_spdy).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "120000");
    let program = format!(
        "ORC_REMOTE_COMMAND_WEBSOCKETS=false {}",
        env!("CARGO_BIN_EXE_orc")
    );
    let (code, shown) = finished(on_terminal_with(
        program,
        &config,
        "exec -it web -c main -- sh -c '[ -t 0 ] && echo terminal; stty size; exit 5'",
    ))
    .await;
    assert_eq!(code, Some(5), "{shown}");
    assert!(shown.starts_with("terminal\r\n30 100\r\n"), "{shown:?}");
    // A refusal over SPDY reads as over a WebSocket.
    let out = orc_exec_env(&config, &["nothere", "--", "true"], None, &orc_spdy).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error from server (NotFound): pods \"nothere\" not found\n"
    );
}

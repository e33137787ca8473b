//! How a container ended, as `kubectl describe pod` tells it: the
//! terminated state with its reason, exit code and termination message
//! (from `/dev/termination-log`, or the log's tail under
//! `FallbackToLogsOnError`), `Last State` and `Restart Count` after a
//! restart, and the events of the scheduler and the kubelet. Snapshots of
//! the installed kubectl against a real etcd, API server, scheduler and
//! `orc agent`, with what changes from run to run redacted.
//!
//! Root only; the pod network lives in a throwaway namespace (chapter 02's
//! test node), and everything is removed at the end.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::path::Path;
use std::time::{Duration, Instant};

use agent_node::Node;
use cluster::{AgentProcess, ApiServer, agent_node_ready, kubeconfig, kubectl};

const NODE: &str = "node-term";
const LONG: Duration = Duration::from_secs(60);

/// Three pods as a user writes them, none naming its node: two that end
/// for good (restartPolicy Never), one with a message in the file and one
/// that only logs, and one that fails once and then runs. Its first run
/// leaves a flag in an emptyDir, which outlives the container, so the
/// second run knows it is the second.
const PODS: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: said}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "echo 'config: no such file /etc/app.yaml' > /dev/termination-log; exit 3"]
---
apiVersion: v1
kind: Pod
metadata: {name: logged}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, "echo starting; echo 'fatal: database unreachable'; exit 1"]
---
apiVersion: v1
kind: Pod
metadata: {name: again}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 0
  volumes:
  - {name: state, emptyDir: {}}
  containers:
  - name: main
    image: busybox
    volumeMounts: [{name: state, mountPath: /state}]
    command: [sh, -c, "if [ ! -e /state/ran ]; then touch /state/ran; exit 2; fi; exec sleep 3600"]
"#;

/// What changes from run to run in `kubectl describe pod`, replaced so the
/// snapshot reads as kubectl printed it. The events table is laid out
/// again with fixed gaps: its AGE column's width follows the ages.
fn describe_filters() -> Vec<(&'static str, &'static str)> {
    vec![
        // RFC 1123 times: Start Time, Started, Finished.
        (
            r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}",
            "[TIME]",
        ),
        (r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", "[IP]"),
        (r"orc://[0-9a-z-]+", "orc://[CONTAINER ID]"),
        (
            r"(?m)^  (Type|----|Normal|Warning) +(\S+) +(\S+(?: \(x\d+ over \S+\))?) +(\S+) +(.*)$",
            "  $1  $2  $3  $4  $5",
        ),
        // Ages in the events table ("4s", "2m", "(x2 over 5s)").
        (
            r"  \d+(?:s|m)(?: \(x(\d+) over \d+(?:s|m)\))?  ",
            "  [AGE] x$1  ",
        ),
        (r"  \[AGE\] x  ", "  [AGE]  "),
        // How long the image took (`Pulled`).
        (
            r" in [0-9.hms]+ \([0-9.hms]+ including waiting\)",
            " in [DURATION]",
        ),
        // And its size: that of the node's own busybox, which differs
        // from machine to machine.
        (r"Image size: \d+ bytes", "Image size: [SIZE] bytes"),
        // kubectl's tabwriter pads some values with trailing spaces.
        (r"(?m) +$", ""),
    ]
}

/// `kubectl describe pod NAME`, snapshot as `name`: all of it but the
/// order of the events. kubectl sorts them by `lastTimestamp`, whole
/// seconds, and keeps the API's order (by name) between events of the
/// same second. Kubernetes names an event after its time, so that order
/// is the order they happened in; orc names it after a hash of what it
/// says (so that two writers of one event fold into one object), so the
/// order of same-second events is not the order they happened in. Until
/// that differs no more, the rows are snapshot sorted.
async fn snapshot_describe(config: &Path, name: &str) {
    let described = kubectl(config, &["describe", "pod", name]).await;
    let (head, events) = described
        .split_once("Events:\n")
        .unwrap_or_else(|| panic!("no events: {described}"));
    let mut rows: Vec<&str> = events.lines().collect();
    let header = rows.drain(..2.min(rows.len())).collect::<Vec<_>>();
    let mut rows = fold_timed_rows(&rows);
    rows.sort_by_key(|row| row.split_whitespace().nth(1).map(str::to_string));
    let text = format!(
        "{head}Events:\n{}\n{}\n",
        header.join("\n"),
        rows.join("\n")
    );
    let filters = describe_filters();
    insta::with_settings!({filters => filters, snapshot_suffix => name}, {
        insta::assert_snapshot!("describe_pod", text);
    });
}

/// The events rows with those that differ only in how long a pull took
/// folded into one, their counts added. The kubelet's `Pulled` message
/// names the time, so two pulls of one image are two events when they took
/// different times and one event seen twice (`x2`) when they took the same
/// millisecond, as in Kubernetes. Which of the two a run gets is chance;
/// the snapshot shows them folded, as the second case prints.
fn fold_timed_rows(rows: &[&str]) -> Vec<String> {
    let row =
        regex::Regex::new(r"^  (\S+) +(\S+) +(\S+)(?: \(x(\d+) over \S+\))? +(\S+) +(.*?) *$")
            .unwrap();
    let took = regex::Regex::new(r" in [0-9.hms]+ \([0-9.hms]+ including waiting\)").unwrap();
    // (type, reason, age, from, message, count), in the order first seen.
    let mut folded: Vec<(String, String, String, String, String, u32)> = Vec::new();
    let mut others = Vec::new();
    for line in rows {
        let Some(c) = row.captures(line) else {
            others.push(line.to_string());
            continue;
        };
        let count = c.get(4).map_or(1, |n| n.as_str().parse().unwrap());
        let key = |kind: &str, reason: &str, from: &str, message: &str| {
            (
                kind.to_string(),
                reason.to_string(),
                from.to_string(),
                took.replace_all(message, "").into_owned(),
            )
        };
        let this = key(&c[1], &c[2], &c[5], &c[6]);
        match folded
            .iter_mut()
            .find(|f| key(&f.0, &f.1, &f.3, &f.4) == this)
        {
            Some(seen) => seen.5 += count,
            None => folded.push((
                c[1].to_string(),
                c[2].to_string(),
                c[3].to_string(),
                c[5].to_string(),
                c[6].to_string(),
                count,
            )),
        }
    }
    let rendered = folded
        .into_iter()
        .map(|(kind, reason, age, from, message, count)| {
            if count > 1 {
                format!("  {kind}  {reason}  {age} (x{count} over {age})  {from}  {message}")
            } else {
                format!("  {kind}  {reason}  {age}  {from}  {message}")
            }
        });
    rendered.chain(others).collect()
}

/// `kubectl wait` (a watch) until `condition` holds for pod `name`.
async fn wait_for(config: &Path, name: &str, condition: &str) {
    kubectl(
        config,
        &[
            "wait",
            condition,
            &format!("pod/{name}"),
            &format!("--timeout={}s", LONG.as_secs()),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_describe_pod_tells_how_each_container_ended() {
    let node = Node::new();
    let api = ApiServer::start().await;
    // The scheduler places the pods, so `describe` shows its `Scheduled`.
    let mut scheduler = orc_scheduler::start(orc_scheduler::Config::new(&api.url))
        .await
        .expect("the scheduler starts");
    let port = orc_testkit::ports::free_port();
    let mut agent = AgentProcess::start(&node, NODE, &api, port, "agent.log");
    api.wait_for(&format!("/api/v1/nodes/{NODE}"), LONG, agent_node_ready)
        .await;
    // A pod that came before the node would first be refused
    // (FailedScheduling) and then placed: not the story told here.
    let deadline = Instant::now() + LONG;
    while !scheduler.has_node(NODE) {
        assert!(Instant::now() < deadline, "the scheduler never saw {NODE}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let config = kubeconfig(node.dir.path(), &api);
    let manifest = node.dir.path().join("pods.yaml");
    std::fs::write(&manifest, PODS).unwrap();
    kubectl(&config, &["apply", "-f", manifest.to_str().unwrap()]).await;

    // Both end for good: the pod is Failed, the state stays Terminated.
    for name in ["said", "logged"] {
        wait_for(&config, name, "--for=jsonpath={.status.phase}=Failed").await;
    }
    // The one that restarts: its second run is the one that stays.
    wait_for(
        &config,
        "again",
        "--for=jsonpath={.status.containerStatuses[0].restartCount}=1",
    )
    .await;
    wait_for(&config, "again", "--for=condition=Ready").await;

    for name in ["said", "logged", "again"] {
        snapshot_describe(&config, name).await;
    }

    kubectl(
        &config,
        &["delete", "pod", "said", "logged", "again", "--timeout=60s"],
    )
    .await;
    // A finished pod (and one with no grace period) is deleted at once,
    // as in Kubernetes: its node cleans up after the object is gone.
    let deadline = Instant::now() + LONG;
    while !node.containers().is_empty() {
        assert!(Instant::now() < deadline, "left: {:?}", node.containers());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scheduler.stop();
    agent.stop();
    assert_eq!(node.containers(), vec![], "containers left");
    assert_eq!(
        node.mounts_left(),
        Vec::<std::path::PathBuf>::new(),
        "mounts left"
    );
}

/// The two ways two pulls of one image show in `kubectl describe` fold
/// into the same row.
#[test]
fn pulls_that_took_different_times_fold_as_pulls_that_took_the_same() {
    let apart = [
        "  Normal  Pulled     12s  kubelet  Successfully pulled image \"busybox\" in 593ms (593ms including waiting). Image size: 9 bytes.",
        "  Normal  Started    12s  kubelet  Started container main",
        "  Normal  Pulled     10s  kubelet  Successfully pulled image \"busybox\" in 12ms (12ms including waiting). Image size: 9 bytes.",
    ];
    let together = [
        "  Normal  Pulled     10s (x2 over 12s)  kubelet  Successfully pulled image \"busybox\" in 12ms (12ms including waiting). Image size: 9 bytes.",
        "  Normal  Started    12s  kubelet  Started container main",
    ];
    let pulled = |rows: Vec<String>| {
        let pulls: Vec<_> = rows.into_iter().filter(|r| r.contains("Pulled")).collect();
        assert_eq!(pulls.len(), 1, "{pulls:?}");
        regex::Regex::new(r" in \S+ \(\S+ including waiting\)")
            .unwrap()
            .replace_all(
                &regex::Regex::new(r"\d+s")
                    .unwrap()
                    .replace_all(&pulls[0], "AGE"),
                "",
            )
            .into_owned()
    };
    let folded = pulled(fold_timed_rows(&apart));
    assert!(folded.contains("(x2 over AGE)"), "{folded}");
    assert_eq!(folded, pulled(fold_timed_rows(&together)));
}

//! Chapter 05's workloads end to end on `orc up --nodes 2` (real agents,
//! scheduler, proxy and DNS), driven with the installed kubectl: an
//! Indexed Job whose pods know their index and are named by it, a Job
//! that fails for good, a CronJob run by hand and one that fires by
//! itself on the real clock, a StatefulSet pod found by its stable DNS
//! name from another pod, and a DaemonSet that keeps one pod per node
//! through a stopped node and an image update.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Place, QUICK_HEARTBEATS, api_url, patience, status_code, text};

/// Namespace of the StatefulSet part: its DNS name carries it.
const NS: &str = "shop";

/// The Indexed Job: three pods at once, each printing its index and its
/// hostname.
const INDEXED: &str = r#"
{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "indexed"},
 "spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 3,
  "template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
   "containers": [{"name": "work", "image": "busybox",
    "command": ["sh", "-c", "echo \"index=$JOB_COMPLETION_INDEX host=$(hostname)\""]}]}}}}
"#;

/// A Job whose pod always fails: after its one retry, it has failed.
const FAILING: &str = r#"
{"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "failing"},
 "spec": {"backoffLimit": 1,
  "template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
   "containers": [{"name": "work", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}}}
"#;

/// The headless Service `web`, its StatefulSet, and a pod to ask the
/// cluster DNS from.
const STATEFUL: &str = r#"
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
  "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 8080}]}},
 {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "shop"},
  "spec": {"serviceName": "web", "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
   "template": {"metadata": {"labels": {"app": "web"}},
    "spec": {"terminationGracePeriodSeconds": 1,
     "containers": [{"name": "httpd", "image": "busybox", "ports": [{"containerPort": 8080}],
      "command": ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]}]}}}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "asker", "namespace": "shop"},
  "spec": {"terminationGracePeriodSeconds": 1,
   "containers": [{"name": "sh", "image": "busybox", "command": ["sleep", "3600"]}]}}]}
"#;

/// The DaemonSet: a sleeper on every node.
const DAEMON: &str = r#"
{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "daemon"},
 "spec": {"selector": {"matchLabels": {"app": "daemon"}},
  "template": {"metadata": {"labels": {"app": "daemon"}},
   "spec": {"terminationGracePeriodSeconds": 1,
    "containers": [{"name": "sleeper", "image": "busybox", "command": ["sleep", "3600"]}]}}}}
"#;

#[test]
fn jobs_cronjobs_a_statefulset_name_and_a_daemonset_work_on_two_nodes() {
    let place = Place::new();
    let up = place.up(&[&["--nodes", "2", "--disable", "ingress"], QUICK_HEARTBEATS].concat());
    // The CronJob that fires by itself first: it has a minute to do so,
    // while the rest runs.
    place.kubectl(
        &[
            "create",
            "cronjob",
            "minutely",
            "--image=busybox",
            "--schedule=* * * * *",
            "--",
            "true",
        ],
        None,
    );
    an_indexed_job_completes_each_index_once(&place);
    a_job_past_its_backoff_limit_fails(&place);
    a_cronjob_runs_by_hand(&place);
    a_cronjob_fires_on_schedule(&place);
    a_statefulset_pod_is_found_by_its_stable_name(&place);
    the_controller_manager_reports_its_health_and_queues(&place, &up);
    a_daemonset_keeps_one_pod_per_node(&place);
}

/// `kubectl wait --for=condition=C job/NAME`, bounded by the test's
/// patience.
fn wait_job(place: &Place, condition: &str, job: &str) {
    let timeout = format!("--timeout={}s", patience().as_secs());
    let condition = format!("--for=condition={condition}");
    place.kubectl(&["wait", &condition, &timeout, &format!("job/{job}")], None);
}

/// The value of column `column` in each row of a kubectl table (its
/// header first), by row.
fn column(table: &str, column: &str) -> Vec<String> {
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let at = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no column {column} in {table}"));
    lines
        .map(|l| l.split_whitespace().nth(at).unwrap_or("").to_string())
        .collect()
}

fn an_indexed_job_completes_each_index_once(place: &Place) {
    place.kubectl(&["apply", "-f", "-"], Some(INDEXED));
    wait_job(place, "complete", "indexed");
    let pods = place.kubectl(
        &[
            "get",
            "pods",
            "-l",
            "job-name=indexed",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}",
        ],
        None,
    );
    // Each index printed once, by a pod whose hostname is `indexed-<index>`.
    let mut printed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pod in pods.lines() {
        let log = place.kubectl(&["logs", pod], None);
        let (index, host) = log
            .trim()
            .strip_prefix("index=")
            .and_then(|rest| rest.split_once(" host="))
            .unwrap_or_else(|| panic!("pod {pod} printed {log:?}"));
        assert_eq!(host, format!("indexed-{index}"), "pod {pod}'s hostname");
        printed
            .entry(index.to_string())
            .or_default()
            .push(pod.to_string());
    }
    let indexes: Vec<&String> = printed.keys().collect();
    assert_eq!(indexes, ["0", "1", "2"], "indexes printed: {printed:?}");
    assert!(
        printed.values().all(|pods| pods.len() == 1),
        "an index ran twice: {printed:?}"
    );
    let table = place.kubectl(&["get", "jobs", "indexed"], None);
    assert_eq!(column(&table, "COMPLETIONS"), ["3/3"], "{table}");
    assert_eq!(column(&table, "STATUS"), ["Complete"], "{table}");
}

fn a_job_past_its_backoff_limit_fails(place: &Place) {
    place.kubectl(&["apply", "-f", "-"], Some(FAILING));
    wait_job(place, "failed", "failing");
    let reason = place.kubectl(
        &[
            "get",
            "job",
            "failing",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}",
        ],
        None,
    );
    assert_eq!(reason, "BackoffLimitExceeded");
    // Its first try and the one retry the limit allows.
    let failed = place.kubectl(
        &["get", "job", "failing", "-o", "jsonpath={.status.failed}"],
        None,
    );
    assert_eq!(failed, "2");
    let table = place.kubectl(&["get", "jobs", "failing"], None);
    assert_eq!(column(&table, "STATUS"), ["Failed"], "{table}");
}

fn a_cronjob_runs_by_hand(place: &Place) {
    place.kubectl(
        &[
            "create",
            "cronjob",
            "nightly",
            "--image=busybox",
            "--schedule=0 3 * * *",
            "--",
            "echo",
            "from the cronjob's template",
        ],
        None,
    );
    place.kubectl(
        &["create", "job", "by-hand", "--from=cronjob/nightly"],
        None,
    );
    wait_job(place, "complete", "by-hand");
    let pod = place.kubectl(
        &[
            "get",
            "pods",
            "-l",
            "job-name=by-hand",
            "-o",
            "jsonpath={.items[0].metadata.name} {.items[0].spec.nodeName}",
        ],
        None,
    );
    let (pod, node) = pod.split_once(' ').unwrap();
    assert!(["node-1", "node-2"].contains(&node), "ran on {node:?}");
    let log = place.kubectl(&["logs", pod], None);
    assert_eq!(log.trim(), "from the cronjob's template");
    // Made from the CronJob, as kubectl marks it; the CronJob owns it.
    let owner = place.kubectl(
        &[
            "get",
            "job",
            "by-hand",
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
        ],
        None,
    );
    assert_eq!(owner, "CronJob/nightly");
}

/// `minutely` (`* * * * *`) started a Job by itself within 70 s of its
/// creation on the real clock (the API server's timestamps say), and
/// says when it scheduled it.
fn a_cronjob_fires_on_schedule(place: &Place) {
    let query = "jsonpath={range .items[?(@.metadata.ownerReferences[0].name==\"minutely\")]}\
                 {.metadata.name} {.metadata.creationTimestamp}{\"\\n\"}{end}";
    let deadline = Instant::now() + patience();
    let jobs = loop {
        let jobs = place.kubectl(&["get", "jobs", "-o", query], None);
        if !jobs.is_empty() {
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "no Job from CronJob minutely after {:?}; jobs: {}",
            patience(),
            place.kubectl(&["get", "jobs"], None)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let stamp = |text: &str| {
        orc_client::time::parse(text).unwrap_or_else(|| panic!("not a time: {text:?}"))
    };
    let (job, job_created) = jobs.lines().next().unwrap().split_once(' ').unwrap();
    assert!(job.starts_with("minutely-"), "{job}");
    let cron = place.kubectl(
        &[
            "get",
            "cronjob",
            "minutely",
            "-o",
            "jsonpath={.metadata.creationTimestamp} {.status.lastScheduleTime}",
        ],
        None,
    );
    let (cron_created, last) = cron.split_once(' ').unwrap();
    let took = orc_client::time::seconds_between(stamp(cron_created), stamp(job_created));
    println!(
        "CronJob minutely created at {cron_created}, its first Job {job} at {job_created}: {took} s"
    );
    assert!(
        (0..=70).contains(&took),
        "{job} came {took} s after the CronJob"
    );
    // On a whole minute after the CronJob was made, and not after the Job.
    assert!(last.ends_with(":00Z"), "lastScheduleTime {last:?}");
    let last = stamp(last);
    assert!(orc_client::time::seconds_between(stamp(cron_created), last) > 0);
    assert!(orc_client::time::seconds_between(last, stamp(job_created)) >= 0);
    // The CronJob is done with: it would go on making a Job a minute.
    place.kubectl(&["delete", "cronjob", "minutely"], None);
}

fn a_statefulset_pod_is_found_by_its_stable_name(place: &Place) {
    place.kubectl(&["create", "namespace", NS], None);
    place.kubectl(&["apply", "-f", "-"], Some(STATEFUL));
    let timeout = format!("--timeout={}s", patience().as_secs());
    place.kubectl(
        &["-n", NS, "rollout", "status", "statefulset/web", &timeout],
        None,
    );
    place.kubectl(
        &[
            "-n",
            NS,
            "wait",
            "--for=condition=Ready",
            "pod/asker",
            &timeout,
        ],
        None,
    );
    let ip = place.kubectl(
        &[
            "-n",
            NS,
            "get",
            "pod",
            "web-0",
            "-o",
            "jsonpath={.status.podIP}",
        ],
        None,
    );
    assert!(!ip.is_empty(), "web-0 has no address");
    let name = format!("web-0.web.{NS}.svc.cluster.local");
    // Asked until the name resolves: the DNS follows the EndpointSlice.
    let deadline = Instant::now() + patience();
    loop {
        let out = place.try_kubectl(&["-n", NS, "exec", "asker", "--", "nslookup", &name]);
        let answer = text(&out);
        let addresses: Vec<&str> = answer
            .lines()
            .skip_while(|l| !l.starts_with("Name:"))
            .filter_map(|l| l.strip_prefix("Address:"))
            .map(str::trim)
            .collect();
        if !addresses.is_empty() {
            assert_eq!(addresses, [ip.as_str()], "{name} from pod asker: {answer}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not resolved from pod asker in {:?}; last: {answer}",
            patience()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    place.kubectl(&["delete", "namespace", NS, "--wait=false"], None);
}

/// The daemon's pods: (name, node, ready, deleting), sorted by node.
fn daemon_pods(place: &Place) -> Vec<(String, String, String, bool)> {
    let query = "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} \
                 {.status.conditions[?(@.type==\"Ready\")].status} \
                 {.spec.containers[0].image} {.metadata.deletionTimestamp}{\"\\n\"}{end}";
    let out = place.kubectl(&["get", "pods", "-l", "app=daemon", "-o", query], None);
    let mut pods: Vec<_> = out
        .lines()
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            let word = |i: usize| words.get(i).copied().unwrap_or("").to_string();
            (
                word(0),
                word(1),
                format!("{} {}", word(2), word(3)),
                !word(4).is_empty(),
            )
        })
        .collect();
    pods.sort_by(|a, b| a.1.cmp(&b.1));
    pods
}

/// Polls the daemon's pods until `done` holds for them.
fn until_daemon(
    place: &Place,
    what: &str,
    done: impl Fn(&[(String, String, String, bool)]) -> bool,
) -> Vec<(String, String, String, bool)> {
    let deadline = Instant::now() + patience();
    loop {
        let pods = daemon_pods(place);
        if done(&pods) {
            return pods;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not so after {:?}; last {pods:?}",
            patience()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn a_daemonset_keeps_one_pod_per_node(place: &Place) {
    let timeout = format!("--timeout={}s", patience().as_secs());
    place.kubectl(&["apply", "-f", "-"], Some(DAEMON));
    place.kubectl(&["rollout", "status", "ds/daemon", &timeout], None);
    // (`rollout status` counts the nodes that should run a pod now: a
    // node the controller has just judged NotReady is not one of them.)
    until_daemon(place, "one ready pod per node", |pods| {
        pods.len() == 2
            && pods[0].1 == "node-1"
            && pods[1].1 == "node-2"
            && pods.iter().all(|p| p.2.starts_with("True") && !p.3)
    });
    let wide = place.kubectl(&["get", "pods", "-l", "app=daemon", "-o", "wide"], None);
    let mut nodes = column(&wide, "NODE");
    nodes.sort();
    assert_eq!(nodes, ["node-1", "node-2"], "{wide}");
    let before = daemon_pods(place);

    // node-2 stops: its pod is not ready, but stays there (a daemon's pod
    // tolerates an unreachable node for good), and node-1 gets no other.
    let stopped = place.orc(&["node", "stop", "node-2"]);
    assert!(stopped.status.success(), "{}", text(&stopped));
    place.until(
        "node-2 is tainted unreachable",
        &[
            "get",
            "node",
            "node-2",
            "-o",
            "jsonpath={.spec.taints[*].key}",
        ],
        |keys| keys.contains("node.kubernetes.io/unreachable"),
    );
    let during = until_daemon(place, "node-2's daemon pod is not ready", |pods| {
        pods.len() == 2 && pods[1].1 == "node-2" && pods[1].2.starts_with("False")
    });
    assert_eq!(during[0].0, before[0].0, "node-1's pod was replaced");
    assert_eq!(during[1].0, before[1].0, "node-2's pod was replaced");
    assert!(!during[1].3, "node-2's daemon pod was evicted: {during:?}");
    let ready = place.kubectl(
        &[
            "get",
            "ds",
            "daemon",
            "-o",
            "jsonpath={.status.numberReady}",
        ],
        None,
    );
    assert_eq!(ready, "1");

    // Back: one ready pod per node again.
    let started = place.orc(&["node", "start", "node-2"]);
    assert!(started.status.success(), "{}", text(&started));
    until_daemon(place, "one ready pod per node again", |pods| {
        pods.len() == 2
            && pods[0].1 == "node-1"
            && pods[1].1 == "node-2"
            && pods.iter().all(|p| p.2.starts_with("True") && !p.3)
    });
    place.kubectl(&["rollout", "status", "ds/daemon", &timeout], None);

    // A new image rolls over both nodes.
    let image = "docker.io/library/busybox:latest";
    place.kubectl(
        &["set", "image", "ds/daemon", &format!("sleeper={image}")],
        None,
    );
    place.kubectl(&["rollout", "status", "ds/daemon", &timeout], None);
    let after = until_daemon(place, "the new image on both nodes", |pods| {
        pods.len() == 2
            && pods[0].1 == "node-1"
            && pods[1].1 == "node-2"
            && pods.iter().all(|p| p.2 == format!("True {image}") && !p.3)
    });
    assert!(
        after.iter().all(|p| before.iter().all(|b| b.0 != p.0)),
        "pods not replaced: {before:?} then {after:?}"
    );
    place.kubectl(&["delete", "ds", "daemon"], None);
}

/// `orc status` asks the controller manager's /healthz, and its /metrics
/// has the endpoint controllers' queues beside chapter 05's, busy with
/// the Services above.
fn the_controller_manager_reports_its_health_and_queues(place: &Place, up: &str) {
    let status = text(&place.orc(&["status"]));
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("controllers ") && l.ends_with("/healthz: ok")),
        "{status}"
    );
    let api = api_url(up);
    let host = api
        .trim_start_matches("https://")
        .split(':')
        .next()
        .unwrap();
    let (head, metrics) = place
        .request(&format!("{host}:10257"), None, "/metrics")
        .unwrap_or_else(|| panic!("no answer from {host}:10257/metrics"));
    assert_eq!(status_code(&head), "200", "{head}");
    for queue in [
        "endpoint_slice",
        "endpoint",
        "job",
        "cronjob",
        "statefulset",
    ] {
        let adds = format!("workqueue_adds_total{{name=\"{queue}\"}} ");
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&adds))
            .unwrap_or_else(|| panic!("no {adds}in:\n{metrics}"));
        assert_ne!(count, "0", "{adds}");
    }
}

//! The "ordinary web pod" on a real node: a ConfigMap and a Secret
//! (with `stringData`) as variables *and* as files, the downward API as
//! files, a `subPath` mount, an in-memory `emptyDir`, and probes that name
//! their port; then a ConfigMap edit reaching the mounted file, and a pod
//! whose ConfigMap is missing waiting in `ContainerCreating` until it exists.
//! Init containers run in order before the app, and kubectl shows
//! `Init:0/1`, `Init:Error` and `Init:CrashLoopBackOff`; a sidecar held
//! back by its startup probe is `Init:0/1`, then counts in READY; an image that
//! cannot be pulled is `ErrImagePull`, then `ImagePullBackOff`. A real etcd, API
//! server, `orc agent` and the installed kubectl.
//!
//! Root only; the pod network lives in a throwaway namespace (chapter 02's
//! test node), and everything is removed at the end.

#[path = "../../02-pod/tests/agent_node/mod.rs"]
mod agent_node;
mod cluster;

use std::path::Path;
use std::time::{Duration, Instant};

use cluster::{ApiServer, delete_pods, kubectl, one_node, running, tear_down};
use orc_client::Method;
use orc_client::conditions::is_ready as ready;
use serde_json::{Value, json};

const NODE: &str = "node-volumes";
const LONG: Duration = Duration::from_secs(60);
const NS: &str = "/api/v1/namespaces/default";

/// What `cat`-like `command` prints inside pod `pod`, through kubectl exec.
async fn exec(config: &Path, pod: &str, command: &str) -> String {
    kubectl(config, &["exec", pod, "--", "sh", "-c", command]).await
}

/// Polls `kubectl describe pod` until its events hold every one of `want`.
async fn wait_for_events(config: &Path, pod: &str, want: &[&str]) -> String {
    let deadline = Instant::now() + LONG;
    loop {
        let described = kubectl(config, &["describe", "pod", pod]).await;
        let events = described.split("Events:").nth(1).unwrap_or("").to_string();
        if want.iter().all(|w| events.contains(w)) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl describe pod {pod}: {described}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `exec` until it prints `want` (the file was updated).
async fn wait_for_exec(config: &Path, pod: &str, command: &str, want: &str) {
    let deadline = Instant::now() + LONG;
    loop {
        let got = exec(config, pod, command).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{command}: {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The web pod: its configuration in env and in files, probes by port name.
fn web_pod() -> Value {
    json!({
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "web", "image": "busybox",
                "command": ["sh", "-c", "mkdir -p /www && cp /etc/web/index.html /www/ && exec httpd -f -p $(PORT) -h /www"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "env": [
                    {"name": "PORT", "valueFrom": {"configMapKeyRef": {"name": "web", "key": "port"}}},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                ],
                "readinessProbe": {"httpGet": {"path": "/index.html", "port": "http"}, "periodSeconds": 1},
                "livenessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 1},
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/web"},
                    {"name": "config", "mountPath": "/etc/port", "subPath": "port"},
                    {"name": "db", "mountPath": "/etc/db", "readOnly": true},
                    {"name": "info", "mountPath": "/etc/podinfo"},
                    {"name": "all", "mountPath": "/etc/all"},
                    {"name": "cache", "mountPath": "/cache"},
                ],
            }],
            "volumes": [
                {"name": "config", "configMap": {"name": "web"}},
                {"name": "db", "secret": {"secretName": "db", "defaultMode": 0o400,
                    "items": [{"key": "password", "path": "creds/password"}]}},
                {"name": "info", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                {"name": "all", "projected": {"sources": [
                    {"configMap": {"name": "web", "items": [{"key": "port", "path": "port"}]}},
                    {"secret": {"name": "db"}}]}},
                {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            ]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_reaches_the_pod_as_files_and_follows_edits() {
    let (node, api, mut agent, config) = one_node(NODE).await;

    api.post(
        &format!("{NS}/configmaps"),
        json!({"metadata": {"name": "web"}, "data": {"port": "8080", "index.html": "hello"}}),
    )
    .await;
    api.post(
        &format!("{NS}/secrets"),
        json!({"metadata": {"name": "db"}, "stringData": {"password": "s3cr3t"}}),
    )
    .await;
    api.post(&format!("{NS}/pods"), web_pod()).await;
    // Ready: the readiness probe found port `http` and got the page.
    api.wait_for(&format!("{NS}/pods/web"), LONG, ready).await;

    let files = exec(
        &config,
        "web",
        "echo $PORT $PASSWORD; cat /etc/web/port /etc/port; echo; cat /etc/db/creds/password; echo; \
         stat -L -c %a /etc/db/creds/password /etc/web/port; cat /etc/podinfo/labels; echo; \
         cat /etc/podinfo/name /etc/all/port /etc/all/password; echo",
    )
    .await;
    assert_eq!(
        files,
        "8080 s3cr3t\n80808080\ns3cr3t\n400\n644\napp=\"web\"\ntier=\"front\"\nweb8080s3cr3t\n"
    );
    // What the kubelet did, in `kubectl describe`, from `kubelet`.
    let events = wait_for_events(
        &config,
        "web",
        &["Pulled", "Created container: web", "Started container web"],
    )
    .await;
    assert!(events.contains("kubelet"), "{events}");

    // The files are the kubelet's: names through `..data`.
    let link = exec(&config, "web", "readlink /etc/web/port").await;
    assert_eq!(link, "..data/port\n");
    // The emptyDir is a tmpfs of 1Mi; the Secret is in memory too.
    let mounts = exec(
        &config,
        "web",
        "grep -E ' /(cache|etc/db) ' /proc/mounts | cut -d' ' -f2,3",
    )
    .await;
    assert_eq!(mounts, "/etc/db tmpfs\n/cache tmpfs\n");
    let full = exec(
        &config,
        "web",
        "dd if=/dev/zero of=/cache/big bs=1M count=2 2>&1; echo $?",
    )
    .await;
    assert!(
        full.ends_with("1\n") && full.contains("No space left"),
        "{full}"
    );

    // An edit of the ConfigMap reaches the mounted file (not the subPath
    // file, nor the variable: as in Kubernetes).
    api.client
        .send_path(
            Method::PATCH,
            &format!("{NS}/configmaps/web"),
            None,
            Some((
                "application/merge-patch+json",
                json!({"data": {"port": "9090"}}).to_string(),
            )),
        )
        .await
        .unwrap();
    wait_for_exec(
        &config,
        "web",
        "cat /etc/web/port /etc/all/port",
        "90909090",
    )
    .await;
    assert_eq!(
        exec(&config, "web", "cat /etc/port; echo $PORT").await,
        "80808080\n"
    );

    missing_config_map_waits(&api, &config).await;

    tear_down(&node, &api, &mut agent, &["web", "late"]).await;
}

/// A pod whose ConfigMap volume names a ConfigMap that does not exist yet
/// waits in ContainerCreating, saying why, and starts once it is created.
async fn missing_config_map_waits(api: &ApiServer, config: &Path) {
    api.post(
        &format!("{NS}/pods"),
        json!({"metadata": {"name": "late"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": "busybox",
                    "command": ["sh", "-c", "cat /etc/late/level; exec sleep 3600"],
                    "volumeMounts": [{"name": "late", "mountPath": "/etc/late"}]}],
                "volumes": [{"name": "late", "configMap": {"name": "late"}}]}}),
    )
    .await;
    let waiting = |p: &Value| p["status"]["containerStatuses"][0]["state"]["waiting"].clone();
    let stuck = api
        .wait_for(&format!("{NS}/pods/late"), LONG, |p| {
            waiting(p)["message"]
                .as_str()
                .is_some_and(|m| m.contains("MountVolume"))
        })
        .await;
    assert_eq!(
        waiting(&stuck),
        json!({"reason": "ContainerCreating",
            "message": "MountVolume.SetUp failed for volume \"late\" : configmap \"late\" not found"})
    );
    assert_eq!(stuck["status"]["phase"], "Pending");
    wait_for_events(
        config,
        "late",
        &[
            "Warning  FailedMount",
            "MountVolume.SetUp failed for volume \"late\" : configmap \"late\" not found",
        ],
    )
    .await;
    let table = kubectl(config, &["get", "pod", "late", "--no-headers"]).await;
    assert!(table.contains("ContainerCreating"), "{table}");
    api.post(
        &format!("{NS}/configmaps"),
        json!({"metadata": {"name": "late"}, "data": {"level": "debug"}}),
    )
    .await;
    api.wait_for(&format!("{NS}/pods/late"), LONG, running)
        .await;
    let deadline = Instant::now() + LONG;
    loop {
        let logs = kubectl(config, &["logs", "late"]).await;
        if logs == "debug" {
            break;
        }
        assert!(Instant::now() < deadline, "kubectl logs late: {logs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `kubectl get pod NAME` once its STATUS column says `want`.
async fn wait_for_status_column(config: &Path, pod: &str, want: &str) {
    let deadline = Instant::now() + LONG;
    loop {
        let row = kubectl(config, &["get", "pod", pod, "--no-headers"]).await;
        if row.split_whitespace().nth(2) == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl get pod {pod}: {row:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn busybox(name: &str, script: &str) -> Value {
    json!({"name": name, "image": "busybox", "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}]})
}

fn pod_with_init(name: &str, policy: &str, init: Vec<Value>) -> Value {
    json!({"metadata": {"name": name},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "restartPolicy": policy,
            "initContainers": init,
            "containers": [busybox("app", "cat /work/log; exec sleep 3600")],
            "volumes": [{"name": "work", "emptyDir": {}}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_in_order_before_the_app() {
    let (node, api, mut agent, config) = one_node(NODE).await;
    let pods = format!("{NS}/pods");

    // Each init container sees what the one before it wrote; so does the app.
    let first = busybox("first", "echo one > /work/log");
    let second = busybox("second", "cat /work/log && echo two >> /work/log");
    api.post(
        &pods,
        pod_with_init("ordered", "Always", vec![first, second]),
    )
    .await;
    let pod = api
        .wait_for(&format!("{pods}/ordered"), LONG, running)
        .await;
    let init = &pod["status"]["initContainerStatuses"];
    for i in 0..2 {
        assert_eq!(
            init[i]["state"]["terminated"]["reason"], "Completed",
            "{pod}"
        );
        assert_eq!(init[i]["ready"], true, "{pod}");
    }
    let logs = |c: &'static str| {
        let config = config.clone();
        async move { kubectl(&config, &["logs", "ordered", "-c", c]).await }
    };
    assert_eq!(logs("second").await, "one\n");
    let deadline = Instant::now() + LONG;
    while logs("app").await != "one\ntwo\n" {
        assert!(
            Instant::now() < deadline,
            "app log: {:?}",
            logs("app").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // An init container that runs holds the app back: Init:0/1.
    let wait = busybox("wait", "exec sleep 3600");
    api.post(&pods, pod_with_init("blocked", "Always", vec![wait]))
        .await;
    wait_for_status_column(&config, "blocked", "Init:0/1").await;
    // One that fails, with restartPolicy Never: the pod has failed.
    let fail = busybox("fail", "exit 3");
    api.post(&pods, pod_with_init("broken", "Never", vec![fail.clone()]))
        .await;
    api.wait_for(&format!("{pods}/broken"), LONG, |p| {
        p["status"]["phase"] == "Failed"
    })
    .await;
    wait_for_status_column(&config, "broken", "Init:Error").await;
    // And with Always: restarted with back-off, and said so.
    api.post(&pods, pod_with_init("looping", "Always", vec![fail]))
        .await;
    wait_for_status_column(&config, "looping", "Init:CrashLoopBackOff").await;
    wait_for_events(
        &config,
        "looping",
        &[
            "BackOff",
            "Back-off restarting failed container fail in pod looping_default(",
        ],
    )
    .await;

    // An image no registry has (a registry on loopback that is not
    // there): ErrImagePull, then ImagePullBackOff while the agent waits.
    let image = "127.0.0.1:1/busybox:does-not-exist";
    api.post(
        &pods,
        json!({"metadata": {"name": "typo"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": image}]}}),
    )
    .await;
    wait_for_status_column(&config, "typo", "ImagePullBackOff").await;
    let want = format!("Back-off pulling image \"{image}\"");
    let events = wait_for_events(&config, "typo", &["Failed", "ErrImagePull", &want]).await;
    assert!(events.contains(image), "{events}");

    tear_down(
        &node,
        &api,
        &mut agent,
        &["ordered", "blocked", "broken", "looping", "typo"],
    )
    .await;
}

/// The pod's `Unhealthy` events, as Event objects.
async fn unhealthy_events(api: &ApiServer, pod: &str) -> Vec<Value> {
    let list = api.get(&format!("{NS}/events")).await.unwrap();
    let items = list["items"].as_array().cloned().unwrap_or_default();
    items
        .into_iter()
        .filter(|e| e["involvedObject"]["name"] == pod && e["reason"] == "Unhealthy")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_probe_is_one_unhealthy_event_with_a_count() {
    let (node, api, mut agent, config) = one_node(NODE).await;
    // `app` never gets ready; `side` is fine. Each failed check is an
    // event about `app`, and the repeats fold into one with a count.
    api.post(
        &format!("{NS}/pods"),
        json!({"metadata": {"name": "sick"},
        "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "app", "image": "busybox", "command": ["sleep", "3600"],
                 "readinessProbe": {"exec": {"command": ["cat", "/nope"]}, "periodSeconds": 1}},
                {"name": "side", "image": "busybox", "command": ["sleep", "3600"]},
            ]}}),
    )
    .await;
    let message = "Readiness probe failed: cat: can't open '/nope': No such file or directory";
    let events = wait_for_events(&config, "sick", &[message, " (x"]).await;
    // kubectl's line: type, reason, age with the count, the component.
    let line = events.lines().find(|l| l.contains("Unhealthy")).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[..2], ["Warning", "Unhealthy"], "{events}");
    assert!(
        line.contains(" (x") && line.contains(" over ") && line.ends_with(message),
        "{events}"
    );
    assert!(
        line.contains("  kubelet  ") && !line.contains("kubelet,"),
        "{events}"
    );
    // Pulled, Created and Started once per container.
    for container in ["app", "side"] {
        let started = format!("Started container {container}");
        assert_eq!(events.matches(&started).count(), 1, "{events}");
    }

    // One object, counting; it names the container and the node.
    let unhealthy = unhealthy_events(&api, "sick").await;
    assert_eq!(unhealthy.len(), 1, "{unhealthy:#?}");
    let event = &unhealthy[0];
    assert!(event["count"].as_u64().unwrap() >= 2, "{event:#}");
    assert_eq!(event["involvedObject"]["fieldPath"], "spec.containers{app}");
    assert_eq!(
        event["source"],
        json!({"component": "kubelet", "host": NODE})
    );
    assert_eq!(event["type"], "Warning");
    assert_ne!(event["firstTimestamp"], event["lastTimestamp"], "{event:#}");

    delete_pods(&api, &["sick"]).await;
    agent.stop();
    assert_eq!(node.containers(), vec![], "containers left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_waits_for_its_startup_probe_then_counts_as_ready() {
    let (node, api, mut agent, config) = one_node(NODE).await;
    // The proxy sidecar has started once /work/up exists; until then the
    // app waits and kubectl says Init:0/1.
    let mut proxy = busybox("proxy", "exec sleep 3600");
    proxy["restartPolicy"] = json!("Always");
    proxy["startupProbe"] = json!({"exec": {"command": ["cat", "/work/up"]},
        "periodSeconds": 1, "failureThreshold": 600});
    api.post(
        &format!("{NS}/pods"),
        json!({"metadata": {"name": "sided"},
            "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                "initContainers": [proxy],
                "containers": [busybox("app", "exec sleep 3600")],
                "volumes": [{"name": "work", "emptyDir": {}}]}}),
    )
    .await;
    wait_for_status_column(&config, "sided", "Init:0/1").await;
    let failed = "Startup probe failed: cat: can't open '/work/up': No such file or directory";
    wait_for_events(&config, "sided", &[failed]).await;
    let pod = api.get(&format!("{NS}/pods/sided")).await.unwrap();
    let proxy = &pod["status"]["initContainerStatuses"][0];
    assert!(proxy["state"]["running"].is_object(), "{pod:#}");
    assert_eq!(
        (&proxy["started"], &proxy["ready"]),
        (&json!(false), &json!(false))
    );

    // kubectl exec reaches a sidecar as any container: it starts.
    kubectl(
        &config,
        &["exec", "sided", "-c", "proxy", "--", "touch", "/work/up"],
    )
    .await;
    let pod = api.wait_for(&format!("{NS}/pods/sided"), LONG, ready).await;
    wait_for_status_column(&config, "sided", "Running").await;
    let row = kubectl(&config, &["get", "pod", "sided", "--no-headers"]).await;
    assert_eq!(row.split_whitespace().nth(1), Some("2/2"), "{row}");
    let proxy = &pod["status"]["initContainerStatuses"][0];
    assert_eq!(
        (&proxy["started"], &proxy["ready"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(pod["status"]["containerStatuses"][0]["started"], true);

    // kubectl describe shows the probe with the defaults the server filled
    // in, under the init container, and the story in events.
    let described = kubectl(&config, &["describe", "pod", "sided"]).await;
    let init = described
        .split("Init Containers:")
        .nth(1)
        .and_then(|rest| rest.split("\nContainers:").next())
        .unwrap_or_else(|| panic!("{described}"));
    let startup =
        "Startup:        exec [cat /work/up] delay=0s timeout=1s period=1s #success=1 #failure=600";
    assert!(init.contains(startup), "{described}");
    assert!(init.contains("Ready:          True"), "{described}");
    for event in ["Started container proxy", "Started container app", failed] {
        assert!(described.contains(event), "{event} in {described}");
    }

    delete_pods(&api, &["sided"]).await;
    agent.stop();
    assert_eq!(node.containers(), vec![], "containers left");
}

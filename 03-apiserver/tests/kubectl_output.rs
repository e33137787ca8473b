//! What the installed kubectl v1.32 shows against orc, snapshotted.
//!
//! One small cluster's worth of objects (a node, pods in several states, a
//! deployment and its replica set, services of each type, endpoints,
//! events...) is written through the API with the statuses a running
//! cluster would have given them, then kubectl reads it back: `get` in
//! every output format, `describe`, `version`, `api-resources`, and the
//! errors. The snapshots are what a Kubernetes user would see; ages, uids,
//! resourceVersions and ports are replaced by tokens (see `redact.rs`).

mod common;
#[path = "kubectl_output/redact.rs"]
mod redact;

use std::path::PathBuf;

use common::TestServer;
use common::kubectl::{kubeconfig, kubectl};
use orc_apiserver::meta::{rfc3339, unix_now};
use redact::redact;
use serde_json::{Value, json};

/// A test server with kubectl pointed at it.
struct Cluster {
    server: TestServer,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::start().await;
        let config = kubeconfig(dir.path(), &server, "unused");
        Cluster {
            server,
            dir,
            config,
        }
    }

    /// Runs kubectl, which must succeed; returns `$ kubectl ...` and its
    /// redacted output, as a transcript.
    async fn run(&self, args: &[&str]) -> String {
        let (ok, out) = kubectl(self.dir.path(), &self.config, args).await;
        assert!(ok, "kubectl {args:?} failed:\n{out}");
        self.transcript(args, &out)
    }

    /// Runs kubectl, which must fail; the transcript of the error.
    async fn fail(&self, args: &[&str]) -> String {
        let (ok, out) = kubectl(self.dir.path(), &self.config, args).await;
        assert!(!ok, "kubectl {args:?} should fail:\n{out}");
        self.transcript(args, &out)
    }

    /// `$ kubectl args` and the redacted output, with the test's temporary
    /// directory written as `.`.
    fn transcript(&self, args: &[&str], out: &str) -> String {
        let dir = self.dir.path().to_str().unwrap();
        let text = format!("$ kubectl {}\n{}", args.join(" "), redact(out));
        text.replace(dir, ".")
    }

    /// The transcripts of several successful commands, one after another.
    async fn session(&self, commands: &[&[&str]]) -> String {
        let mut out = Vec::new();
        for args in commands {
            out.push(self.run(args).await);
        }
        out.join("\n")
    }

    /// Creates `obj` (status included) at `path`; returns what was stored.
    async fn create(&self, path: &str, obj: Value) -> Value {
        let (code, body) = self.server.post(path, &obj).await;
        assert_eq!(code, 201, "{path}: {body}");
        body
    }
}

/// `minutes` ago as RFC 3339. From ten minutes on, kubectl shows ages in
/// whole minutes (`12m`), which read the same for a minute: no redaction.
fn ago(minutes: u64) -> String {
    assert!(minutes >= 10, "ages under ten minutes show seconds");
    rfc3339(unix_now() as u64 - minutes * 60)
}

const NS: &str = "/api/v1/namespaces/default";
const APPS: &str = "/apis/apps/v1/namespaces/default";

/// Everything the `get` and `describe` snapshots show.
async fn populate(c: &Cluster) {
    c.create("/api/v1/nodes", json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1", "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": ""}},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "orc-agent is posting ready status",
                "lastHeartbeatTime": "2024-01-01T00:00:00Z", "lastTransitionTime": "2024-01-01T00:00:00Z"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "Hostname", "address": "node-1"}],
            "capacity": {"cpu": "2", "memory": "4002380Ki", "pods": "110"},
            "allocatable": {"cpu": "2", "memory": "3899980Ki", "pods": "110"},
            "nodeInfo": {"kubeletVersion": "v1.32.0-orc", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-28-amd64", "containerRuntimeVersion": "orc://0.1.0", "operatingSystem": "linux",
                "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": "", "kubeProxyVersion": ""}}
    })).await;

    let ready = |since: &str| {
        json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": since},
        {"type": "Initialized", "status": "True", "lastTransitionTime": since},
        {"type": "ContainersReady", "status": "True", "lastTransitionTime": since},
        {"type": "Ready", "status": "True", "lastTransitionTime": since}])
    };
    let web = c.create(&format!("{NS}/pods"), json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "nginx", "image": "nginx:1.25",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            "env": [{"name": "MODE", "value": "production"}]}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.5", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
            "startTime": "2024-01-01T00:00:00Z", "qosClass": "BestEffort", "conditions": ready("2024-01-01T00:00:00Z"),
            "containerStatuses": [{"name": "nginx", "ready": true, "started": true, "restartCount": 2,
                "image": "nginx:1.25", "imageID": "", "containerID": "orc://web-nginx",
                "state": {"running": {"startedAt": "2024-01-01T00:00:05Z"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": "2024-01-01T00:00:00Z", "finishedAt": ago(14)}}}]}
    })).await;
    let crash = c.create(&format!("{NS}/pods"), json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "crash", "labels": {"app": "crash"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "busybox:1.36", "command": ["false"]}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.5", "podIP": "10.244.0.6", "podIPs": [{"ip": "10.244.0.6"}],
            "startTime": "2024-01-01T00:00:00Z",
            "containerStatuses": [{"name": "app", "ready": false, "started": false, "restartCount": 5,
                "image": "busybox:1.36", "imageID": "", "containerID": "orc://crash-app",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2024-01-01T00:00:00Z", "finishedAt": ago(11)}}}]}
    })).await;
    c.create(
        &format!("{NS}/pods"),
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "waiting", "labels": {"app": "batch"}},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
        }),
    )
    .await;

    let deployment = c.create(&format!("{APPS}/deployments"), json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}},
        "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
            "unavailableReplicas": 1}
    })).await;
    let owner = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
        "uid": deployment["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]);
    c.create(&format!("{APPS}/replicasets"), json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "web-7d4b9c", "labels": {"app": "web", "pod-template-hash": "7d4b9c"}, "ownerReferences": owner,
            "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4b9c"}},
            "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "7d4b9c"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}}},
        "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2, "fullyLabeledReplicas": 3}
    })).await;
    c.create(&format!("{APPS}/daemonsets"), json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                "containers": [{"name": "agent", "image": "busybox:1.36"}]}}},
        "status": {"desiredNumberScheduled": 1, "currentNumberScheduled": 1, "numberReady": 1, "updatedNumberScheduled": 1,
            "numberAvailable": 1, "numberMisscheduled": 0}
    })).await;
    c.create("/apis/batch/v1/namespaces/default/jobs", json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {"completions": 1, "selector": {"matchLabels": {"job-name": "pi"}},
            "template": {"metadata": {"labels": {"job-name": "pi"}}, "spec": {"restartPolicy": "Never",
                "containers": [{"name": "pi", "image": "perl:5.34", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(200)"]}]}}},
        "status": {"succeeded": 1, "startTime": "2024-01-01T00:00:00Z", "completionTime": "2024-01-01T00:00:42Z",
            "conditions": [{"type": "Complete", "status": "True"}]}
    })).await;

    c.create(&format!("{NS}/services"), json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}]}
    })).await;
    c.create(&format!("{NS}/services"), json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "edge"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.11", "clusterIPs": ["10.96.0.11"], "selector": {"app": "web"},
            "ports": [{"port": 443, "targetPort": 8443, "nodePort": 30443, "protocol": "TCP"}]}
    })).await;
    c.create(
        &format!("{NS}/services"),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "db"},
            "spec": {"type": "ExternalName", "externalName": "db.example.com"}
        }),
    )
    .await;
    c.create(&format!("{NS}/endpoints"), json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "10.244.0.5", "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "name": "web", "namespace": "default", "uid": web["metadata"]["uid"]}}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]
    })).await;
    c.create("/apis/networking.k8s.io/v1/namespaces/default/ingresses", json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {"ingressClassName": "orc", "rules": [{"host": "web.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}]}}
    })).await;
    c.create(&format!("{NS}/configmaps"), json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "web-config"}, "data": {"MODE": "production", "index.html": "<h1>hello</h1>\n"}
    })).await;
    c.create(
        &format!("{NS}/secrets"),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "web-tls"}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": "Y2VydA==", "tls.key": "a2V5"}
        }),
    )
    .await;
    c.create(
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "orc-scheduler"},
            "spec": {"holderIdentity": "node-1_4f2a", "leaseDurationSeconds": 15}
        }),
    )
    .await;
    populate_events(c, &web, &crash, &deployment).await;
}

/// Events whose `involvedObject` points at the pods, the deployment and
/// the node, as the kubelet, scheduler and controllers would write them.
async fn populate_events(c: &Cluster, web: &Value, crash: &Value, deployment: &Value) {
    let pod = |p: &Value, field: &str| {
        json!({"kind": "Pod", "apiVersion": "v1", "namespace": "default",
        "name": p["metadata"]["name"], "uid": p["metadata"]["uid"], "fieldPath": field})
    };
    let owner = json!({"kind": "Deployment", "apiVersion": "apps/v1", "namespace": "default", "name": "web",
        "uid": deployment["metadata"]["uid"]});
    let node = json!({"kind": "Node", "name": "node-1", "uid": "node-1"});
    let kubelet = json!({"component": "kubelet", "host": "node-1"});
    // (name, involved object, type, reason, message, source, count,
    // first seen and last seen in minutes ago)
    #[rustfmt::skip]
    let events = [
        ("node-1.1", node, "Normal", "NodeReady", "Node node-1 status is now: NodeReady", kubelet.clone(), 1, 25, 25),
        ("web.1", pod(web, ""), "Normal", "Scheduled", "Successfully assigned default/web to node-1",
            json!({"component": "default-scheduler"}), 1, 20, 20),
        ("web.2", pod(web, "spec.containers{nginx}"), "Normal", "Pulled",
            "Container image \"nginx:1.25\" already present on machine", kubelet.clone(), 3, 20, 14),
        ("web.3", pod(web, "spec.containers{nginx}"), "Normal", "Started", "Started container nginx", kubelet.clone(), 3, 20, 14),
        ("web.4", owner, "Normal", "ScalingReplicaSet", "Scaled up replica set web-7d4b9c to 3",
            json!({"component": "deployment-controller"}), 1, 20, 20),
        ("crash.1", pod(crash, "spec.containers{app}"), "Warning", "BackOff", "Back-off restarting failed container app in pod crash",
            kubelet, 40, 19, 11),
    ];
    for (name, object, kind, reason, message, source, count, first, last) in events {
        c.create(&format!("{NS}/events"), json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name},
            "involvedObject": object, "type": kind, "reason": reason, "message": message, "source": source,
            "count": count, "firstTimestamp": ago(first), "lastTimestamp": ago(last),
        })).await;
    }
}

#[tokio::test]
async fn version_cluster_info_and_discovery() {
    let c = Cluster::start().await;
    let (ok, version) = kubectl(c.dir.path(), &c.config, &["version"]).await;
    assert!(ok, "{version}");
    assert!(version.contains("Server Version: v1.32.0-orc"), "{version}");
    assert!(
        !version.contains("WARNING"),
        "no version skew warning: {version}"
    );
    let server_line: String = version
        .lines()
        .filter(|l| l.starts_with("Server"))
        .collect();
    insta::assert_snapshot!("version", server_line);
    insta::assert_snapshot!("cluster_info", c.run(&["cluster-info"]).await);
    insta::assert_snapshot!("api_resources", c.run(&["api-resources"]).await);
    // kubectl keeps what discovery said on disk, per server, and reads it
    // from there for six hours.
    let cache = c
        .dir
        .path()
        .join("cache/discovery")
        .join(format!("127.0.0.1_{}", c.server.addr.port()));
    for document in [
        "servergroups.json",
        "v1/serverresources.json",
        "apps/v1/serverresources.json",
    ] {
        assert!(cache.join(document).is_file(), "{} cached", document);
    }
    insta::assert_snapshot!("api_versions", c.run(&["api-versions"]).await);
    insta::assert_snapshot!(
        "api_resources_namespaced",
        c.run(&["api-resources", "--namespaced=false", "-o", "wide"])
            .await
    );
}

#[tokio::test]
async fn get_shows_kubernetes_columns() {
    let c = Cluster::start().await;
    populate(&c).await;
    for kind in [
        "pods",
        "nodes",
        "namespaces",
        "deployments",
        "replicasets",
        "services",
        "endpoints",
        "configmaps",
        "secrets",
        "events",
        "daemonsets",
        "jobs",
        "ingresses",
        "leases",
    ] {
        let snapshot = c
            .session(&[&["get", kind], &["get", kind, "-o", "wide"]])
            .await;
        insta::assert_snapshot!(format!("get_{kind}"), snapshot);
    }
}

/// Labels as columns, selectors, all namespaces, `get all`, sorting.
#[tokio::test]
async fn get_selects_labels_namespaces_and_sorts() {
    let c = Cluster::start().await;
    populate(&c).await;
    c.create(
        "/api/v1/namespaces/kube-system/pods",
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "coredns", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"containers": [{"name": "coredns", "image": "coredns/coredns:1.11.1"}]},
        }),
    )
    .await;
    let labels = c
        .session(&[
            &["get", "pods", "--show-labels"],
            &["get", "pods", "-L", "app", "-L", "tier"],
            &["get", "pods", "-l", "app=web"],
            &["get", "pods", "-l", "app in (web,crash),tier!=front"],
            &["get", "pods", "--field-selector", "status.phase=Pending"],
        ])
        .await;
    insta::assert_snapshot!("get_labels_and_selectors", labels);
    insta::assert_snapshot!("get_all_namespaces", c.run(&["get", "pods", "-A"]).await);
    insta::assert_snapshot!("get_all", c.run(&["get", "all"]).await);
    let sorted = c
        .session(&[
            &["get", "pods", "--sort-by=.metadata.name"],
            &[
                "get",
                "pods",
                "--sort-by=.status.containerStatuses[0].restartCount",
            ],
            &["get", "events", "--sort-by=.lastTimestamp"],
        ])
        .await;
    insta::assert_snapshot!("get_sorted", sorted);
}

/// The other output formats read whole objects, not Tables.
#[tokio::test]
async fn get_output_formats() {
    let c = Cluster::start().await;
    populate(&c).await;
    insta::assert_snapshot!(
        "get_yaml",
        c.run(&["get", "configmap", "web-config", "-o", "yaml"])
            .await
    );
    insta::assert_snapshot!(
        "get_json",
        c.run(&["get", "service", "web", "-o", "json"]).await
    );
    let formats = c
        .session(&[
            &["get", "pods", "-o", "name"],
            &["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"],
            &["get", "pod", "web", "-o", "jsonpath={.status.podIP}{\"\\n\"}"],
            &["get", "pods", "-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.status.phase}{\"\\n\"}{end}"],
            &["get", "pods", "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image,NODE:.spec.nodeName"],
            &["get", "deployment", "web", "-o", "go-template={{.spec.replicas}}{{\"\\n\"}}"],
        ])
        .await;
    insta::assert_snapshot!("get_formats", formats);
}

/// A `kubectl get -w` running in the background, its lines collected.
struct Watching {
    args: Vec<String>,
    child: std::process::Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Watching {
    fn start(c: &Cluster, args: &[&str]) -> Watching {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut child = Command::new(orc_testkit::require_command("kubectl"))
            .arg(format!("--kubeconfig={}", c.config.display()))
            .arg(format!(
                "--cache-dir={}",
                c.dir.path().join("cache").display()
            ))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // A thread reads kubectl's lines; the test awaits them without
        // blocking the runtime the server runs on.
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watching {
            args: args.iter().map(|a| a.to_string()).collect(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for `n` more lines (at most ten seconds each).
    async fn take(&mut self, n: usize) {
        for _ in 0..n {
            let next = tokio::time::timeout(std::time::Duration::from_secs(10), self.lines.recv());
            match next.await {
                Ok(Some(line)) => self.seen.push(line),
                _ => break,
            }
        }
    }

    /// Stops kubectl (our own child, by its handle) and returns the
    /// transcript. Each event is laid out on its own, as kubectl prints it;
    /// AGE is the last column, so replacing it moves nothing.
    fn stop(mut self, expected: usize) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        assert_eq!(self.seen.len(), expected, "{:#?}", self.seen);
        let age = regex::Regex::new(r"\S+$").unwrap();
        let lines: Vec<String> = self
            .seen
            .iter()
            .enumerate()
            .map(|(i, l)| match i {
                0 => l.clone(),
                _ => age.replace(l, "<age>").to_string(),
            })
            .collect();
        format!("$ kubectl {}\n{}\n", self.args.join(" "), lines.join("\n"))
    }
}

/// `kubectl get -w` prints the list, then one line per change: the first
/// events are the objects that already exist (as ADDED with
/// `--output-watch-events`), read by a list, and the watch starts at the
/// list's resourceVersion so none comes twice. Watching one object by name
/// watches with `metadata.name=<name>`; a deletion prints the last state.
#[tokio::test]
async fn get_watch_prints_changes() {
    let c = Cluster::start().await;
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}});
    c.create(&format!("{NS}/configmaps"), cm("first")).await;
    let mut all = Watching::start(&c, &["get", "configmaps", "-w", "--output-watch-events"]);
    all.take(2).await;
    c.create(&format!("{NS}/configmaps"), cm("second")).await;
    all.take(1).await;
    let mut one = Watching::start(&c, &["get", "configmap", "second", "-w"]);
    one.take(2).await;
    let patch = r#"{"data": {"b": "2", "c": "3"}}"#;
    let path = format!("{NS}/configmaps/second");
    let (code, _) = c
        .server
        .patch(&path, "application/merge-patch+json", patch)
        .await;
    assert_eq!(code, 200);
    all.take(1).await;
    one.take(1).await;
    assert_eq!(
        c.server.delete(&format!("{NS}/configmaps/first")).await.0,
        200
    );
    all.take(1).await;
    assert_eq!(c.server.delete(&path).await.0, 200);
    all.take(1).await;
    one.take(1).await;
    let transcript = format!("{}\n{}", all.stop(6), one.stop(4));
    insta::assert_snapshot!("get_watch", transcript);
}

/// `kubectl describe` reads the object, then what it needs around it: the
/// events whose `involvedObject` is the object (a field selector on name,
/// namespace, kind and uid), a node's pods, a deployment's replica sets,
/// a service's endpoints.
#[tokio::test]
async fn describe_shows_objects_and_their_events() {
    let c = Cluster::start().await;
    populate(&c).await;
    for (kind, name) in [
        ("pod", "web"),
        ("pod", "crash"),
        ("node", "node-1"),
        ("deployment", "web"),
        ("service", "web"),
    ] {
        let out = c.run(&["describe", kind, name]).await;
        insta::assert_snapshot!(format!("describe_{kind}_{name}"), out);
    }
}

/// Errors read as on Kubernetes: the reason in parentheses, the resource
/// and name, and for invalid objects each field path.
#[tokio::test]
async fn errors_read_like_kubernetes() {
    let c = Cluster::start().await;
    populate(&c).await;
    let file = |name: &str, text: &str| {
        let path = c.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let existing = file(
        "web.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  MODE: test\n",
    );
    let invalid = file(
        "invalid.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: Bad_Name\nspec:\n  replicas: -1\n  selector:\n    matchLabels: {app: a}\n  template:\n    metadata:\n      labels: {app: b}\n    spec:\n      containers:\n      - name: c\n",
    );
    let unknown = file(
        "unknown.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n    imagePullPolicyy: Always\n  restartPolicyy: Never\n",
    );
    let mut transcript = vec![
        c.fail(&["get", "pod", "nope"]).await,
        c.fail(&["get", "deployment", "nope", "-n", "kube-system"])
            .await,
        c.fail(&["get", "pods", "-n", "nowhere", "nope"]).await,
        c.fail(&["create", "-f", &existing]).await,
        c.fail(&["create", "-f", &invalid]).await,
        c.fail(&["create", "-f", &unknown]).await,
        c.fail(&["apply", "-f", &unknown]).await,
        c.fail(&["get", "pods", "-l", "app=(web"]).await,
        c.fail(&["get", "pods", "--field-selector", "spec.image=nginx"])
            .await,
        c.fail(&["get", "widgets"]).await,
    ];
    // A stale update: read the object, let someone else change it, then
    // replace with the old resourceVersion.
    let (ok, stale) = kubectl(
        c.dir.path(),
        &c.config,
        &["get", "configmap", "web-config", "-o", "yaml"],
    )
    .await;
    assert!(ok, "{stale}");
    let stale = file(
        "stale.yaml",
        &stale.replace("MODE: production", "MODE: stale"),
    );
    c.run(&["label", "configmap", "web-config", "changed=yes"])
        .await;
    transcript.push(c.fail(&["replace", "-f", &stale]).await);
    insta::assert_snapshot!("errors", transcript.join("\n"));
}

//! The cluster the kubectl snapshots show: a test server, kubectl pointed
//! at it, and objects written with the statuses a running cluster would
//! have given them.

use std::path::PathBuf;

use jiff::Timestamp;
use orc_client::time;
use serde_json::{Value, json};

use super::common::TestServer;
use super::common::kubectl::{kubeconfig, kubectl};
use super::redact::redact;

/// A test server with kubectl pointed at it.
pub struct Cluster {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Cluster {
    pub async fn start() -> Cluster {
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
    pub async fn run(&self, args: &[&str]) -> String {
        let (ok, out) = kubectl(self.dir.path(), &self.config, args).await;
        assert!(ok, "kubectl {args:?} failed:\n{out}");
        self.transcript(args, &out)
    }

    /// Runs kubectl, which must fail; the transcript of the error.
    pub async fn fail(&self, args: &[&str]) -> String {
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
    pub async fn session(&self, commands: &[&[&str]]) -> String {
        let mut out = Vec::new();
        for args in commands {
            out.push(self.run(args).await);
        }
        out.join("\n")
    }

    /// Creates `obj` (status included) at `path`; returns what was stored.
    pub async fn create(&self, path: &str, obj: Value) -> Value {
        let (code, body) = self.server.post(path, &obj).await;
        assert_eq!(code, 201, "{path}: {body}");
        body
    }
}

/// `hours` ago as RFC 3339. From eight hours on, kubectl shows ages in
/// whole hours (`14h`), which read the same for an hour: a snapshot stays
/// true however long a loaded machine takes to run the test, with no
/// redaction. (Whole minutes, read the same for only a minute, were not
/// enough: a run under load took 199 s and saw `14m` become `15m`.) The
/// extra half minute keeps a timestamp truncated to whole seconds from
/// reading an hour less.
fn ago(hours: u64) -> String {
    assert!(hours >= 8, "ages under eight hours show minutes");
    let seconds = hours as i64 * 3600 + 30;
    time::format(time::add_seconds(Timestamp::now(), -seconds))
}

pub const NS: &str = "/api/v1/namespaces/default";
const APPS: &str = "/apis/apps/v1/namespaces/default";

/// Everything the `get` and `describe` snapshots show.
pub async fn populate(c: &Cluster) {
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
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "2024-01-01T00:00:00Z", "finishedAt": ago(11),
                    "message": "open /etc/app/config.yaml: no such file or directory"}}}]}
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
    let sts = c.create(&format!("{APPS}/statefulsets"), json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "postgres", "image": "postgres:16"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1, "currentReplicas": 2, "updatedReplicas": 2}
    })).await;
    c.create(&format!("{APPS}/controllerrevisions"), json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": "db-6c9f8", "labels": {"app": "db"}, "ownerReferences": [{"apiVersion": "apps/v1",
            "kind": "StatefulSet", "name": "db", "uid": sts["metadata"]["uid"], "controller": true}]},
        "data": {"spec": {"template": {"$patch": "replace"}}},
        "revision": 1
    })).await;
    c.create("/apis/batch/v1/namespaces/default/jobs", json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {"completions": 1, "manualSelector": true, "selector": {"matchLabels": {"job-name": "pi"}},
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
    populate_storage(c).await;
    populate_events(c, &web, &crash, &deployment).await;
}

/// A default StorageClass, a volume bound to a claim, a volume still
/// free and a claim still waiting: what `get pv,pvc,sc` show mid-life.
async fn populate_storage(c: &Cluster) {
    c.create(
        "/apis/storage.k8s.io/v1/storageclasses",
        json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "local-path",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"
        }),
    )
    .await;
    // (name, size, modes, reclaim policy, bound claim)
    for (name, size, modes, policy, claim) in [
        (
            "pv-data",
            "5Gi",
            json!(["ReadWriteOnce"]),
            "Delete",
            Some("data"),
        ),
        (
            "pv-spare",
            "1Gi",
            json!(["ReadWriteMany", "ReadOnlyMany"]),
            "Retain",
            None,
        ),
    ] {
        let mut pv = json!({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
            "spec": {"capacity": {"storage": size}, "accessModes": modes,
                "persistentVolumeReclaimPolicy": policy, "storageClassName": "local-path",
                "hostPath": {"path": format!("/var/lib/orc/{name}")}}
        });
        if let Some(claim) = claim {
            pv["spec"]["claimRef"] =
                json!({"kind": "PersistentVolumeClaim", "namespace": "default", "name": claim});
        }
        let mut stored = c.create("/api/v1/persistentvolumes", pv).await;
        stored["status"] = json!({"phase": if claim.is_some() { "Bound" } else { "Available" }});
        let (code, body) = c
            .server
            .put(&format!("/api/v1/persistentvolumes/{name}/status"), &stored)
            .await;
        assert_eq!(code, 200, "{body}");
    }
    for (name, volume) in [("data", Some("pv-data")), ("logs", None)] {
        let mut claim = json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}
        });
        if let Some(volume) = volume {
            claim["spec"]["volumeName"] = json!(volume);
        }
        let mut stored = c
            .create(&format!("{NS}/persistentvolumeclaims"), claim)
            .await;
        if volume.is_some() {
            stored["status"] = json!({"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"]});
            let (code, body) = c
                .server
                .put(
                    &format!("{NS}/persistentvolumeclaims/{name}/status"),
                    &stored,
                )
                .await;
            assert_eq!(code, 200, "{body}");
        }
    }
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
    // first seen and last seen in hours ago)
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

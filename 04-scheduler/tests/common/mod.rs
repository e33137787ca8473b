//! etcd, the API server and the scheduler, for one test; Node objects
//! made through the API (no agent runs them: the scheduler only reads
//! them); and the few requests the tests make.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use orc_apiserver::{Config, Server};
use orc_client::{Client, Method};
use orc_testkit::Etcd;
use serde_json::{Value, json};

/// How long any wait may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A control plane with a scheduler on loopback; stops when dropped.
pub struct Cluster {
    _etcd: Etcd,
    pub addr: SocketAddr,
    pub client: Client,
    pub scheduler: orc_scheduler::Running,
    serving: tokio::task::JoinHandle<()>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.serving.abort();
    }
}

impl Cluster {
    /// With the scheduler's defaults (and its HTTP port on a free port).
    pub async fn start() -> Cluster {
        Cluster::start_with(|_| {}).await
    }

    /// With the scheduler's configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut orc_scheduler::Config)) -> Cluster {
        let etcd = Etcd::start();
        let config = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let server = Server::bind(config).await.expect("the API server binds");
        let addr = server.local_addr().unwrap();
        let serving = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        let mut config = orc_scheduler::Config::new(format!("http://{addr}"));
        config.listen = Some("127.0.0.1:0".parse().unwrap());
        adjust(&mut config);
        let scheduler = orc_scheduler::start(config)
            .await
            .expect("the scheduler starts");
        Cluster {
            _etcd: etcd,
            addr,
            client: Client::new(format!("http://{addr}")),
            scheduler,
            serving,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, orc_client::ClientError> {
        let body = body.map(|b| ("application/json", b.to_string()));
        self.client.send_path(method, path, None, body).await
    }

    /// POSTs `body` to `path`; answers the created object.
    pub async fn create(&self, path: &str, body: &Value) -> Value {
        self.send(Method::POST, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// Creates a Node, and waits until the scheduler has seen it.
    pub async fn node(&self, node: Value) -> Value {
        let created = self.create("/api/v1/nodes", &node).await;
        let name = created["metadata"]["name"].as_str().unwrap().to_string();
        self.until_scheduler(&format!("knows node {name}"), || {
            self.scheduler.has_node(&name)
        })
        .await;
        created
    }

    /// Creates a pod in `default`; one that names its node is waited for
    /// until the scheduler counts it there.
    pub async fn pod(&self, pod: Value) -> Value {
        let created = self.create("/api/v1/namespaces/default/pods", &pod).await;
        if node_of(Some(&created)).is_some() {
            let uid = created["metadata"]["uid"].as_str().unwrap().to_string();
            self.until_scheduler(&format!("counts pod {uid}"), || {
                self.scheduler.counts_pod(&uid)
            })
            .await;
        }
        created
    }

    /// Waits until `check` holds of the scheduler.
    pub async fn until_scheduler(&self, what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !check() {
            assert!(Instant::now() < deadline, "the scheduler never {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The object at `path`, or None.
    pub async fn get(&self, path: &str) -> Option<Value> {
        match self.send(Method::GET, path, None).await {
            Ok(obj) => Some(obj),
            Err(e) if e.is_not_found() => None,
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// Waits until `check` holds for what `path` answers; answers that.
    pub async fn until(
        &self,
        path: &str,
        what: &str,
        check: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + LIMIT;
        loop {
            let now = self.get(path).await;
            if check(now.as_ref()) {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: still not {what} after {LIMIT:?}: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the pod `name` (in `default`) to be bound; its node.
    pub async fn scheduled(&self, name: &str) -> String {
        let path = format!("/api/v1/namespaces/default/pods/{name}");
        let pod = self
            .until(&path, "scheduled", |p| node_of(p).is_some())
            .await
            .unwrap();
        node_of(Some(&pod)).unwrap()
    }

    /// Waits for the pod `name` to be marked unschedulable; its message.
    pub async fn unschedulable(&self, name: &str) -> String {
        let path = format!("/api/v1/namespaces/default/pods/{name}");
        let pod = self
            .until(&path, "marked unschedulable", |p| unscheduled(p).is_some())
            .await;
        unscheduled(pod.as_ref()).unwrap()
    }

    /// Waits until pod `name` (in `default`) has an event with `reason`
    /// (events are written after the binding and the condition).
    pub async fn until_event(&self, name: &str, reason: &str) {
        self.until(
            "/api/v1/namespaces/default/events",
            &format!("holding a {reason} event for {name}"),
            |list| {
                list.and_then(|l| l["items"].as_array())
                    .is_some_and(|items| {
                        items
                            .iter()
                            .any(|e| e["involvedObject"]["name"] == name && e["reason"] == reason)
                    })
            },
        )
        .await;
    }

    /// The scheduler's `/metrics` page.
    pub async fn metrics(&self) -> String {
        let addr = self.scheduler.metrics_addr.expect("metrics are served");
        orc_testkit::metrics::page(format!("http://{addr}/metrics")).await
    }

    /// Waits until the metric sample `name` reaches `at_least`.
    pub async fn until_metric(&self, name: &str, at_least: f64) {
        let deadline = Instant::now() + LIMIT;
        loop {
            let text = self.metrics().await;
            let value = orc_testkit::metrics::sample(&text, name).unwrap_or(0.0);
            if value >= at_least {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name} = {value}, not {at_least}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `spec.nodeName`, when set.
pub fn node_of(pod: Option<&Value>) -> Option<String> {
    pod?.pointer("/spec/nodeName")?
        .as_str()
        .filter(|n| !n.is_empty())
        .map(String::from)
}

/// The message of a `PodScheduled: False` condition, when there is one.
pub fn unscheduled(pod: Option<&Value>) -> Option<String> {
    let conditions = pod?.pointer("/status/conditions")?.as_array()?;
    let c = conditions.iter().find(|c| c["type"] == "PodScheduled")?;
    (c["status"] == "False").then(|| c["message"].as_str().unwrap_or("").to_string())
}

/// A Node with `cpu` and `memory` allocatable, 110 pods, and `labels`
/// (plus `kubernetes.io/hostname`, as the kubelet adds it).
pub fn node(name: &str, cpu: &str, memory: &str, labels: Value) -> Value {
    let mut labels = labels;
    labels["kubernetes.io/hostname"] = json!(name);
    let resources =
        json!({"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {"capacity": resources, "allocatable": resources},
    })
}

/// A pod in `default` with one container requesting `cpu` and `memory`
/// (`None`: nothing).
pub fn pod(name: &str, requests: Option<(&str, &str)>) -> Value {
    let resources = match requests {
        Some((cpu, memory)) => json!({"requests": {"cpu": cpu, "memory": memory}}),
        None => json!({}),
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "busybox", "resources": resources}]},
    })
}

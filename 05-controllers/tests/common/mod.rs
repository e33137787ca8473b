//! etcd, the API server and every controller of this crate, for one test;
//! plus the few requests the tests make, by path.

#![allow(dead_code)]

pub mod stand_in_node;

use std::path::PathBuf;

use std::net::SocketAddr;
use std::time::Duration;

use orc_apiserver::{Config, Server};
use orc_testkit::Etcd;
use serde_json::Value;

/// A control plane on loopback; everything stops when it is dropped.
pub struct Cluster {
    _etcd: Etcd,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Cluster {
    pub async fn start() -> Cluster {
        let clock = std::sync::Arc::new(orc_controllers::clock::SystemClock);
        Cluster::start_with_clock(clock).await
    }

    /// A cluster whose Job and CronJob controllers run on `clock`.
    pub async fn start_with_clock(clock: orc_controllers::clock::SharedClock) -> Cluster {
        Cluster::start_with(clock, None).await
    }

    /// A cluster on `clock` whose HPA controller reads pod usage from
    /// `metrics` (`None`: the metrics API).
    pub async fn start_with(
        clock: orc_controllers::clock::SharedClock,
        metrics: Option<orc_controllers::hpa::metrics::SharedMetrics>,
    ) -> Cluster {
        let mut cluster = Cluster::start_control_plane().await;
        let controllers = orc_controllers::Config {
            pod_metrics: metrics,
            ..orc_controllers::Config::new(format!("http://{}", cluster.addr))
        };
        cluster.spawn(orc_controllers::run_with_clock(controllers, clock));
        cluster
    }

    /// etcd and the API server, and no controller: the test starts its own.
    pub async fn start_control_plane() -> Cluster {
        let etcd = Etcd::start();
        let config = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let server = Server::bind(config).await.expect("the API server binds");
        let addr = server.local_addr().unwrap();
        let serving = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        Cluster {
            _etcd: etcd,
            addr,
            http: orc_testkit::http_client(),
            tasks: vec![serving],
        }
    }

    /// Runs `component` (another controller, say) until the cluster is
    /// dropped.
    pub fn spawn(&mut self, component: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(component));
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the API server answers");
        let code = response.status().as_u16();
        (code, response.json().await.unwrap_or(Value::Null))
    }

    /// POSTs `body` to `path`; answers the created object.
    pub async fn create(&self, path: &str, body: &Value) -> Value {
        let (code, created) = self.send(self.http.post(self.url(path)).json(body)).await;
        assert_eq!(code, 201, "{created}");
        created
    }

    /// The object at `path`, or None when it does not exist.
    pub async fn get(&self, path: &str) -> Option<Value> {
        match self.send(self.http.get(self.url(path))).await {
            (200, obj) => Some(obj),
            (404, _) => None,
            (code, body) => panic!("GET {path}: {code} {body}"),
        }
    }

    /// The items of the list at `path`.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        let list = self.get(path).await.expect("the list exists");
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// A merge patch of the object at `path`; answers the HTTP code.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> u16 {
        let request = self
            .http
            .patch(self.url(path))
            .header("content-type", "application/merge-patch+json")
            .body(patch.to_string());
        self.send(request).await.0
    }

    /// DELETE with DeleteOptions `options`; answers the HTTP code.
    pub async fn delete(&self, path: &str, options: Value) -> u16 {
        self.send(self.http.delete(self.url(path)).json(&options))
            .await
            .0
    }

    /// Waits (up to 15 s) until `check` holds for what `path` answers (None:
    /// 404), and answers that.
    pub async fn until(
        &self,
        path: &str,
        what: &str,
        check: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        for _ in 0..300 {
            let now = self.get(path).await;
            if check(now.as_ref()) {
                return now;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{path}: still not {what} after 15 s: {:?}",
            self.get(path).await
        );
    }

    pub async fn until_gone(&self, path: &str) {
        self.until(path, "gone", |obj| obj.is_none()).await;
    }
}

/// The installed kubectl, on a kubeconfig for the cluster.
pub struct Kubectl {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Kubectl {
    pub fn new(c: &Cluster) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let config = orc_testkit::kubectl::kubeconfig(dir.path(), c.addr, "any");
        Kubectl { dir, config }
    }

    /// Runs kubectl off the async runtime: whether it succeeded, and its output.
    pub async fn try_run(&self, args: &[&str]) -> (bool, String) {
        let mut command = orc_testkit::kubectl::command(self.dir.path(), &self.config);
        command.args(args);
        tokio::task::spawn_blocking(move || orc_testkit::kubectl::output(command))
            .await
            .unwrap()
    }

    /// Runs kubectl; panics with its output when it fails.
    pub async fn run(&self, args: &[&str]) -> String {
        let (ok, out) = self.try_run(args).await;
        assert!(ok, "kubectl {args:?}: {out}");
        out
    }
}

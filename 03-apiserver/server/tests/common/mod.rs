//! A real etcd and a real orc-apiserver on 127.0.0.1:0, for one test.

#![allow(dead_code)]

/// Snapshots an object with the server-made values (uid, times,
/// resourceVersion, a Service's cluster IP) replaced. (`#[macro_use] mod common;` to use it.)
#[allow(unused_macros)]
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::assert_json_snapshot!($name, $value, {
            ".metadata.uid" => "[uid]",
            ".metadata.creationTimestamp" => "[time]",
            ".metadata.resourceVersion" => "[rv]",
            ".metadata.deletionTimestamp" => "[time]",
            ".spec.clusterIP" => "[cluster-ip]",
            ".spec.clusterIPs[]" => "[cluster-ip]",
        })
    };
}

pub mod kubectl;

use std::net::SocketAddr;
use std::time::Duration;

use orc_apiserver::{Config, Server};
use orc_testkit::Etcd;
use serde_json::Value;

/// The ConfigMaps of the namespace `default`.
pub const CMS: &str = "/api/v1/namespaces/default/configmaps";

/// The names of a list's items, in the list's order.
pub fn names(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect()
}

/// An object's (or a list's) `metadata.resourceVersion`, as a number.
pub fn rv(obj: &Value) -> i64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_else(|| panic!("a resourceVersion: {obj}"))
        .parse()
        .unwrap()
}

/// An API server on its own etcd; both stop when dropped.
pub struct TestServer {
    pub etcd: Etcd,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
    config: Config,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_on(Etcd::start(), tweak).await
    }

    /// An API server on an etcd the test started itself (with flags).
    pub async fn start_on(etcd: Etcd, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        tweak(&mut config);
        let (addr, task) = serve(config.clone()).await;
        TestServer {
            etcd,
            addr,
            http: orc_testkit::http_client(),
            task,
            config,
        }
    }

    /// Stops the API server (etcd keeps running) and starts a new one on
    /// the same etcd: a restart, as far as clients can tell.
    pub async fn restart(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        let (addr, task) = serve(self.config.clone()).await;
        self.addr = addr;
        self.task = task;
    }

    /// A second API server on the same etcd (as in an HA control plane):
    /// its address and task. Dropping the task's handle does not stop it;
    /// abort it.
    pub async fn second(&self) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        serve(self.config.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        send(self.http.post(self.url(path)).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        send(self.http.put(self.url(path)).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        send(self.http.delete(self.url(path))).await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        send(
            self.http
                .patch(self.url(path))
                .header("content-type", content_type)
                .body(body.to_string()),
        )
        .await
    }

    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        send(
            self.http
                .request(method, self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// Does the namespace controller's last step by hand (chapter 03 runs
    /// none): removes the `kubernetes` finalizer of a Terminating
    /// namespace through `/finalize`, which removes the namespace.
    pub async fn finalize_namespace(&self, name: &str) -> (u16, Value) {
        let path = format!("/api/v1/namespaces/{name}");
        let (code, mut ns) = self.get(&path).await;
        assert_eq!(code, 200, "{ns}");
        ns["spec"]["finalizers"] = serde_json::json!([]);
        self.put(&format!("{path}/finalize"), &ns).await
    }

    /// Runs `etcdctl` against this test's etcd.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.etcd.endpoint()))
            .args(args)
            .output()
            .expect("etcdctl runs");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

async fn serve(config: Config) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let server = Server::bind(config).await.expect("server binds");
    let addr = server.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = server.serve().await;
    });
    (addr, task)
}

pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request sent");
    let code = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (code, body)
}

/// A minimal valid pod.
pub fn pod(name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    })
}

/// Reads watch lines from a streaming response until `n` arrived or time runs out.
pub struct WatchReader {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl WatchReader {
    pub async fn open(server: &TestServer, path: &str) -> WatchReader {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        WatchReader {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next event, or None after `wait` without one.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        loop {
            if let Some(i) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).expect("watch lines are JSON"));
            }
            match tokio::time::timeout(wait, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                _ => return None,
            }
        }
    }

    /// Whether the server ends the stream within `wait` (any event still
    /// buffered or sent meanwhile is skipped).
    pub async fn ended(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) => return true,
                Ok(Err(_)) | Err(_) => return false,
            }
        }
    }

    /// `(type, name)` of the next `n` events.
    pub async fn take(&mut self, n: usize) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for _ in 0..n {
            let Some(e) = self.next(Duration::from_secs(10)).await else {
                break;
            };
            out.push(summary(&e));
        }
        out
    }
}

pub fn summary(e: &Value) -> (String, String) {
    (
        e["type"].as_str().unwrap_or("").to_string(),
        e["object"]["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    )
}

//! The `orc` client verbs, end to end: the real binary, a kubeconfig in a
//! temporary directory, a real API server on a real etcd.

use std::path::PathBuf;
use std::process::Stdio;

use orc_apiserver::{Config, Server};
use orc_pod::agent::layout::{StateLayout, write_atomic};
use orc_pod::agent::server;
use orc_testkit::{Etcd, require_command};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An API server on its own etcd, and a kubeconfig that points at it.
struct Cluster {
    /// The API server's address, for requests the CLI does not make.
    addr: std::net::SocketAddr,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    task: tokio::task::JoinHandle<()>,
    _etcd: Etcd,
}

/// What one `orc` run printed, and its exit status.
struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Cluster {
    async fn start() -> Cluster {
        Self::start_with_token(None).await
    }

    /// A server that accepts only `token`; the kubeconfig's user has it and
    /// its context's namespace is `kube-system`.
    async fn start_with_token(token: Option<&str>) -> Cluster {
        require_command("etcd");
        let etcd = Etcd::start();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
        let mut user = "{}".to_string();
        let mut namespace = String::new();
        if let Some(token) = token {
            let file = dir.path().join("tokens");
            std::fs::write(&file, format!("{token},admin,1\n")).unwrap();
            config.token_file = Some(file);
            user = format!("{{token: {token}}}");
            namespace = ", namespace: kube-system".into();
        }
        let server = Server::bind(config).await.expect("server binds");
        let addr = server.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = server.serve().await;
        });
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: orc\n  cluster:\n    server: http://{addr}\n\
                 users:\n- name: orc\n  user: {user}\ncontexts:\n- name: orc\n  context: {{cluster: orc, user: orc{namespace}}}\n\
                 current-context: orc\n"
            ),
        )
        .unwrap();
        Cluster {
            addr,
            dir,
            kubeconfig,
            task,
            _etcd: etcd,
        }
    }

    /// Writes `text` to a file in the test's directory; its path.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    async fn orc(&self, args: &str) -> Run {
        self.orc_stdin(args, "").await
    }

    async fn orc_stdin(&self, args: &str, stdin: &str) -> Run {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"))
            .args(args.split_whitespace())
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let out = child.wait_with_output().await.unwrap();
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
        }
    }

    /// Runs `orc` and insists it fails with status 1 and prints `stderr`.
    async fn fails(&self, args: &str, stderr: &str) {
        let run = self.orc(args).await;
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (1, stderr),
            "orc {args}:\n{}",
            run.stdout
        );
    }

    /// Runs `orc` and insists it succeeds; its stdout.
    async fn ok(&self, args: &str) -> String {
        let run = self.orc(args).await;
        assert_eq!(
            run.code, 0,
            "orc {args} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout
    }
}

const APP: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: nginx
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  labels: {app: db}
spec:
  containers:
  - name: db
    image: postgres
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: kube-system}
data: {greeting: hello}
";

/// Ages (`0s`, `12s`) change from run to run; snapshots show `[AGE]`.
macro_rules! assert_table {
    ($name:expr, $text:expr) => {
        let text = $text;
        insta::with_settings!({filters => vec![(r"\b\d+s\b", "[AGE]")]}, {
            insta::assert_snapshot!($name, text);
        })
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_then_leaves_unchanged_then_configures() {
    let cluster = Cluster::start().await;
    let file = cluster.file("app.yaml", APP);
    assert_eq!(
        cluster.ok(&format!("apply -f {file}")).await,
        "pod/web created\npod/db created\ndeployment.apps/web created\nconfigmap/settings created\n"
    );
    assert_eq!(
        cluster.ok(&format!("apply -f {file}")).await,
        "pod/web unchanged\npod/db unchanged\ndeployment.apps/web unchanged\nconfigmap/settings unchanged\n"
    );
    cluster.file("app.yaml", &APP.replace("replicas: 2", "replicas: 3"));
    assert_eq!(
        cluster.ok(&format!("apply -f {file}")).await,
        "pod/web unchanged\npod/db unchanged\ndeployment.apps/web configured\nconfigmap/settings unchanged\n"
    );
    // A label dropped from the manifest is deleted (the three-way merge).
    cluster.file(
        "app.yaml",
        &APP.replace("replicas: 2", "replicas: 3")
            .replace("  labels: {app: db}\n", ""),
    );
    assert_eq!(
        cluster.ok(&format!("apply -f {file}")).await,
        "pod/web unchanged\npod/db configured\ndeployment.apps/web unchanged\nconfigmap/settings unchanged\n"
    );
    assert_eq!(
        cluster.ok("get pods --show-labels -o name -l app").await,
        "pod/web\n"
    );
    let replicas = cluster.ok("get deployments.apps web -o json").await;
    let deployment: Value = serde_json::from_str(&replicas).unwrap();
    assert_eq!(deployment["spec"]["replicas"], 3);

    // A directory, and stdin.
    let dir = cluster.dir.path().join("more");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("cm.yml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-dir}\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not a manifest").unwrap();
    assert_eq!(
        cluster.ok(&format!("apply -f {}", dir.display())).await,
        "configmap/from-dir created\n"
    );
    let stdin = cluster
        .orc_stdin(
            "apply -f -",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-stdin}\n",
        )
        .await;
    assert_eq!(
        stdin.stdout, "configmap/from-stdin created\n",
        "{}",
        stdin.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_prints_server_side_tables_like_kubectl() {
    let cluster = Cluster::start().await;
    cluster
        .ok(&format!("apply -f {}", cluster.file("app.yaml", APP)))
        .await;
    assert_table!("get_pods", cluster.ok("get pods").await);
    assert_table!(
        "get_po_wide_labels",
        cluster.ok("get po -o wide --show-labels").await
    );
    assert_table!("get_deploy", cluster.ok("get deploy").await);
    assert_table!(
        "get_configmaps_all_namespaces",
        cluster.ok("get configmaps -A").await
    );
    assert_table!("get_pod_selected", cluster.ok("get pods -l app=db").await);
    assert_table!("get_pods_by_name", cluster.ok("get pod web db").await);

    assert_table!("get_all", cluster.ok("get all").await);
    assert_table!(
        "get_pods_and_configmaps_everywhere",
        cluster.ok("get po,cm -A").await
    );

    let empty = cluster.orc("get services -n kube-public").await;
    assert_eq!((empty.code, empty.stdout.as_str()), (0, ""));
    assert_eq!(
        empty.stderr,
        "No resources found in kube-public namespace.\n"
    );

    cluster
        .fails(
            "get gizmos",
            "error: the server doesn't have a resource type \"gizmos\"\n",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_o_json_round_trips_through_apply() {
    let cluster = Cluster::start().await;
    cluster
        .ok(&format!("apply -f {}", cluster.file("app.yaml", APP)))
        .await;
    let one: Value = serde_json::from_str(&cluster.ok("get pod web -o json").await).unwrap();
    assert_eq!(
        (one["kind"].as_str(), one["metadata"]["name"].as_str()),
        (Some("Pod"), Some("web"))
    );
    let list = cluster.ok("get pods -o json").await;
    let parsed: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(parsed["kind"], "List");
    assert_eq!(parsed["items"].as_array().unwrap().len(), 2);
    assert_eq!(parsed["items"][0]["kind"], "Pod");
    // What get prints, apply takes back. The first time, the record of
    // the last applied manifest becomes the fuller copy (as with kubectl);
    // the objects' spec stays as it was.
    let saved = cluster.file("pods.json", &list);
    assert_eq!(
        cluster.ok(&format!("apply -f {saved}")).await,
        "pod/db configured\npod/web configured\n"
    );
    assert_eq!(
        cluster.ok(&format!("apply -f {saved}")).await,
        "pod/db unchanged\npod/web unchanged\n"
    );
    let again: Value = serde_json::from_str(&cluster.ok("get pod web -o json").await).unwrap();
    assert_eq!(again["spec"], one["spec"]);
    assert_eq!(
        cluster.ok("get all -o name").await,
        // Every cluster has the kubernetes Service in default (chapter 06).
        "pod/db\npod/web\nservice/kubernetes\ndeployment.apps/web\n"
    );
    let yaml = cluster.ok("get cm settings -n kube-system -o yaml").await;
    assert!(yaml.contains("greeting: hello"), "{yaml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_shows_metadata_fields_and_events() {
    let cluster = Cluster::start().await;
    cluster
        .ok(&format!("apply -f {}", cluster.file("app.yaml", APP)))
        .await;
    let described = cluster.ok("describe pod web").await;
    for expected in [
        "Name:         web\n",
        "Namespace:    default\n",
        "Labels:       app=web\n",
        "Annotations:  kubectl.kubernetes.io/last-applied-configuration={\"apiVersion\":\"v1\",",
        "Spec:\n  containers:\n  - image: nginx\n",
        "Status:\n  phase: Pending\n",
        "Events:       <none>\n",
    ] {
        assert!(
            described.contains(expected),
            "describe should print {expected:?}:\n{described}"
        );
    }
    let event = cluster.file(
        "event.yaml",
        "apiVersion: v1\nkind: Event\nmetadata: {name: web.1}\n\
         involvedObject: {kind: Pod, name: web, namespace: default}\n\
         reason: Scheduled\nmessage: assigned default/web to node-1\ntype: Normal\nsource: {component: scheduler}\n",
    );
    cluster.ok(&format!("apply -f {event}")).await;
    let described = cluster.ok("describe po/web").await;
    assert!(described.contains("Events:\n  Type"), "{described}");
    assert!(
        described.contains("Scheduled") && described.contains("assigned default/web to node-1"),
        "{described}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_errors_read_like_kubectl() {
    let cluster = Cluster::start().await;
    let file = cluster.file("app.yaml", APP);
    cluster.ok(&format!("apply -f {file}")).await;
    assert_eq!(
        cluster.ok("delete pod web db").await,
        "pod \"web\" deleted\npod \"db\" deleted\n"
    );
    for verb in ["get", "delete"] {
        cluster
            .fails(
                &format!("{verb} pod web"),
                "Error from server (NotFound): pods \"web\" not found\n",
            )
            .await;
    }
    // The pods are gone already: two errors, and the others still deleted.
    let by_file = cluster.orc(&format!("delete -f {file}")).await;
    assert_eq!(by_file.code, 1);
    assert_eq!(
        by_file.stdout,
        "deployment.apps \"web\" deleted\nconfigmap \"settings\" deleted\n"
    );
    assert_eq!(by_file.stderr.lines().count(), 2, "{}", by_file.stderr);

    let invalid = cluster
        .orc_stdin(
            "apply -f -",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec: {containers: []}\n",
        )
        .await;
    assert_eq!(invalid.code, 1);
    assert!(
        invalid
            .stderr
            .starts_with("The Pod \"Bad_Name\" is invalid: ")
            && invalid.stderr.contains("metadata.name"),
        "{}",
        invalid.stderr
    );

    let elsewhere = cluster.orc(&format!("apply -f {file} -n demo")).await;
    assert_eq!(elsewhere.code, 1);
    assert!(
        elsewhere.stderr.contains(
            "the namespace from the provided object \"kube-system\" does not match the namespace \"demo\""
        ),
        "{}",
        elsewhere.stderr
    );

    cluster
        .fails(
            "logs web",
            "Error from server (NotFound): pods \"web\" not found\n",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_document_is_named_and_the_others_still_apply() {
    let cluster = Cluster::start().await;
    let file = cluster.file(
        "mixed.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [broken\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: third}\n",
    );
    let run = cluster.orc(&format!("apply -f {file}")).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout,
        "configmap/first created\nconfigmap/third created\n"
    );
    assert!(
        run.stderr.starts_with(&format!(
            "error: error parsing {file} (document 2): line 8, column 1: did not find expected"
        )),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_prints_rows_as_events_arrive() {
    let cluster = Cluster::start().await;
    let watching = cluster.orc("get configmaps -w --watch-seconds 3");
    let creating = async {
        tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
        let file = cluster.file(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\n",
        );
        cluster.ok(&format!("apply -f {file}")).await
    };
    let (watched, _) = tokio::join!(watching, creating);
    assert_eq!(watched.code, 0, "{}", watched.stderr);
    let lines: Vec<&str> = watched.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", watched.stdout);
    assert!(
        lines[0].starts_with("NAME    DATA   AGE"),
        "{}",
        watched.stdout
    );
    assert!(
        lines[1].starts_with("later   0      "),
        "{}",
        watched.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_kubeconfig_says_what_to_do() {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["get", "pods", "--kubeconfig", "/nonexistent/kubeconfig"])
        .output()
        .await
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.starts_with("error: no kubeconfig at /nonexistent/kubeconfig")
            && stderr.contains("orc demo"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubeconfig_gives_the_token_and_the_default_namespace() {
    let cluster = Cluster::start_with_token(Some("s3cret")).await;
    cluster
        .ok(&format!("apply -f {}", cluster.file("app.yaml", APP)))
        .await;
    // The context's namespace is kube-system: the pods went there.
    assert!(cluster.ok("get pods -n kube-system").await.contains("web"));
    assert!(cluster.ok("get configmaps").await.contains("settings"));
    let text = std::fs::read_to_string(&cluster.kubeconfig).unwrap();
    std::fs::write(&cluster.kubeconfig, text.replace("s3cret", "wrong")).unwrap();
    let refused = cluster.orc("get pods").await;
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .starts_with("error: You must be logged in to the server (Unauthorized)"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_and_orc_agree_on_what_was_applied() {
    require_command("kubectl");
    let cluster = Cluster::start().await;
    let file = cluster.file("app.yaml", APP);
    cluster.ok(&format!("apply -f {file}")).await;
    let kubectl = tokio::process::Command::new("kubectl")
        .args(["apply", "-f", &file])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&kubectl.stdout),
        "pod/web unchanged\npod/db unchanged\ndeployment.apps/web unchanged\nconfigmap/settings unchanged\n",
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );
}

/// A node for `orc logs`: chapter 02's agent log server on loopback over a
/// state directory laid out as the agent lays it out, and its Node object.
struct Node {
    layout: StateLayout,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Node {
    async fn start(cluster: &Cluster) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(server::serve(
            listener,
            layout.clone(),
            "orc-container".into(),
            async {
                let _ = stopped.await;
            },
        ));
        // With its status, as the agent registers it (`orc apply` would
        // leave the status out, as kubectl does).
        let node = serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-1"},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            },
        });
        orc_client::Client::new(format!("http://{}", cluster.addr))
            .send_path(
                orc_client::Method::POST,
                "/api/v1/nodes",
                None,
                Some(("application/json", node.to_string())),
            )
            .await
            .unwrap();
        Node {
            layout,
            _dir: dir,
            _stop: stop,
        }
    }

    /// The agent's files for `pod` (as the API server stores it): its
    /// `pod.json`, and one log file per run of `container`.
    fn runs(&self, pod: &Value, container: &str, runs: &[&str]) {
        let pod: orc_pod::pod_spec::Pod = serde_json::from_value(pod.clone()).unwrap();
        let uid = &pod.metadata.uid;
        std::fs::create_dir_all(self.layout.log_dir(uid, container)).unwrap();
        write_atomic(
            &self.layout.pod_spec(uid),
            &serde_json::to_vec(&pod).unwrap(),
        )
        .unwrap();
        for (attempt, text) in runs.iter().enumerate() {
            std::fs::write(self.layout.log(uid, container, attempt as u32), text).unwrap();
        }
    }
}

const LOGGED: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: node-1
  containers:
  - {name: app, image: busybox}
  - {name: sidecar, image: busybox}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_come_from_the_node_through_the_api_server() {
    let cluster = Cluster::start().await;
    let node = Node::start(&cluster).await;
    let file = cluster.file("logged.yaml", LOGGED);
    cluster.ok(&format!("apply -f {file}")).await;
    let pod: Value = serde_json::from_str(&cluster.ok("get pod web -o json").await).unwrap();
    // Bytes as the container wrote them: no final newline, a tab, UTF-8.
    node.runs(&pod, "app", &["crashed\n", "one\ntwo\tthree\nvier \u{e9}"]);

    assert_eq!(
        cluster.ok("logs web -c app").await,
        "one\ntwo\tthree\nvier \u{e9}"
    );
    assert_eq!(
        cluster.ok("logs pod/web -c app --tail 1").await,
        "vier \u{e9}"
    );
    assert_eq!(cluster.ok("logs web -c app -p").await, "crashed\n");
    assert_eq!(cluster.ok("logs web -c app --previous --tail=0").await, "");
    cluster
        .fails(
            "logs web",
            "Error from server (BadRequest): a container name must be specified for pod web, \
             choose one of: [app sidecar]\n",
        )
        .await;
    cluster
        .fails(
            "logs web -c sidecar",
            "Error from server (BadRequest): container \"sidecar\" in pod \"web\" is waiting to \
             start: ContainerCreating\n",
        )
        .await;
    cluster
        .fails(
            "logs web -c app --tail -2",
            "The PodLogOptions \"web\" is invalid: tailLines: Invalid value: -2: must be greater \
             than or equal to 0\n",
        )
        .await;
    cluster
        .fails(
            "logs web -c app -n elsewhere",
            "Error from server (NotFound): pods \"web\" not found\n",
        )
        .await;

    // -f prints what is appended as it comes, until stopped.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orc"))
        .args(["logs", "web", "-c", "app", "-f", "--tail", "1"])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let mut read_until = async |want: &str| {
        let mut buf = [0u8; 1024];
        while !seen.ends_with(want) {
            let n = tokio::time::timeout(std::time::Duration::from_secs(20), stdout.read(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {want:?} from orc logs -f"))
                .unwrap();
            assert!(n > 0, "orc logs -f ended early");
            seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        seen.clone()
    };
    assert_eq!(read_until("vier \u{e9}").await, "vier \u{e9}");
    let uid = pod["metadata"]["uid"].as_str().unwrap();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(node.layout.log(uid, "app", 1))
        .unwrap();
    std::io::Write::write_all(&mut log, b"\nfive\n").unwrap();
    assert_eq!(read_until("five\n").await, "vier \u{e9}\nfive\n");
    child.kill().await.unwrap();
}

/// An object with a finalizer is only marked by a DELETE: `orc delete`
/// waits (as kubectl's `--wait` does) until it is really gone, gives up
/// after `--timeout`, and `--wait=false` returns at once.
#[tokio::test]
async fn delete_waits_until_the_object_is_gone() {
    let cluster = Cluster::start().await;
    let held = cluster.file(
        "held.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n",
    );
    cluster.ok(&format!("apply -f {held}")).await;
    let run = cluster.orc("delete configmap held --timeout 1s").await;
    assert_eq!(run.stdout, "configmap \"held\" deleted\n");
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            1,
            "error: timed out waiting for \"held\" to be deleted (it is marked; its node or a finalizer has not finished)\n"
        )
    );
    assert_eq!(
        cluster.ok("delete configmap held --wait=false").await,
        "configmap \"held\" deleted\n"
    );

    // Waiting without a limit ends when the finalizer's owner lets go.
    let waiting = cluster.orc("delete configmap held");
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        orc_client::Client::new(format!("http://{}", cluster.addr))
            .send_path(
                orc_client::Method::PATCH,
                "/api/v1/namespaces/default/configmaps/held",
                None,
                Some((
                    "application/merge-patch+json",
                    r#"{"metadata":{"finalizers":null}}"#.into(),
                )),
            )
            .await
            .unwrap();
    };
    let (run, ()) = tokio::join!(waiting, release);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, "configmap \"held\" deleted\n"),
        "{}",
        run.stderr
    );
    cluster
        .fails(
            "get configmap held",
            "Error from server (NotFound): configmaps \"held\" not found\n",
        )
        .await;
}

/// `ip netns exec` mounts a fresh sysfs over `/sys`, and with it
/// `/sys/fs/cgroup` is an empty directory of sysfs: `orc up` says so,
/// with the way out, before it makes anything (the data directory
/// included), instead of failing later on a cgroup file it cannot find.
#[test]
fn orc_up_under_a_fresh_sysfs_names_the_missing_cgroup_mount_and_makes_nothing() {
    orc_testkit::require_root();
    require_command("unshare");
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("cluster");
    // Network and mount namespaces of its own (the mounts private, so
    // the host's /sys is untouched), with /sys remounted as `ip netns
    // exec` does it: the old one detached, a new sysfs in its place.
    let out = std::process::Command::new("unshare")
        .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            r#"umount -l /sys && mount -t sysfs sysfs /sys && exec "$0" up --detach --data-dir "$1""#,
        )
        .arg(env!("CARGO_BIN_EXE_orc"))
        .arg(&data_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no cgroup filesystem at /sys/fs/cgroup")
            && stderr.contains("`ip netns exec`")
            && stderr.contains("nsenter --net="),
        "{stderr}"
    );
    assert!(!data_dir.exists(), "orc up made {}", data_dir.display());
}

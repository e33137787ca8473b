//! The audit log, as an operator reads it: a server over HTTPS with token
//! users and RBAC, the real kubectl, and the log's lines checked field by
//! field (Kubernetes' `audit.k8s.io/v1` `Event`).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::TestServer;
use common::kubectl::{kubectl, self_signed_cert};
use orc_apiserver::audit::log_file::Rotation;
use orc_apiserver::audit::sink::{Destination, Mode as AuditMode};
use orc_apiserver::audit::webhook::WebhookConfig;
use orc_apiserver::audit::{AuditConfig, DEFAULT_POLICY};
use orc_apiserver::authz::{Mode, Modes};
use serde_json::{Value, json};

/// `admin` in `system:masters`, `bob` in no group.
const TOKENS: &str = "admin-token,admin,1,\"system:masters\"\nbob-token,bob,3\n";

/// An audited RBAC server over HTTPS, its log, and clients for it.
struct Cluster {
    server: TestServer,
    dir: tempfile::TempDir,
    log: PathBuf,
    https: reqwest::Client,
}

impl Cluster {
    async fn start(policy: &str) -> Cluster {
        Cluster::start_with(policy, |_| {}).await
    }

    /// A cluster whose audit configuration `adjust` changes.
    async fn start_with(policy: &str, adjust: impl FnOnce(&mut AuditConfig)) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed_cert(dir.path());
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, TOKENS).unwrap();
        let policy_file = dir.path().join("policy.yaml");
        std::fs::write(&policy_file, policy).unwrap();
        let log = dir.path().join("audit.log");
        let audit = AuditConfig {
            policy_file,
            log: Some((
                Destination::File(log.clone(), Rotation::default()),
                AuditMode::Blocking,
            )),
            webhook: None,
        };
        let mut audit = audit;
        adjust(&mut audit);
        let server = TestServer::start_with(|c| {
            c.tls = Some((cert, key));
            c.token_file = Some(tokens);
            c.authorization = Modes(vec![Mode::Rbac]);
            c.audit = Some(audit);
        })
        .await;
        let _ = orc_testkit::http_client();
        // The test's self-signed certificate is its own CA, which rustls
        // refuses as a server's: not checked, as the kubeconfig does not.
        let https = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        Cluster {
            server,
            dir,
            log,
            https,
        }
    }

    async fn kubectl(&self, user: &str, args: &[&str]) -> (bool, String) {
        let token = format!("{user}-token");
        let config =
            orc_testkit::kubectl::https_kubeconfig(self.dir.path(), self.server.addr, &token);
        kubectl(self.dir.path(), &config, args).await
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.server.addr)
    }

    /// A request as `user` (a token, or none): the response.
    async fn request(
        &self,
        user: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.https.request(method, self.url(path));
        if let Some(user) = user {
            request = request.bearer_auth(format!("{user}-token"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Every event of the request with `id`, once its ResponseComplete
    /// is written.
    async fn events_of(&self, id: &str) -> Vec<Value> {
        await_events(&self.log, |events| {
            let mine: Vec<Value> = events
                .iter()
                .filter(|e| e["auditID"] == id)
                .cloned()
                .collect();
            mine.iter()
                .any(|e| e["stage"] == "ResponseComplete")
                .then_some(mine)
        })
        .await
    }

    /// The first event `pick` accepts.
    async fn event(&self, pick: impl Fn(&Value) -> bool) -> Value {
        await_events(&self.log, |events| events.iter().find(|e| pick(e)).cloned()).await
    }
}

/// The log's events, parsed: every line must be one JSON event.
fn read_events(log: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON event"))
        .collect()
}

/// Waits (up to ten seconds: the writer is a thread behind a queue) until
/// `found` finds what it looks for in the log.
async fn await_events<T>(log: &Path, found: impl Fn(&[Value]) -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(found) = found(&read_events(log)) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in the audit log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The one `ResponseComplete` event of `verb` on `resource` named `name`.
fn is(event: &Value, verb: &str, resource: &str, name: &str) -> bool {
    event["stage"] == "ResponseComplete"
        && event["verb"] == verb
        && event["objectRef"]["resource"] == resource
        && event["objectRef"]["name"] == name
}

#[tokio::test]
async fn kubectl_create_get_delete_are_recorded_with_verb_user_object_and_code() {
    let c = Cluster::start(DEFAULT_POLICY).await;
    let (ok, out) = c
        .kubectl("admin", &["create", "deployment", "web", "--image=busybox"])
        .await;
    assert!(ok, "{out}");
    let (ok, out) = c.kubectl("admin", &["get", "deployment", "web"]).await;
    assert!(ok, "{out}");
    let (ok, out) = c.kubectl("admin", &["delete", "deployment", "web"]).await;
    assert!(ok, "{out}");

    let create = c.event(|e| is(e, "create", "deployments", "web")).await;
    assert_eq!(create["kind"], "Event");
    assert_eq!(create["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(create["level"], "Request", "a write, at the default policy");
    assert_eq!(create["user"]["username"], "admin");
    assert_eq!(create["user"]["uid"], "1");
    assert_eq!(
        create["user"]["groups"],
        json!(["system:masters", "system:authenticated"])
    );
    assert_eq!(
        create["objectRef"],
        json!({"resource": "deployments", "namespace": "default", "name": "web",
               "apiGroup": "apps", "apiVersion": "v1"})
    );
    assert_eq!(
        create["responseStatus"],
        json!({"metadata": {}, "code": 201})
    );
    assert_eq!(create["requestObject"]["metadata"]["name"], "web");
    assert!(create.get("responseObject").is_none());
    assert_eq!(create["sourceIPs"], json!(["127.0.0.1"]));
    assert!(create["userAgent"].as_str().unwrap().starts_with("kubectl"));
    assert_eq!(
        create["annotations"]["authorization.k8s.io/decision"],
        "allow"
    );
    assert!(
        create["requestURI"]
            .as_str()
            .unwrap()
            .starts_with("/apis/apps/v1/namespaces/default/deployments?")
    );
    let micro = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$").unwrap();
    for field in ["requestReceivedTimestamp", "stageTimestamp"] {
        assert!(micro.is_match(create[field].as_str().unwrap()), "{create}");
    }
    let id = create["auditID"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    // The default policy omits RequestReceived: one event per request.
    assert_eq!(c.events_of(id).await.len(), 1);

    let get = c.event(|e| is(e, "get", "deployments", "web")).await;
    assert_eq!(get["level"], "Metadata");
    assert!(get.get("requestObject").is_none());
    assert_eq!(get["responseStatus"]["code"], 200);
    let delete = c.event(|e| is(e, "delete", "deployments", "web")).await;
    assert_eq!(delete["responseStatus"]["code"], 200);
    assert_eq!(delete["user"]["username"], "admin");
}

#[tokio::test]
async fn a_forbidden_request_is_recorded_with_forbid_and_403() {
    let c = Cluster::start(DEFAULT_POLICY).await;
    let (ok, out) = c.kubectl("bob", &["get", "secret", "db"]).await;
    assert!(!ok && out.contains("Forbidden"), "{out}");
    let event = c
        .event(|e| is(e, "get", "secrets", "db") && e["user"]["username"] == "bob")
        .await;
    assert_eq!(
        event["annotations"]["authorization.k8s.io/decision"],
        "forbid"
    );
    assert!(event["annotations"]["authorization.k8s.io/reason"].is_string());
    assert_eq!(event["responseStatus"]["code"], 403);
    assert_eq!(event["responseStatus"]["reason"], "Forbidden");
    assert_eq!(event["responseStatus"]["status"], "Failure");
    assert!(
        event["responseStatus"]["message"]
            .as_str()
            .unwrap()
            .starts_with("secrets \"db\" is forbidden: User \"bob\" cannot get resource")
    );
}

#[tokio::test]
async fn a_secret_is_recorded_without_its_body_at_the_default_policy() {
    let c = Cluster::start(DEFAULT_POLICY).await;
    let (ok, out) = c
        .kubectl(
            "admin",
            &[
                "create",
                "secret",
                "generic",
                "db",
                "--from-literal=pw=hunter2",
            ],
        )
        .await;
    assert!(ok, "{out}");
    let event = c.event(|e| is(e, "create", "secrets", "db")).await;
    assert_eq!(event["level"], "Metadata");
    assert!(event.get("requestObject").is_none(), "{event}");
    assert!(event.get("responseObject").is_none(), "{event}");
    assert_eq!(event["responseStatus"]["code"], 201);
    let log = std::fs::read_to_string(&c.log).unwrap();
    assert!(!log.contains("hunter2") && !log.contains("aHVudGVyMg"));
    // Root's alone: the log names users and objects.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&c.log).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn the_audit_id_header_names_the_event_and_401s_are_recorded_without_a_user() {
    let c = Cluster::start(DEFAULT_POLICY).await;
    let response = c
        .request(
            Some("admin"),
            reqwest::Method::GET,
            "/api/v1/namespaces",
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["audit-id"].to_str().unwrap().to_string();
    let events = c.events_of(&id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["verb"], "list");
    assert_eq!(
        events[0]["objectRef"],
        json!({"resource": "namespaces", "apiVersion": "v1"})
    );

    let response = c
        .https
        .get(c.url("/api/v1/namespaces/default/pods"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let id = response.headers()["audit-id"].to_str().unwrap().to_string();
    let events = c.events_of(&id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["user"], json!({}), "nobody is known");
    assert_eq!(event["verb"], "list");
    assert_eq!(event["responseStatus"]["code"], 401);
    assert_eq!(
        event["responseStatus"]["message"],
        "Authentication failed, attempted: bearer"
    );
    assert!(event.get("annotations").is_none(), "never authorized");
}

/// omitStages, of the policy and of a rule; RequestResponse's bodies; a
/// watch's ResponseStarted.
const STAGES_POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: RequestResponse
    resources: [{group: "", resources: [configmaps]}]
  - level: Metadata
    resources: [{group: "", resources: [pods]}]
    omitStages: [ResponseStarted]
  - level: Metadata
    resources: [{group: "", resources: [namespaces]}]
"#;

#[tokio::test]
async fn omit_stages_are_honoured() {
    let c = Cluster::start(STAGES_POLICY).await;
    let stages = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["stage"].as_str().unwrap().to_string())
            .collect()
    };
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
    let response = c
        .request(
            Some("admin"),
            reqwest::Method::POST,
            "/api/v1/namespaces/default/configmaps",
            Some(cm),
        )
        .await;
    assert_eq!(response.status(), 201);
    let id = response.headers()["audit-id"].to_str().unwrap().to_string();
    let events = c.events_of(&id).await;
    assert_eq!(stages(&events), ["ResponseComplete"]);
    assert_eq!(events[0]["requestObject"]["data"], json!({"k": "v"}));
    assert!(events[0]["responseObject"]["metadata"]["uid"].is_string());

    // Watches that the server ends after a second.
    let watch = |path: &str| {
        let path = format!("{path}?watch=true&timeoutSeconds=1");
        let c = &c;
        async move {
            let response = c
                .request(Some("admin"), reqwest::Method::GET, &path, None)
                .await;
            assert_eq!(response.status(), 200);
            let id = response.headers()["audit-id"].to_str().unwrap().to_string();
            let _ = response.bytes().await;
            c.events_of(&id).await
        }
    };
    let events = watch("/api/v1/namespaces").await;
    assert_eq!(stages(&events), ["ResponseStarted", "ResponseComplete"]);
    assert_eq!(events[0]["verb"], "watch");
    assert_eq!(events[0]["responseStatus"]["code"], 200);
    let events = watch("/api/v1/namespaces/default/pods").await;
    assert_eq!(
        stages(&events),
        ["ResponseComplete"],
        "the rule omits ResponseStarted"
    );

    // No rule for Secrets: not recorded, though answered with an ID.
    let response = c
        .request(
            Some("admin"),
            reqwest::Method::GET,
            "/api/v1/namespaces/default/secrets",
            None,
        )
        .await;
    let id = response.headers()["audit-id"].to_str().unwrap().to_string();
    let marker = c
        .request(
            Some("admin"),
            reqwest::Method::GET,
            "/api/v1/namespaces/default",
            None,
        )
        .await;
    let marker = marker.headers()["audit-id"].to_str().unwrap().to_string();
    let events = c.events_of(&marker).await;
    assert_eq!(events.len(), 1);
    // The writer keeps order: what came before the marker is written.
    assert!(
        read_events(&c.log)
            .iter()
            .all(|e| e["auditID"] != id.as_str())
    );
}

#[tokio::test]
async fn a_bad_policy_file_stops_the_server_naming_file_and_field() {
    let etcd = orc_testkit::Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n  - level: Everything\n",
    )
    .unwrap();
    let mut config = orc_apiserver::Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
    config.audit = Some(AuditConfig {
        policy_file: file.clone(),
        log: Some((
            Destination::File(dir.path().join("audit.log"), Rotation::default()),
            AuditMode::Blocking,
        )),
        webhook: None,
    });
    let Err(error) = orc_apiserver::Server::bind(config).await else {
        panic!("a bad level must not start a server");
    };
    assert_eq!(
        error.to_string(),
        format!(
            "audit policy file {file:?}: rules[1].level: Unsupported value: \"Everything\": \
             supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\" \
             (see `orc server --help`, --audit-policy-file, and chapter 03's audit section)"
        )
    );
    std::fs::write(
        &file,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    omitStage: [Panic]\n",
    )
    .unwrap();
    let mut config = orc_apiserver::Config::new(etcd.endpoint(), "127.0.0.1:0".parse().unwrap());
    config.audit = Some(AuditConfig {
        policy_file: file.clone(),
        log: Some((Destination::Stdout, AuditMode::Blocking)),
        webhook: None,
    });
    let Err(error) = orc_apiserver::Server::bind(config).await else {
        panic!("an unknown field must not start a server");
    };
    let message = error.to_string();
    assert!(
        message.contains(&format!("{file:?}"))
            && message.contains("rules[0]")
            && message.contains("unknown field `omitStage`"),
        "{message}"
    );
}

#[tokio::test]
async fn blocking_strict_refuses_a_request_its_log_cannot_record() {
    // /dev/full opens, and fails every write: a full disk.
    let cluster = Cluster::start_with(DEFAULT_POLICY, |audit| {
        audit.log = Some((
            Destination::File("/dev/full".into(), Rotation::default()),
            AuditMode::BlockingStrict,
        ));
    })
    .await;
    // The default policy omits RequestReceived, and only a failure at that
    // stage fails the request (as Kubernetes): the request goes through.
    let response = cluster
        .request(
            Some("admin"),
            reqwest::Method::GET,
            "/api/v1/namespaces",
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    drop(cluster);
    // A policy that records RequestReceived: refused.
    let policy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n";
    let cluster = Cluster::start_with(policy, |audit| {
        audit.log = Some((
            Destination::File("/dev/full".into(), Rotation::default()),
            AuditMode::BlockingStrict,
        ));
    })
    .await;
    let response = cluster
        .request(
            Some("admin"),
            reqwest::Method::GET,
            "/api/v1/namespaces",
            None,
        )
        .await;
    assert_eq!(response.status(), 500);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "InternalError");
    assert_eq!(
        status["message"],
        "Internal error occurred: failed to store audit event"
    );
}

#[tokio::test]
async fn the_webhook_receives_each_requests_event_as_an_event_list() {
    let (tx, mut lists) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let app = axum::Router::new().route(
        "/audit",
        axum::routing::post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(serde_json::from_slice(&body).unwrap());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/audit", listener.local_addr().unwrap());
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config_dir = tempfile::tempdir().unwrap();
    let config_file = config_dir.path().join("webhook.kubeconfig");
    std::fs::write(
        &config_file,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: audit\n  cluster:\n    server: {url}\n\
             users:\n- name: apiserver\n  user: {{}}\n\
             contexts:\n- name: audit\n  context:\n    cluster: audit\n    user: apiserver\n\
             current-context: audit\n"
        ),
    )
    .unwrap();
    let cluster = Cluster::start_with(DEFAULT_POLICY, |audit| {
        audit.webhook = Some(WebhookConfig {
            config_file,
            mode: AuditMode::Batch,
            // Each event its own batch: no wait for a fuller one.
            max_size: 1,
            max_wait: Duration::from_secs(3600),
            initial_backoff: Duration::from_millis(10),
        });
    })
    .await;
    let response = cluster
        .request(
            Some("admin"),
            reqwest::Method::POST,
            "/api/v1/namespaces",
            Some(json!({"metadata": {"name": "hooked"}})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let id = response.headers()["audit-id"].to_str().unwrap().to_string();
    let event = loop {
        let list = tokio::time::timeout(Duration::from_secs(10), lists.recv())
            .await
            .expect("the webhook receives the event within ten seconds")
            .unwrap();
        assert_eq!(list["kind"], "EventList");
        assert_eq!(list["apiVersion"], "audit.k8s.io/v1");
        let found = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["auditID"] == id.as_str() && e["stage"] == "ResponseComplete")
            .cloned();
        if let Some(event) = found {
            break event;
        }
    };
    assert_eq!(event["user"]["username"], "admin");
    assert_eq!(event["verb"], "create");
    assert_eq!(event["objectRef"]["resource"], "namespaces");
    assert_eq!(event["objectRef"]["name"], "hooked");
    assert_eq!(event["responseStatus"]["code"], 201);
    // The log still has it too: both backends get every event.
    cluster.events_of(&id).await;
    let deleted = cluster
        .request(
            Some("admin"),
            reqwest::Method::DELETE,
            "/api/v1/namespaces/hooked",
            None,
        )
        .await;
    assert!(deleted.status().is_success());
    receiver.abort();
}

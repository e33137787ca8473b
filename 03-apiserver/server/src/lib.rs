//! # orc-apiserver: chapter 03, the API server
//!
//! Every other orc component talks only to the API server, and the API
//! server keeps all state in etcd. This crate is a Kubernetes-shaped REST
//! API on a real etcd: the same paths, the same JSON, the same `Status`
//! errors, the same resourceVersion and watch semantics, so the real
//! `kubectl` works against it and the rest of the course can reason about
//! Kubernetes by reading orc.
//!
//! What it adds, in the order the chapter tells it:
//!
//! 1. a *resource table* and *storage on etcd*: keys, revisions as
//!    resourceVersions, compare-and-swap for optimistic concurrency;
//! 2. the *REST shape*: verbs on collections, objects and subresources,
//!    metadata the server owns, validation, defaulting, patches;
//! 3. *selectors* and *watch*: one shared etcd watch per resource fanned out
//!    to every client, resumable from any recent resourceVersion;
//! 4. *discovery*, auth and metrics, so real clients can use it.
//!
//! ## Layout
//!
//! - [`meta`]: `ObjectMeta` and uids: the metadata the server owns.
//! - [`storage`]: objects in etcd at Kubernetes' keys; create/update/delete
//!   as transactions; [`storage::key_migration`], the one-time move of data
//!   written in orc's first key layout.
//! - [`etcd_socket`]: reaching etcd over TCP or a root-only unix socket.
//! - [`encryption`]: Secrets (or any resource) sealed before they reach etcd,
//!   from an EncryptionConfiguration (aesgcm, aescbc, identity).
//! - [`compaction`]: etcd compacted every interval to the revision of
//!   the interval before, as kube-apiserver does, on an injected clock.
//! - [`defrag`]: after a compaction, etcd's file defragmented when an
//!   interval has passed and at least half of it is free.
//! - [`status`]: errors as `metav1.Status`.
//! - [`codec`]: JSON, YAML and protobuf bodies, with line and column (or
//!   byte offset and field path) on errors.
//! - [`protobuf`]: Kubernetes' protobuf encoding (what kubectl's typed
//!   commands send) decoded into the JSON a JSON client would have sent.
//! - [`typed`]: every object checked against its Kubernetes type (from
//!   the protobuf view) before it is stored, so every client can read it
//!   back: Go's decode errors as 400, enums and the annotations cap as 422.
//! - [`defaults`], [`validation`], [`schema`]: what the server fills in,
//!   what it refuses (422 with field paths), which fields it warns about
//!   ([`warnings`]: deduplicated, truncated past 4 KiB as Kubernetes does);
//!   [`node_validation`]: a Node's addresses and agent port, the only
//!   places the API server's own requests (logs, exec) are aimed from
//!   ([`agent_client`]: over TLS, with the API server's client certificate);
//!   [`secret_validation`]: the keys each Secret `type` requires, and what
//!   `immutable` freezes in Secrets and ConfigMaps; [`probe_validation`]:
//!   sidecars (`restartPolicy: Always` on an init container) and probes;
//!   [`lifecycle_validation`]: postStart and preStop hooks and
//!   `terminationMessagePolicy`.
//!   [`security_context`]: ids in range and `allowPrivilegeEscalation`'s
//!   conflicts in pod and container security contexts.
//! - [`statefulset`]: StatefulSets' and ControllerRevisions' defaults and
//!   rules (what may change, and the refusal of claim templates).
//! - [`autoscaling`]: HorizontalPodAutoscalers' defaults and rules (the
//!   replica bounds, the target, the metrics orc can read, `behavior`);
//!   the `autoscaling/v1` version `kubectl autoscale` writes is one of the
//!   [`conversion`]s.
//! - [`conversion`]: kinds served in a version etcd does not hold,
//!   converted on the way in and out: `autoscaling/v1` HPAs from the
//!   stored `autoscaling/v2`, `events.k8s.io/v1` Events from the stored
//!   core `v1` ([`event_validation`]: the rules of `events.k8s.io/v1`).
//! - [`batch`]: Jobs' and CronJobs' defaults and rules (a Job's selector
//!   generated from its uid, restart policy, immutable template).
//! - [`service_account_admission`]: the `ServiceAccount` admission step:
//!   a pod runs as `default` unless it names an account, which must exist,
//!   and gets the `kube-api-access-*` projected volume with its token.
//! - [`node_restriction`]: the `NodeRestriction` admission step: a node
//!   writes only its own Node (not its taints or restricted labels), its
//!   own pods' status, mirror pods, and tokens bound to its own pods.
//! - [`pod_qos`]: a pod's `status.qosClass` (Guaranteed, Burstable,
//!   BestEffort), set at creation from its requests and limits, immutable.
//! - [`priority`]: PriorityClasses, the system's two, and the `Priority`
//!   admission step that gives a new pod its class's `spec.priority`.
//! - [`volumes`]: PersistentVolumes, claims and StorageClasses: their
//!   defaults and checks, and the `DefaultStorageClass` admission step
//!   that gives a claim without a class the default one;
//!   [`storage_protection`]: the `StorageObjectInUseProtection` step that
//!   gives every new claim and volume its protection finalizer.
//! - [`disruption_budget`]: PodDisruptionBudgets' rules (`minAvailable`
//!   or `maxUnavailable`, a count or a percentage; the unhealthy-pod
//!   policy); [`eviction`]: the eviction subresource's decisions (which
//!   budget guards a pod, spending one disruption), pure; its effects are
//!   `handlers/eviction.rs`.
//! - [`patch`], [`smp`]: JSON merge patch, JSON patch, strategic merge patch.
//! - [`watch`]: the watch hub, one etcd watch per resource, fan-out.
//! - [`watch_cache`]: each listed resource's objects in memory, filled by
//!   one LIST and kept by the hub's feed; answers `resourceVersion=0`,
//!   `NotOlderThan` and consistent LISTs as kube-apiserver's cacher does.
//! - [`namespace_lifecycle`]: which namespaces exist and which are
//!   terminating, from the watch hub, so a create need not ask etcd
//!   (Kubernetes' `NamespaceLifecycle`); a DELETE marks a namespace
//!   `Terminating` (`handlers/namespaces.rs`) and chapter 05's namespace
//!   controller empties and finalizes it.
//! - [`handlers`]: URL shapes and the verbs (read, write, delete, delete a
//!   collection, watch, subresources; a LIST streamed from etcd a chunk
//!   at a time, `handlers/listing.rs` and `handlers/list_body.rs`,
//!   and `pods/{name}/log`, streamed from the pod's node agent).
//! - [`discovery`]: `/api`, `/apis` and the resource lists kubectl reads.
//! - [`tables`]: the columns `kubectl get` prints, rendered by the server.
//! - [`services`]: what chapter 06 asks of the API server: cluster IPs and
//!   node ports allocated in the Service's own transaction, the repair
//!   pass, and the `kubernetes` Service.
//! - [`health`]: `/livez`, `/readyz`, `/healthz` with their named checks
//!   (etcd reachable, no etcd alarm), `?verbose` as Kubernetes lists them.
//! - [`limits`]: backpressure: in-flight limits answered 429, the
//!   request timeout (504), the watch timeout the server picks.
//! - [`metrics`]: Prometheus text for `/metrics`.
//! - [`metrics_api`]: `metrics.k8s.io` for `kubectl top`: a scraper of
//!   the agents' `/stats/summary`, CPU rates over a window, NodeMetrics
//!   and PodMetrics served from memory.
//! - [`openapi`]: the minimal `/openapi/v3` that lets kubectl leave
//!   validation to the server.
//! - [`authn`]: who is asking: the [`authn::UserInfo`] of each request,
//!   from a client certificate (`--client-ca-file`) or a bearer token in
//!   a file (`--token-file`).
//! - [`authz`]: may they do it: `--authorization-mode` (`AlwaysAllow`,
//!   `AlwaysDeny`, `Node`, `RBAC`), RBAC's decision, its policy cache and
//!   default roles, the Node authorizer and its graph of pods, escalation
//!   checks, impersonation and the access reviews.
//! - [`allocator`]: mimalloc's options for the programs that run the
//!   server: freed pages given back after 10 ms, not 1 s.
//! - [`audit`]: the audit log (`--audit-policy-file`, `--audit-log-path`):
//!   Kubernetes' audit Policy and Event, one JSON line per request stage,
//!   written by a thread behind a bounded queue, rotated.
//! - [`server`]: routes, the authentication middleware, body limit,
//!   start-up, [`run`].
//! - [`connection`]: each accepted connection served (HTTP/1 and 2), with
//!   a deadline on request headers and the TLS peer certificate handed to
//!   every request.
//! - [`tls`]: HTTPS, so bearer tokens are not sent in clear, and the
//!   verified client certificate handed to authentication.
//! - [`pki`]: the cluster's CA and the certificates it signs (serving,
//!   clients), kept in a 0700 directory with 0600 keys; `orc up` uses it.
//!
//! The resource table, label and field selectors, name rules and
//! timestamps are shared with every client, so they live in `orc-client`
//! (this crate links it, never the other way round). The node agent's side
//! of the API is `orc-node`.
//!
//! ## What it leaves out
//!
//! Server-side apply (answered 415), protobuf *responses* (protobuf
//! bodies are read, answers are JSON, which every client accepts),
//! OpenAPI schemas (`kubectl explain`), client certificates, the Node
//! authorizer and NodeRestriction, the `kms` and `secretbox` encryption
//! providers, reloading the encryption configuration without a restart,
//! cascading deletion itself (a delete's `propagationPolicy` is recorded
//! as a finalizer; chapter 05's garbage collector acts on it), and
//! emptying a Terminating namespace (chapter 05's namespace controller
//! does it, one `deletecollection` per resource).
//!
//! The book's chapter is `chapters/src/03-apiserver.md`.

pub mod agent_client;
pub mod allocator;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod autoscaling;
pub mod batch;
pub mod codec;
pub mod compaction;
pub mod connection;
pub mod conversion;
pub mod default_tolerations;
pub mod defaults;
pub mod defrag;
pub mod discovery;
pub mod disruption_budget;
pub mod encryption;
pub mod env_validation;
pub mod etcd_socket;
pub mod event_validation;
pub mod eviction;
pub mod handlers;
pub mod health;
pub mod ingress_validation;
pub mod lifecycle_validation;
pub mod limits;
pub mod meta;
pub mod metrics;
pub mod metrics_api;
pub mod namespace_lifecycle;
pub mod node_restriction;
pub mod node_validation;
pub mod openapi;
pub mod patch;
pub mod pki;
pub mod pod_fields;
pub mod pod_qos;
pub mod priority;
pub mod priority_cache;
pub mod probe_validation;
pub mod protobuf;
pub mod schema;
pub mod secret_validation;
pub mod security_context;
pub mod server;
pub mod service_account_admission;
pub mod services;
pub mod smp;
pub mod statefulset;
pub mod status;
pub mod storage;
pub mod storage_protection;
pub mod tables;
pub mod tasks;
pub mod tls;
pub mod typed;
pub mod validation;
pub mod volumes;
pub mod warnings;
pub mod watch;
pub mod watch_cache;

pub use server::{Config, Server, run};
pub use status::ApiError;

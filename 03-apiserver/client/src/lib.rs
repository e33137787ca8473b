//! # orc-client: chapter 03, the client side of the API
//!
//! Every orc component other than the API server (the node agent, the
//! scheduler, the controllers, the service proxy, DNS, the ingress, the
//! `orc` command line) talks to the cluster only through the API server,
//! and does it with this crate. It is what kube-rs's `kube-client` and
//! `kube-runtime` are to a Rust operator, and client-go to a Go one.
//!
//! It is small on purpose: HTTP and TLS as a client, JSON, and nothing of
//! the server (no etcd, no TLS server, no encryption). A component that links
//! it can run anywhere the API server is reachable, which is what lets a
//! student replace any one component with their own.
//!
//! Architecture invariant: orc-client links no server part (etcd-client,
//! axum, aes-gcm, tokio-rustls: rustls as a client is allowed, a TLS
//! acceptor is not); `testkit/tests/architecture.rs` checks it.
//!
//! ## Layout
//!
//! - [`client`]: [`Client`], the verbs over HTTP (get, list, create,
//!   update, patch, delete, watch) and `Status` errors as [`ClientError`].
//! - [`tls`]: [`tls::ClientTls`], the CA a client trusts and the
//!   certificate it presents (rustls with ring).
//! - [`kubeconfig`]: the current context of a kubeconfig as a
//!   [`kubeconfig::Connection`]: server, CA, client certificate or token.
//! - [`informer`]: list, then watch from the list's resourceVersion; a
//!   local cache; notifications that share its objects (`Arc`), not
//!   copies; a fresh list when the watch answers 410;
//!   and `follow`, how a component runs informers and waits for their
//!   first lists.
//! - [`events`]: Events for `kubectl describe`, repeats folded into one.
//! - [`field`]: the value at a path of object fields, found without the
//!   allocations of serde_json's `Value::pointer` (informers and the
//!   scheduler read a few on every event).
//! - [`workqueue`]: de-duplicated keys with back-off retries, how a
//!   controller turns notifications into one reconcile per object.
//! - [`leader`]: leader election on a Lease, so that of several copies of
//!   a component (schedulers, controller managers) only one acts.
//! - [`resources`]: the table of kinds the API serves (group, version,
//!   plural, scope), shared with the server so both agree on every path.
//! - [`selectors`]: label and field selectors, parsed and matched (pure;
//!   the server filters lists and watches with the same code).
//! - [`taints`]: node taints and pod tolerations, and whether one
//!   tolerates the other (the scheduler filters with them, the API
//!   server's `DefaultTolerationSeconds` adds two, taint eviction reads
//!   them).
//! - [`logging`]: [`logging::init`], the one log set-up every orc
//!   program calls (standard error, `RUST_LOG`, `info` by default).
//! - [`names`]: the DNS rules for names and labels, and generated suffixes.
//! - [`pod_references`]: the Secrets, ConfigMaps, claims and ServiceAccount
//!   a pod names (what the Node authorizer lets its node read, and what
//!   the agent follows).
//! - [`prometheus`]: the text format every `/metrics` is written in.
//! - [`propagation`]: the finalizers a DELETE's `propagationPolicy` leaves
//!   for the garbage collector.
//! - [`clock`]: time a test can move ([`clock::ManualClock`]), for every
//!   component with a timer.
//! - [`time`]: timestamps as the API writes them, and kubectl's ages.
//! - [`conditions`]: status conditions (`Ready` above all), found and
//!   read one way for pods, nodes and workloads.
//! - [`nodes`]: a Node's `InternalIP`, read one way by the routes to its
//!   pods and by the Services and Ingresses that publish it.
//! - [`disruption`]: PodDisruptionBudgets as the eviction, the
//!   disruption controller and preemption all read them: which pods one
//!   guards, "healthy", the `DisruptionAllowed` condition.
//! - [`cron`]: CronJob schedules parsed once, for the API server's
//!   validation and the CronJob controller alike.
//! - [`token_key`]: the key a cache keeps a bearer token's answer under,
//!   an HMAC of it with a random per-process key, never the token.
//!
//! ## What it leaves out
//!
//! Typed objects (objects are `serde_json::Value`; each component reads the
//! fields it needs), exec and auth-provider plugins in kubeconfigs,
//! protobuf (JSON only), and server-side apply.
//!
//! The book's chapter is `chapters/src/03-apiserver.md`, sections "The
//! client side" and "Informers and work queues".

pub mod client;
pub mod clock;
pub mod conditions;
pub mod cron;
pub mod disruption;
pub mod events;
pub mod field;
pub mod informer;
pub mod kubeconfig;
pub mod leader;
pub mod local_path;
pub mod logging;
pub mod names;
pub mod nodes;
pub mod pod_references;
pub mod prometheus;
pub mod propagation;
pub mod resources;
pub mod selectors;
pub mod taints;
pub mod time;
pub mod tls;
pub mod token_key;
pub mod workqueue;

pub use client::{Client, ClientError, Method, WatchStream, encode, path, path_of};

//! # orc-pod: chapter 02, pods
//!
//! Kubernetes promises that every pod has its own IP address and reaches
//! every other pod, on any node, without NAT. This crate builds that promise
//! the way the simplest real network plugins do (the CNI `bridge` and
//! `host-local` plugins, flannel's `host-gw` back-end). On top of it, it
//! builds pods themselves (a sandbox holding the shared namespaces, and
//! chapter 01 containers joining it) and the node agent, the kubelet's core,
//! which keeps the pods of static manifests running.
//!
//! ## Layout
//!
//! The pod network:
//!
//! - [`cidr`]: [`Ipv4Cidr`], the address blocks the network is planned in:
//!   a cluster CIDR, sliced into one pod CIDR per node.
//! - [`ipam`]: [`Ipam`], which hands out pod addresses from the node's pod
//!   CIDR and keeps them in a state file, so a restart never gives one address
//!   to two pods; [`ipam::next_free`] is the pure choice of the next address.
//! - [`netns`]: reaching into another network namespace: a thread that joins
//!   it, and netlink connections opened from such a thread.
//! - [`link`]: the few link requests the others share (look up, up, delete).
//! - [`bridge`]: the node's bridge `orc0`, the pods' switch and gateway,
//!   on a fixed MAC address of its own.
//! - [`veth`]: the veth pair from each pod's `eth0` to the bridge, and the
//!   pod side's address and default route.
//! - [`neighbour`]: a permanent ARP entry on the bridge for each pod, so the
//!   packets the node forwards to a pod never wait on ARP.
//! - [`routes`]: host-gw routes to the other nodes' pod CIDRs, kept in sync
//!   with the node list.
//! - [`chains`]: orc's own iptables chains, kept in sync inside a namespace.
//! - [`masquerade`]: the iptables rule that NATs traffic leaving the cluster.
//! - [`forward`]: the iptables rules that let pod traffic through `FORWARD`
//!   even where Docker set its policy to `DROP`.
//! - [`node`]: [`NodeNetwork`], all of the above for one node: set-up, add
//!   and remove a pod, sync routes, tear-down.
//! - [`error`]: [`NetError`], which says what failed and where.
//!
//! Pods and the node agent:
//!
//! - [`pod_spec`]: the Kubernetes `v1 Pod` subset, as serde types;
//!   [`quantity`]: `"500m"` and `"64Mi"`.
//! - [`env`]: a container's environment as the kubelet resolves it
//!   (`envFrom`, then `env` with `valueFrom` from ConfigMaps, Secrets, the
//!   downward API), `$(VAR)` expansion, and [`env::ObjectSource`], the seam
//!   through which the agent reads ConfigMaps and Secrets.
//! - [`status`]: pod status, with the phase and condition rules
//!   ([`status::pod_phase`]).
//! - [`source`]: [`source::PodSource`], where desired pods come from;
//!   [`source::ManifestDir`] reads static pod manifests.
//! - [`image`]: [`image::ImageSource`], a root filesystem per container;
//!   [`image::StoreImages`] makes it from chapter 01's image store (pulling
//!   a missing image, building `busybox` from the node's own binary): an
//!   overlayfs root over the image's shared layers, with the container's own
//!   writable layer, removed with the container.
//! - [`sandbox`]: the OCI specs of a pod's sandbox (the pause process) and
//!   of its containers, which join the sandbox's namespaces; resources as
//!   cgroup settings ([`sandbox::linux_resources`]).
//! - [`security_context`]: a pod's and a container's `securityContext` in
//!   the container's spec (user, groups, capabilities, seccomp,
//!   no_new_privs, read-only root), and the kubelet's `runAsNonRoot` check.
//! - [`shim`]: the per-container process that runs `orc-container` and
//!   records the exit code; [`runtime`]: the agent's client of the runtime.
//! - [`probes`]: liveness and readiness probes (exec, httpGet, tcpSocket).
//! - [`volumes`]: a pod's volumes on the node: `emptyDir`, `hostPath`, and
//!   the files of `configMap`, `secret`, `downwardAPI` and `projected`
//!   volumes, written with the kubelet's `..data` swap and kept up to date;
//!   `subPath`.
//! - [`resolv_conf`]: a pod's `/etc/resolv.conf` from its `dnsPolicy` and
//!   `dnsConfig` (pure; the agent writes it and mounts it in every container).
//! - [`agent`]: the sync loop: [`agent::sync`] decides (pure:
//!   [`agent::sync::compute_pod_actions`], [`agent::sync::restart_backoff`]),
//!   [`agent::actions`] does, [`agent::observe`] and [`agent::report`] look;
//!   [`agent::hooks`] runs `postStart`/`preStop`, and
//!   [`agent::termination_message`] reports why a container ended.
//! - [`logs`]: per-container log files, read and followed by `orc-agent logs`;
//!   the pure choices of what to send (`tail_start`, `LogLimit`, `LogOptions`).
//! - [`agent::server`]: the agent's HTTP server (the kubelet's port 10250):
//!   `/containerLogs` for the API server's `pods/{name}/log`, `/healthz`,
//!   `/metrics`; over TLS ([`agent::tls`]) to the API server alone
//!   ([`agent::auth`]).
//! - `src/bin/orc-agent.rs`: the `orc-agent` command (`run [--listen ADDR]`,
//!   `pods`, `logs`).
//!
//! Links, addresses and routes are made through netlink ([`rtnetlink`]), the
//! kernel interface `ip` itself uses; only the iptables rules go through the
//! `iptables` program.
//!
//! Tests (`tests/pod_network.rs`, root, real kernel) build a small cluster
//! out of network namespaces, nodes joined by an "underlay" bridge and one
//! namespace per pod, and check with real packets: pod to pod on one node and
//! across nodes without NAT, pod to node, masquerade towards addresses outside
//! the cluster, and tear-down back to the exact prior state.
//! `benches/pod_network.rs` compares pod set-up with the same steps as an
//! `ip` script, and `examples/two_nodes.rs` is the chapter's walk-through:
//! two nodes, a pod on each, and what `ip` and `iptables-save` then show.
//! `tests/agent.rs` runs the agent on a node namespace with real containers:
//! shared localhost and volumes, restart policies and back-off, graceful
//! termination, probes, OOM kills, bad manifests and agent restarts;
//! `tests/log_server.rs` serves a state directory's logs over real HTTP
//! (tail, previous, limits, follow and its end when the client leaves);
//! `tests/agent_images.rs` runs images built and imported into the node's
//! store: the image's command and files, one writable layer per container,
//! nothing mounted after the pod goes, and `ErrImagePull` for the unknown.
//!
//! ## Not built yet
//!
//! IPv6, overlays for nodes on different layer-2 networks, and locking the
//! IPAM file against a second process. In the agent: init containers,
//! `imagePullPolicy` (a missing image is pulled,
//! a present one never re-pulled, as `IfNotPresent`), image pull secrets,
//! image pull back-off (`ImagePullBackOff`: a failed pull is retried at
//! every sync), and image garbage collection on the node.

pub mod agent;
pub mod bridge;
pub mod chains;
pub mod cidr;
pub mod env;
pub mod error;
pub mod forward;
pub mod hosts_file;
pub mod image;
pub mod ipam;
pub mod link;
pub mod logs;
pub mod masquerade;
pub mod neighbour;
pub mod netns;
pub mod node;
pub mod pod_spec;
pub mod probes;
pub mod quantity;
pub mod resolv_conf;
pub mod routes;
pub mod runtime;
pub mod sandbox;
pub mod security_context;
pub mod shim;
pub mod source;
pub mod status;
pub mod veth;
pub mod volumes;

pub use cidr::Ipv4Cidr;
pub use error::NetError;
pub use ipam::{Ipam, IpamError};
pub use node::{NodeConfig, NodeNetwork, PodNetwork};
pub use routes::NodeRoute;

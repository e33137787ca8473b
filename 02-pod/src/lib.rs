//! # orc-pod: chapter 02, pods and pod networking (not built yet)
//!
//! This crate will turn chapter 01 containers into pods: a sandbox holding the
//! network, IPC and UTS namespaces (Kubernetes' pause container), a pod
//! network made of a bridge, veth pairs, IP address management and routes
//! between nodes, and the core of a node agent that keeps static pods running.
//!
//! Nothing is built here yet; see the README's status table.

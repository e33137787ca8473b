//! # orc-apiserver: chapter 03, the API server (being built)
//!
//! A Kubernetes-shaped REST API that keeps every object in etcd, with watch,
//! and the client library every later component uses.

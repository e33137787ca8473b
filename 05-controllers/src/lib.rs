//! # orc-controllers: chapter 05, controllers (not built yet)
//!
//! This crate will hold the control loops that turn intent into pods:
//! ReplicaSet, Deployment, node lifecycle, garbage collection, Job, DaemonSet
//! and autoscaling, each reconciling one object at a time through the API.
//!
//! Nothing is built here yet; see the README's status table.

//! # orc-scheduler: chapter 04, the scheduler (not built yet)
//!
//! This crate will watch for pods without a node and bind each to one, through
//! filter plugins (does the pod fit?) and score plugins (where does it fit
//! best?), explaining every decision.
//!
//! Nothing is built here yet; see the README's status table.

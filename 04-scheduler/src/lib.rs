//! # orc-scheduler: chapter 04, the scheduler
pub mod cache;
pub mod framework;
pub mod objects;
pub mod plugins;
pub mod queue;

//! One logging set-up for every orc program.
//!
//! Each component logs with `tracing`; a program turns those events into
//! lines once, at start, with [`init`]. Doing it in one place keeps every
//! orc program alike: lines go to standard error (standard output stays
//! for what a command prints as its answer, and service managers and
//! `orc up` capture both), `RUST_LOG` chooses what is shown with
//! `tracing_subscriber`'s filter syntax (`RUST_LOG=orc_apiserver=debug`),
//! and without it the level is `info`, like the default verbosity of the
//! Kubernetes components (klog's `-v=0` shows start-up, warnings, errors).
//!
//! It lives here, in the crate every component from chapter 03 on links,
//! rather than in a crate of its own: it is small, and orc-client already
//! is "what a component needs besides its own logic". Chapter 02's
//! stand-alone `orc-agent` is built before the client exists (a chapter
//! depends only on earlier ones), so it cannot call this; `orc agent`,
//! the agent `orc up` runs, does.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// What is shown when `RUST_LOG` is unset or unreadable.
pub const DEFAULT_FILTER: &str = "info";

/// The filter `RUST_LOG` asks for, or [`DEFAULT_FILTER`]. A malformed
/// `RUST_LOG` is reported on standard error (nothing silent) and the
/// default used, so a typo never leaves a server mute.
pub fn filter() -> EnvFilter {
    match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => match EnvFilter::try_new(&value) {
            Ok(filter) => filter,
            Err(error) => {
                eprintln!(
                    "RUST_LOG={value:?} is not a filter ({error}); logging at {DEFAULT_FILTER}"
                );
                EnvFilter::new(DEFAULT_FILTER)
            }
        },
        _ => EnvFilter::new(DEFAULT_FILTER),
    }
}

/// Sends this program's `tracing` events to standard error, filtered by
/// `RUST_LOG`. Call it once, first thing in `main`; a second call (a
/// program that composes two components) leaves the first set-up in place.
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, plain text for a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

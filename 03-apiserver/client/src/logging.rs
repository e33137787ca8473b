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

/// What is shown when `RUST_LOG` is unset or unreadable: `info`, except
/// hickory-server's, which logs two `info` lines for every DNS question
/// orc-dns answers (a line per pod lookup, as CoreDNS would only with its
/// `log` plugin on): warnings only. `RUST_LOG=hickory_server=info` brings
/// them back.
pub const DEFAULT_FILTER: &str = "info,hickory_server=warn";

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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn the_default_shows_info_but_not_each_dns_question() {
        let lines = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(DEFAULT_FILTER))
            .with_ansi(false)
            .with_writer(move || Writer(sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "hickory_server::server", "request:1 src:udp://10.244.1.2#5353");
            tracing::warn!(target: "hickory_server::server", "request id:1 does not match");
            tracing::info!(target: "orc_services::dns", "DNS names rebuilt");
        });
        let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("request:1"), "{text}");
        assert!(text.contains("does not match"), "{text}");
        assert!(text.contains("DNS names rebuilt"), "{text}");
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

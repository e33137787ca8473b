//! The API server's storage flags, which `orc up` takes as `orc server`
//! does and passes on: how often etcd is compacted and defragmented
//! (chapter 03, "Compaction and revisions"), whether LISTs are
//! answered from the watch cache (chapter 03, "The watch cache") and how
//! long Events live (chapter 03, "Events that expire").
//!
//! They are the server's own flag structs, flattened, so `orc up --help`
//! shows the server's text and defaults and the two cannot drift apart.
//! A long-running cluster (the soak, `final/benches/soak.rs --node`)
//! wants them, and a short proof run wants short intervals.

use clap::Args;
use orc_apiserver::compaction::CompactionFlags;
use orc_apiserver::storage::leases::EventTtlFlags;
use orc_apiserver::watch_cache::WatchCacheFlags;

/// `--etcd-compaction-interval`, `--etcd-defrag-interval`, `--watch-cache`,
/// `--event-ttl`.
#[derive(Args, Debug)]
pub struct StorageFlags {
    #[command(flatten)]
    pub compaction: CompactionFlags,
    #[command(flatten)]
    pub watch_cache: WatchCacheFlags,
    #[command(flatten)]
    pub events: EventTtlFlags,
}

impl StorageFlags {
    /// The same flags, as `orc server` takes them: every value, given or
    /// default, so that what `orc up` was told is what the server runs.
    pub fn server_flags(&self) -> Vec<String> {
        let ms = |d: std::time::Duration| format!("{}ms", d.as_millis());
        vec![
            format!(
                "--etcd-compaction-interval={}",
                ms(self.compaction.etcd_compaction_interval)
            ),
            format!(
                "--etcd-defrag-interval={}",
                ms(self.compaction.etcd_defrag_interval)
            ),
            format!("--watch-cache={}", self.watch_cache.watch_cache),
            format!("--event-ttl={}", ms(self.events.event_ttl)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Up {
        #[command(flatten)]
        storage: StorageFlags,
    }

    /// What `orc server` would make of the flags `orc up` passes on.
    fn server_sees(flags: &[String]) -> (CompactionFlags, WatchCacheFlags, EventTtlFlags) {
        #[derive(Parser)]
        struct Server {
            #[command(flatten)]
            compaction: CompactionFlags,
            #[command(flatten)]
            watch_cache: WatchCacheFlags,
            #[command(flatten)]
            events: EventTtlFlags,
        }
        let server = Server::try_parse_from(
            std::iter::once("server".to_string()).chain(flags.iter().cloned()),
        )
        .unwrap();
        (server.compaction, server.watch_cache, server.events)
    }

    #[test]
    fn given_values_reach_the_server_unchanged() {
        let up = Up::try_parse_from([
            "up",
            "--etcd-compaction-interval=30s",
            "--etcd-defrag-interval=1m",
            "--watch-cache=false",
            "--event-ttl=5m",
        ])
        .unwrap();
        let (compaction, cache, events) = server_sees(&up.storage.server_flags());
        assert_eq!(compaction.etcd_compaction_interval.as_secs(), 30);
        assert_eq!(compaction.etcd_defrag_interval.as_secs(), 60);
        assert!(!cache.watch_cache);
        assert_eq!(events.event_ttl.as_secs(), 5 * 60);
    }

    #[test]
    fn defaults_are_the_servers_own() {
        let up = Up::try_parse_from(["up"]).unwrap();
        let (compaction, cache, events) = server_sees(&up.storage.server_flags());
        let (default_compaction, default_cache, default_events) = server_sees(&[]);
        assert_eq!(
            compaction.etcd_compaction_interval,
            default_compaction.etcd_compaction_interval
        );
        assert_eq!(
            compaction.etcd_defrag_interval,
            default_compaction.etcd_defrag_interval
        );
        assert_eq!(cache.watch_cache, default_cache.watch_cache);
        assert_eq!(events.event_ttl, default_events.event_ttl);
    }
}

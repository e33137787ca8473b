//! The API server's storage flags, which `orc up` takes as `orc server`
//! does and passes on: how often etcd is compacted and defragmented
//! (chapter 03, "Compaction and revisions") and whether LISTs are
//! answered from the watch cache (chapter 03, "The watch cache").
//!
//! They are the server's own flag structs, flattened, so `orc up --help`
//! shows the server's text and defaults and the two cannot drift apart.
//! A long-running cluster (the soak, `final/benches/soak.rs --node`)
//! wants them, and a short proof run wants short intervals.

use clap::Args;
use orc_apiserver::compaction::CompactionFlags;
use orc_apiserver::watch_cache::WatchCacheFlags;

/// `--etcd-compaction-interval`, `--etcd-defrag-interval`, `--watch-cache`.
#[derive(Args, Debug)]
pub struct StorageFlags {
    #[command(flatten)]
    pub compaction: CompactionFlags,
    #[command(flatten)]
    pub watch_cache: WatchCacheFlags,
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
    fn server_sees(flags: &[String]) -> (CompactionFlags, WatchCacheFlags) {
        #[derive(Parser)]
        struct Server {
            #[command(flatten)]
            compaction: CompactionFlags,
            #[command(flatten)]
            watch_cache: WatchCacheFlags,
        }
        let server = Server::try_parse_from(
            std::iter::once("server".to_string()).chain(flags.iter().cloned()),
        )
        .unwrap();
        (server.compaction, server.watch_cache)
    }

    #[test]
    fn given_values_reach_the_server_unchanged() {
        let up = Up::try_parse_from([
            "up",
            "--etcd-compaction-interval=30s",
            "--etcd-defrag-interval=1m",
            "--watch-cache=true",
        ])
        .unwrap();
        let (compaction, cache) = server_sees(&up.storage.server_flags());
        assert_eq!(compaction.etcd_compaction_interval.as_secs(), 30);
        assert_eq!(compaction.etcd_defrag_interval.as_secs(), 60);
        assert!(cache.watch_cache);
    }

    #[test]
    fn defaults_are_the_servers_own() {
        let up = Up::try_parse_from(["up"]).unwrap();
        let (compaction, cache) = server_sees(&up.storage.server_flags());
        let (default_compaction, default_cache) = server_sees(&[]);
        assert_eq!(
            compaction.etcd_compaction_interval,
            default_compaction.etcd_compaction_interval
        );
        assert_eq!(
            compaction.etcd_defrag_interval,
            default_compaction.etcd_defrag_interval
        );
        assert_eq!(cache.watch_cache, default_cache.watch_cache);
    }
}

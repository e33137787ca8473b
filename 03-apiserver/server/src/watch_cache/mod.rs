//! The watch cache: each resource's current objects in memory, so that
//! most LISTs never reach etcd (kube-apiserver's `cacher`). See chapter
//! 03, "The watch cache".
//!
//! A [`WatchCache`] is filled by one LIST of the resource from etcd at a
//! revision R, then kept current by the watch hub's feed of the same
//! prefix (`watch.rs`), from R on: every event puts or removes one key
//! and moves the cache's revision to the event's. The feed's progress
//! answers ([`FeedMessage::Progress`]) move it too when nothing under the
//! prefix changed, which is how a cache of a quiet resource proves it has
//! seen everything up to etcd's current revision.
//!
//! What it keeps per key is the value *as etcd stores it*: the JSON
//! bytes, still sealed for an encrypted resource, shared (`Arc<[u8]>`)
//! with the feed's event that brought it. A decoded `serde_json::Value`
//! takes several times its JSON's size; bytes cost the collection's size
//! once, and Secrets stay sealed in memory as in etcd. A LIST from the
//! cache then decodes each value as it encodes the answer, exactly as a
//! LIST from etcd decodes each key of a chunk (`handlers/listing.rs`).
//!
//! A LIST takes a [`Snapshot`]: the keys and `Arc`s of the values under
//! its prefix, at one revision, copied under the lock in one go (a few
//! dozen bytes per object, not the objects). Writes after it change the
//! cache, not the snapshot, so a streamed answer is one consistent state.
//!
//! Which LISTs the cache answers is `plan.rs`; waiting for it to be fresh
//! enough, and falling back to etcd, `serve.rs`; what it counts,
//! `metrics.rs`.
//!
//! A cache is started by the first LIST of its resource, not for every
//! resource at start-up: a resource nobody lists costs nothing.

pub mod metrics;
pub mod plan;
pub mod serve;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OnceCell, watch};

use crate::handlers::listing::CHUNK;
use crate::storage::{self, StorageError, Store};
use crate::watch::{Feed, FeedMessage, StoredEvent, WatchHub};
use orc_client::resources::Resource;

/// The watch cache's settings.
#[derive(Debug, Clone, Copy)]
pub struct WatchCacheSettings {
    /// Whether LISTs are answered from memory at all (kube-apiserver's
    /// `--watch-cache`). Off by default in orc, where kube-apiserver has
    /// it on: with it, the `list_memory` bench went over issue 15's memory
    /// targets (peak 7.1x the data against < 3x, steady 2.3x idle + data
    /// against < 2x), most likely from the decoded objects the watch
    /// feed it starts keeps in its ring buffer. On once that is fixed.
    pub enabled: bool,
    /// How long a LIST waits for the cache to reach the revision it
    /// needs: Kubernetes' `blockTimeout`, 3 s. After it, a
    /// `NotOlderThan` LIST is refused with 504 and a consistent one is
    /// read from etcd.
    pub fresh_wait: Duration,
}

impl Default for WatchCacheSettings {
    fn default() -> WatchCacheSettings {
        WatchCacheSettings {
            enabled: false,
            fresh_wait: Duration::from_secs(3),
        }
    }
}

/// kube-apiserver's `--watch-cache`.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchCacheFlags {
    /// Answer LISTs from an in-memory cache of each listed resource where
    /// the resourceVersion allows (`--watch-cache` or `--watch-cache=true`).
    /// Off by default: it costs more memory than orc's targets allow yet
    /// (chapter 03, "The watch cache").
    #[arg(long, num_args = 0..=1, default_value_t = false, default_missing_value = "true",
        action = clap::ArgAction::Set)]
    pub watch_cache: bool,
}

impl WatchCacheFlags {
    /// The settings these flags give.
    pub fn settings(&self) -> WatchCacheSettings {
        WatchCacheSettings {
            enabled: self.watch_cache,
            ..WatchCacheSettings::default()
        }
    }
}

/// How often a LIST waiting for a fresh cache asks etcd for progress
/// again (Kubernetes' progress requester ticks every 100 ms too).
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// One object as the cache holds it.
#[derive(Debug, Clone)]
pub struct CachedValue {
    /// The revision it was last written at: its `resourceVersion`.
    pub revision: i64,
    /// The bytes etcd stores (sealed, when the resource is encrypted).
    pub value: Arc<[u8]>,
}

/// The objects under a prefix at one revision, for one LIST.
#[derive(Debug)]
pub struct Snapshot {
    /// The revision the LIST answers with.
    pub revision: i64,
    /// Keys in order, with their values.
    pub entries: Vec<(Arc<str>, CachedValue)>,
    /// Those of the keys whose values cannot be read (no configured key
    /// opens them, or they are not JSON): the LIST names them in
    /// `Warning` headers before it starts, since a snapshot in memory,
    /// unlike etcd's chunks, can be looked at whole before the headers.
    pub unreadable: Vec<Arc<str>>,
}

/// What the cache holds, under one lock.
#[derive(Debug, Default)]
struct Contents {
    objects: BTreeMap<Arc<str>, CachedValue>,
    /// The keys of `objects` whose values cannot be read (few or none).
    unreadable: BTreeSet<Arc<str>>,
    /// Every change up to this revision is in `objects`; 0 while the
    /// cache fills (or fills again), when it answers nothing.
    revision: i64,
    /// The revision of the LIST that filled it: events at or below it
    /// are already in, and skipped when the feed replays them.
    filled_at: i64,
}

/// One resource's cache.
pub struct WatchCache {
    /// std's Mutex: held to apply one event or to copy a snapshot, never
    /// across an `.await`.
    contents: Mutex<Contents>,
    /// The revision reached, for LISTs waiting on it.
    reached: watch::Sender<i64>,
    /// The feed that keeps it, asked for progress when a LIST waits.
    feed: Arc<Feed>,
}

impl WatchCache {
    fn new(feed: Arc<Feed>) -> WatchCache {
        WatchCache {
            contents: Mutex::new(Contents::default()),
            reached: watch::Sender::new(0),
            feed,
        }
    }

    fn contents(&self) -> std::sync::MutexGuard<'_, Contents> {
        self.contents.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The revision the cache has reached (0: not filled).
    pub fn revision(&self) -> i64 {
        *self.reached.borrow()
    }

    /// Replaces everything with a fresh LIST's objects at `revision`.
    fn load(
        &self,
        objects: BTreeMap<Arc<str>, CachedValue>,
        unreadable: BTreeSet<Arc<str>>,
        revision: i64,
    ) {
        let mut contents = self.contents();
        *contents = Contents {
            objects,
            unreadable,
            revision,
            filled_at: revision,
        };
        self.reached.send_replace(revision);
    }

    // ANCHOR: apply
    /// One change from the feed: the key's new value, or its removal.
    fn apply(&self, event: &StoredEvent) {
        let mut contents = self.contents();
        // Already in the LIST that filled the cache.
        if contents.revision == 0 || event.revision <= contents.filled_at {
            return;
        }
        match &event.value {
            Some(value) => {
                let cached = CachedValue {
                    revision: event.revision,
                    value: Arc::clone(value),
                };
                contents
                    .objects
                    .insert(Arc::from(event.key.as_str()), cached);
            }
            None => {
                contents.objects.remove(event.key.as_str());
            }
        }
        contents.revision = contents.revision.max(event.revision);
        self.reached.send_replace(contents.revision);
    }
    // ANCHOR_END: apply

    /// etcd says every change up to `revision` has been sent: none of
    /// them was under this prefix, or all are already applied.
    fn advance(&self, revision: i64) {
        let mut contents = self.contents();
        if contents.revision > 0 && revision > contents.revision {
            contents.revision = revision;
            self.reached.send_replace(revision);
        }
    }

    /// Forgets everything: events were missed, the cache must fill again.
    fn clear(&self) {
        *self.contents() = Contents::default();
        self.reached.send_replace(0);
    }

    /// The objects under `within` (the resource's prefix, or one
    /// namespace's), at the cache's revision; `None` while it fills.
    pub fn snapshot(&self, within: &str) -> Option<Snapshot> {
        let contents = self.contents();
        if contents.revision == 0 {
            return None;
        }
        let entries = contents
            .objects
            .range::<str, _>((Bound::Included(within), Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(within))
            .map(|(key, value)| (Arc::clone(key), value.clone()))
            .collect();
        let unreadable = contents
            .unreadable
            .iter()
            .filter(|key| key.starts_with(within))
            .cloned()
            .collect();
        Some(Snapshot {
            revision: contents.revision,
            entries,
            unreadable,
        })
    }

    // ANCHOR: wait_until
    /// Waits until the cache has reached `revision`, at most `wait`,
    /// asking etcd for progress meanwhile when `progress` (etcd's answer
    /// can be trusted, `plan::progress_requests_supported`); without it,
    /// only the resource's own events move the cache. `Err` carries the
    /// revision reached when the time ran out (Kubernetes'
    /// `waitUntilFreshAndBlock`).
    pub async fn wait_until(
        &self,
        revision: i64,
        wait: Duration,
        progress: bool,
    ) -> Result<(), i64> {
        let mut reached = self.reached.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if *reached.borrow_and_update() >= revision {
                return Ok(());
            }
            if progress {
                self.feed.request_progress();
            }
            let next = if progress {
                deadline.min(tokio::time::Instant::now() + PROGRESS_EVERY)
            } else {
                deadline
            };
            match tokio::time::timeout_at(next, reached.changed()).await {
                Ok(Ok(())) => {}
                // The cache was dropped with the server.
                Ok(Err(_)) => return Err(0),
                Err(_) if tokio::time::Instant::now() >= deadline => {
                    return Err(*reached.borrow());
                }
                Err(_) => {}
            }
        }
    }
    // ANCHOR_END: wait_until
}

/// Every resource's cache, each started by the first LIST of it.
pub struct Cacher {
    store: Store,
    /// See [`WatchCacheSettings`].
    pub settings: WatchCacheSettings,
    /// Storage prefix → cache. tokio's Mutex: starting a cache awaits
    /// the hub's feed while holding it, so two first LISTs start one.
    caches: tokio::sync::Mutex<HashMap<&'static str, Arc<WatchCache>>>,
    /// The caches' tasks, stopped with the server.
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Whether etcd's progress answers can be trusted, asked once.
    progress: OnceCell<bool>,
    /// What the caches answered.
    pub metrics: metrics::CacheMetrics,
}

impl Drop for Cacher {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Cacher {
    /// No caches yet.
    pub fn new(store: Store, settings: WatchCacheSettings) -> Cacher {
        Cacher {
            store,
            settings,
            caches: tokio::sync::Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            progress: OnceCell::new(),
            metrics: metrics::CacheMetrics::default(),
        }
    }

    /// The cache of `resource`, started (and filling) if it was not.
    pub async fn cache(
        &self,
        hub: &WatchHub,
        resource: &'static Resource,
    ) -> Result<Arc<WatchCache>, StorageError> {
        let mut caches = self.caches.lock().await;
        if let Some(cache) = caches.get(resource.plural) {
            return Ok(Arc::clone(cache));
        }
        let prefix = storage::prefix(resource, None);
        // The feed before the fill: its history then reaches back to the
        // fill's revision.
        let feed = hub.feed(&prefix).await.map_err(StorageError::Etcd)?;
        let cache = Arc::new(WatchCache::new(feed));
        let task = tokio::spawn(follow(self.store.clone(), prefix, Arc::clone(&cache)));
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task.abort_handle());
        caches.insert(resource.plural, Arc::clone(&cache));
        Ok(cache)
    }

    /// Whether etcd answers progress requests in order with its events
    /// (asked once, from etcd's Status; an etcd that cannot say is
    /// treated as one that does not).
    pub async fn progress_requests(&self) -> bool {
        *self
            .progress
            .get_or_init(|| async {
                match self.store.client().maintenance_client().status().await {
                    Ok(status) => plan::progress_requests_supported(status.version()),
                    Err(error) => {
                        tracing::warn!(%error, "etcd's version is unknown: consistent LISTs read etcd");
                        false
                    }
                }
            })
            .await
    }

    /// `/metrics`' lines for the caches.
    pub async fn render_metrics(&self) -> String {
        let mut revisions: Vec<_> = self
            .caches
            .lock()
            .await
            .iter()
            .map(|(resource, cache)| (*resource, cache.revision()))
            .collect();
        revisions.sort();
        self.metrics.render(&revisions)
    }
}

// ANCHOR: follow
/// A cache's task: fill it from etcd, then follow the feed from the
/// fill's revision; when events were missed (the feed expired, or this
/// task fell behind), empty it and fill it again.
async fn follow(store: Store, prefix: String, cache: Arc<WatchCache>) {
    loop {
        let revision = match fill(&store, &prefix, &cache).await {
            Ok(revision) => revision,
            Err(error) => {
                tracing::warn!(%prefix, %error, "the watch cache could not list etcd; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut after = revision;
        // Fell behind the fan-out channel: the feed's ring buffer still
        // holds what was missed, unless it is older than the buffer.
        while let Ok((backlog, mut events)) = cache.feed.subscribe(after) {
            for event in &backlog {
                cache.apply(event);
            }
            match follow_events(&cache, &mut events).await {
                Missed::Expired => break,
                Missed::Lagged => {}
                Missed::Closed => return,
            }
            // From before the last revision applied: a transaction's
            // other keys at that revision may be among those missed, and
            // applying an event twice changes nothing.
            after = cache.revision() - 1;
        }
        tracing::warn!(%prefix, "the watch cache missed events; filling it again");
        cache.clear();
    }
}

/// Why a cache stopped following its feed.
enum Missed {
    /// The feed lost history: only a new fill can help.
    Expired,
    /// This cache fell behind the channel: the ring buffer may help.
    Lagged,
    /// The feed is gone (the server stops).
    Closed,
}

/// Applies the feed's messages to the cache until it misses some.
async fn follow_events(
    cache: &WatchCache,
    events: &mut tokio::sync::broadcast::Receiver<FeedMessage>,
) -> Missed {
    loop {
        match events.recv().await {
            Ok(FeedMessage::Event(event)) => cache.apply(&event),
            Ok(FeedMessage::Progress(revision)) => cache.advance(revision),
            Ok(FeedMessage::Expired) => return Missed::Expired,
            Err(RecvError::Lagged(_)) => return Missed::Lagged,
            Err(RecvError::Closed) => return Missed::Closed,
        }
    }
}
// ANCHOR_END: follow

/// Reads every key under `prefix` at one revision, a chunk at a time, into
/// the cache; answers the revision.
async fn fill(store: &Store, prefix: &str, cache: &WatchCache) -> Result<i64, StorageError> {
    let mut objects = BTreeMap::new();
    let mut unreadable = BTreeSet::new();
    let (mut revision, mut start) = (0, String::new());
    loop {
        let page = store.list_raw(prefix, &start, revision, CHUNK).await?;
        revision = page.revision;
        let Some(last) = page.kvs.last() else { break };
        start = format!("{}\0", String::from_utf8_lossy(last.key()));
        for kv in &page.kvs {
            let key: Arc<str> = Arc::from(String::from_utf8_lossy(kv.key()).as_ref());
            // Decoded once here, and let go, only to know it reads; the
            // feed does the same for every later change.
            if store
                .decode(kv.key(), kv.value(), kv.mod_revision())
                .is_err()
            {
                unreadable.insert(Arc::clone(&key));
            }
            let cached = CachedValue {
                revision: kv.mod_revision(),
                value: Arc::from(kv.value()),
            };
            objects.insert(key, cached);
        }
        if !page.more {
            break;
        }
    }
    cache.load(objects, unreadable, revision);
    Ok(revision)
}

//! The watch cache: each resource's current objects in memory, so that
//! most LISTs never reach etcd (kube-apiserver's `cacher`). See chapter
//! 03, "The watch cache".
//!
//! A [`WatchCache`] is filled by one LIST of the resource from etcd at a
//! revision R, then kept current by the watch hub's feed of the same
//! prefix (`watch.rs`), from R on: each revision's events put or remove
//! their keys and move the cache's revision to theirs, all together once
//! the feed has handed over the last of them (an etcd transaction writes
//! several keys at one revision; no LIST sees part of one). The feed's
//! progress answers ([`FeedMessage::Progress`]) move it too when nothing
//! under the prefix changed, which is how a cache of a quiet resource
//! proves it has seen everything up to etcd's current revision.
//!
//! What it keeps per key is the value *as etcd stores it*: the JSON
//! bytes, still sealed for an encrypted resource, shared (`Arc<[u8]>`)
//! with the feed's event that brought it, which keeps bytes too
//! (`watch.rs`): each object is in memory once, whether the cache, the
//! feed's ring buffer or both hold it. The fill waits for the feed's
//! replay of history to end, then takes the ring's bytes for the objects
//! the ring holds rather than copy etcd's ([`replayed`]). A decoded
//! `serde_json::Value` takes several times its JSON's size; bytes cost
//! the collection's size once, and Secrets stay sealed in memory as in
//! etcd. A LIST from the cache then decodes each value as it encodes the
//! answer, exactly as a LIST from etcd decodes each key of a chunk
//! (`handlers/listing.rs`).
//!
//! A LIST takes a [`Snapshot`]: the map itself, behind an `Arc`, at one
//! revision; no copy. The next write after it copies the map (its keys
//! and `Arc`s, a few dozen bytes per object, not the objects) and
//! changes the copy, so a snapshot stays one consistent state however
//! long its LIST streams, and sixteen LISTs between two writes share one
//! map.
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
use crate::tasks::AbortOnDrop;
use crate::watch::{Feed, FeedMessage, StoredEvent, WatchHub};
use orc_client::resources::Resource;

/// The watch cache's settings.
#[derive(Debug, Clone, Copy)]
pub struct WatchCacheSettings {
    /// Whether LISTs are answered from memory at all (kube-apiserver's
    /// `--watch-cache`). On by default, as in kube-apiserver: with it the
    /// `list_memory` bench keeps issue 15's targets (peak 2.63x and 2.62x
    /// the data in two runs, against < 3x; steady 1.26x and 1.27x idle +
    /// data, against < 2x; chapter 03, "The watch cache").
    pub enabled: bool,
    /// How long a LIST waits for the cache to reach the revision it
    /// needs: Kubernetes' `blockTimeout`, 3 s. After it, a
    /// `NotOlderThan` LIST is refused with 504 and a consistent one is
    /// read from etcd.
    pub fresh_wait: Duration,
    /// How long a LIST waits for its resource's cache while it fills (a
    /// cache starts with the first LIST of its resource), before reading
    /// etcd itself: 30 s, half the default request timeout. The fill is
    /// one chunked read of the collection, the read that LIST would make:
    /// waiting spares etcd a second read of it per LIST and the server
    /// their chunks on top of the cache (kube-apiserver before 1.31 also
    /// waited for its cache to be ready, up to the request's deadline).
    pub fill_wait: Duration,
}

impl Default for WatchCacheSettings {
    fn default() -> WatchCacheSettings {
        WatchCacheSettings {
            enabled: true,
            fresh_wait: Duration::from_secs(3),
            fill_wait: Duration::from_secs(30),
        }
    }
}

/// kube-apiserver's `--watch-cache`.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchCacheFlags {
    /// Answer LISTs from an in-memory cache of each listed resource where
    /// the resourceVersion allows. On by default, as in kube-apiserver;
    /// `--watch-cache=false` reads every LIST from etcd
    /// (chapter 03, "The watch cache").
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true",
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

/// Keys in order, with their values. A key is held without the cache's
/// prefix (`ns/name` rather than `/registry/configmaps/ns/name`): the
/// prefix is the same for every key, and what is left of most keys fits
/// in a smaller allocation.
type Objects = BTreeMap<Box<str>, CachedValue>;

/// `key` without `prefix`, the way [`Objects`] holds it. Every key a
/// cache meets is under its prefix (its feed's and fill's).
fn relative<'a>(prefix: &str, key: &'a str) -> &'a str {
    key.strip_prefix(prefix).unwrap_or(key)
}

/// The objects under a prefix at one revision, for one LIST.
#[derive(Debug)]
pub struct Snapshot {
    /// The revision the LIST answers with.
    pub revision: i64,
    /// The whole cache as it was, shared with it until the next write.
    objects: Arc<Objects>,
    /// The cache's prefix, the part of each key [`Objects`] leaves out.
    prefix: Arc<str>,
    /// The prefix listed (the resource's, or one namespace's), without
    /// the cache's; `None` when it is not under the cache's at all.
    within: Option<String>,
    /// Those of the keys whose values cannot be read (no configured key
    /// opens them, or they are not JSON): the LIST names them in
    /// `Warning` headers before it starts, since a snapshot in memory,
    /// unlike etcd's chunks, can be looked at whole before the headers.
    pub unreadable: Vec<Arc<str>>,
}

/// What the cache holds, under one lock.
#[derive(Debug, Default)]
struct Contents {
    /// Shared with the snapshots taken since the last write.
    objects: Arc<Objects>,
    /// The keys of `objects` whose values cannot be read (few or none).
    unreadable: BTreeSet<Arc<str>>,
    /// Every change up to this revision is in `objects`; 0 while the
    /// cache fills (or fills again), when it answers nothing.
    revision: i64,
    /// The revision of the LIST that filled it: events at or below it
    /// are already in, and skipped when the feed replays them.
    filled_at: i64,
}

/// `event` is one the fill already read: when `objects` hold that very
/// version of its key, the event's bytes (the ring buffer's) take the
/// place of the fill's copy, which is let go.
fn share(objects: &mut Objects, prefix: &str, event: &StoredEvent) {
    let Some(value) = &event.value else { return };
    if let Some(cached) = objects.get_mut(relative(prefix, &event.key))
        && cached.revision == event.revision
    {
        cached.value = Arc::clone(value);
    }
}

impl Snapshot {
    /// The value of (whole) `key`, when it is in the snapshot.
    pub fn get(&self, key: &str) -> Option<&CachedValue> {
        let key = key.strip_prefix(&*self.prefix)?;
        self.objects
            .get(key)
            .filter(|_| self.within.as_ref().is_some_and(|w| key.starts_with(w)))
    }

    /// The entries under the listed prefix after key `after` (from the
    /// first with `None`), in order; keys without the cache's prefix
    /// ([`Snapshot::key`] gives them whole).
    pub fn after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a str, &'a CachedValue)> + use<'a> {
        let within = self.within.as_deref();
        let start = match (after, within) {
            (Some(key), _) => Bound::Excluded(key),
            (None, Some(within)) => Bound::Included(within),
            (None, None) => Bound::Unbounded,
        };
        self.objects
            .range::<str, _>((start, Bound::Unbounded))
            .take_while(move |(key, _)| within.is_some_and(|w| key.starts_with(w)))
            .map(|(key, cached)| (&**key, cached))
    }

    /// A key as [`Snapshot::after`] answers it, whole again.
    pub fn key(&self, relative: &str) -> String {
        format!("{}{relative}", self.prefix)
    }
}

/// The bytes a cache and its feed's ring buffer hold (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Objects in the cache.
    pub objects: usize,
    /// Their keys' (as held, without the prefix) and stored values' bytes.
    pub cache: usize,
    /// Events in the ring buffer.
    pub events: usize,
    /// Their bytes ([`StoredEvent::size`]).
    pub buffer: usize,
    /// Of those, the bytes of values the cache holds too (one allocation).
    pub shared: usize,
}

/// One resource's cache.
pub struct WatchCache {
    /// std's Mutex: held to apply one revision or to take a snapshot,
    /// never across an `.await`.
    contents: Mutex<Contents>,
    /// The revision reached, for LISTs waiting on it.
    reached: watch::Sender<i64>,
    /// The feed that keeps it, asked for progress when a LIST waits.
    feed: Arc<Feed>,
    /// The resource's prefix, left out of the keys it holds.
    prefix: Arc<str>,
}

impl WatchCache {
    fn new(feed: Arc<Feed>, prefix: &str) -> WatchCache {
        WatchCache {
            contents: Mutex::new(Contents::default()),
            reached: watch::Sender::new(0),
            feed,
            prefix: Arc::from(prefix),
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
    fn load(&self, objects: Objects, unreadable: BTreeSet<Arc<str>>, revision: i64) {
        let mut contents = self.contents();
        *contents = Contents {
            objects: Arc::new(objects),
            unreadable,
            revision,
            filled_at: revision,
        };
        self.reached.send_replace(revision);
    }

    // ANCHOR: apply
    /// One whole revision from the feed: each of its events puts or
    /// removes one key. Objects and revision change together, under one
    /// lock, so that no snapshot (no LIST) shows part of a transaction,
    /// and a LIST waiting for this revision is let go only once all of it
    /// is in (Kubernetes' watch cache applies a revision whole too).
    fn apply(&self, revision: &[Arc<StoredEvent>]) {
        let Some(at) = revision.first().map(|e| e.revision) else {
            return;
        };
        let mut contents = self.contents();
        if contents.revision == 0 {
            return;
        }
        // Already in the LIST that filled the cache: keep the events'
        // copies of the bytes, the ones the ring buffer holds, not both;
        // unless a snapshot holds the map, which is not copied for this.
        if at <= contents.filled_at {
            if let Some(objects) = Arc::get_mut(&mut contents.objects) {
                revision
                    .iter()
                    .for_each(|event| share(objects, &self.prefix, event));
            }
            return;
        }
        // Copies the map only when a snapshot still holds it.
        let objects = Arc::make_mut(&mut contents.objects);
        for event in revision {
            match &event.value {
                Some(value) => {
                    let cached = CachedValue {
                        revision: at,
                        value: Arc::clone(value),
                    };
                    objects.insert(relative(&self.prefix, &event.key).into(), cached);
                }
                None => {
                    objects.remove(relative(&self.prefix, &event.key));
                }
            }
        }
        contents.revision = contents.revision.max(at);
        self.reached.send_replace(contents.revision);
    }
    // ANCHOR_END: apply

    /// One event from the feed's channel, where a revision's events come
    /// one message each: it waits in `incoming` until the one that ends
    /// its revision, and then they are applied together.
    fn receive(&self, incoming: &mut Vec<Arc<StoredEvent>>, event: Arc<StoredEvent>) {
        let ends_revision = event.ends_revision();
        incoming.push(event);
        if ends_revision {
            self.apply(incoming);
            incoming.clear();
        }
    }

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
        let unreadable = contents
            .unreadable
            .iter()
            .filter(|key| key.starts_with(within))
            .cloned()
            .collect();
        Some(Snapshot {
            revision: contents.revision,
            objects: Arc::clone(&contents.objects),
            prefix: Arc::clone(&self.prefix),
            within: within.strip_prefix(&*self.prefix).map(str::to_string),
            unreadable,
        })
    }

    /// What this cache and its feed's ring buffer hold, counted.
    pub fn held(&self) -> Held {
        let (events, buffer) = self.feed.buffered();
        let contents = self.contents();
        let cache = contents
            .objects
            .iter()
            .map(|(key, cached)| key.len() + cached.value.len())
            .sum();
        let shared = events
            .iter()
            .filter_map(|event| {
                let value = event.value.as_ref()?;
                let cached = contents.objects.get(relative(&self.prefix, &event.key))?;
                Arc::ptr_eq(value, &cached.value).then_some(value.len())
            })
            .sum();
        Held {
            objects: contents.objects.len(),
            cache,
            events: events.len(),
            buffer,
            shared,
        }
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
    tasks: AbortOnDrop,
    /// Whether etcd's progress answers can be trusted, asked once.
    progress: OnceCell<bool>,
    /// What the caches answered.
    pub metrics: metrics::CacheMetrics,
}

impl Cacher {
    /// No caches yet.
    pub fn new(store: Store, settings: WatchCacheSettings) -> Cacher {
        Cacher {
            store,
            settings,
            caches: tokio::sync::Mutex::new(HashMap::new()),
            tasks: AbortOnDrop::default(),
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
        let cache = Arc::new(WatchCache::new(feed, &prefix));
        self.tasks
            .spawn(follow(self.store.clone(), prefix, Arc::clone(&cache)));
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
        let mut caches: Vec<_> = self
            .caches
            .lock()
            .await
            .iter()
            .map(|(resource, cache)| (*resource, Arc::clone(cache)))
            .collect();
        caches.sort_by_key(|(resource, _)| *resource);
        let revisions: Vec<_> = caches
            .iter()
            .map(|(resource, cache)| (*resource, cache.revision()))
            .collect();
        let held: Vec<_> = caches
            .iter()
            .map(|(resource, cache)| (*resource, cache.held()))
            .collect();
        self.metrics.render(&revisions) + &metrics::render_held(&held)
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
        // From as far back as the ring reaches, the first time: the
        // events the fill already read share their bytes with it. Should
        // the ring move on meanwhile, from the fill's revision.
        let oldest = cache.feed.oldest().min(revision);
        let mut subscribed = cache.feed.subscribe(oldest);
        if subscribed.is_err() {
            subscribed = cache.feed.subscribe(revision);
        }
        // Fell behind the fan-out channel: the feed's ring buffer still
        // holds what was missed, unless it is older than the buffer.
        while let Ok((backlog, mut events)) = subscribed {
            // The backlog is whole revisions (`Feed::subscribe`).
            for revision in backlog.chunk_by(|a, b| a.revision == b.revision) {
                cache.apply(revision);
            }
            match follow_events(&cache, &mut events).await {
                Missed::Expired => break,
                Missed::Lagged => {}
                Missed::Closed => return,
            }
            // The cache applies whole revisions only: what it missed
            // begins after its own, a revision it had in part included.
            subscribed = cache.feed.subscribe(cache.revision());
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

/// Applies the feed's messages to the cache until it misses some, each
/// revision once it has all of it.
async fn follow_events(
    cache: &WatchCache,
    events: &mut tokio::sync::broadcast::Receiver<FeedMessage>,
) -> Missed {
    // The events of a revision not yet whole; lost when this returns,
    // and replayed whole from the ring by the next subscription.
    let mut incoming = Vec::new();
    loop {
        match events.recv().await {
            Ok(FeedMessage::Event(event)) => cache.receive(&mut incoming, event),
            // The feed sends progress between revisions, so nothing waits
            // in `incoming` then.
            Ok(FeedMessage::Progress(revision)) if incoming.is_empty() => cache.advance(revision),
            Ok(FeedMessage::Progress(_)) => {}
            Ok(FeedMessage::Expired) => return Missed::Expired,
            Err(RecvError::Lagged(_)) => return Missed::Lagged,
            Err(RecvError::Closed) => return Missed::Closed,
        }
    }
}
// ANCHOR_END: follow

/// How long a fill waits for its feed to replay the resource's history
/// first ([`replayed`]); after it, the fill reads etcd all the same.
const REPLAY_WAIT: Duration = Duration::from_secs(10);

// ANCHOR: replayed
/// Waits until the feed has published the newest write under `prefix`
/// (at most [`REPLAY_WAIT`]); answers the ring buffer's events then.
///
/// A new feed replays up to 10,000 revisions of history (`watch.rs`),
/// and a cache starts its feed just before its fill. Run side by side,
/// the two interleave their allocations on the allocator's pages: the
/// fill's values, kept for good, beside the replay's events and gRPC
/// buffers, most of which the ring lets go a moment later. The pages
/// are then left part used, and a page in use cannot go back to the
/// kernel, whatever little of it is. One after the other, the replay's
/// garbage is gone before the fill allocates, and its freed slots are
/// the ones the fill's values take. And the fill can then take the
/// ring's bytes for the objects the ring holds rather than copy them
/// (chapter 03, "The watch cache").
async fn replayed(store: &Store, prefix: &str, feed: &Feed) -> Vec<Arc<StoredEvent>> {
    // Where the replay must get to: the newest write under the prefix.
    // Without it, the fill does not wait: the order is for memory only.
    let newest = store.newest_under(prefix).await.unwrap_or(0);
    let Ok((ring, mut events)) = feed.subscribe(feed.oldest()) else {
        return Vec::new();
    };
    // Writes from before the feed's history are not replayed at all.
    let mut reached = ring.last().map_or(feed.oldest(), |e| e.revision);
    let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
    while reached < newest {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(FeedMessage::Event(event))) => reached = event.revision,
            // A receiver that fell behind goes on with newer events.
            Ok(Ok(FeedMessage::Progress(_)) | Err(RecvError::Lagged(_))) => {}
            Ok(Ok(FeedMessage::Expired) | Err(RecvError::Closed)) | Err(_) => break,
        }
    }
    drop(events);
    feed.subscribe(feed.oldest())
        .map(|(ring, _)| ring)
        .unwrap_or_default()
}
// ANCHOR_END: replayed

/// Reads every key under `prefix` at one revision, a chunk at a time, into
/// the cache, once the feed's replay is over; answers the revision.
async fn fill(store: &Store, prefix: &str, cache: &WatchCache) -> Result<i64, StorageError> {
    // The ring's newest version of each key: a value the fill reads at
    // that version is the ring's, shared rather than copied.
    let ring = replayed(store, prefix, &cache.feed).await;
    let mut in_ring: HashMap<&str, &StoredEvent> = HashMap::with_capacity(ring.len());
    for event in &ring {
        in_ring.insert(event.key.as_str(), event);
    }
    // Gathered in key order, then built into the map in one go: a map
    // built by inserting keys in order leaves every node it splits about
    // half full; built from the sorted whole, its nodes are full.
    let mut entries = Vec::new();
    let mut unreadable = BTreeSet::new();
    let (mut revision, mut start) = (0, String::new());
    loop {
        let page = store.list_raw(prefix, &start, revision, CHUNK).await?;
        revision = page.revision;
        let Some(last) = page.kvs.last() else { break };
        start = format!("{}\0", String::from_utf8_lossy(last.key()));
        for kv in &page.kvs {
            let key = String::from_utf8_lossy(kv.key());
            // Parsed once here, and let go, only to know it reads; the
            // feed does the same for every later change.
            if store
                .check(kv.key(), kv.value(), kv.mod_revision())
                .is_err()
            {
                unreadable.insert(Arc::from(key.as_ref()));
            }
            let shared = in_ring
                .get(key.as_ref())
                .filter(|event| event.revision == kv.mod_revision())
                .and_then(|event| event.value.clone());
            let cached = CachedValue {
                revision: kv.mod_revision(),
                value: shared.unwrap_or_else(|| Arc::from(kv.value())),
            };
            entries.push((Box::from(relative(prefix, &key)), cached));
        }
        if !page.more {
            break;
        }
    }
    drop(in_ring);
    drop(ring);
    let mut objects: Objects = entries.into_iter().collect();
    // Events the feed published while the fill read: these bytes too
    // are kept once, by both.
    if let Ok((backlog, _)) = cache.feed.subscribe(cache.feed.oldest()) {
        for event in backlog.iter().filter(|e| e.revision <= revision) {
            share(&mut objects, prefix, event);
        }
    }
    cache.load(objects, unreadable, revision);
    Ok(revision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::WatchLimits;
    use serde_json::json;

    fn config_map(name: &str, data: &str) -> serde_json::Value {
        json!({"metadata": {"name": name, "namespace": "d"}, "data": {"x": data}})
    }

    fn put(revision: i64, name: &str, data: &str) -> StoredEvent {
        let key = format!("/registry/configmaps/d/{name}");
        StoredEvent::new(revision, key, Some(&config_map(name, data)), None)
    }

    fn delete(revision: i64, name: &str) -> StoredEvent {
        let key = format!("/registry/configmaps/d/{name}");
        StoredEvent::new(revision, key, None, Some(&config_map(name, "one")))
    }

    /// A cache filled at revision 2 with `a` and `b`, the fill's own
    /// copies of their bytes.
    fn filled() -> WatchCache {
        let prefix = "/registry/configmaps/";
        let cache = WatchCache::new(Arc::new(Feed::new(&WatchLimits::default(), 0)), prefix);
        let mut objects = Objects::new();
        for (revision, name) in [(1, "a"), (2, "b")] {
            let event = put(revision, name, "one");
            let value = Arc::from(&**event.value.as_ref().unwrap());
            let key = relative(prefix, &event.key).into();
            objects.insert(key, CachedValue { revision, value });
        }
        cache.load(objects, BTreeSet::new(), 2);
        cache
    }

    fn names(snapshot: &Snapshot) -> Vec<String> {
        snapshot
            .after(None)
            .map(|(key, cached)| {
                let object: serde_json::Value = serde_json::from_slice(&cached.value).unwrap();
                let key = snapshot.key(key);
                format!("{key}={}", object["data"]["x"].as_str().unwrap())
            })
            .collect()
    }

    #[test]
    fn a_snapshot_is_the_map_itself_until_the_next_write_copies_it() {
        let cache = filled();
        let first = cache.snapshot("/registry/configmaps/").unwrap();
        let second = cache.snapshot("/registry/configmaps/").unwrap();
        assert!(Arc::ptr_eq(&first.objects, &second.objects), "no copy");
        cache.apply(&[Arc::new(put(3, "a", "two"))]);
        cache.apply(&[Arc::new(put(4, "c", "one"))]);
        let before = [
            "/registry/configmaps/d/a=one",
            "/registry/configmaps/d/b=one",
        ];
        assert_eq!(names(&first), before, "the LIST's state stays");
        let third = cache.snapshot("/registry/configmaps/d/").unwrap();
        assert_eq!(third.revision, 4);
        assert_eq!(
            names(&third),
            [
                "/registry/configmaps/d/a=two",
                "/registry/configmaps/d/b=one",
                "/registry/configmaps/d/c=one",
            ]
        );
        // Walked a key at a time, as a LIST's chunks do.
        let after_a: Vec<_> = third.after(Some("d/a")).collect();
        assert_eq!(after_a.len(), 2);
        assert!(
            cache
                .snapshot("/registry/configmaps/e/")
                .unwrap()
                .after(None)
                .next()
                .is_none()
        );
    }

    #[test]
    fn the_fill_s_copy_gives_way_to_the_ring_s_bytes() {
        let cache = filled();
        // The feed replays what the fill already read.
        let replayed = Arc::new(put(1, "a", "one"));
        cache.apply(std::slice::from_ref(&replayed));
        let stale = Arc::new(put(1, "b", "older"));
        cache.apply(std::slice::from_ref(&stale));
        let snapshot = cache.snapshot("/registry/configmaps/").unwrap();
        let a = snapshot.get("/registry/configmaps/d/a").unwrap();
        assert!(
            Arc::ptr_eq(&a.value, replayed.value.as_ref().unwrap()),
            "one copy"
        );
        // Another version of the key than the cache holds changes nothing.
        let b = snapshot.get("/registry/configmaps/d/b").unwrap();
        assert!(!Arc::ptr_eq(&b.value, stale.value.as_ref().unwrap()));
        assert_eq!(names(&snapshot)[1], "/registry/configmaps/d/b=one");
        // While a snapshot holds the map, sharing does not copy it.
        let replayed_b = Arc::new(put(2, "b", "one"));
        cache.apply(std::slice::from_ref(&replayed_b));
        drop(snapshot);
        let shared = |cache: &WatchCache| {
            let now = cache.snapshot("/registry/configmaps/").unwrap();
            let b = now.get("/registry/configmaps/d/b").unwrap();
            Arc::ptr_eq(&b.value, replayed_b.value.as_ref().unwrap())
        };
        assert!(!shared(&cache));
        cache.apply(std::slice::from_ref(&replayed_b));
        assert!(shared(&cache));
    }

    /// The feed hands a transaction's events over one message at a time
    /// (here, by hand, as `follow_events` does): until the last is in,
    /// the cache shows none of them and has not reached their revision.
    #[test]
    fn a_revision_shows_whole_or_not_at_all() {
        let cache = filled();
        let (_, mut messages) = cache.feed.subscribe(2).unwrap();
        // One etcd transaction: c created, a changed, b deleted.
        let transaction = vec![put(3, "c", "one"), put(3, "a", "two"), delete(3, "b")];
        cache.feed.publish(transaction);
        let mut incoming = Vec::new();
        let mut hand_over = || match messages.try_recv() {
            Ok(FeedMessage::Event(event)) => cache.receive(&mut incoming, event),
            other => panic!("an event: {other:?}"),
        };
        let at = |cache: &WatchCache| {
            let snapshot = cache.snapshot("/registry/configmaps/").unwrap();
            (snapshot.revision, names(&snapshot))
        };
        let before = (
            2,
            vec![
                "/registry/configmaps/d/a=one".to_string(),
                "/registry/configmaps/d/b=one".to_string(),
            ],
        );
        for _ in 0..2 {
            hand_over();
            assert_eq!(at(&cache), before, "half a revision shows");
            assert_eq!(cache.revision(), 2, "a LIST waiting for 3 is let go");
        }
        hand_over();
        assert_eq!(
            at(&cache),
            (
                3,
                vec![
                    "/registry/configmaps/d/a=two".to_string(),
                    "/registry/configmaps/d/c=one".to_string(),
                ]
            )
        );
        assert_eq!(cache.revision(), 3);
    }

    #[tokio::test]
    async fn the_fill_waits_for_the_feed_s_replay_and_takes_the_ring_s_bytes() {
        let etcd = orc_testkit::etcd::Etcd::start();
        let store = Store::connect(&etcd.endpoint()).await.unwrap();
        let mut kv = store.client().kv_client();
        let prefix = "/registry/configmaps/";
        let mut written = Vec::new();
        for name in ["a", "b"] {
            let key = format!("{prefix}d/{name}");
            let object = config_map(name, "one");
            let put = kv
                .put(key.as_str(), serde_json::to_vec(&object).unwrap(), None)
                .await
                .unwrap();
            let revision = put.header().unwrap().revision();
            written.push(StoredEvent::new(revision, key, Some(&object), None));
        }
        // A new feed whose replay has come as far as the first write.
        let feed = Arc::new(Feed::new(&WatchLimits::default(), 0));
        feed.publish(vec![written[0].clone()]);
        let cache = Arc::new(WatchCache::new(Arc::clone(&feed), prefix));
        let filling = tokio::spawn({
            let (store, cache) = (store.clone(), Arc::clone(&cache));
            async move { fill(&store, prefix, &cache).await }
        });
        // The fill waits on the feed, and has read nothing of etcd yet.
        while feed.subscribers() == 0 && !filling.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(!filling.is_finished(), "the fill waits for the replay");
        assert!(store.list_reads().is_empty(), "{:?}", store.list_reads());
        feed.publish(vec![written[1].clone()]);
        let revision = filling.await.unwrap().unwrap();
        assert_eq!(revision, written[1].revision);
        // Each object is the ring's allocation, not a copy of etcd's.
        let snapshot = cache.snapshot(prefix).unwrap();
        for event in feed.buffered().0 {
            let cached = snapshot.get(&event.key).unwrap();
            assert!(Arc::ptr_eq(&cached.value, event.value.as_ref().unwrap()));
        }
    }
}

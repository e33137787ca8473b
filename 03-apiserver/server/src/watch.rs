//! The watch hub: one etcd watch per resource, fanned out to every client.
//!
//! A cluster has few resource types and many watchers: every node agent
//! watches pods, every controller watches its kinds, every `kubectl get -w`
//! adds one. Opening an etcd watch per client would multiply etcd's work by
//! the number of clients. Kubernetes' API server instead keeps a *watch
//! cache*: one etcd watch per resource, a ring buffer of recent events, and
//! an in-memory fan-out. orc's [`WatchHub`] is that idea in small:
//!
//! - a [`Feed`] per resource runs one etcd watch on the resource's key
//!   prefix, with `prev_kv` so it knows what a changed object looked like
//!   before (needed to tell a selector "this object stopped matching");
//! - each event goes into a bounded ring buffer and onto a
//!   `tokio::sync::broadcast` channel, *under one lock*, so a client that
//!   subscribes "from revision N" gets the buffered events after N plus
//!   every later one, with no gap and no duplicate;
//! - it publishes whole etcd revisions only, a revision's events under
//!   that one lock, the last of them marked
//!   ([`StoredEvent::ends_revision`]): a subscriber that must never show
//!   half a transaction (the watch cache) knows when it has all of one;
//! - the feed starts a window of revisions in the past, so a client that
//!   resumes after an API server restart still finds its history;
//! - a client asking for history older than the buffer, or one too slow to
//!   keep up with the broadcast channel, gets `410 Gone` and must re-list:
//!   the contract every Kubernetes client (informers included) implements.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{EventType, WatchOptions};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::storage::{self, MAX_ETCD_MESSAGE, Store};
use crate::tasks::AbortOnDrop;

/// What happened to one key at one revision, as the feed saw it in etcd.
///
/// It keeps bytes, not decoded objects: a `serde_json::Value` takes
/// several times the size of its JSON, and the ring buffer holds
/// thousands of events. Whoever needs an object's fields decodes it
/// ([`StoredEvent::object`], [`StoredEvent::previous`]) and lets it go.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The etcd revision of the change.
    pub revision: i64,
    /// The key that changed.
    pub key: String,
    /// The bytes etcd stores for the object after the change (`None` for
    /// a delete), still sealed when the resource is encrypted: what the
    /// watch cache keeps (`watch_cache/`), shared with this event rather
    /// than copied.
    pub value: Option<Arc<[u8]>>,
    /// The object after the change as JSON, opened (`None` for a delete,
    /// or when it cannot be read). The same allocation as `value` when
    /// the resource is not encrypted.
    object: Option<Arc<[u8]>>,
    /// The object before the change as JSON, opened, and the revision it
    /// was written at (`None` for a create, or when it cannot be read).
    previous: Option<(Arc<[u8]>, i64)>,
    /// Why the event's own object (the new one; for a delete, the one
    /// deleted) could not be read: a value no configured key opens, or
    /// one that is not an object. `object` and `previous` then say
    /// nothing; watchers are told with an ERROR event
    /// (`handlers/watch.rs`).
    pub unreadable: Option<String>,
    /// Whether this is the last event of its revision under the feed's
    /// prefix: once it is in, the revision is whole. Set by
    /// [`Feed::publish`], which is handed whole revisions.
    ends_revision: bool,
}

impl StoredEvent {
    /// An event of plain (unencrypted) objects: `object` after the change
    /// (`None`: a delete), `previous` before it, written at `revision - 1`.
    pub fn new(
        revision: i64,
        key: impl Into<String>,
        object: Option<&Value>,
        previous: Option<&Value>,
    ) -> StoredEvent {
        let encode = |v: &Value| Arc::<[u8]>::from(serde_json::to_vec(v).unwrap_or_default());
        let object = object.map(encode);
        StoredEvent {
            revision,
            key: key.into(),
            value: object.clone(),
            object,
            previous: previous.map(|p| (encode(p), revision - 1)),
            unreadable: None,
            ends_revision: true,
        }
    }

    /// Whether this event completes its revision: every change that
    /// revision made under the feed's prefix has now been published (an
    /// etcd transaction writes several keys at one revision). The watch
    /// cache applies a revision only then (`watch_cache/`).
    pub fn ends_revision(&self) -> bool {
        self.ends_revision
    }

    /// The object after the change, decoded now, its resourceVersion
    /// set; `None` for a delete or an unreadable value.
    pub fn object(&self) -> Option<Value> {
        let json = self.object.as_deref()?;
        storage::decode_plain(self.key.as_bytes(), json, self.revision).ok()
    }

    /// The object before the change, decoded now, with the
    /// resourceVersion it had; `None` for a create or an unreadable value.
    pub fn previous(&self) -> Option<Value> {
        let (json, revision) = self.previous.as_ref()?;
        storage::decode_plain(self.key.as_bytes(), json, *revision).ok()
    }

    /// The bytes this event holds that nothing else need hold: its values
    /// and key, counted once when two of them are one allocation. The ring
    /// buffer's byte bound counts these.
    pub fn size(&self) -> usize {
        let value = self.value.as_ref().map_or(0, |v| v.len());
        let object = match (&self.object, &self.value) {
            (Some(o), Some(v)) if Arc::ptr_eq(o, v) => 0,
            (Some(o), _) => o.len(),
            (None, _) => 0,
        };
        let previous = self.previous.as_ref().map_or(0, |(p, _)| p.len());
        std::mem::size_of::<StoredEvent>() + self.key.len() + value + object + previous
    }
}

/// What the broadcast channel carries.
#[derive(Debug, Clone)]
pub enum FeedMessage {
    /// One change. Its revision's changes come one message each, the
    /// last marked ([`StoredEvent::ends_revision`]).
    Event(Arc<StoredEvent>),
    /// The feed lost history (its etcd watch was compacted away while it
    /// reconnected): every subscriber must re-list.
    Expired,
    /// etcd's answer to a progress request (`Feed::request_progress`):
    /// every change under the prefix up to this revision has been
    /// published. It comes down the same stream as the events, after
    /// them, which is what lets the watch cache prove it is fresh.
    Progress(i64),
}

/// How much history a feed keeps and how far back it starts.
#[derive(Debug, Clone, Copy)]
pub struct WatchLimits {
    /// Events kept in the ring buffer per resource.
    pub buffer: usize,
    /// Bytes the ring buffer of one resource may hold
    /// ([`StoredEvent::size`]): big objects cut its history short before
    /// `buffer` events do.
    pub buffer_bytes: usize,
    /// How long the ring buffer keeps an event once more than
    /// `min_buffer` newer ones are in it: kube-apiserver keeps 75 s of
    /// history (its watch cache grows and shrinks its capacity to hold
    /// that much, between 100 and 102,400 events), a little more than its
    /// one-minute bookmark period, so a watcher that takes bookmarks can
    /// always resume where its last one left it. Older history costs
    /// memory that grows with time while nobody can need it.
    pub fresh: Duration,
    /// Events the ring keeps however old (kube-apiserver's lower bound of
    /// 100): a resource that rarely changes keeps its last changes.
    pub min_buffer: usize,
    /// How many revisions before "now" a new feed starts replaying from.
    pub window: i64,
    /// Messages a client may fall behind before it is cut off with 410.
    pub channel: usize,
}

impl Default for WatchLimits {
    fn default() -> WatchLimits {
        WatchLimits {
            buffer: 10_000,
            buffer_bytes: 32 << 20,
            fresh: Duration::from_secs(75),
            min_buffer: 100,
            window: 10_000,
            channel: 4096,
        }
    }
}

/// The state shared by a feed's etcd task and its subscribers.
struct History {
    /// Recent events, oldest first.
    buffer: VecDeque<Arc<StoredEvent>>,
    /// When each of them was published, in the same order: the ring lets
    /// an event go once it is older than [`WatchLimits::fresh`].
    published: VecDeque<Instant>,
    /// Their [`StoredEvent::size`]s, summed.
    bytes: usize,
    /// Every event with a revision above `floor` is (or will be) in the
    /// buffer; a subscriber asking for `after < floor` missed some: 410.
    floor: i64,
}

impl History {
    /// Adds the newest event, published at `now`, and lets go of the
    /// oldest ones beyond the bounds: too many events, too many bytes, or
    /// older than [`WatchLimits::fresh`] while more than
    /// [`WatchLimits::min_buffer`] remain. The newest stays, however big.
    fn push(&mut self, event: Arc<StoredEvent>, now: Instant, limits: &WatchLimits) {
        self.bytes += event.size();
        self.buffer.push_back(event);
        self.published.push_back(now);
        let stale = |history: &History| {
            history.buffer.len() > limits.min_buffer
                && history
                    .published
                    .front()
                    .is_some_and(|at| now.saturating_duration_since(*at) > limits.fresh)
        };
        while self.buffer.len() > limits.buffer
            || (self.bytes > limits.buffer_bytes && self.buffer.len() > 1)
            || stale(self)
        {
            self.published.pop_front();
            if let Some(old) = self.buffer.pop_front() {
                self.floor = old.revision;
                self.bytes -= old.size();
            }
        }
    }
}

/// One resource's shared etcd watch.
pub struct Feed {
    /// std's Mutex, not tokio's: it is held for a push or a copy, never
    /// across an `.await`, and std's is faster for that.
    history: Mutex<History>,
    sender: broadcast::Sender<FeedMessage>,
    /// The ring buffer's bounds: events, bytes, and age past a minimum.
    limits: WatchLimits,
    /// Set by [`Feed::request_progress`], taken by the feed's task, which
    /// then sends etcd a progress request on its watch stream. A
    /// `Notify` keeps one permit: many requests while one is on its way
    /// become one.
    progress_wanted: tokio::sync::Notify,
}

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct TooOld {
    /// What the client asked for.
    pub requested: i64,
    /// The oldest revision the feed can still replay from.
    pub oldest: i64,
}

impl Feed {
    /// A feed with no events yet, whose history begins after `floor`;
    /// its task ([`WatchHub::feed`]) publishes into it.
    pub(crate) fn new(limits: &WatchLimits, floor: i64) -> Feed {
        let (sender, _) = broadcast::channel(limits.channel);
        Feed {
            history: Mutex::new(History {
                buffer: VecDeque::new(),
                published: VecDeque::new(),
                bytes: 0,
                floor,
            }),
            sender,
            limits: *limits,
            progress_wanted: tokio::sync::Notify::new(),
        }
    }

    // ANCHOR: subscribe
    /// Events after revision `after`: the buffered ones now, and a receiver
    /// for the rest. Both are taken under the lock the feed pushes under, so
    /// together they hold every event after `after` exactly once. The
    /// backlog is whole revisions: [`Feed::publish`] pushes a revision's
    /// events under that lock, and when the ring lets go of part of a
    /// revision, `floor` becomes that revision, which no subscriber can
    /// then start before.
    pub fn subscribe(
        &self,
        after: i64,
    ) -> Result<(Vec<Arc<StoredEvent>>, broadcast::Receiver<FeedMessage>), TooOld> {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if after < history.floor {
            return Err(TooOld {
                requested: after,
                oldest: history.floor,
            });
        }
        let backlog = history
            .buffer
            .iter()
            .filter(|e| e.revision > after)
            .cloned()
            .collect();
        Ok((backlog, self.sender.subscribe()))
    }

    /// Records the events of whole revisions, in revision order, and
    /// hands them to every subscriber, one message each, the last event
    /// of each revision marked ([`StoredEvent::ends_revision`]). All
    /// under one lock: a subscriber starts between two revisions, never
    /// inside one.
    pub(crate) fn publish(&self, events: Vec<StoredEvent>) {
        self.publish_at(events, Instant::now());
    }

    /// [`Feed::publish`] at the instant `now`.
    fn publish_at(&self, events: Vec<StoredEvent>, now: Instant) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let mut events = events.into_iter().peekable();
        while let Some(mut event) = events.next() {
            event.ends_revision = events.peek().is_none_or(|e| e.revision != event.revision);
            let event = Arc::new(event);
            history.push(Arc::clone(&event), now, &self.limits);
            // No receivers is fine: nobody is watching right now.
            let _ = self.sender.send(FeedMessage::Event(event));
        }
    }
    // ANCHOR_END: subscribe

    /// Asks etcd, through the feed's watch stream, to say how far the
    /// stream has come: a [`FeedMessage::Progress`] follows, even when
    /// nothing under the prefix changed (Kubernetes' watch cache sends
    /// the same `RequestProgress` when a consistent LIST waits on it).
    pub fn request_progress(&self) {
        self.progress_wanted.notify_one();
    }

    /// Tells every subscriber that all changes up to `revision` are out.
    fn progress(&self, revision: i64) {
        let _ = self.sender.send(FeedMessage::Progress(revision));
    }

    /// The ring buffer's events, oldest first, and their bytes
    /// ([`StoredEvent::size`], summed).
    pub fn buffered(&self) -> (Vec<Arc<StoredEvent>>, usize) {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (history.buffer.iter().cloned().collect(), history.bytes)
    }

    /// How many receivers of the feed's channel there are now.
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// The oldest revision a subscriber may start after.
    pub fn oldest(&self) -> i64 {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).floor
    }

    /// Forgets all history up to `revision` and cuts every subscriber off.
    fn expire(&self, revision: i64) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.buffer.clear();
        history.published.clear();
        history.bytes = 0;
        history.floor = history.floor.max(revision);
        let _ = self.sender.send(FeedMessage::Expired);
    }
}

/// All feeds, one per etcd key prefix, started on first use.
pub struct WatchHub {
    store: Store,
    limits: WatchLimits,
    /// tokio's Mutex: creating a feed awaits etcd while holding it, so two
    /// first watchers of one resource do not start two feeds.
    feeds: tokio::sync::Mutex<HashMap<String, Arc<Feed>>>,
    /// The feeds' etcd tasks, stopped when the hub is dropped.
    tasks: AbortOnDrop,
}

impl WatchHub {
    /// A hub with no feeds yet.
    pub fn new(store: Store, limits: WatchLimits) -> WatchHub {
        WatchHub {
            store,
            limits,
            feeds: tokio::sync::Mutex::new(HashMap::new()),
            tasks: AbortOnDrop::default(),
        }
    }

    /// How many etcd watches the hub runs (one per resource watched so far).
    pub async fn feed_count(&self) -> usize {
        self.feeds.lock().await.len()
    }

    // ANCHOR: feed
    /// The feed for the keys under `prefix`, starting it if needed.
    pub async fn feed(&self, prefix: &str) -> Result<Arc<Feed>, etcd_client::Error> {
        let mut feeds = self.feeds.lock().await;
        if let Some(feed) = feeds.get(prefix) {
            return Ok(feed.clone());
        }
        // Replay a window of the past, so clients resuming from a version
        // they saw before this server started find their events. If that
        // part of history is compacted, start from now instead.
        let current = self.store.current_revision().await.map_err(to_etcd)?;
        let mut start = (current + 1 - self.limits.window).max(1);
        if self.store.check_revision(start).await.is_err() {
            start = current + 1;
        }
        let feed = Arc::new(Feed::new(&self.limits, start - 1));
        self.tasks.spawn(run_feed(
            self.store.clone(),
            prefix.to_string(),
            start,
            feed.clone(),
        ));
        feeds.insert(prefix.to_string(), feed.clone());
        Ok(feed)
    }
    // ANCHOR_END: feed
}

fn to_etcd(error: crate::storage::StorageError) -> etcd_client::Error {
    match error {
        crate::storage::StorageError::Etcd(e) => e,
        other => etcd_client::Error::WatchError(other.to_string()),
    }
}

/// The feed's task: follow etcd from `start` forever, reconnecting after
/// errors from the revision after the last one seen.
async fn run_feed(store: Store, prefix: String, mut start: i64, feed: Arc<Feed>) {
    loop {
        // Set when the feed leaves a stream that works, only to let go
        // of its buffer: the next one opens at once.
        let mut reopen = false;
        match watch(&store, &prefix, start).await {
            Ok(stream) => {
                let (mut requests, mut responses) = stream.split();
                // New for each stream: what a lost stream held back is
                // replayed by the next one, from `start`.
                let mut whole = WholeRevisions::default();
                let mut buffer = DecodeBuffer::default();
                loop {
                    let message = tokio::select! {
                        message = responses.message() => message,
                        // A waiting LIST wants to know how far etcd is.
                        () = feed.progress_wanted.notified() => {
                            if let Err(error) = requests.request_progress().await {
                                tracing::warn!(%prefix, %error, "watch feed could not ask etcd for progress");
                            }
                            continue;
                        }
                    };
                    match message {
                        Ok(Some(response)) => {
                            let fragment = response.0.fragment;
                            if !follow(&store, &prefix, &feed, &response, &mut whole, &mut start) {
                                break;
                            }
                            if buffer.reopen_after(fragment) {
                                reopen = true;
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(%prefix, %error, "watch feed lost its etcd stream");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%prefix, %error, "watch feed could not reach etcd"),
        }
        if !reopen {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}

// ANCHOR: decode_buffer
/// When to trade a watch stream for a new one, only to give its memory
/// back.
///
/// tonic decodes a stream's messages out of one buffer that grows to
/// hold the biggest message yet and never shrinks. A response etcd cut
/// into fragments (a replay of history, a delete of many keys) has
/// fragments of up to 2 MiB, and the buffer doubles past that: 4.2 MB,
/// for as long as the stream lives, that is, the server's life (counted
/// with an allocator that records big requests, while the `list_memory`
/// bench's feed replayed 50,000 ConfigMaps). Once such a response is
/// whole (its last fragment in, every revision of it published), the
/// feed opens a new stream after the last revision it published, which
/// is how it resumes a lost stream too, and drops the old one with its
/// buffer. The new stream starts with tonic's 8 KiB.
#[derive(Debug, Default)]
struct DecodeBuffer {
    /// A fragment came down this stream: its buffer has grown.
    grown: bool,
}

impl DecodeBuffer {
    /// Whether to open a new stream after a response whose `fragment`
    /// flag (more of the response follows) was this.
    fn reopen_after(&mut self, fragment: bool) -> bool {
        self.grown |= fragment;
        self.grown && !fragment
    }
}
// ANCHOR_END: decode_buffer

/// The feed's etcd watch of `prefix` from revision `start` on, in
/// fragments. Without them etcd sends its replay of the past (every event
/// since `start`, thousands of objects) as one gRPC message, held whole in
/// memory, encoded and decoded, until the last event is read. With them
/// no message is much bigger than etcd's `--max-request-bytes` (1.5 MiB
/// by default, plus 512 KiB); [`WholeRevisions`] puts revisions that a
/// cut went through back together.
async fn watch(
    store: &Store,
    prefix: &str,
    start: i64,
) -> Result<etcd_client::WatchStream, etcd_client::Error> {
    let options = WatchOptions::new()
        .with_prefix()
        .with_prev_key()
        .with_fragment()
        .with_start_revision(start);
    let mut watch_client = store
        .client()
        .watch_client()
        .max_decoding_message_size(MAX_ETCD_MESSAGE);
    watch_client.watch(prefix, Some(options)).await
}

/// Whole revisions out of etcd's watch fragments.
///
/// etcd cuts a big response into fragments by size, not at revisions: a
/// revision of many events (a transaction, a delete of a prefix) can
/// begin in one fragment and end in the next, and etcd-client hands the
/// fragments over one by one (Go's clientv3 joins them into one
/// response). Publishing each as it came would show watchers and the
/// watch cache half a transaction; worse, the feed resumes a lost stream
/// *after* the last revision it published, so a stream lost between two
/// fragments of one revision would never deliver the rest of it.
///
/// So the feed publishes only revisions it has whole: from a fragment
/// that more follow, every revision but the last (events come in
/// revision order, so only the last can go on in the next fragment); the
/// last one's events wait here for the fragment that ends the response.
/// A lost stream loses what waited, and the next stream, started after
/// the last revision published, sends it again, all of it. Unlike
/// joining whole responses, this holds at most one revision's events.
#[derive(Debug, Default)]
struct WholeRevisions {
    /// Events of the newest revision seen, while its end is not.
    waiting: Vec<StoredEvent>,
}

// ANCHOR: whole_revisions
impl WholeRevisions {
    /// The events ready to publish once a response's `events` are in;
    /// `more` is etcd's `fragment` flag: the response goes on in the next.
    fn take(
        &mut self,
        events: impl IntoIterator<Item = StoredEvent>,
        more: bool,
    ) -> Vec<StoredEvent> {
        self.waiting.extend(events);
        let Some(last) = self.waiting.last().map(|e| e.revision) else {
            return Vec::new();
        };
        if !more {
            return std::mem::take(&mut self.waiting);
        }
        let cut = self.waiting.partition_point(|e| e.revision < last);
        let rest = self.waiting.split_off(cut);
        std::mem::replace(&mut self.waiting, rest)
    }
}
// ANCHOR_END: whole_revisions

/// Publishes one etcd watch response; `false` when the stream is over
/// (compacted away, or canceled) and must be opened again from `start`.
fn follow(
    store: &Store,
    prefix: &str,
    feed: &Feed,
    response: &etcd_client::WatchResponse,
    whole: &mut WholeRevisions,
    start: &mut i64,
) -> bool {
    if response.compact_revision() > 0 {
        // History we promised is gone: tell everyone.
        tracing::warn!(%prefix, compacted = response.compact_revision(), "watch feed expired");
        feed.expire(response.compact_revision() - 1);
        *start = response.compact_revision();
        return false;
    }
    let events = response
        .events()
        .iter()
        .filter_map(|event| Some(stored_event(store, event, event.kv()?)));
    // `fragment` has no getter in etcd-client: the field of its protobuf.
    let ready = whole.take(events, response.0.fragment);
    if let Some(last) = ready.last() {
        *start = last.revision + 1;
    }
    feed.publish(ready);
    // A response with no events that neither creates nor cancels the
    // watch is etcd's progress notification: its header's revision is
    // how far the stream has come.
    if response.events().is_empty() && !response.created() && !response.canceled() {
        if let Some(header) = response.header() {
            feed.progress(header.revision());
        }
    }
    !response.canceled()
}

// ANCHOR: stored_event
/// One etcd event as the feed publishes it: its values opened, decoded
/// once to know they read, and kept as bytes. A value that cannot be
/// opened is never dropped in silence: it is logged with its key, counted
/// (`apiserver_storage_decode_errors_total`, in [`Store::open`]) and,
/// when it is the event's own object, published as `unreadable` so that
/// watchers learn of it.
fn stored_event(
    store: &Store,
    event: &etcd_client::Event,
    kv: &etcd_client::KeyValue,
) -> StoredEvent {
    let revision = kv.mod_revision();
    let key = String::from_utf8_lossy(kv.key()).into_owned();
    // The opened JSON, sharing `sealed`'s allocation when opening
    // changed nothing (a resource that is not encrypted).
    let open = |kv: &etcd_client::KeyValue, sealed: Option<&Arc<[u8]>>, which: &str| match store
        .open(kv.key(), kv.value(), kv.mod_revision())
    {
        Ok(plain) => Ok(match sealed {
            Some(sealed) if **sealed == *plain => Arc::clone(sealed),
            _ => Arc::from(plain),
        }),
        Err(error) => {
            tracing::error!(%key, revision, %error, which, "a watch event's object cannot be read");
            Err(error.to_string())
        }
    };
    let value: Option<Arc<[u8]>> = match event.event_type() {
        EventType::Put => Some(Arc::from(kv.value())),
        EventType::Delete => None,
    };
    let previous = event
        .prev_kv()
        .map(|p| open(p, None, "previous").map(|json| (json, p.mod_revision())));
    let (object, unreadable) = match event.event_type() {
        EventType::Put => match open(kv, value.as_ref(), "new") {
            Ok(object) => (Some(object), None),
            Err(error) => (None, Some(error)),
        },
        // A delete's own object is the one deleted.
        EventType::Delete => match &previous {
            Some(Err(error)) => (None, Some(error.clone())),
            _ => (None, None),
        },
    };
    StoredEvent {
        revision,
        key,
        value,
        object: if unreadable.is_some() { None } else { object },
        previous: if unreadable.is_some() {
            None
        } else {
            previous.and_then(Result::ok)
        },
        unreadable,
        // `Feed::publish` marks each revision's last event.
        ends_revision: false,
    }
}
// ANCHOR_END: stored_event

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A ConfigMap whose JSON is about `size` bytes.
    fn config_map(size: usize) -> Value {
        json!({"metadata": {"name": "c"}, "data": {"x": "x".repeat(size)}})
    }

    #[test]
    fn the_ring_buffer_is_bounded_in_bytes_as_well_as_events() {
        let event =
            |revision| StoredEvent::new(revision, "/registry/c", Some(&config_map(1000)), None);
        let size = event(1).size();
        let limits = WatchLimits {
            buffer: 100,
            buffer_bytes: 3 * size,
            ..WatchLimits::default()
        };
        let feed = Feed::new(&limits, 0);
        for revision in 1..=10 {
            feed.publish(vec![event(revision)]);
        }
        // Three events fit in the bytes, though a hundred would in count.
        let (backlog, _) = feed.subscribe(7).expect("revisions after 7 are kept");
        let kept: Vec<i64> = backlog.iter().map(|e| e.revision).collect();
        assert_eq!(kept, [8, 9, 10]);
        assert_eq!(feed.oldest(), 7);
        let refused = feed.subscribe(6).expect_err("revision 7 is gone");
        assert_eq!(refused.oldest, 7);
        // One event bigger than the bound is still kept, alone.
        feed.publish(vec![StoredEvent::new(
            11,
            "/registry/c",
            Some(&config_map(10_000)),
            None,
        )]);
        let (backlog, _) = feed.subscribe(10).unwrap();
        assert_eq!(backlog.len(), 1);
        assert!(feed.subscribe(9).is_err());
    }

    /// Events at these revisions, one key each.
    #[test]
    fn the_ring_lets_stale_events_go_once_enough_newer_ones_remain() {
        let event =
            |revision| StoredEvent::new(revision, "/registry/c", Some(&config_map(10)), None);
        let limits = WatchLimits {
            fresh: Duration::from_secs(75),
            min_buffer: 3,
            ..WatchLimits::default()
        };
        let feed = Feed::new(&limits, 0);
        let start = Instant::now();
        for revision in 1..=5 {
            feed.publish_at(vec![event(revision)], start);
        }
        // 74 s later all five are fresh: none goes, though more than
        // `min_buffer` are kept.
        feed.publish_at(vec![event(6)], start + Duration::from_secs(74));
        assert_eq!(feed.buffered().0.len(), 6);
        assert_eq!(feed.oldest(), 0);
        // 76 s: revisions 1 to 5 are stale; of them, only as many go as
        // leave `min_buffer` events, and the floor says which.
        feed.publish_at(vec![event(7)], start + Duration::from_secs(76));
        let kept: Vec<i64> = feed.buffered().0.iter().map(|e| e.revision).collect();
        assert_eq!(kept, [5, 6, 7]);
        assert_eq!(feed.oldest(), 4);
        assert!(feed.subscribe(3).is_err(), "revision 4 is gone");
        // Long after, the minimum still stays: a quiet resource keeps its
        // last changes whatever their age.
        feed.publish_at(vec![event(8)], start + Duration::from_secs(3600));
        let kept: Vec<i64> = feed.buffered().0.iter().map(|e| e.revision).collect();
        assert_eq!(kept, [6, 7, 8]);
    }

    fn events(revisions: &[i64]) -> Vec<StoredEvent> {
        revisions
            .iter()
            .map(|&r| StoredEvent::new(r, format!("/registry/c/{r}"), None, None))
            .collect()
    }

    fn revisions<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Vec<i64> {
        events.into_iter().map(|e| e.revision).collect()
    }

    #[test]
    fn a_revision_is_published_whole_its_last_event_marked() {
        let limits = WatchLimits {
            buffer: 4,
            ..WatchLimits::default()
        };
        let feed = Feed::new(&limits, 0);
        let (_, mut receiver) = feed.subscribe(0).unwrap();
        feed.publish(events(&[1, 2, 2, 2]));
        let mut marks = Vec::new();
        while let Ok(FeedMessage::Event(event)) = receiver.try_recv() {
            marks.push((event.revision, event.ends_revision()));
        }
        assert_eq!(marks, [(1, true), (2, false), (2, false), (2, true)]);
        // Four events fit: revision 3 pushes out 1 and part of 2, which
        // no subscriber may then start inside of.
        feed.publish(events(&[3, 3]));
        assert_eq!(feed.oldest(), 2);
        let (backlog, _) = feed.subscribe(2).unwrap();
        assert_eq!(revisions(backlog.iter().map(|e| &**e)), [3, 3]);
        assert!(backlog[1].ends_revision());
        assert!(feed.subscribe(1).is_err());
    }

    #[test]
    fn only_whole_revisions_leave_the_fragments() {
        let mut whole = WholeRevisions::default();
        // Revision 2 may go on in the next fragment: it waits.
        assert_eq!(revisions(&whole.take(events(&[1, 2, 2]), true)), [1]);
        // A fragment wholly of revision 2: still waiting.
        assert_eq!(
            revisions(&whole.take(events(&[2, 2]), true)),
            [] as [i64; 0]
        );
        // The response's last fragment ends it.
        assert_eq!(
            revisions(&whole.take(events(&[2, 3]), false)),
            [2, 2, 2, 2, 2, 3]
        );
        // A response not in fragments passes as it is.
        assert_eq!(revisions(&whole.take(events(&[4, 4]), false)), [4, 4]);
        assert!(whole.take(Vec::new(), false).is_empty());
    }

    /// The next response of `stream` that carries events.
    async fn next_events(stream: &mut etcd_client::WatchStream) -> etcd_client::WatchResponse {
        loop {
            let response = stream.message().await.expect("watch").expect("stream open");
            if !response.events().is_empty() {
                return response;
            }
        }
    }

    #[tokio::test]
    async fn a_revision_cut_into_fragments_comes_whole_across_a_lost_stream() {
        let etcd = orc_testkit::etcd::Etcd::start();
        let store = Store::connect(&etcd.endpoint()).await.unwrap();
        let mut kv = store.client().kv_client();
        let prefix = "/registry/configmaps/";
        let keys = 400;
        for batch in 0..keys / 40 {
            let puts = (0..40)
                .map(|i| {
                    let key = format!("{prefix}cm-{:03}", batch * 40 + i);
                    etcd_client::TxnOp::put(key, "x".repeat(8192), None)
                })
                .collect::<Vec<_>>();
            kv.txn(etcd_client::Txn::new().and_then(puts))
                .await
                .unwrap();
        }
        // One revision of 400 events, each carrying the 8 KiB it deleted:
        // 3.2 MB, more than etcd's 2 MiB fragments.
        let options = etcd_client::DeleteOptions::new().with_prefix();
        let deleted = kv.delete(prefix, Some(options)).await.unwrap();
        let deleted = deleted.header().unwrap().revision();
        let feed = Feed::new(&WatchLimits::default(), deleted - 1);
        let mut start = deleted;

        // The first fragment, and then the stream is lost.
        let mut stream = watch(&store, prefix, start).await.unwrap();
        let mut whole = WholeRevisions::default();
        let first = next_events(&mut stream).await;
        assert!(first.0.fragment, "etcd cut the revision into fragments");
        assert!(first.events().len() < keys);
        assert!(follow(
            &store, prefix, &feed, &first, &mut whole, &mut start
        ));
        drop(stream);
        assert!(
            feed.buffered().0.is_empty(),
            "half a revision was published"
        );

        // The next stream starts where the feed stands and gives it all,
        // then a write after it.
        let marker = kv.put(format!("{prefix}marker"), "m", None).await.unwrap();
        let marker = marker.header().unwrap().revision();
        let mut stream = watch(&store, prefix, start).await.unwrap();
        let mut whole = WholeRevisions::default();
        while feed.buffered().0.last().map(|e| e.revision) != Some(marker) {
            let response = next_events(&mut stream).await;
            assert!(follow(
                &store, prefix, &feed, &response, &mut whole, &mut start
            ));
        }
        let (published, _) = feed.buffered();
        let mut expected = vec![deleted; keys];
        expected.push(marker);
        assert_eq!(revisions(published.iter().map(|e| &**e)), expected);
        let mut names: Vec<&str> = published.iter().map(|e| e.key.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), keys + 1, "each key once");
        assert_eq!(start, marker + 1);
    }

    #[test]
    fn a_stream_is_traded_once_a_fragmented_response_is_whole() {
        let mut buffer = DecodeBuffer::default();
        // Small responses: the stream stays.
        assert!(!buffer.reopen_after(false));
        assert!(!buffer.reopen_after(false));
        // A response in three fragments: the stream goes after the last.
        assert!(!buffer.reopen_after(true));
        assert!(!buffer.reopen_after(true));
        assert!(buffer.reopen_after(false));
    }

    #[test]
    fn an_event_keeps_bytes_and_decodes_on_demand() {
        let now = config_map(10);
        let before = json!({"metadata": {"name": "c"}});
        let event = StoredEvent::new(5, "/registry/c", Some(&now), Some(&before));
        // Unencrypted: the object and the stored value are one allocation.
        assert!(Arc::ptr_eq(
            event.value.as_ref().unwrap(),
            event.object.as_ref().unwrap()
        ));
        let json_len = serde_json::to_vec(&now).unwrap().len();
        let before_len = serde_json::to_vec(&before).unwrap().len();
        assert_eq!(
            event.size(),
            std::mem::size_of::<StoredEvent>() + "/registry/c".len() + json_len + before_len
        );
        let object = event.object().unwrap();
        assert_eq!(object["metadata"]["resourceVersion"], "5");
        assert_eq!(object["data"], now["data"]);
        let previous = event.previous().unwrap();
        assert_eq!(previous["metadata"]["resourceVersion"], "4");
        let delete = StoredEvent::new(6, "/registry/c", None, Some(&now));
        assert!(delete.object().is_none());
        assert_eq!(delete.previous().unwrap()["data"], now["data"]);
    }
}

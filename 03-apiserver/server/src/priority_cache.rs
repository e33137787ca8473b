//! The PriorityClasses, known from memory, for the `Priority` admission
//! step (`priority.rs`).
//!
//! Every pod create resolves its class. Reading etcd for it each time
//! costs a read per create (and a whole list for a pod naming no class,
//! to find the global default); Kubernetes' `Priority` plugin reads an
//! informer's cache instead. orc's [`ClassCache`] is that cache on the
//! server's own watch hub, as the RBAC policy cache (`authz/cache.rs`) and
//! the namespace cache are: a list, then the hub's feed of
//! `/registry/priorityclasses/`, a re-list whenever the feed has a gap.
//!
//! A cache lags its writes by the time an event takes to arrive. So that a
//! client that has just created, changed or deleted a class sees it in its
//! next pod create (read your own writes), a class this server is writing
//! is *doubted* from the moment the write starts until the cache has
//! applied it ([`ClassCache::begin_write`], [`ClassCache::end_write`]):
//! meanwhile lookups of that class, and of the global default, read etcd,
//! as they do whenever the cache is not synced. A class it does not know
//! is also looked up in etcd (another API server may have created it a
//! moment ago), so only a pod naming no class at all, or a known class,
//! is admitted from memory alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::storage::{self, Store};
use crate::watch::{Feed, FeedMessage, StoredEvent};

/// What the cache can say about a lookup.
#[derive(Debug, Clone, PartialEq)]
pub enum Known {
    /// The answer, from memory: the class (or `None`: there is none).
    Answer(Option<Value>),
    /// The cache cannot be sure (not synced, a write of this server not
    /// seen yet, or an unknown name): read etcd.
    Ask,
}

/// One write of a class by this server, not yet seen by the cache.
#[derive(Debug, Clone)]
struct Doubt {
    /// The class written; `None` for a create whose name is not read yet.
    name: Option<String>,
    /// The last revision the cache had applied when the write began.
    since: i64,
    /// The revision the write made, once known: the doubt ends when the
    /// cache has applied it.
    until: Option<i64>,
}

/// Classes by name, and this server's writes the cache has not seen.
#[derive(Debug, Default)]
struct Classes {
    /// False until the first list arrived, and again while re-listing.
    synced: bool,
    /// The revision of the last list or event applied.
    revision: i64,
    classes: BTreeMap<String, Value>,
    doubts: HashMap<u64, Doubt>,
    next_doubt: u64,
}

/// A write of a class in progress ([`ClassCache::begin_write`]).
#[derive(Debug)]
pub struct Write {
    id: u64,
    name: Option<String>,
}

/// The PriorityClasses as far as this server knows, kept current.
pub struct ClassCache {
    /// std's RwLock: read on every pod create, never held across `.await`.
    known: Arc<RwLock<Classes>>,
    /// The task following etcd, stopped with the server.
    task: Option<tokio::task::AbortHandle>,
}

impl Drop for ClassCache {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl ClassCache {
    /// Starts following `feed`, the watch hub's feed of the classes' keys
    /// ([`crate::priority::prefix`]).
    pub fn start(store: Store, feed: Arc<Feed>) -> ClassCache {
        let known = Arc::new(RwLock::new(Classes::default()));
        let task = tokio::spawn(follow(store, feed, Arc::clone(&known)));
        ClassCache {
            known,
            task: Some(task.abort_handle()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Classes> {
        self.known.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Classes> {
        self.known.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the first list is in and no gap is being filled.
    pub fn synced(&self) -> bool {
        self.read().synced
    }

    /// The class `name`.
    pub fn class(&self, name: &str) -> Known {
        self.read().class(name)
    }

    /// The global default class: the lowest-valued one marked so.
    pub fn global_default(&self) -> Known {
        self.read().global_default()
    }

    /// A write of the class `name` (`None`: a create, name not read yet)
    /// is starting: doubt it until [`ClassCache::end_write`] and its event.
    pub fn begin_write(&self, name: Option<&str>) -> Write {
        let mut known = self.write();
        let id = known.next_doubt;
        known.next_doubt += 1;
        let doubt = Doubt {
            name: name.map(str::to_string),
            since: known.revision,
            until: None,
        };
        known.doubts.insert(id, doubt);
        Write {
            id,
            name: name.map(str::to_string),
        }
    }

    /// The write ended: `stored` is the object it answered, `None` if it
    /// failed (nothing changed: the doubt goes). A create or update answers
    /// the class at its new revision, which ends the doubt once applied;
    /// a delete answers the class as it was, so its doubt ends with the
    /// next event about that name.
    pub fn end_write(&self, write: Write, stored: Option<&Value>, deleted: bool) {
        let mut known = self.write();
        let Some(stored) = stored else {
            known.doubts.remove(&write.id);
            return;
        };
        let name = stored
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(write.name);
        let revision = stored
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|rv| rv.parse::<i64>().ok());
        let applied = known.revision;
        let Some(doubt) = known.doubts.get_mut(&write.id) else {
            return;
        };
        doubt.name = name;
        if !deleted {
            doubt.until = revision;
            if revision.is_none_or(|rv| rv <= applied) {
                // Seen already, or nothing was stored (a dry run).
                known.doubts.remove(&write.id);
            }
        }
    }
}

impl Classes {
    fn doubted(&self, name: &str) -> bool {
        self.doubts
            .values()
            .any(|d| d.name.as_deref().is_none_or(|n| n == name))
    }

    fn class(&self, name: &str) -> Known {
        if !self.synced || self.doubted(name) {
            return Known::Ask;
        }
        match self.classes.get(name) {
            Some(class) => Known::Answer(Some(class.clone())),
            None => Known::Ask,
        }
    }

    fn global_default(&self) -> Known {
        if !self.synced || !self.doubts.is_empty() {
            return Known::Ask;
        }
        Known::Answer(
            self.classes
                .values()
                .filter(|c| crate::priority::is_global_default(c))
                .min_by_key(|c| c.get("value").and_then(Value::as_i64).unwrap_or(0))
                .cloned(),
        )
    }

    /// A fresh list and the feed's events since: complete from now on.
    fn load(&mut self, prefix: &str, page: &storage::Page, backlog: &[Arc<StoredEvent>]) {
        self.classes.clear();
        for (key, class) in &page.items {
            if let Some(name) = key.strip_prefix(prefix) {
                self.classes.insert(name.to_string(), class.clone());
            }
        }
        self.revision = self.revision.max(page.revision);
        for event in backlog {
            self.apply(prefix, event);
        }
        self.synced = true;
    }

    /// One change to a class's key.
    fn apply(&mut self, prefix: &str, event: &StoredEvent) {
        let Some(name) = event.key.strip_prefix(prefix) else {
            return;
        };
        match event.object() {
            Some(class) => self.classes.insert(name.to_string(), class),
            None => self.classes.remove(name),
        };
        self.revision = self.revision.max(event.revision);
        let revision = self.revision;
        self.doubts.retain(|_, d| match d.until {
            Some(until) => until > revision,
            // A delete (or a write not answered yet): this event about
            // its class, after it began, may be it; a delete's own event
            // is always such one.
            None => !(d.name.as_deref() == Some(name) && event.revision > d.since),
        });
    }
}

/// List, then apply the feed's events; start over after any gap.
async fn follow(store: Store, feed: Arc<Feed>, known: Arc<RwLock<Classes>>) {
    let prefix = crate::priority::prefix();
    loop {
        let page = match store.list(&prefix, "", 0, 0).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "listing PriorityClasses for the priority cache");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let Ok((backlog, mut events)) = feed.subscribe(page.revision) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .load(&prefix, &page, &backlog);
        loop {
            match events.recv().await {
                Ok(FeedMessage::Event(event)) => {
                    let mut known = known.write().unwrap_or_else(|p| p.into_inner());
                    known.apply(&prefix, &event);
                }
                // Only the watch cache needs to know how far etcd is.
                Ok(FeedMessage::Progress(_)) => {}
                Ok(FeedMessage::Expired) | Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return,
            }
        }
        known.write().unwrap_or_else(|p| p.into_inner()).synced = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(revision: i64, name: &str, class: Option<Value>) -> StoredEvent {
        let key = format!("{}{name}", crate::priority::prefix());
        StoredEvent::new(revision, key, class.as_ref(), None)
    }

    fn class(name: &str, value: i64, default: bool) -> Value {
        json!({"metadata": {"name": name}, "value": value, "globalDefault": default})
    }

    fn synced() -> Classes {
        Classes {
            synced: true,
            revision: 10,
            ..Classes::default()
        }
    }

    #[test]
    fn answers_from_memory_once_synced() {
        let prefix = crate::priority::prefix();
        let mut known = Classes::default();
        assert_eq!(known.class("a"), Known::Ask, "not synced");
        known.synced = true;
        known.apply(&prefix, &event(11, "a", Some(class("a", 5, true))));
        known.apply(&prefix, &event(12, "b", Some(class("b", 3, true))));
        // As read from etcd: with the revision it was written at.
        let stored = |mut class: Value, revision| {
            crate::storage::set_resource_version(&mut class, revision);
            Known::Answer(Some(class))
        };
        assert_eq!(known.class("a"), stored(class("a", 5, true), 11));
        assert_eq!(known.class("zzz"), Known::Ask, "unknown: etcd may know");
        assert_eq!(
            known.global_default(),
            stored(class("b", 3, true), 12),
            "the lowest default"
        );
        known.apply(&prefix, &event(13, "b", None));
        assert_eq!(known.global_default(), stored(class("a", 5, true), 11));
    }

    #[test]
    fn a_write_is_doubted_until_its_event() {
        let prefix = crate::priority::prefix();
        let cache = Classes {
            classes: [("a".to_string(), class("a", 5, false))].into(),
            ..synced()
        };
        let cache = ClassCache {
            known: Arc::new(RwLock::new(cache)),
            task: None,
        };
        // A delete of a: asked in etcd until its event arrives.
        let delete = cache.begin_write(Some("a"));
        assert_eq!(cache.class("a"), Known::Ask);
        assert_eq!(cache.global_default(), Known::Ask);
        cache.end_write(delete, Some(&class("a", 5, false)), true);
        assert_eq!(cache.class("a"), Known::Ask);
        cache.write().apply(&prefix, &event(11, "a", None));
        assert_eq!(cache.class("a"), Known::Ask, "gone: etcd may know better");
        assert_eq!(cache.global_default(), Known::Answer(None));

        // A create: the default is doubted until its revision is applied.
        let create = cache.begin_write(None);
        assert_eq!(cache.global_default(), Known::Ask);
        let mut stored = class("d", 1, true);
        stored["metadata"]["resourceVersion"] = json!("13");
        cache.end_write(create, Some(&stored), false);
        cache
            .write()
            .apply(&prefix, &event(12, "x", Some(class("x", 9, false))));
        assert_eq!(cache.class("d"), Known::Ask, "revision 13 not seen yet");
        cache
            .write()
            .apply(&prefix, &event(13, "d", Some(stored.clone())));
        assert_eq!(cache.class("d"), Known::Answer(Some(stored.clone())));
        assert_eq!(cache.global_default(), Known::Answer(Some(stored)));

        // A failed write changes nothing.
        let failed = cache.begin_write(Some("x"));
        cache.end_write(failed, None, false);
        assert!(matches!(cache.class("x"), Known::Answer(Some(_))));
    }
}

//! A LIST read from etcd in chunks, every chunk at one revision.
//!
//! A LIST of 50,000 ConfigMaps used to be one etcd read of every key, one
//! JSON tree per object, then one JSON body: three copies of the whole
//! collection alive at once, per request. Sixteen of them at a time drove
//! the server past a gigabyte. A [`Listing`] instead reads a *chunk* of
//! keys at a time and hands out its objects one by one, so a request holds
//! one chunk's bytes and one object at a time whatever the collection's
//! size; `list_body.rs` encodes each object into the response as it comes.
//!
//! Consistency is what `continue` tokens already promise: the first chunk
//! is read at the latest revision (or the one the request names), and
//! every later chunk at that same revision, so the chunks together are one
//! snapshot, exactly as if etcd had answered everything at once.
//!
//! How big a chunk is:
//!
//! - without `limit`, [`CHUNK`] keys (500, the page size client-go's
//!   pager asks for);
//! - with `limit`, kube-apiserver's rule (`etcd3/store.go`, `GetList`):
//!   the first read asks for `limit` keys; when the label or field
//!   selector throws objects away and the page is not full yet, each next
//!   read asks for twice as many, up to [`MAX_CHUNK`] (its `maxLimit`,
//!   10,000). A page at 10% selectivity then costs a handful of reads
//!   instead of one per missing item. orc also caps the *first* read at
//!   [`MAX_CHUNK`] (Kubernetes reads `limit` keys whatever it is), so a
//!   `limit=1000000` cannot pull the collection into memory at once.
//!
//! When the page fills in the middle of a chunk, the rest of that chunk is
//! left unread and the continue token points just after the last key
//! looked at, as Kubernetes does.
//!
//! A listing the watch cache answers (`watch_cache/serve.rs`) walks a
//! [`Snapshot`] of the cache instead of etcd's chunks: smaller steps
//! ([`CACHE_CHUNK`]), the same decoding and filtering, one revision.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;

use super::ApiRequest;
use super::read::{ListRead, decode_continue, encode_continue, filter};
use crate::server::AppState;
use crate::status::ApiError;
use crate::storage::{self, RawPage, StorageError, Store};
use crate::watch_cache::plan::{self, ListPlan};
use crate::watch_cache::{CachedValue, Snapshot};
use orc_client::resources::Resource;
use orc_client::selectors::ObjectFilter;

/// Keys per etcd read of a LIST without `limit`.
pub const CHUNK: i64 = 500;

/// The most keys one etcd read of a LIST asks for: kube-apiserver's
/// `maxLimit`.
pub const MAX_CHUNK: i64 = 10_000;

/// Objects per step of a LIST the watch cache answers: fewer than
/// [`CHUNK`]. A chunk from etcd is a round trip, worth making big; one
/// from the cache costs nothing to take, and what it does cost is its
/// encoded bytes, held until hyper has written them, by every LIST that
/// streams at once.
pub const CACHE_CHUNK: usize = 100;

// ANCHOR: next_chunk
/// The size of the read after one that left a `limit`ed page short:
/// twice the last, up to [`MAX_CHUNK`].
pub fn next_chunk(last: i64) -> i64 {
    last.saturating_mul(2).min(MAX_CHUNK)
}
// ANCHOR_END: next_chunk

/// What a chunk holds for one key.
#[derive(Debug)]
pub enum Entry {
    /// An object the filter keeps, with its resourceVersion set.
    Item(Value),
    /// A value that could not be read (undecryptable, not JSON).
    Unreadable(String, StorageError),
}

/// Where a listing's chunks come from.
enum Source {
    /// Range reads of etcd.
    Etcd,
    /// A snapshot of the watch cache, walked in order, and the last key
    /// handed out from it (without the cache's prefix, as it holds keys).
    Cache(Snapshot, Option<Box<str>>),
}

/// One chunk of keys and the values stored under them.
pub enum Chunk {
    /// Read from etcd.
    Etcd(RawPage),
    /// Taken from a watch cache snapshot, keys whole; `true`: more follow.
    Cache(Vec<(String, CachedValue)>, bool),
}

/// One LIST request on its way through etcd, or through the watch cache.
pub struct Listing {
    store: Store,
    /// What is listed: for error messages.
    pub resource: &'static Resource,
    /// The key prefix of the collection (or of one namespace of it).
    prefix: String,
    /// The label, field and namespace filter.
    filter: ObjectFilter,
    /// How fresh the list must be.
    read: ListRead,
    /// At most this many items (0: all).
    limit: i64,
    /// The revision every chunk is read at (0 until the first is read).
    pub revision: i64,
    /// Where the next read starts (inclusive); empty: the prefix.
    start: String,
    /// How many keys the next read asks for.
    chunk: i64,
    /// Items handed out so far, counted against `limit`.
    returned: i64,
    /// Nothing more to read: the collection is done, or the page is full.
    finished: bool,
    /// The continue token, once a full page leaves keys after it.
    pub next: Option<String>,
    /// Keys already named in this response's `Warning` headers: skipped
    /// without a word when a chunk meets them.
    warned: BTreeSet<String>,
    /// etcd, unless the watch cache answers.
    source: Source,
    /// The keys of a cache snapshot whose values cannot be read: named
    /// before the headers (`recheck_unreadable`).
    cache_unreadable: Vec<Arc<str>>,
}

impl Listing {
    /// Reads the request's `limit`, `continue`, `resourceVersion` and
    /// selectors; a bad one is a 400 (or 422) before etcd is asked.
    pub fn new(
        state: &AppState,
        resource: &'static Resource,
        ns: Option<&str>,
        request: &ApiRequest,
    ) -> Result<Listing, ApiError> {
        let filter = filter(resource, ns, request)?;
        let limit: i64 = match request.param("limit") {
            "" => 0,
            l => l
                .parse()
                .map_err(|_| ApiError::BadRequest(format!("limit must be a number, not {l:?}")))?,
        };
        let prefix = storage::prefix(resource, ns);
        let read = ListRead::from_request(request)?;
        let (revision, start) = match request.param("continue") {
            "" => (read.revision(), String::new()),
            token => decode_continue(token, &prefix)?,
        };
        // A negative limit is no limit, as in Kubernetes.
        let limit = limit.max(0);
        Ok(Listing {
            store: state.store.clone(),
            resource,
            prefix,
            filter,
            read,
            limit,
            revision,
            start,
            chunk: if limit > 0 {
                limit.min(MAX_CHUNK)
            } else {
                CHUNK
            },
            returned: 0,
            finished: false,
            next: None,
            warned: BTreeSet::new(),
            source: Source::Etcd,
            cache_unreadable: Vec::new(),
        })
    }

    /// Whether the watch cache may answer this listing, and when
    /// (`watch_cache/plan.rs`).
    pub fn plan(&self) -> ListPlan {
        let continues = !self.start.is_empty();
        plan::plan(self.read, self.limit, continues)
    }

    /// The key prefix listed: the resource's, or one namespace's.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Answers from a watch cache snapshot instead of etcd: whole, at
    /// the snapshot's revision (a `limit` is ignored, as Kubernetes'
    /// cache ignores it for `resourceVersion=0`, the only paged LIST it
    /// answers).
    pub fn from_cache(&mut self, mut snapshot: Snapshot) {
        self.revision = snapshot.revision;
        self.limit = 0;
        self.cache_unreadable = std::mem::take(&mut snapshot.unreadable);
        self.source = Source::Cache(snapshot, None);
    }

    /// Reads the next chunk from etcd, at the listing's revision (or
    /// takes it from the cache's snapshot); `None` once the list is
    /// complete.
    pub async fn read_chunk(&mut self) -> Result<Option<Chunk>, ApiError> {
        if self.finished {
            return Ok(None);
        }
        if let Source::Cache(snapshot, last) = &mut self.source {
            let mut entries = snapshot.after(last.as_deref());
            let chunk: Vec<_> = entries.by_ref().take(CACHE_CHUNK).collect();
            let more = entries.next().is_some();
            if let Some((key, _)) = chunk.last() {
                *last = Some(Box::from(*key));
            }
            let chunk = chunk
                .into_iter()
                .map(|(key, value)| (snapshot.key(key), value.clone()))
                .collect();
            return Ok(Some(Chunk::Cache(chunk, more)));
        }
        let page = self
            .store
            .list_raw(&self.prefix, &self.start, self.revision, self.chunk)
            .await
            .map_err(|e| self.read.error(e, self.resource))?;
        if self.revision == 0 {
            self.read.check(page.revision)?;
        }
        self.revision = page.revision;
        Ok(Some(Chunk::Etcd(page)))
    }

    // ANCHOR: walk
    /// Goes through a chunk key by key: decodes each value, hands `each`
    /// the objects the filter keeps (until the page is full) and the
    /// values that cannot be read, then records where the next read
    /// starts, or that the list is done, with a continue token when a full
    /// page leaves keys after it.
    pub fn walk(&mut self, chunk: Chunk, each: impl FnMut(Entry)) {
        match chunk {
            Chunk::Etcd(page) => {
                let kvs = page.kvs.iter();
                let kvs = kvs.map(|kv| (kv.key(), kv.value(), kv.mod_revision()));
                self.walk_kvs(kvs, page.more, each)
            }
            Chunk::Cache(entries, more) => {
                let kvs = entries.iter();
                let kvs =
                    kvs.map(|(key, cached)| (key.as_bytes(), &*cached.value, cached.revision));
                self.walk_kvs(kvs, more, each)
            }
        }
    }

    /// [`Listing::walk`] over a chunk's (key, stored value, revision)s.
    fn walk_kvs<'a>(
        &mut self,
        kvs: impl Iterator<Item = (&'a [u8], &'a [u8], i64)>,
        more: bool,
        mut each: impl FnMut(Entry),
    ) {
        let mut last = None;
        // Whether the chunk holds keys this page has no room for.
        let mut left_in_chunk = false;
        for (raw_key, value, revision) in kvs {
            if self.limit > 0 && self.returned >= self.limit {
                left_in_chunk = true;
                break;
            }
            let key = String::from_utf8_lossy(raw_key).into_owned();
            match self.store.decode(raw_key, value, revision) {
                Ok(obj) if self.filter.matches(&obj) => {
                    self.returned += 1;
                    each(Entry::Item(obj));
                }
                Ok(_) => {}
                Err(_) if self.warned.contains(&key) => {}
                Err(error) => each(Entry::Unreadable(key.clone(), error)),
            }
            last = Some(key);
        }
        let Some(last) = last else {
            self.finished = true;
            return;
        };
        // The smallest key after `last`.
        self.start = format!("{last}\0");
        if !more && !left_in_chunk {
            self.finished = true;
        } else if self.limit > 0 && self.returned >= self.limit {
            self.finished = true;
            self.next = Some(encode_continue(self.revision, &self.start));
        } else if self.limit > 0 {
            // The selector threw objects away: read more at a time.
            self.chunk = next_chunk(self.chunk);
        }
    }
    // ANCHOR_END: walk

    /// Whether every chunk has been read.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Before the headers go out: the keys an earlier streamed LIST found
    /// unreadable after its own headers had gone (`Store::remember_unreadable`),
    /// read again at this listing's revision. Those still unreadable are
    /// answered as warnings, now, and skipped when a chunk meets them;
    /// those readable again or gone are forgotten.
    pub async fn recheck_unreadable(&mut self) -> Result<Vec<String>, ApiError> {
        let mut warnings = Vec::new();
        for key in self.store.known_unreadable(&self.prefix, &self.start) {
            match self.store.get_at(&key, self.revision).await {
                Err(error) if error.is_unreadable() => {
                    warnings.push(super::read::unreadable_warning(self.resource, &key, &error));
                    self.warned.insert(key);
                }
                Ok(_) => self.store.forget_unreadable(&key),
                Err(error) => return Err(self.read.error(error, self.resource)),
            }
        }
        // A cache snapshot knows its unreadable values before anything
        // is sent: each is named now, with why it cannot be read.
        if let Source::Cache(snapshot, _) = &self.source {
            for key in std::mem::take(&mut self.cache_unreadable) {
                let Some(cached) = snapshot.get(&key) else {
                    continue;
                };
                let decoded = self
                    .store
                    .decode(key.as_bytes(), &cached.value, cached.revision);
                if let Err(error) = decoded
                    && !self.warned.contains(key.as_ref())
                {
                    warnings.push(super::read::unreadable_warning(self.resource, &key, &error));
                    self.warned.insert(key.to_string());
                }
            }
        }
        Ok(warnings)
    }

    /// Marks `key` as named in this response's warnings.
    pub fn warned(&mut self, key: String) {
        self.warned.insert(key);
    }

    /// Remembers an unreadable key met after the headers went out, for
    /// the next LIST to warn about.
    pub fn remember_unreadable(&self, key: &str) {
        self.store.remember_unreadable(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_double_up_to_kubernetes_max() {
        assert_eq!(next_chunk(10), 20);
        assert_eq!(next_chunk(6_000), MAX_CHUNK);
        assert_eq!(next_chunk(MAX_CHUNK), MAX_CHUNK);
        assert_eq!(next_chunk(i64::MAX), MAX_CHUNK);
    }
}

//! `?watch=true`: a never-ending response of change events.
//!
//! The body is one JSON object per line:
//!
//! ```text
//! {"type":"ADDED","object":{"kind":"Pod",...}}
//! {"type":"MODIFIED","object":{...}}
//! {"type":"DELETED","object":{...}}
//! {"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42"}}}
//! {"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",...}}
//! ```
//!
//! Where it starts depends on `resourceVersion`:
//!
//! - absent or `"0"`: one synthetic ADDED per existing object, then live
//!   changes (what `kubectl get -w` shows);
//! - `N`: every change after revision N, and nothing before (what an
//!   informer sends after its list, or after reconnecting).
//!
//! Events come from the resource's shared [`Feed`](crate::watch::Feed);
//! this module filters them for one client. Filtering is subtle: with a
//! selector, an object that *stops* matching must be reported as DELETED
//! (the client's view no longer contains it), and one that *starts*
//! matching as ADDED, exactly as Kubernetes' watch cache does.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::ApiRequest;
use super::read::{filter, storage_error};
use crate::server::AppState;
use crate::status::ApiError;
use crate::storage::{self, StorageError};
use crate::watch::{FeedMessage, StoredEvent};
use orc_client::resources::Resource;
use orc_client::selectors::ObjectFilter;

// ANCHOR: translate
/// What one stored change looks like to a client with `filter`, if anything.
pub fn translate(event: &StoredEvent, filter: &ObjectFilter) -> Option<(&'static str, Value)> {
    // Decoded here, for this client, from the bytes the feed keeps.
    let previous = event.previous();
    let was = previous.as_ref().is_some_and(|p| filter.matches(p));
    match event.object() {
        Some(now) => match (filter.matches(&now), was) {
            (true, true) => Some(("MODIFIED", now)),
            (true, false) => Some(("ADDED", now)),
            // It left the client's view: to the client, it is gone.
            (false, true) => Some(("DELETED", now)),
            (false, false) => None,
        },
        None if was => {
            let mut gone = previous.unwrap_or_default();
            storage::set_resource_version(&mut gone, event.revision);
            Some(("DELETED", gone))
        }
        None => None,
    }
}
// ANCHOR_END: translate

/// One event line. Written by hand so `type` comes first, as Kubernetes
/// writes it: a human reading `curl` output sees the type before the object.
fn line(kind: &str, object: Value) -> Bytes {
    Bytes::from(format!("{{\"type\":\"{kind}\",\"object\":{object}}}\n"))
}

fn expired(message: String) -> Bytes {
    line("ERROR", ApiError::Expired(message).to_status())
}

/// Starts a watch; the reply streams until the client goes away, the
/// `timeoutSeconds` pass, or the client falls behind (410).
pub async fn watch(
    state: Arc<AppState>,
    resource: &'static Resource,
    ns: Option<String>,
    request: &ApiRequest,
) -> Response {
    match start(state, resource, ns, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn start(
    state: Arc<AppState>,
    resource: &'static Resource,
    ns: Option<String>,
    request: &ApiRequest,
) -> Result<Response, ApiError> {
    let filter = filter(resource, ns.as_deref(), request)?;
    let bookmarks = matches!(request.param("allowWatchBookmarks"), "true" | "1");
    let requested = match request.param("timeoutSeconds") {
        "" => None,
        t => Some(t.parse().map_err(|_| {
            ApiError::BadRequest(format!("timeoutSeconds must be a number, not {t:?}"))
        })?),
    };
    let min = state.in_flight.limits().min_request_timeout;
    let timeout = crate::limits::watch_timeout(requested, min, fastrand::f64());
    let requested: i64 = match request.param("resourceVersion") {
        "" => 0,
        rv => rv
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("invalid resourceVersion {rv:?}")))?,
    };
    // The feed first, the list second: the feed's history then surely
    // reaches back to the list's revision.
    let prefix = storage::prefix(resource, None);
    let feed = state.hub.feed(&prefix).await.map_err(ApiError::from)?;
    // A short hand-off queue: the broadcast channel is the real buffer, and
    // its bound is what detects a client that stopped reading.
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(8);
    let mut after = requested;
    let mut initial = Vec::new();
    if requested == 0 {
        let page = state
            .store
            .list(&storage::prefix(resource, ns.as_deref()), "", 0, 0)
            .await
            .map_err(|e| storage_error(e, resource, ""))?;
        after = page.revision;
        initial = page
            .items
            .into_iter()
            .map(|(_, o)| o)
            .filter(|o| filter.matches(o))
            .collect();
    } else if let Err(StorageError::Compacted) = state.store.check_revision(requested).await {
        // etcd compacted the revision away: nobody can replay from it.
        // (A *future* revision is not an error: the watch simply waits.)
        let message = format!("too old resource version: {requested}");
        let _ = tx.send(Ok(expired(message))).await;
        return Ok(stream_response(rx));
    }
    match feed.subscribe(after) {
        Err(too_old) => {
            let _ = tx.send(Ok(expired(too_old.to_string()))).await;
        }
        Ok((backlog, receiver)) => {
            let stream = ClientStream {
                tx,
                filter,
                prefix: storage::prefix(resource, ns.as_deref()),
                position: Position::at(after),
                resource,
                bookmark_every: bookmarks.then_some(state.bookmark_interval),
                table: request.wants_table().then(|| request.row_object()),
            };
            tokio::spawn(stream.run(initial, backlog, receiver, timeout));
        }
    }
    Ok(stream_response(rx))
}

fn stream_response(rx: mpsc::Receiver<Result<Bytes, std::convert::Infallible>>) -> Response {
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

// ANCHOR: position
/// Where one watcher is in the history. A revision is one etcd
/// transaction, and one transaction may change many keys: when a lease
/// runs out, etcd deletes every Event on it at one revision. So "the
/// newest revision sent" is not enough to tell an event already sent
/// from the next one of the same revision; the keys sent of a revision
/// still coming in are kept until its last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The newest revision the watcher has been told of, whole or in part.
    revision: i64,
    /// The keys of `revision` already told, while it is not whole (empty
    /// once its last event is in).
    partial: Vec<String>,
}

impl Position {
    /// A watcher told of everything up to `revision`.
    pub fn at(revision: i64) -> Position {
        Position {
            revision,
            partial: Vec::new(),
        }
    }

    /// Whether the event at `revision` on `key` (`ends` when it is its
    /// revision's last) is new to the watcher; if so, the watcher is now
    /// past it.
    pub fn advance(&mut self, revision: i64, key: &str, ends: bool) -> bool {
        if revision < self.revision {
            return false;
        }
        if revision == self.revision {
            // A whole revision, or this key of it, is already told.
            if self.between_revisions() || self.partial.iter().any(|k| k == key) {
                return false;
            }
        } else {
            self.revision = revision;
            self.partial.clear();
        }
        if ends {
            self.partial.clear();
        } else {
            self.partial.push(key.to_string());
        }
        true
    }

    /// The newest revision the watcher has whole: what a bookmark may
    /// promise, and what a watch started from it would not repeat.
    pub fn whole(&self) -> i64 {
        if self.between_revisions() {
            self.revision
        } else {
            self.revision - 1
        }
    }

    /// Whether no revision is half told.
    pub fn between_revisions(&self) -> bool {
        self.partial.is_empty()
    }
}
// ANCHOR_END: position

/// One client's side of a watch.
struct ClientStream {
    tx: mpsc::Sender<Result<Bytes, std::convert::Infallible>>,
    filter: ObjectFilter,
    /// The keys this client watches (its namespace's, or all): an
    /// unreadable object under them ends the watch.
    prefix: String,
    /// Where the client is in the history: events it has been told
    /// about are never sent again.
    position: Position,
    resource: &'static Resource,
    bookmark_every: Option<Duration>,
    /// Send each object as a one-row Table (`kubectl get -w`), its row
    /// carrying what `includeObject` asked for.
    table: Option<crate::tables::RowObject>,
}

impl ClientStream {
    /// Sends `event` if the client should see it; false if the client left
    /// or the watch must end (an object it covers cannot be read).
    async fn send(&mut self, event: &StoredEvent) -> bool {
        // Progress counts even for filtered-out events: a bookmark may then
        // move the client past them.
        if !self
            .position
            .advance(event.revision, &event.key, event.ends_revision())
        {
            return true;
        }
        if let Some(error) = &event.unreadable {
            // Its selector cannot be evaluated on what cannot be read.
            // Kubernetes' etcd watcher sends the error and ends the watch
            // (behind its watch cache, every watcher of the resource is
            // cut off): either way the client re-lists, and a LIST names
            // the unreadable object in a warning. orc says why.
            if event.key.starts_with(&self.prefix) {
                let status = ApiError::Internal(format!("Internal error occurred: {error}"));
                let _ = self.tx.send(Ok(line("ERROR", status.to_status()))).await;
                return false;
            }
            return true;
        }
        match translate(event, &self.filter) {
            Some((kind, object)) => self.tx.send(Ok(self.event(kind, object))).await.is_ok(),
            None => true,
        }
    }

    /// One event line, the object shaped as the client asked.
    fn event(&self, kind: &str, object: Value) -> Bytes {
        // In the URL's version (`conversion/`). A Table's rows are
        // rendered from the stored shape, as a GET's and a LIST's are.
        let Some(row_object) = self.table else {
            return line(kind, crate::conversion::served(self.resource, object));
        };
        let rv = object
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        line(
            kind,
            crate::tables::table(self.resource.kind, &[object], &rv, None, row_object),
        )
    }

    // ANCHOR: client_loop
    async fn run(
        mut self,
        initial: Vec<Value>,
        backlog: Vec<Arc<StoredEvent>>,
        mut receiver: broadcast::Receiver<FeedMessage>,
        timeout: Duration,
    ) {
        // Sent from here, not before the response starts: the channel is
        // bounded, and nobody reads it until the response is returned.
        for object in initial {
            if self.tx.send(Ok(self.event("ADDED", object))).await.is_err() {
                return;
            }
        }
        for event in backlog {
            if !self.send(&event).await {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let period = self.bookmark_every.unwrap_or(Duration::from_secs(3600));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                message = receiver.recv() => match message {
                    Ok(FeedMessage::Event(event)) => {
                        if !self.send(&event).await {
                            return;
                        }
                    }
                    // Answers to the watch cache's progress requests; this
                    // watch's bookmarks keep their own clock.
                    Ok(FeedMessage::Progress(_)) => {}
                    Ok(FeedMessage::Expired) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too slow or history lost: Kubernetes' answer is 410, re-list.
                        let _ = self.tx.send(Ok(expired(format!("too old resource version: {}", self.position.whole())))).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ticker.tick(), if self.bookmark_every.is_some() => {
                    let bookmark = json!({
                        "kind": self.resource.kind,
                        "apiVersion": self.resource.api_version(),
                        "metadata": {"resourceVersion": self.position.whole().to_string()},
                    });
                    if self.tx.send(Ok(line("BOOKMARK", bookmark))).await.is_err() {
                        return;
                    }
                }
                // Never in the middle of a revision: the client watches
                // again from the last resourceVersion it saw, and would
                // miss the rest of that revision's events.
                _ = &mut deadline, if self.position.between_revisions() => return,
                _ = self.tx.closed() => return,
            }
        }
    }
    // ANCHOR_END: client_loop
}

#[cfg(test)]
mod tests {
    use super::*;
    use orc_client::selectors::labels;

    fn pod(app: &str) -> Value {
        json!({"metadata": {"name": "p", "namespace": "d", "labels": {"app": app}}})
    }

    fn event(previous: Option<Value>, object: Option<Value>) -> StoredEvent {
        StoredEvent::new(9, "k", object.as_ref(), previous.as_ref())
    }

    #[test]
    fn every_event_of_a_revision_is_sent_once() {
        // A lease ran out at revision 7: three Events deleted at once.
        let mut p = Position::at(5);
        assert!(p.advance(7, "/e/a", false));
        assert!(!p.between_revisions());
        assert_eq!(p.whole(), 6, "7 is not whole yet");
        assert!(p.advance(7, "/e/b", false), "the second key of revision 7");
        // The same events again (a backlog and the live channel overlap).
        assert!(!p.advance(7, "/e/a", false));
        assert!(!p.advance(7, "/e/b", false));
        assert!(p.advance(7, "/e/c", true));
        assert!(p.between_revisions());
        assert_eq!(p.whole(), 7);
        assert!(!p.advance(7, "/e/c", true), "7 is whole");
        assert!(!p.advance(7, "/e/a", false), "7 is whole");
        assert!(!p.advance(6, "/e/x", true), "older");
        assert!(p.advance(8, "/e/d", true));
        assert_eq!(p, Position::at(8));
    }

    #[test]
    fn a_newer_revision_completes_an_unfinished_one() {
        let mut p = Position::at(1);
        assert!(p.advance(2, "/e/a", false));
        assert!(p.advance(3, "/e/b", true));
        assert!(!p.advance(2, "/e/c", true), "2 is behind");
        assert_eq!(p.whole(), 3);
    }

    #[test]
    fn selectors_turn_leaving_into_deleted() {
        let filter = ObjectFilter {
            labels: labels::parse("app=web").unwrap(),
            ..Default::default()
        };
        let kind = |e: &StoredEvent| translate(e, &filter).map(|(k, _)| k);
        assert_eq!(kind(&event(None, Some(pod("web")))), Some("ADDED"));
        assert_eq!(
            kind(&event(Some(pod("web")), Some(pod("web")))),
            Some("MODIFIED")
        );
        assert_eq!(
            kind(&event(Some(pod("web")), Some(pod("db")))),
            Some("DELETED")
        );
        assert_eq!(
            kind(&event(Some(pod("db")), Some(pod("web")))),
            Some("ADDED")
        );
        assert_eq!(kind(&event(Some(pod("db")), Some(pod("db")))), None);
        assert_eq!(kind(&event(Some(pod("web")), None)), Some("DELETED"));
        let (_, gone) = translate(&event(Some(pod("web")), None), &filter).unwrap();
        assert_eq!(
            gone["metadata"]["resourceVersion"], "9",
            "DELETED carries the delete's revision"
        );
    }
}

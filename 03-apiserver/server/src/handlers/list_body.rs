//! A LIST's body, encoded object by object as etcd's chunks arrive.
//!
//! The body is the same JSON a `json!({...})` of the whole list gave:
//! serde_json writes an object's members in key order, so a list was
//! always `{"apiVersion", "items": [...], "kind", "metadata"}`, with the
//! `metadata` (and its continue token, known only at the end) *after* the
//! items. That order lets the server write the opening, then each item as
//! it is read, then the metadata, and the bytes on the wire are the ones a
//! buffered list had. A Table streams its `rows` the same way, then its
//! `metadata` (members in any order are the same JSON object; kubectl
//! reads them by name).
//!
//! The body is an [`axum::body::Body`] over a stream that reads the next
//! chunk from etcd only when hyper asks for more bytes, which it does once
//! the socket has taken the previous ones: a slow client holds the
//! server's reading, not its memory (back-pressure).
//!
//! What cannot be streamed is the status line and the headers: they leave
//! before the second chunk is read. So:
//!
//! - the first chunk is read, and its objects encoded, before the headers,
//!   so a bad request (410 Expired, 504 too-new resourceVersion, 400) is
//!   still an ordinary `Status`, and a small list (one chunk) is one
//!   ordinary body with a `Content-Length`;
//! - an error after the headers (etcd gone, the revision compacted under a
//!   very long list) cannot become a `Status`: the server logs it and ends
//!   the response without its last chunk, so the client sees a broken
//!   transfer ("unexpected EOF"), never a list that looks complete but is
//!   not;
//! - an object found unreadable after the headers cannot be named in a
//!   `Warning` header either. orc leaves no object out without a word, so
//!   it breaks the response the same way and remembers the key; the next
//!   LIST reads the remembered keys *before* its headers and names them
//!   there (see `Listing::recheck_unreadable`). Kubernetes fails such a
//!   LIST outright with a 500; orc fails one, then answers with warnings.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::listing::{Entry, Listing};
use crate::tables::{RowObject, TableRows};
use orc_client::resources::Resource;

/// What the body is: a `<Kind>List`, or a Table of rows.
pub enum Shape {
    /// `{"apiVersion", "items", "kind": "<Kind>List", "metadata"}`.
    List { resource: &'static Resource },
    /// `{"apiVersion", "columnDefinitions", "kind": "Table", "rows", "metadata"}`.
    Table {
        rows: TableRows,
        row_object: RowObject,
    },
}

impl Shape {
    /// Everything before the first item.
    pub fn open(&self) -> Vec<u8> {
        match self {
            Shape::List { resource } => format!(
                "{{\"apiVersion\":{},\"items\":[",
                json!(resource.api_version())
            )
            .into_bytes(),
            Shape::Table { rows, .. } => format!(
                "{{\"apiVersion\":\"meta.k8s.io/v1\",\"columnDefinitions\":{},\"kind\":\"Table\",\"rows\":[",
                rows.column_definitions()
            )
            .into_bytes(),
        }
    }

    /// Appends one object (a row of it, for a Table) to `out`.
    pub fn item(&self, obj: Value, out: &mut Vec<u8>) {
        let encoded = match self {
            // Objects leave in the URL's version (`conversion/`).
            Shape::List { resource } => {
                serde_json::to_writer(&mut *out, &crate::conversion::served(resource, obj))
            }
            Shape::Table { rows, row_object } => {
                serde_json::to_writer(&mut *out, &rows.row(&obj, *row_object))
            }
        };
        // Writing a `Value` into a Vec cannot fail: no I/O, string keys.
        debug_assert!(encoded.is_ok());
    }

    /// Everything after the last item: the kind and the list's metadata.
    pub fn close(&self, revision: i64, next: Option<&str>) -> Vec<u8> {
        let mut metadata = json!({ "resourceVersion": revision.to_string() });
        if let Some(token) = next {
            metadata["continue"] = json!(token);
        }
        let text = match self {
            Shape::List { resource } => format!(
                "],\"kind\":{},\"metadata\":{metadata}}}",
                json!(resource.list_kind())
            ),
            Shape::Table { .. } => format!("],\"metadata\":{metadata}}}"),
        };
        text.into_bytes()
    }
}

/// A LIST being answered: the listing, the shape, and the bytes so far.
pub struct ListBody {
    listing: Listing,
    shape: Shape,
    /// Encoded and not yet handed to hyper.
    out: Vec<u8>,
    /// Whether an item has been written (every later one needs a comma).
    written: bool,
    /// The closing bytes are written: the body is complete.
    closed: bool,
}

impl ListBody {
    /// Starts a body; nothing is read yet.
    pub fn new(listing: Listing, shape: Shape) -> ListBody {
        let out = shape.open();
        ListBody {
            listing,
            shape,
            out,
            written: false,
            closed: false,
        }
    }

    /// Reads the first chunk, and answers the warnings the headers carry:
    /// the objects of that chunk that could not be read, and those an
    /// earlier LIST could not (`Listing::recheck_unreadable`).
    pub async fn first(&mut self) -> Result<Vec<String>, crate::status::ApiError> {
        let page = self.listing.read_chunk().await?;
        let mut warnings = self.listing.recheck_unreadable().await?;
        let mut unreadable = Vec::new();
        if let Some(page) = page {
            self.encode(page, &mut unreadable);
        }
        for (key, error) in unreadable {
            warnings.push(super::read::unreadable_warning(
                self.listing.resource,
                &key,
                &error,
            ));
            self.listing.warned(key);
        }
        self.close_if_finished();
        Ok(warnings)
    }

    /// Encodes a chunk's objects into `out`; the unreadable ones go to
    /// `unreadable`.
    fn encode(
        &mut self,
        page: super::listing::Chunk,
        unreadable: &mut Vec<(String, crate::storage::StorageError)>,
    ) {
        let (shape, out, written) = (&self.shape, &mut self.out, &mut self.written);
        self.listing.walk(page, |entry| match entry {
            Entry::Item(obj) => {
                if std::mem::replace(written, true) {
                    out.push(b',');
                }
                shape.item(obj, out);
            }
            Entry::Unreadable(key, error) => unreadable.push((key, error)),
        });
    }

    fn close_if_finished(&mut self) {
        if self.listing.is_finished() && !self.closed {
            let close = self
                .shape
                .close(self.listing.revision, self.listing.next.as_deref());
            self.out.extend_from_slice(&close);
            self.closed = true;
        }
    }

    /// The next bytes of the body after the first chunk's: one chunk's
    /// objects (and the closing bytes after the last), `None` at the end.
    async fn next_bytes(&mut self) -> Result<Option<Bytes>, std::io::Error> {
        while self.out.is_empty() && !self.closed {
            let page = self.listing.read_chunk().await.map_err(|e| {
                let why = format!(
                    "LIST of {} failed mid-stream: {e}",
                    self.listing.resource.plural
                );
                tracing::warn!("{why}");
                std::io::Error::other(why)
            })?;
            let mut unreadable = Vec::new();
            if let Some(page) = page {
                self.encode(page, &mut unreadable);
            }
            if let Some((key, error)) = unreadable.into_iter().next() {
                self.listing.remember_unreadable(&key);
                let why = format!(
                    "LIST of {} cut short: {key} could not be read after the response \
                     headers were sent, so no Warning could name it; the next LIST will: {error}",
                    self.listing.resource.plural
                );
                tracing::warn!("{why}");
                return Err(std::io::Error::other(why));
            }
            self.close_if_finished();
        }
        if self.out.is_empty() {
            return Ok(None);
        }
        Ok(Some(Bytes::from(std::mem::take(&mut self.out))))
    }

    // ANCHOR: into_response
    /// The response: one body when the list was a single chunk, else a
    /// stream that reads each next chunk when hyper asks for more bytes.
    pub fn into_response(mut self) -> Response {
        let body = if self.closed {
            Body::from(std::mem::take(&mut self.out))
        } else {
            Body::from_stream(futures::stream::try_unfold(self, |mut body| async move {
                Ok::<_, std::io::Error>(body.next_bytes().await?.map(|bytes| (bytes, body)))
            }))
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
    // ANCHOR_END: into_response
}

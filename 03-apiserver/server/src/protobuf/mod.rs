//! Kubernetes' protobuf encoding, decoded into the JSON orc works with.
//!
//! kubectl's typed commands (`kubectl create deployment`, `create
//! configmap`, `create secret`, ...) and most client-go programs send
//! objects as `application/vnd.kubernetes.protobuf`: smaller than JSON and
//! cheaper to parse, which matters to a kubelet or controller writing
//! thousands of status updates. They also say `Accept:
//! application/vnd.kubernetes.protobuf,application/json`, so a server that
//! answers JSON is understood. orc stores and answers JSON (readable with
//! `etcdctl`, and one representation for the whole server); it only has to
//! *read* protobuf, turning each body into the very JSON object the same
//! client would have sent with `Content-Type: application/json`. From there
//! the usual path (defaults, validation, unknown-field checks) runs
//! unchanged.
//!
//! ## The encoding, from the outside in
//!
//! 1. **Envelope** ([`envelope`]): the magic bytes `k8s\0`, then a
//!    `runtime.Unknown` message: `typeMeta` {apiVersion, kind}, `raw` (the
//!    object's own bytes), `contentEncoding`, `contentType`. Protobuf
//!    messages do not name their type, so the envelope does.
//! 2. **Wire format** ([`wire`]): a message is records of `key, value`; the
//!    key is `field_number << 3 | wire_type`, and the wire type (varint,
//!    length-delimited, fixed 32/64) says how to read or skip the value.
//! 3. **Schema** ([`schema`], [`descriptor`], [`message`]): numbers mean
//!    nothing without the message's definition. Kubernetes generates its
//!    `.proto` files from the Go types, naming each field after its JSON
//!    name, and kubectl carries the compiled definitions (descriptors);
//!    orc keeps Kubernetes v1.32's in `k8s-v1.32.fds`, reads them once with
//!    the same wire reader, and turns them into a view that says, per
//!    message, number → JSON name, value kind, and whether the Go field is
//!    a value, a pointer, a list, a map or an embedded struct. [`roots`]
//!    picks the message for the envelope's `apiVersion` and `kind`.
//! 4. **Values** ([`decode`]): strings and ints as themselves, `[]byte` as
//!    base64, `Time` as RFC 3339, `Quantity` as its string, `IntOrString`
//!    as a number or a string; a Go value field is always on the wire but a
//!    zero one is absent from JSON, a pointer field is on the wire only when
//!    set and then kept even when zero.
//!
//! Nothing here panics on input: every read is bounds-checked and a bad
//! body is a [`ProtobufError`] with the byte offset and the field path
//! ([`path`]: built as a chain on the stack, turned into text only for an
//! error).
//! The chapter's section "Two encodings" tells the story.

pub mod decode;
pub mod descriptor;
pub mod envelope;
pub mod message;
pub mod path;
pub mod roots;
pub mod schema;
pub mod wire;

use serde_json::{Map, Value, json};

pub use decode::DecodeError;
pub use envelope::MAGIC;
pub use path::Path;

/// Why a protobuf body could not become JSON.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The envelope is missing or malformed.
    #[error(transparent)]
    Envelope(#[from] envelope::EnvelopeError),
    /// orc does not serve this kind (or Kubernetes v1.32 has no such
    /// message), so it does not decode it.
    #[error(
        "orc cannot decode a protobuf {kind} of {api_version}: it has protobuf tables only for the \
         kinds it serves; send the object as JSON (Content-Type: application/json)"
    )]
    UnknownKind {
        /// The envelope's `apiVersion`.
        api_version: String,
        /// The envelope's `kind`.
        kind: String,
    },
    /// The object is compressed or otherwise encoded inside the envelope.
    #[error("the protobuf object has contentEncoding {0:?}; orc reads only unencoded objects")]
    ContentEncoding(String),
    /// The object's bytes do not fit its message.
    #[error("{kind}: {source}")]
    Object {
        /// The kind being decoded, to say what the path is relative to.
        kind: String,
        /// What and where.
        source: DecodeError,
    },
}

// ANCHOR: decode
/// Decodes a Kubernetes protobuf body into the JSON object a JSON client
/// would have sent: `apiVersion` and `kind` from the envelope, then the
/// object's fields.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = envelope::open(body)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(envelope.content_encoding));
    }
    let Some(root) = roots::root(&envelope.api_version, &envelope.kind) else {
        return Err(ProtobufError::UnknownKind {
            api_version: envelope.api_version,
            kind: envelope.kind,
        });
    };
    let schema = schema::kubernetes();
    let fields = decode::message(
        schema,
        root,
        envelope.raw,
        envelope.raw_offset,
        &Path::Root(""),
    )
    .map_err(|source| ProtobufError::Object {
        kind: envelope.kind.clone(),
        source,
    })?;
    let mut object = Map::new();
    object.insert("apiVersion".into(), json!(envelope.api_version));
    object.insert("kind".into(), json!(envelope.kind));
    object.extend(fields);
    Ok(Value::Object(object))
}
// ANCHOR_END: decode

#[cfg(test)]
mod tests;

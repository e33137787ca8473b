//! The envelope around every Kubernetes protobuf body.
//!
//! A protobuf message does not say what type it is, so Kubernetes wraps
//! each object: four magic bytes `k8s\0`, then a `runtime.Unknown`
//! message whose `typeMeta` (field 1) carries `apiVersion` and `kind`, and
//! whose `raw` (field 2) is the object's own protobuf encoding.
//! `contentEncoding` (3) is empty in practice and `contentType` (4) is
//! empty or the protobuf media type.

use super::decode::{DecodeError, message};
use super::message::Kind::Str;
use super::message::{Message, one};
use super::path::Path;
use super::wire::{Reader, WireType};

/// The bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// `runtime.TypeMeta`, inside the envelope.
static TYPE_META: Message = Message::new(
    "TypeMeta",
    &[one(1, "apiVersion", Str), one(2, "kind", Str)],
);

/// The "path" errors in the envelope name.
const ENVELOPE: &str = "the envelope (runtime.Unknown)";

/// An opened envelope.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// `typeMeta.apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// `typeMeta.kind`, e.g. `Deployment`.
    pub kind: String,
    /// The object's own encoding.
    pub raw: &'a [u8],
    /// Where `raw` starts in the body, so errors inside it name body offsets.
    pub raw_offset: usize,
    /// `contentEncoding` (e.g. `gzip`); orc reads only unencoded objects.
    pub content_encoding: String,
}

/// What can be wrong with the envelope itself.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not Kubernetes' protobuf framing at all.
    #[error(
        "the body does not start with Kubernetes' protobuf magic bytes \"k8s\\0\" (it starts with {0:?})"
    )]
    NoMagic(String),
    /// The `runtime.Unknown` around the object is malformed.
    #[error(transparent)]
    Malformed(#[from] DecodeError),
}

// ANCHOR: open
/// Checks the magic and reads the `runtime.Unknown` after it.
pub fn open(body: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let Some(rest) = body.strip_prefix(MAGIC) else {
        let start = &body[..body.len().min(4)];
        return Err(EnvelopeError::NoMagic(
            String::from_utf8_lossy(start).into(),
        ));
    };
    let mut envelope = Envelope {
        api_version: String::new(),
        kind: String::new(),
        raw: &[],
        raw_offset: body.len(),
        content_encoding: String::new(),
    };
    let mut r = Reader::new(rest, MAGIC.len());
    let wire_error = |e: super::wire::WireError| DecodeError {
        offset: e.offset,
        path: ENVELOPE.into(),
        what: e.what,
    };
    while !r.is_done() {
        let at = r.offset();
        let (number, wire) = r.key().map_err(wire_error)?;
        if wire != WireType::Len {
            return Err(DecodeError {
                offset: at,
                path: ENVELOPE.into(),
                what: format!("field {number} of runtime.Unknown should be length-delimited"),
            }
            .into());
        }
        let (bytes, offset) = r.len_delimited().map_err(wire_error)?;
        match number {
            1 => {
                let meta = message(
                    bytes,
                    offset,
                    &TYPE_META,
                    &Path::Root("the envelope's typeMeta"),
                )?;
                let text = |k: &str| {
                    meta.get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string()
                };
                envelope.api_version = text("apiVersion");
                envelope.kind = text("kind");
            }
            2 => (envelope.raw, envelope.raw_offset) = (bytes, offset),
            3 => envelope.content_encoding = String::from_utf8_lossy(bytes).into(),
            // contentType: informational; the request's header already said protobuf.
            4 => {}
            n => {
                return Err(DecodeError {
                    offset: at,
                    path: ENVELOPE.into(),
                    what: format!("field number {n} is not a field of runtime.Unknown"),
                }
                .into());
            }
        }
    }
    Ok(envelope)
}
// ANCHOR_END: open

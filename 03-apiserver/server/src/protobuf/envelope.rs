//! The envelope around every Kubernetes protobuf body.
//!
//! A protobuf message does not say what type it is, so Kubernetes wraps
//! each object: four magic bytes `k8s\0`, then a `runtime.Unknown`
//! message whose `typeMeta` (field 1) carries `apiVersion` and `kind`, and
//! whose `raw` (field 2) is the object's own protobuf encoding.
//! `contentEncoding` (3) is empty in practice and `contentType` (4) is
//! empty or the protobuf media type.
//!
//! The envelope is read by hand, field numbers and all: it is what says
//! which message the object is, so it has to be understood before any
//! schema can be picked.

use super::decode::DecodeError;
use super::wire::{Reader, WireError, WireType};

/// The bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

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
    while !r.is_done() {
        let (number, bytes, offset) = record(&mut r, "runtime.Unknown", 4, ENVELOPE)?;
        match number {
            1 => {
                // typeMeta: {apiVersion = 1, kind = 2}. Text that is not
                // UTF-8 is kept with replacement characters: a kind orc
                // does not serve is refused by name anyway.
                let mut meta = Reader::new(bytes, offset);
                while !meta.is_done() {
                    let (number, bytes, _) = record(&mut meta, "TypeMeta", 2, TYPE_META)?;
                    let text = String::from_utf8_lossy(bytes).into_owned();
                    match number {
                        1 => envelope.api_version = text,
                        _ => envelope.kind = text,
                    }
                }
            }
            2 => (envelope.raw, envelope.raw_offset) = (bytes, offset),
            3 => envelope.content_encoding = String::from_utf8_lossy(bytes).into(),
            // contentType: informational; the request's header already said protobuf.
            _ => {}
        }
    }
    Ok(envelope)
}
// ANCHOR_END: open

/// The "path" errors inside `typeMeta` name.
const TYPE_META: &str = "the envelope's typeMeta";

/// One record of `message` (`runtime.Unknown` or `TypeMeta`), whose
/// fields are numbered 1 to `fields` and all length-delimited: the field
/// number, the value and the body offset of the value. `path` is what
/// errors say they are in.
fn record<'a>(
    r: &mut Reader<'a>,
    message: &str,
    fields: u64,
    path: &str,
) -> Result<(u64, &'a [u8], usize), DecodeError> {
    let error = |e: WireError| DecodeError {
        offset: e.offset,
        path: path.into(),
        what: e.what,
    };
    let at = r.offset();
    let (number, wire) = r.key().map_err(error)?;
    let problem = if wire != WireType::Len {
        format!("field {number} of {message} should be length-delimited")
    } else if number > fields {
        format!("field number {number} is not a field of {message}")
    } else {
        let (bytes, offset) = r.len_delimited().map_err(error)?;
        return Ok((number, bytes, offset));
    };
    Err(error(WireError {
        offset: at,
        what: problem,
    }))
}

//! Protobuf bytes + a [`Message`] of the [`Schema`] → the JSON object a
//! JSON client would have sent.
//!
//! The walk is the same for every message: read a key, find the field by
//! number, read the value its wire type announces, convert it by its
//! [`Kind`] (a nested message by its [`Form`]), place it by its [`Shape`].
//! The conversions that are not one-to-one are the reason this file
//! exists: Go value fields are always on the wire but zero scalars are
//! left out of JSON (`omitempty`), `[]byte` becomes base64, `Time` becomes
//! RFC 3339, `Quantity` and `IntOrString` lose their wrapper message,
//! embedded structs merge into their parent.
//!
//! A field number the message does not have is an error naming the number,
//! the message and the field path. In JSON orc keeps an unknown field and
//! warns; a protobuf field has no name to keep it under, and silently
//! dropping it is the one thing orc promises never to do. The exception is
//! an unknown field holding a zero (varint 0, empty bytes): Go marshallers
//! write every value field, so a client built against a newer Kubernetes
//! sends its new fields on every object, and a zero says nothing to lose.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::message::{Field, Form, Kind, Message, Schema, Shape};
use super::path::Path;
use super::wire::{Reader, WireError, WireType};

/// A malformed or undecodable body: what, at which byte, in which field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset} ({})", place(.path))]
pub struct DecodeError {
    /// Offset from the start of the body.
    pub offset: usize,
    /// The JSON path of the field being read (`spec.template.spec.containers[0].ports`),
    /// empty at the top.
    pub path: String,
    /// What went wrong.
    pub what: String,
}

fn place(path: &str) -> String {
    if path.is_empty() {
        "at the top of the object".into()
    } else {
        format!("in {path}")
    }
}

impl DecodeError {
    fn new(offset: usize, path: &Path, what: impl Into<String>) -> DecodeError {
        DecodeError {
            offset,
            path: path.to_string(),
            what: what.into(),
        }
    }

    fn wire(e: WireError, path: &Path) -> DecodeError {
        DecodeError::new(e.offset, path, e.what)
    }
}

// ANCHOR: message
/// Decodes one message of `schema`; `base` is the body offset of `bytes`,
/// `path` the JSON path of the message (for errors).
pub fn message(
    schema: &Schema,
    msg: &Message,
    bytes: &[u8],
    base: usize,
    path: &Path,
) -> Result<Map<String, Value>, DecodeError> {
    let mut out = Map::new();
    let mut r = Reader::new(bytes, base);
    while !r.is_done() {
        let at = r.offset();
        let (number, wire) = r.key().map_err(|e| DecodeError::wire(e, path))?;
        let Some(field) = msg.field(number) else {
            // A newer client's marshaller writes its new value fields even
            // when zero; a zero carries nothing, so stepping over it loses
            // nothing (and JSON would have left it out).
            if is_empty_record(&mut r, wire).map_err(|e| DecodeError::wire(e, path))? {
                continue;
            }
            return Err(unknown_field(number, wire, msg, at, path));
        };
        let field_path = Path::Field(path, &field.json);
        // Numbers in a list may come packed into one length-delimited record.
        let packed = field.shape == Shape::List && is_varint(field.kind) && wire == WireType::Len;
        if !packed {
            expect(wire, wire_of(field.kind), at, &field_path)?;
        }
        place_field(
            schema,
            &mut out,
            &mut r,
            field,
            packed,
            at,
            path,
            &field_path,
        )?;
    }
    Ok(out)
}
// ANCHOR_END: message

/// Reads one value of `field` (a whole packed list when `packed`) and
/// places it in `out` by the field's shape: a scalar replaces (a Go value
/// field's zero is left out, as JSON's `omitempty` does), a list item is
/// appended, a map entry inserted, an inlined message merged.
// ANCHOR: place_field
#[allow(clippy::too_many_arguments)]
fn place_field(
    schema: &Schema,
    out: &mut Map<String, Value>,
    r: &mut Reader,
    field: &Field,
    packed: bool,
    at: usize,
    path: &Path,
    field_path: &Path,
) -> Result<(), DecodeError> {
    match field.shape {
        Shape::Value | Shape::Pointer => {
            let value = value(schema, r, field.kind, field_path)?;
            if field.shape == Shape::Value && is_zero_scalar(&value) {
                out.remove(&field.json);
            } else {
                merge_into(out, &field.json, value);
            }
        }
        Shape::List => {
            let index = out
                .get(&field.json)
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let item_path = Path::Index(field_path, index);
            let item = list_items(schema, r, packed, field.kind, &item_path)?;
            match out.entry(&field.json).or_insert_with(|| json!([])) {
                Value::Array(items) => items.extend(item),
                _ => return Err(clash(at, field_path)),
            }
        }
        Shape::Map => {
            let (key, value) = map_entry(schema, r, field, field_path)?;
            match out.entry(&field.json).or_insert_with(|| json!({})) {
                Value::Object(entries) => {
                    entries.insert(key, value);
                }
                _ => return Err(clash(at, field_path)),
            }
        }
        Shape::Inline => inline_fields(schema, out, r, field, at, path, field_path)?,
    }
    Ok(())
}
// ANCHOR_END: place_field

/// An embedded Go struct: its fields belong to the parent object in JSON.
fn inline_fields(
    schema: &Schema,
    out: &mut Map<String, Value>,
    r: &mut Reader,
    field: &Field,
    at: usize,
    path: &Path,
    field_path: &Path,
) -> Result<(), DecodeError> {
    let Kind::Msg(inner) = field.kind else {
        return Err(DecodeError::new(
            at,
            field_path,
            "an inlined field must be a message",
        ));
    };
    let (bytes, at) = len_delimited(r, field_path)?;
    for (k, v) in message(schema, &schema[inner], bytes, at, path)? {
        merge_into(out, &k, v);
    }
    Ok(())
}

/// A field number `msg` does not have, holding more than a zero.
fn unknown_field(
    number: u64,
    wire: WireType,
    msg: &Message,
    at: usize,
    path: &Path,
) -> DecodeError {
    DecodeError::new(
        at,
        path,
        format!(
            "field number {number} ({}) is not a field of {} that orc knows; \
             orc cannot keep a field it has no name for, so send this object as JSON",
            wire.name(),
            msg.name
        ),
    )
}

/// Consumes the value of a record orc has no field for, and says whether
/// it was a zero: a varint 0 or an empty length-delimited value. Leaves
/// the reader where it was otherwise, so the error can point at the key.
fn is_empty_record(r: &mut Reader, wire: WireType) -> Result<bool, WireError> {
    let mut ahead = r.clone();
    let empty = match wire {
        WireType::Varint => ahead.varint()? == 0,
        WireType::Len => ahead.len_delimited()?.0.is_empty(),
        WireType::Fixed64 | WireType::Fixed32 => false,
    };
    if empty {
        *r = ahead;
    }
    Ok(empty)
}

/// Protobuf's rule for a non-repeated field seen twice: the last scalar
/// wins, messages merge.
fn merge_into(out: &mut Map<String, Value>, key: &str, value: Value) {
    match (out.get_mut(key), value) {
        (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
        (_, value) => {
            out.insert(key.to_string(), value);
        }
    }
}

/// Zero scalars of Go value fields are not in JSON (`omitempty`).
fn is_zero_scalar(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        _ => false,
    }
}

/// Checks the wire type a field's kind needs.
fn expect(wire: WireType, want: WireType, at: usize, path: &Path) -> Result<(), DecodeError> {
    if wire == want {
        Ok(())
    } else {
        Err(DecodeError::new(
            at,
            path,
            format!(
                "expected a {} value, found wire type {}",
                want.name(),
                wire.name()
            ),
        ))
    }
}

/// The wire type a value of `kind` travels as.
fn wire_of(kind: Kind) -> WireType {
    if is_varint(kind) {
        WireType::Varint
    } else {
        WireType::Len
    }
}

/// A length-delimited value (the wire type already checked).
fn len_delimited<'a>(r: &mut Reader<'a>, path: &Path) -> Result<(&'a [u8], usize), DecodeError> {
    r.len_delimited().map_err(|e| DecodeError::wire(e, path))
}

/// Whether a kind travels as a varint (and so may come packed in a list).
fn is_varint(kind: Kind) -> bool {
    matches!(kind, Kind::I32 | Kind::I64 | Kind::Bool)
}

/// A varint as the JSON value of `kind`. Go writes an int32 as the 64-bit
/// two's complement of its value, so truncating gives negatives back.
fn number(raw: u64, kind: Kind) -> Value {
    match kind {
        Kind::I32 => json!(raw as i32),
        Kind::Bool => json!(raw != 0),
        _ => json!(raw as i64),
    }
}

/// One value of `kind` (its wire type already checked against the key).
fn value(schema: &Schema, r: &mut Reader, kind: Kind, path: &Path) -> Result<Value, DecodeError> {
    if is_varint(kind) {
        let raw = r.varint().map_err(|e| DecodeError::wire(e, path))?;
        return Ok(number(raw, kind));
    }
    let (bytes, at) = len_delimited(r, path)?;
    bytes_value(schema, bytes, at, kind, path)
}

/// A length-delimited value of `kind` as JSON.
fn bytes_value(
    schema: &Schema,
    bytes: &[u8],
    at: usize,
    kind: Kind,
    path: &Path,
) -> Result<Value, DecodeError> {
    Ok(match kind {
        Kind::Str => Value::String(utf8(bytes, at, path)?),
        Kind::Bytes => Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
        Kind::Msg(id) => nested(schema, &schema[id], bytes, at, path)?,
        Kind::I32 | Kind::I64 | Kind::Bool => {
            return Err(DecodeError::new(
                at,
                path,
                "a number cannot be length-delimited here",
            ));
        }
    })
}

// ANCHOR: nested
/// A nested message as JSON: an object of its fields, or, for the Go
/// types with JSON marshallers of their own, what those write.
fn nested(
    schema: &Schema,
    msg: &Message,
    bytes: &[u8],
    at: usize,
    path: &Path,
) -> Result<Value, DecodeError> {
    let fields = || message(schema, msg, bytes, at, path);
    Ok(match msg.form {
        Form::Object => Value::Object(fields()?),
        Form::Time => time(schema, msg, bytes, at, path, false)?,
        Form::MicroTime => time(schema, msg, bytes, at, path, true)?,
        // `{string: "500m"}`; a zero Quantity is "0" in JSON.
        Form::Quantity => fields()?.remove("string").unwrap_or_else(|| json!("0")),
        Form::IntOrString => int_or_string(fields()?, at, path)?,
        // `[]string` under a name of its own: `{items: [...]}` → `[...]`.
        Form::Items => fields()?.remove("items").unwrap_or_else(|| json!([])),
        Form::FieldsV1 => raw_json(bytes, at, path, "FieldsV1", json!({}))?,
        Form::RawExtension => raw_json(bytes, at, path, "RawExtension", Value::Null)?,
    })
}
// ANCHOR_END: nested

fn utf8(bytes: &[u8], at: usize, path: &Path) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        DecodeError::new(
            at + e.utf8_error().valid_up_to(),
            path,
            "a string that is not UTF-8",
        )
    })
}

/// One record of a repeated field: one element, or several varints
/// packed into one length-delimited record. `path` names the first
/// element the record holds.
fn list_items(
    schema: &Schema,
    r: &mut Reader,
    packed: bool,
    kind: Kind,
    path: &Path,
) -> Result<Vec<Value>, DecodeError> {
    if !packed {
        return Ok(vec![value(schema, r, kind, path)?]);
    }
    let (bytes, at) = len_delimited(r, path)?;
    let mut packed = Reader::new(bytes, at);
    let mut items = Vec::new();
    while !packed.is_done() {
        let raw = packed.varint().map_err(|e| DecodeError::wire(e, path))?;
        items.push(number(raw, kind));
    }
    Ok(items)
}

/// Two fields under one JSON name with different shapes (an inlined
/// struct's field named like one of its parent's): refused rather than
/// letting one overwrite the other.
fn clash(at: usize, path: &Path) -> DecodeError {
    DecodeError::new(
        at,
        path,
        "two fields of different shapes have this JSON name",
    )
}

/// One entry of a map field: a message `{1: key, 2: value}`. A missing
/// value is the zero value, as in Go.
fn map_entry(
    schema: &Schema,
    r: &mut Reader,
    field: &Field,
    path: &Path,
) -> Result<(String, Value), DecodeError> {
    let (bytes, at) = len_delimited(r, path)?;
    let mut entry = Reader::new(bytes, at);
    let (mut key, mut value) = (String::new(), None);
    while !entry.is_done() {
        let at = entry.offset();
        let (number, wire) = entry.key().map_err(|e| DecodeError::wire(e, path))?;
        match number {
            1 => {
                expect(wire, WireType::Len, at, path)?;
                let (bytes, at) = len_delimited(&mut entry, path)?;
                key = utf8(bytes, at, path)?;
            }
            2 => {
                let path = Path::Key(path, &key);
                expect(wire, wire_of(field.kind), at, &path)?;
                value = Some(self::value(schema, &mut entry, field.kind, &path)?);
            }
            n => {
                return Err(DecodeError::new(
                    at,
                    path,
                    format!(
                        "field number {n} in a map entry (only 1, the key, and 2, the value, exist)"
                    ),
                ));
            }
        }
    }
    let value = match value {
        Some(v) => v,
        None if is_varint(field.kind) => number(0, field.kind),
        // An empty message of the kind: "", {}, null for a Time, "0" for a Quantity.
        None => bytes_value(schema, &[], at, field.kind, path)?,
    };
    Ok((key, value))
}

// ANCHOR: time
/// `metav1.Time` and `MicroTime`: seconds and nanos since the epoch. Go
/// writes the zero time as an empty message, which JSON shows as `null`;
/// `Time` is RFC 3339 to the second, `MicroTime` to the microsecond.
fn time(
    schema: &Schema,
    msg: &Message,
    bytes: &[u8],
    at: usize,
    path: &Path,
    micro: bool,
) -> Result<Value, DecodeError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let fields = message(schema, msg, bytes, at, path)?;
    let seconds = fields.get("seconds").and_then(Value::as_i64).unwrap_or(0);
    let nanos = fields.get("nanos").and_then(Value::as_i64).unwrap_or(0);
    let seconds = u64::try_from(seconds).map_err(|_| {
        DecodeError::new(at, path, format!("a time before 1970 ({seconds} seconds)"))
    })?;
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(DecodeError::new(
            at,
            path,
            format!("nanos out of range ({nanos})"),
        ));
    }
    let time = i64::try_from(seconds)
        .ok()
        .and_then(|s| jiff::Timestamp::new(s, nanos as i32).ok())
        .ok_or_else(|| {
            DecodeError::new(at, path, format!("a time out of range ({seconds} seconds)"))
        })?;
    Ok(Value::String(if micro {
        orc_client::time::format_micro(time)
    } else {
        orc_client::time::format(time)
    }))
}
// ANCHOR_END: time

/// `intstr.IntOrString` (its fields decoded): `type` 0 is `intVal`, a
/// JSON number; 1 is `strVal`, a JSON string ("http", "25%").
fn int_or_string(
    mut fields: Map<String, Value>,
    at: usize,
    path: &Path,
) -> Result<Value, DecodeError> {
    match fields.get("type").and_then(Value::as_i64).unwrap_or(0) {
        0 => Ok(fields.remove("intVal").unwrap_or(json!(0))),
        1 => Ok(fields.remove("strVal").unwrap_or(json!(""))),
        other => Err(DecodeError::new(
            at,
            path,
            format!("an IntOrString of type {other} (0 is int, 1 is string)"),
        )),
    }
}

/// `metav1.FieldsV1` and `runtime.RawExtension`: field 1 holds JSON text
/// (the managed-fields set; an embedded object), which becomes JSON
/// itself rather than the base64 of its bytes. `absent` is the JSON of a
/// value without it.
fn raw_json(
    bytes: &[u8],
    at: usize,
    path: &Path,
    what: &str,
    absent: Value,
) -> Result<Value, DecodeError> {
    let mut r = Reader::new(bytes, at);
    let mut raw = None;
    while !r.is_done() {
        let key_at = r.offset();
        match r.key().map_err(|e| DecodeError::wire(e, path))? {
            (1, wire) => {
                expect(wire, WireType::Len, key_at, path)?;
                raw = Some(len_delimited(&mut r, path)?.0);
            }
            (n, _) => {
                return Err(DecodeError::new(
                    key_at,
                    path,
                    format!("field number {n} in {what}"),
                ));
            }
        }
    }
    let Some(raw) = raw else {
        return Ok(absent);
    };
    serde_json::from_slice(raw).map_err(|e| {
        DecodeError::new(
            at,
            path,
            format!("{what} is not JSON ({e}); orc reads only JSON inside a protobuf object"),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::protobuf::schema::{self, DESCRIPTOR_SET};
    use crate::protobuf::tests::{
        BOOL, BYTES, Go, INT32, INT64, MESSAGE, STRING, field_descriptor, message_descriptor,
        push_len, push_varint, push_varint_field,
    };

    const META: &str = ".k8s.io.apimachinery.pkg.apis.meta.v1";

    /// Kubernetes' messages (for `Time`, `Quantity`, `IntOrString`) plus
    /// a package `test` with `Inner` and `Test`, a field of every kind and
    /// shape, going through the same loading as the real schema.
    fn schema() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            let inner = message_descriptor(
                "Inner",
                &[
                    field_descriptor("name", 1, STRING, "", Go::Value),
                    field_descriptor("n", 2, INT32, "", Go::Value),
                ],
                &[],
                false,
            );
            let entry = message_descriptor(
                "MEntry",
                &[
                    field_descriptor("key", 1, STRING, "", Go::Pointer),
                    field_descriptor("value", 2, STRING, "", Go::Pointer),
                ],
                &[],
                true,
            );
            let test = message_descriptor(
                "Test",
                &[
                    field_descriptor("s", 1, STRING, "", Go::Value),
                    field_descriptor("b", 2, BYTES, "", Go::Value),
                    field_descriptor("i", 3, INT32, "", Go::Value),
                    field_descriptor("l", 4, INT64, "", Go::Value),
                    field_descriptor("t", 5, BOOL, "", Go::Value),
                    field_descriptor("p", 6, INT32, "", Go::Pointer),
                    field_descriptor("time", 7, MESSAGE, &format!("{META}.Time"), Go::Value),
                    field_descriptor("micro", 8, MESSAGE, &format!("{META}.MicroTime"), Go::Value),
                    field_descriptor(
                        "q",
                        9,
                        MESSAGE,
                        ".k8s.io.apimachinery.pkg.api.resource.Quantity",
                        Go::Value,
                    ),
                    field_descriptor(
                        "ios",
                        10,
                        MESSAGE,
                        ".k8s.io.apimachinery.pkg.util.intstr.IntOrString",
                        Go::Value,
                    ),
                    field_descriptor("nums", 11, INT64, "", Go::Repeated),
                    field_descriptor("m", 12, MESSAGE, ".test.Test.MEntry", Go::Repeated),
                    field_descriptor("inner", 13, MESSAGE, ".test.Inner", Go::Embedded("Inner")),
                    field_descriptor("msg", 14, MESSAGE, ".test.Inner", Go::Value),
                    field_descriptor("names", 15, STRING, "", Go::Repeated),
                ],
                &[entry],
                false,
            );
            let mut file = Vec::new();
            push_len(&mut file, 1, b"test.proto");
            push_len(&mut file, 2, b"test");
            push_len(&mut file, 4, &inner);
            push_len(&mut file, 4, &test);
            let mut set = DESCRIPTOR_SET.to_vec();
            push_len(&mut set, 1, &file);
            schema::load(&set, &["test.Test.inner"]).unwrap()
        })
    }

    fn test_message() -> &'static Message {
        schema().get("test.Test").unwrap()
    }

    fn decoded(bytes: &[u8]) -> Value {
        Value::Object(message(schema(), test_message(), bytes, 0, &Path::Root("")).unwrap())
    }

    #[test]
    fn scalars() {
        let mut b = Vec::new();
        push_len(&mut b, 1, b"hi");
        push_len(&mut b, 2, &[0x00, 0xff]);
        push_varint_field(&mut b, 3, (-7i64) as u64); // int32 -7: ten bytes
        push_varint_field(&mut b, 4, 1 << 40);
        push_varint_field(&mut b, 5, 1);
        assert_eq!(
            decoded(&b),
            json!({"s": "hi", "b": "AP8=", "i": -7, "l": 1_099_511_627_776_i64, "t": true})
        );
    }

    #[test]
    fn zero_values_drop_but_zero_pointers_stay() {
        let mut b = Vec::new();
        push_len(&mut b, 1, b"");
        push_varint_field(&mut b, 3, 0);
        push_varint_field(&mut b, 5, 0);
        push_varint_field(&mut b, 6, 0);
        assert_eq!(decoded(&b), json!({"p": 0}));
    }

    #[test]
    fn times() {
        let mut stamp = Vec::new();
        push_varint_field(&mut stamp, 1, 1_700_000_000);
        push_varint_field(&mut stamp, 2, 5_000_000);
        let mut b = Vec::new();
        push_len(&mut b, 7, &stamp);
        push_len(&mut b, 8, &stamp);
        assert_eq!(
            decoded(&b),
            json!({"time": "2023-11-14T22:13:20Z", "micro": "2023-11-14T22:13:20.005000Z"})
        );
        // Go's zero time is an empty message: JSON null.
        let mut zero = Vec::new();
        push_len(&mut zero, 7, b"");
        assert_eq!(decoded(&zero), json!({"time": null}));
        let mut before_1970 = Vec::new();
        let mut negative = Vec::new();
        push_varint_field(&mut negative, 1, (-1i64) as u64);
        push_len(&mut before_1970, 7, &negative);
        let err = message(schema(), test_message(), &before_1970, 0, &Path::Root("")).unwrap_err();
        assert_eq!(err.what, "a time before 1970 (-1 seconds)");
        assert_eq!(err.path, "time");
    }

    #[test]
    fn quantities_and_int_or_strings_lose_their_wrapper() {
        let mut q = Vec::new();
        push_len(&mut q, 1, b"500m");
        let mut port_name = Vec::new();
        push_varint_field(&mut port_name, 1, 1);
        push_len(&mut port_name, 3, b"http");
        let mut b = Vec::new();
        push_len(&mut b, 9, &q);
        push_len(&mut b, 10, &port_name);
        assert_eq!(decoded(&b), json!({"q": "500m", "ios": "http"}));
        let mut port_number = Vec::new();
        push_varint_field(&mut port_number, 2, 8080);
        let mut b = Vec::new();
        push_len(&mut b, 9, b"");
        push_len(&mut b, 10, &port_number);
        assert_eq!(decoded(&b), json!({"q": "0", "ios": 8080}));
    }

    #[test]
    fn lists_plain_and_packed() {
        let mut b = Vec::new();
        push_varint_field(&mut b, 11, 1);
        let mut packed = Vec::new();
        push_varint(&mut packed, 2);
        push_varint(&mut packed, 300);
        push_len(&mut b, 11, &packed);
        push_len(&mut b, 15, b"a");
        push_len(&mut b, 15, b"");
        assert_eq!(
            decoded(&b),
            json!({"nums": [1, 2, 300], "names": ["a", ""]})
        );
    }

    #[test]
    fn maps_with_and_without_values() {
        let mut entry = Vec::new();
        push_len(&mut entry, 1, b"app");
        push_len(&mut entry, 2, b"web");
        let mut keyless = Vec::new();
        push_len(&mut keyless, 1, b"empty");
        let mut b = Vec::new();
        push_len(&mut b, 12, &entry);
        push_len(&mut b, 12, &keyless);
        assert_eq!(decoded(&b), json!({"m": {"app": "web", "empty": ""}}));
    }

    #[test]
    fn inline_fields_join_the_parent_and_messages_merge() {
        let mut inner = Vec::new();
        push_len(&mut inner, 1, b"cfg");
        let mut n = Vec::new();
        push_varint_field(&mut n, 2, 3);
        let mut b = Vec::new();
        push_len(&mut b, 13, &inner);
        push_len(&mut b, 14, &inner);
        push_len(&mut b, 14, &n);
        assert_eq!(
            decoded(&b),
            json!({"name": "cfg", "msg": {"name": "cfg", "n": 3}})
        );
    }

    #[test]
    fn bad_utf8_and_wrong_wire_types_name_offset_and_path() {
        let mut b = Vec::new();
        push_len(&mut b, 14, &[0x0a, 0x02, b'o', 0xff]);
        let err = message(schema(), test_message(), &b, 100, &Path::Root("spec")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a string that is not UTF-8 at byte 105 (in spec.msg.name)"
        );
        let mut b = Vec::new();
        push_varint_field(&mut b, 1, 5);
        let err = message(schema(), test_message(), &b, 0, &Path::Root("")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a length-delimited value, found wire type varint at byte 0 (in s)"
        );
    }
}

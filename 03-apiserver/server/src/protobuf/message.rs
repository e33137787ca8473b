//! orc's description of a protobuf message: field number → JSON name,
//! value kind, and how the field is carried.
//!
//! Kubernetes generates its `.proto` files from the Go types, so every
//! protobuf field *is* a JSON field under the same name: the tables in
//! [`super::types`] only have to say, per message, which number carries
//! which name and what kind of value. They are orc's own transcription of
//! those facts for the kinds orc serves; the decoder in [`super::decode`]
//! walks them.

/// One protobuf message type, e.g. `PodSpec`.
#[derive(Debug)]
pub struct Message {
    /// The Go (and proto) type name, for error messages: "field 99 of PodSpec".
    pub name: &'static str,
    /// The fields orc knows, in field-number order.
    pub fields: &'static [Field],
}

impl Message {
    /// A table entry; `const` so the tables are plain statics.
    pub const fn new(name: &'static str, fields: &'static [Field]) -> Message {
        Message { name, fields }
    }

    /// The field with protobuf number `number`, if orc knows it.
    pub fn field(&self, number: u64) -> Option<&'static Field> {
        self.fields.iter().find(|f| u64::from(f.number) == number)
    }
}

/// One field of a [`Message`].
#[derive(Debug)]
pub struct Field {
    /// The protobuf field number (the key on the wire).
    pub number: u32,
    /// The JSON name; for an [`Shape::Inline`] field, the proto name (the
    /// JSON has none: the nested fields join the parent object).
    pub json: &'static str,
    /// What one value of the field is.
    pub kind: Kind,
    /// Single, list, map or inlined.
    pub shape: Shape,
}

/// What one value on the wire is and how it appears in JSON.
#[derive(Debug)]
pub enum Kind {
    /// `string`: UTF-8 bytes, a JSON string.
    Str,
    /// `bytes` (Go `[]byte`): a JSON string in standard base64, as Go's
    /// `encoding/json` writes byte slices (Secret `data`).
    Bytes,
    /// `int32`: a varint, a JSON number.
    I32,
    /// `int64`: a varint, a JSON number.
    I64,
    /// `bool`: a varint 0 or 1.
    Bool,
    /// A nested message, a JSON object.
    Msg(&'static Message),
    /// `metav1.Time`: `{seconds, nanos}`, JSON RFC 3339 to the second; an
    /// empty message is Go's zero time, JSON `null`.
    Time,
    /// `metav1.MicroTime`: like `Time`, but JSON keeps microseconds.
    MicroTime,
    /// `resource.Quantity`: `{string}`, the JSON string itself ("500m").
    Quantity,
    /// `intstr.IntOrString`: `{type, intVal, strVal}`, a JSON number or string.
    IntOrString,
    /// `metav1.FieldsV1` (managedFields): `{Raw}` holding JSON bytes.
    FieldsV1,
}

/// How a field is carried.
#[derive(Debug, PartialEq, Eq)]
pub enum Shape {
    /// A Go value field (not a pointer). Kubernetes' generated marshallers
    /// always write these, even when zero; the JSON encoding leaves a zero
    /// scalar out (`omitempty`), so the decoder drops zero scalars here.
    Value,
    /// A Go pointer field: on the wire only when set, and then kept even
    /// when zero (`replicas: 0` means zero, not "unset").
    Pointer,
    /// A repeated field: a JSON array (one wire record per element;
    /// numbers may also come packed).
    List,
    /// A Go `map[string]X`: repeated entries `{1: key, 2: value}`, a JSON object.
    Map,
    /// A Go embedded struct (`json:",inline"`): a nested message on the
    /// wire whose fields join the parent JSON object (`Volume.volumeSource`).
    Inline,
}

/// A value field: see [`Shape::Value`].
pub const fn one(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        shape: Shape::Value,
    }
}

/// A pointer field: see [`Shape::Pointer`].
pub const fn opt(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        shape: Shape::Pointer,
    }
}

/// A repeated field: see [`Shape::List`].
pub const fn list(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        shape: Shape::List,
    }
}

/// A map with string keys and `kind` values: see [`Shape::Map`].
pub const fn map(number: u32, json: &'static str, kind: Kind) -> Field {
    Field {
        number,
        json,
        kind,
        shape: Shape::Map,
    }
}

/// An embedded struct: see [`Shape::Inline`].
pub const fn inline(number: u32, json: &'static str, message: &'static Message) -> Field {
    Field {
        number,
        json,
        kind: Kind::Msg(message),
        shape: Shape::Inline,
    }
}

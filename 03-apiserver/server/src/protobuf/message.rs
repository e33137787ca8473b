//! The decoder's view of a protobuf message: field number → JSON name,
//! value kind, and how the Go field is carried.
//!
//! Kubernetes generates its `.proto` files from the Go types, so every
//! protobuf field *is* a JSON field: the decoder in [`super::decode`] only
//! has to know, per message, which number carries which name, what kind of
//! value it is and whether the Go field is a value, a pointer, a list, a
//! map or an embedded struct. [`super::schema`] works that out once from
//! the descriptors kubectl carries; this file is what it produces, shaped
//! for the decoder's one question, "what is field N of this message?".

use std::collections::HashMap;
use std::ops::Index;

/// Every message the decoder knows, built once and then only read.
#[derive(Debug, Default)]
pub struct Schema {
    /// Messages refer to each other by [`MessageId`], an index here, so
    /// recursive and shared types need no reference counting.
    pub(super) messages: Vec<Message>,
    /// Full protobuf name (`k8s.io.api.apps.v1.Deployment`) → message.
    pub(super) by_name: HashMap<String, MessageId>,
}

impl Schema {
    /// The message with this full protobuf name.
    pub fn get(&self, full_name: &str) -> Option<&Message> {
        self.by_name.get(full_name).map(|&id| &self[id])
    }

    /// Every message, in no particular order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter()
    }
}

impl Index<MessageId> for Schema {
    type Output = Message;

    fn index(&self, id: MessageId) -> &Message {
        &self.messages[id.0]
    }
}

/// Which message of a [`Schema`] a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageId(pub(super) usize);

/// One protobuf message type, e.g. `PodSpec`.
#[derive(Debug)]
pub struct Message {
    /// The type's own name, for error messages: "field 99 of PodSpec".
    pub name: String,
    /// The full protobuf name: `k8s.io.api.core.v1.PodSpec`.
    pub full_name: String,
    /// How a value of this type appears in JSON.
    pub form: Form,
    /// The fields, in field-number order.
    pub fields: Vec<Field>,
}

impl Message {
    /// The field with protobuf number `number`, if the message has one.
    pub fn field(&self, number: u64) -> Option<&Field> {
        let i = self
            .fields
            .binary_search_by_key(&number, |f| u64::from(f.number))
            .ok()?;
        self.fields.get(i)
    }

    /// The field with JSON name `json`.
    pub fn field_named(&self, json: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.json == json)
    }
}

/// One field of a [`Message`].
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    /// The protobuf field number (the key on the wire).
    pub number: u32,
    /// The JSON name; for an [`Shape::Inline`] field, the protobuf name
    /// (the JSON has none: the nested fields join the parent object).
    pub json: String,
    /// What one value of the field is.
    pub kind: Kind,
    /// Single, list, map or inlined.
    pub shape: Shape,
}

/// What one value on the wire is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// A nested message, shown in JSON as its [`Form`] says.
    Msg(MessageId),
}

/// How a message appears in JSON. Most are objects; a few Go types have
/// JSON marshallers of their own, and their protobuf message is only the
/// wire shape of a value that JSON writes as a string, number or array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A JSON object of the message's fields.
    Object,
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
    /// `runtime.RawExtension` (a ControllerRevision's `data`): `{raw}`
    /// holding the embedded object's JSON.
    RawExtension,
    /// A Go named slice (`metav1.Verbs`, `ExtraValue`): `{repeated items}`,
    /// a JSON array.
    Items,
}

/// How a field is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// A Go `map[string]X`: repeated entries `{1: key, 2: value}`, a JSON
    /// object; the field's kind is the value's.
    Map,
    /// A Go embedded struct (`json:",inline"`): a nested message on the
    /// wire whose fields join the parent JSON object (`Volume.volumeSource`).
    Inline,
}

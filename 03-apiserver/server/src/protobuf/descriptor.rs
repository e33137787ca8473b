//! Reading a `FileDescriptorSet`: protobuf's schema, written in protobuf.
//!
//! `protoc` compiles a `.proto` file into a `FileDescriptorProto`, a
//! message defined by `google/protobuf/descriptor.proto`, and Go's
//! generated code carries those bytes so a program can look at its own
//! types. kubectl carries one per Kubernetes API group;
//! `scripts/k8s-descriptors.py` collects them into `k8s-v1.32.fds`. Since a
//! descriptor is just another protobuf message, the [`wire`](super::wire)
//! reader that decodes a Pod decodes the Pod's definition too: this file
//! is the decoder pointed at its own schema, with the field numbers of
//! `descriptor.proto` written out by hand (they have not changed since
//! protobuf 2.0, and every protobuf implementation has to hard-code them to
//! bootstrap the same way).
//!
//! ```text
//! FileDescriptorSet   { file 1: FileDescriptorProto* }
//! FileDescriptorProto { package 2, message_type 4: DescriptorProto* }
//! DescriptorProto     { name 1, field 2: FieldDescriptorProto*,
//!                       nested_type 3: DescriptorProto*, options 7 { map_entry 7 } }
//! FieldDescriptorProto{ name 1, number 3, label 4, type 5, type_name 6,
//!                       options 8 { gogoproto.nullable 65001, gogoproto.customname 65004 } }
//! ```
//!
//! Only what orc needs is kept; every other field is stepped over by its
//! wire type, as any protobuf reader steps over fields it does not know.
//! The two gogoproto options are *extensions*: fields that `gogo.proto`
//! adds to `FieldOptions` under numbers of its own, which on the wire are
//! ordinary fields with large numbers.

use super::wire::{Reader, WireError, WireType};

/// One message type, with nested types flattened out beside it.
#[derive(Debug)]
pub struct MessageDescriptor {
    /// Package and enclosing messages included: `k8s.io.api.apps.v1.Deployment`,
    /// `k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta.LabelsEntry`.
    pub full_name: String,
    /// In the order the descriptor lists them.
    pub fields: Vec<FieldDescriptor>,
    /// Whether protoc made this message up for a `map<K, V>` field: a
    /// `{key = 1, value = 2}` entry, repeated once per key on the wire.
    pub map_entry: bool,
}

/// One field of a [`MessageDescriptor`].
#[derive(Debug)]
pub struct FieldDescriptor {
    /// The protobuf name. go-to-protobuf, which writes Kubernetes' `.proto`
    /// files from the Go types, names each field after its JSON name.
    pub name: String,
    /// The number on the wire.
    pub number: u32,
    /// `label = LABEL_REPEATED`: a list, or the entries of a map.
    pub repeated: bool,
    /// The value's type.
    pub ty: ProtoType,
    /// For a message field, the message's full name with a leading dot
    /// (`.k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta`); else empty.
    pub type_name: String,
    /// `(gogoproto.nullable)`: whether the Go field is a pointer (or a
    /// slice or map, which are nil-able too). go-to-protobuf writes
    /// `nullable = false` on every Go value field; absent means true.
    pub nullable: bool,
    /// `(gogoproto.customname)`: the Go field's name, when it differs from
    /// the protobuf one (`ObjectMeta` for `metadata`).
    pub go_name: Option<String>,
}

/// `FieldDescriptorProto.Type`: the protobuf types Kubernetes uses, by
/// their numbers in `descriptor.proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoType {
    /// 3, `int64`.
    Int64,
    /// 5, `int32`.
    Int32,
    /// 8, `bool`.
    Bool,
    /// 9, `string`.
    String,
    /// 11, a message.
    Message,
    /// 12, `bytes`.
    Bytes,
    /// Anything else (`double`, `uint32`, enums, ...): Kubernetes' API
    /// conventions leave these out of objects, so orc does not decode them.
    Other(u64),
}

impl ProtoType {
    fn from_number(n: u64) -> ProtoType {
        match n {
            3 => ProtoType::Int64,
            5 => ProtoType::Int32,
            8 => ProtoType::Bool,
            9 => ProtoType::String,
            11 => ProtoType::Message,
            12 => ProtoType::Bytes,
            other => ProtoType::Other(other),
        }
    }
}

/// `FieldDescriptorProto.Label.LABEL_REPEATED`.
const LABEL_REPEATED: u64 = 3;
/// The gogoproto extensions of `FieldOptions` (numbers from `gogo.proto`).
const GOGO_NULLABLE: u64 = 65001;
const GOGO_CUSTOMNAME: u64 = 65004;

// ANCHOR: read_set
/// Every message of every file in a `FileDescriptorSet`.
pub fn read_set(bytes: &[u8]) -> Result<Vec<MessageDescriptor>, WireError> {
    let mut messages = Vec::new();
    for_each_record(bytes, 0, |number, value| {
        if let (1, Value::Len(file, at)) = (number, value) {
            read_file(file, at, &mut messages)?;
        }
        Ok(())
    })?;
    Ok(messages)
}
// ANCHOR_END: read_set

/// A `FileDescriptorProto`: its package names the messages inside it.
fn read_file(bytes: &[u8], base: usize, out: &mut Vec<MessageDescriptor>) -> Result<(), WireError> {
    // The package comes before the messages in protoc's output, but a
    // reader must not rely on field order: collect, then read.
    let mut package = String::new();
    let mut messages = Vec::new();
    for_each_record(bytes, base, |number, value| {
        match (number, value) {
            (2, Value::Len(b, at)) => package = text(b, at)?,
            (4, Value::Len(b, at)) => messages.push((b, at)),
            _ => {}
        }
        Ok(())
    })?;
    for (b, at) in messages {
        read_message(b, at, &package, out)?;
    }
    Ok(())
}

/// A `DescriptorProto` and, after it, the messages nested in it.
fn read_message(
    bytes: &[u8],
    base: usize,
    scope: &str,
    out: &mut Vec<MessageDescriptor>,
) -> Result<(), WireError> {
    let mut name = String::new();
    let mut fields = Vec::new();
    let mut nested = Vec::new();
    let mut map_entry = false;
    for_each_record(bytes, base, |number, value| {
        match (number, value) {
            (1, Value::Len(b, at)) => name = text(b, at)?,
            (2, Value::Len(b, at)) => fields.push(read_field(b, at)?),
            (3, Value::Len(b, at)) => nested.push((b, at)),
            // MessageOptions { map_entry = 7 }
            (7, Value::Len(b, at)) => {
                for_each_record(b, at, |number, value| {
                    if let (7, Value::Varint(v)) = (number, value) {
                        map_entry = v != 0;
                    }
                    Ok(())
                })?;
            }
            _ => {}
        }
        Ok(())
    })?;
    let full_name = format!("{scope}.{name}");
    for (b, at) in nested {
        read_message(b, at, &full_name, out)?;
    }
    out.push(MessageDescriptor {
        full_name,
        fields,
        map_entry,
    });
    Ok(())
}

/// A `FieldDescriptorProto`.
fn read_field(bytes: &[u8], base: usize) -> Result<FieldDescriptor, WireError> {
    let mut field = FieldDescriptor {
        name: String::new(),
        number: 0,
        repeated: false,
        ty: ProtoType::Other(0),
        type_name: String::new(),
        nullable: true,
        go_name: None,
    };
    let mut number = 0;
    for_each_record(bytes, base, |n, value| {
        match (n, value) {
            (1, Value::Len(b, at)) => field.name = text(b, at)?,
            (3, Value::Varint(v)) => number = v,
            (4, Value::Varint(v)) => field.repeated = v == LABEL_REPEATED,
            (5, Value::Varint(v)) => field.ty = ProtoType::from_number(v),
            (6, Value::Len(b, at)) => field.type_name = text(b, at)?,
            (8, Value::Len(b, at)) => {
                for_each_record(b, at, |n, value| {
                    match (n, value) {
                        (GOGO_NULLABLE, Value::Varint(v)) => field.nullable = v != 0,
                        (GOGO_CUSTOMNAME, Value::Len(b, at)) => field.go_name = Some(text(b, at)?),
                        _ => {}
                    }
                    Ok(())
                })?;
            }
            _ => {}
        }
        Ok(())
    })?;
    // Field numbers are at most 2^29 - 1: a bigger one is not protobuf.
    field.number = u32::try_from(number)
        .ok()
        .filter(|n| (1..1 << 29).contains(n))
        .ok_or_else(|| WireError {
            offset: base,
            what: format!("field {:?} has number {number}", field.name),
        })?;
    Ok(field)
}

/// One record's value, as far as a descriptor reader cares.
#[derive(Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    /// The bytes and the offset they start at.
    Len(&'a [u8], usize),
    /// A fixed32 or fixed64, which descriptors never use where orc looks.
    Fixed,
}

/// Calls `each` with every record of a message, in order.
fn for_each_record<'a>(
    bytes: &'a [u8],
    base: usize,
    mut each: impl FnMut(u64, Value<'a>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut r = Reader::new(bytes, base);
    while !r.is_done() {
        let (number, wire) = r.key()?;
        let value = match wire {
            WireType::Varint => Value::Varint(r.varint()?),
            WireType::Len => {
                let (b, at) = r.len_delimited()?;
                Value::Len(b, at)
            }
            WireType::Fixed64 | WireType::Fixed32 => {
                r.skip(wire)?;
                Value::Fixed
            }
        };
        each(number, value)?;
    }
    Ok(())
}

fn text(bytes: &[u8], at: usize) -> Result<String, WireError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| WireError {
        offset: at,
        what: "a name that is not UTF-8".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::tests::{
        Go, INT32, MESSAGE, STRING, field_descriptor, message_descriptor, push_len,
    };

    #[test]
    fn reads_packages_nesting_labels_types_and_gogo_options() {
        // message Outer {
        //   map<string, string> tags = 1;
        //   optional int32 n = 2 [(gogoproto.nullable) = false];
        //   optional Inner inner = 3 [(gogoproto.nullable) = false, (gogoproto.customname) = "Inner"];
        //   message Inner {}
        // }
        let entry = message_descriptor(
            "TagsEntry",
            &[
                field_descriptor("key", 1, STRING, "", Go::Pointer),
                field_descriptor("value", 2, STRING, "", Go::Pointer),
            ],
            &[],
            true,
        );
        let mut n = field_descriptor("n", 2, INT32, "", Go::Value);
        // json_name (10): a field orc does not read, stepped over.
        push_len(&mut n, 10, b"n");
        let outer = message_descriptor(
            "Outer",
            &[
                field_descriptor("tags", 1, MESSAGE, ".p.Outer.TagsEntry", Go::Repeated),
                n,
                field_descriptor("inner", 3, MESSAGE, ".p.Outer.Inner", Go::Embedded("Inner")),
            ],
            &[entry, message_descriptor("Inner", &[], &[], false)],
            false,
        );
        let mut file = Vec::new();
        push_len(&mut file, 1, b"p.proto");
        push_len(&mut file, 4, &outer);
        push_len(&mut file, 2, b"p"); // after the messages: order does not matter
        let mut set = Vec::new();
        push_len(&mut set, 1, &file);

        let messages = read_set(&set).unwrap();
        let names: Vec<_> = messages.iter().map(|m| m.full_name.as_str()).collect();
        assert_eq!(names, ["p.Outer.TagsEntry", "p.Outer.Inner", "p.Outer"]);
        assert!(messages[0].map_entry);
        let outer = &messages[2];
        assert!(!outer.map_entry);
        let [tags, n, inner] = &outer.fields[..] else {
            panic!("{:?}", outer.fields)
        };
        assert_eq!(
            (tags.number, tags.repeated, tags.ty),
            (1, true, ProtoType::Message)
        );
        assert_eq!(tags.type_name, ".p.Outer.TagsEntry");
        assert_eq!((tags.nullable, tags.go_name.as_deref()), (true, None));
        assert_eq!((n.number, n.repeated, n.ty), (2, false, ProtoType::Int32));
        assert_eq!((n.nullable, n.go_name.as_deref()), (false, None));
        assert_eq!(
            (inner.nullable, inner.go_name.as_deref()),
            (false, Some("Inner"))
        );
    }

    #[test]
    fn garbage_is_an_error_with_an_offset() {
        let err = read_set(&[0x0a, 0x05, 0x12]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a length of 5 bytes, but only 1 are left at byte 1"
        );
    }
}

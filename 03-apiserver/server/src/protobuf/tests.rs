//! The decoder against bodies encoded with Kubernetes' own schema, and
//! against truncated and garbled bytes.
//!
//! `testdata/*.pb` are objects written in protobuf text format
//! (`*.txtpb`) and encoded by `protoc` against the message descriptors
//! kubectl v1.32 carries; `*.json` is the JSON of the same object, written
//! by hand. orc loads the same descriptors, so what these check is its
//! reading of them: JSON names, value or pointer, inlined structs, and
//! the conversions of `Time`, `Quantity`, `IntOrString` and `[]byte`.
//!
//! To re-encode a fixture, with the descriptor set next to this file
//! (it holds every import, so protoc needs nothing else):
//!
//! ```text
//! protoc --descriptor_set_in=k8s-v1.32.fds --encode=k8s.io.api.core.v1.Pod \
//!     k8s.io/api/core/v1/generated.proto < testdata/pod.txtpb > testdata/pod.pb
//! ```

use serde_json::{Value, json};

use super::path::Path;
use super::wire::Reader;
use super::{MAGIC, ProtobufError, decode, schema};

/// Appends a length-delimited field.
pub fn push_len(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    push_varint(out, number << 3 | 2);
    push_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a varint field.
pub fn push_varint_field(out: &mut Vec<u8>, number: u64, v: u64) {
    push_varint(out, number << 3);
    push_varint(out, v);
}

/// `FieldDescriptorProto.Type` numbers, for writing test descriptors.
pub const STRING: u64 = 9;
pub const BYTES: u64 = 12;
pub const INT32: u64 = 5;
pub const INT64: u64 = 3;
pub const BOOL: u64 = 8;
pub const MESSAGE: u64 = 11;

/// How a test field is declared: what go-to-protobuf would write for the
/// Go field.
#[derive(Clone, Copy, PartialEq)]
pub enum Go {
    /// A value field: `(gogoproto.nullable) = false`.
    Value,
    /// A pointer field: no option.
    Pointer,
    /// A slice or map: `repeated`.
    Repeated,
    /// An embedded struct: a value whose Go name (`customname`) is its type's.
    Embedded(&'static str),
}

/// A `FieldDescriptorProto`; `type_name` is empty for a scalar.
pub fn field_descriptor(name: &str, number: u64, ty: u64, type_name: &str, go: Go) -> Vec<u8> {
    let mut f = Vec::new();
    push_len(&mut f, 1, name.as_bytes());
    push_varint_field(&mut f, 3, number);
    push_varint_field(&mut f, 4, if go == Go::Repeated { 3 } else { 1 });
    push_varint_field(&mut f, 5, ty);
    if !type_name.is_empty() {
        push_len(&mut f, 6, type_name.as_bytes());
    }
    let mut options = Vec::new();
    if matches!(go, Go::Value | Go::Embedded(_)) {
        push_varint_field(&mut options, 65001, 0);
    }
    if let Go::Embedded(go_name) = go {
        push_len(&mut options, 65004, go_name.as_bytes());
    }
    push_len(&mut f, 8, &options);
    f
}

/// A `DescriptorProto`.
pub fn message_descriptor(
    name: &str,
    fields: &[Vec<u8>],
    nested: &[Vec<u8>],
    map_entry: bool,
) -> Vec<u8> {
    let mut m = Vec::new();
    push_len(&mut m, 1, name.as_bytes());
    for f in fields {
        push_len(&mut m, 2, f);
    }
    for n in nested {
        push_len(&mut m, 3, n);
    }
    if map_entry {
        let mut options = Vec::new();
        push_varint_field(&mut options, 7, 1);
        push_len(&mut m, 7, &options);
    }
    m
}

/// `k8s\0` + `runtime.Unknown{typeMeta, raw, contentEncoding, contentType}`,
/// with every field written, as Kubernetes' marshaller does.
pub fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = Vec::new();
    push_len(&mut type_meta, 1, api_version.as_bytes());
    push_len(&mut type_meta, 2, kind.as_bytes());
    let mut body = MAGIC.to_vec();
    push_len(&mut body, 1, &type_meta);
    push_len(&mut body, 2, raw);
    push_len(&mut body, 3, b"");
    push_len(&mut body, 4, b"");
    body
}

struct Fixture {
    api_version: &'static str,
    kind: &'static str,
    raw: &'static [u8],
    json: &'static str,
}

const FIXTURES: &[Fixture] = &[
    Fixture {
        api_version: "v1",
        kind: "Pod",
        raw: include_bytes!("testdata/pod.pb"),
        json: include_str!("testdata/pod.json"),
    },
    Fixture {
        api_version: "apps/v1",
        kind: "Deployment",
        raw: include_bytes!("testdata/deployment.pb"),
        json: include_str!("testdata/deployment.json"),
    },
    Fixture {
        api_version: "v1",
        kind: "Node",
        raw: include_bytes!("testdata/node.pb"),
        json: include_str!("testdata/node.json"),
    },
    Fixture {
        api_version: "coordination.k8s.io/v1",
        kind: "Lease",
        raw: include_bytes!("testdata/lease.pb"),
        json: include_str!("testdata/lease.json"),
    },
    Fixture {
        api_version: "v1",
        kind: "Event",
        raw: include_bytes!("testdata/event.pb"),
        json: include_str!("testdata/event.json"),
    },
    Fixture {
        api_version: "events.k8s.io/v1",
        kind: "Event",
        raw: include_bytes!("testdata/events_v1_event.pb"),
        json: include_str!("testdata/events_v1_event.json"),
    },
    Fixture {
        api_version: "v1",
        kind: "Endpoints",
        raw: include_bytes!("testdata/endpoints.pb"),
        json: include_str!("testdata/endpoints.json"),
    },
    Fixture {
        api_version: "apps/v1",
        kind: "DaemonSet",
        raw: include_bytes!("testdata/daemonset.pb"),
        json: include_str!("testdata/daemonset.json"),
    },
    Fixture {
        api_version: "v1",
        kind: "Service",
        raw: include_bytes!("testdata/service.pb"),
        json: include_str!("testdata/service.json"),
    },
    Fixture {
        api_version: "v1",
        kind: "Secret",
        raw: include_bytes!("testdata/secret.pb"),
        json: include_str!("testdata/secret.json"),
    },
];

#[test]
fn objects_encoded_by_kubernetes_schema_decode_to_their_json() {
    for f in FIXTURES {
        let got = decode(&envelope(f.api_version, f.kind, f.raw)).unwrap();
        let want: Value = serde_json::from_str(f.json).unwrap();
        assert_eq!(got, want, "{}", f.kind);
    }
}

#[test]
fn every_truncation_is_a_clean_error() {
    for f in FIXTURES {
        let body = envelope(f.api_version, f.kind, f.raw);
        // A cut between two records of the envelope is a shorter, valid
        // envelope (with no object, or no contentType); any other cut
        // leaves a length prefix pointing past the end.
        let mut boundaries = Vec::new();
        let mut r = Reader::new(&body[MAGIC.len()..], MAGIC.len());
        while !r.is_done() {
            let (_, wire) = r.key().unwrap();
            r.skip(wire).unwrap();
            boundaries.push(r.offset());
        }
        for len in 0..body.len() {
            if decode(&body[..len]).is_ok() {
                assert!(boundaries.contains(&len), "{} cut at {len} decoded", f.kind);
            }
        }
    }
}

#[test]
fn garbled_bytes_never_panic() {
    // A fixed xorshift sequence: the same garbling on every run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut errors = 0;
    for f in FIXTURES {
        let body = envelope(f.api_version, f.kind, f.raw);
        for _ in 0..2000 {
            let mut garbled = body.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % garbled.len();
                garbled[i] = next() as u8;
            }
            // Either outcome is fine; a panic fails the test.
            if decode(&garbled).is_err() {
                errors += 1;
            }
        }
    }
    assert!(errors > 0, "garbling never produced an error");
}

#[test]
fn errors_name_the_byte_and_the_field() {
    // Pod{spec{containers{name: 99 as a varint}}}: wrong wire type for `name`.
    let container = [0x08, 99];
    let mut spec = Vec::new();
    push_len(&mut spec, 2, &container);
    let mut pod = Vec::new();
    push_len(&mut pod, 2, &spec);
    let body = envelope("v1", "Pod", &pod);
    // The container's record is the last thing before the four bytes of
    // the empty contentEncoding and contentType.
    let at = body.len() - 4 - container.len();
    let err = decode(&body).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Pod: expected a length-delimited value, found wire type varint at byte {at} \
             (in spec.containers[0].name)"
        )
    );
}

#[test]
fn unknown_field_numbers_are_refused_not_dropped() {
    let mut meta = Vec::new();
    push_len(&mut meta, 1, b"x");
    let mut cm = Vec::new();
    push_len(&mut cm, 1, &meta);
    push_len(&mut cm, 42, b"?");
    let err = decode(&envelope("v1", "ConfigMap", &cm)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("field number 42 (length-delimited) is not a field of ConfigMap"),
        "{message}"
    );
    assert!(message.contains("send this object as JSON"), "{message}");
}

#[test]
fn unknown_fields_holding_zero_are_stepped_over() {
    // A newer client's empty string field 42 and int field 43 next to the name.
    let mut meta = Vec::new();
    push_len(&mut meta, 1, b"x");
    let mut cm = Vec::new();
    push_len(&mut cm, 1, &meta);
    push_len(&mut cm, 42, b"");
    push_varint(&mut cm, 43 << 3);
    push_varint(&mut cm, 0);
    let got = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    );
}

#[test]
fn kinds_without_tables_are_named() {
    let err = decode(&envelope("storage.k8s.io/v1", "CSIDriver", b"")).unwrap_err();
    assert!(matches!(err, ProtobufError::UnknownKind { .. }));
    assert!(
        err.to_string().contains("CSIDriver of storage.k8s.io/v1"),
        "{err}"
    );
}

#[test]
fn bodies_without_the_magic_are_refused() {
    let err = decode(b"{\"kind\":\"Pod\"}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the body does not start with Kubernetes' protobuf magic bytes \"k8s\\0\" (it starts with \"{\\\"ki\")"
    );
}

#[test]
fn an_empty_object_is_just_its_type() {
    let got = decode(&envelope("v1", "Namespace", b"")).unwrap();
    assert_eq!(got, json!({"apiVersion": "v1", "kind": "Namespace"}));
    // And the reader agrees there is nothing after the envelope.
    assert!(Reader::new(b"", 0).is_done());
}

/// Kinds orc does not serve yet decode from the descriptors alone,
/// including Go types no hand-written table ever described: a
/// ControllerRevision's `data` is a `RawExtension` (the object's JSON, not
/// the base64 of its bytes) and a CSR's `extra` maps to named slices
/// (`ExtraValue`, a JSON array).
#[test]
fn kinds_orc_does_not_serve_yet_decode_from_the_descriptors() {
    let schema = schema::kubernetes();
    let decode_as = |name: &str, bytes: &[u8]| {
        let message = schema.get(name).unwrap();
        Value::Object(decode::message(schema, message, bytes, 0, &Path::Root("")).unwrap())
    };

    // ControllerRevision{metadata{name: "r"}, data{raw: '{"spec":...}'}, revision: 3}.
    let mut meta = Vec::new();
    push_len(&mut meta, 1, b"r");
    let mut data = Vec::new();
    push_len(&mut data, 1, br#"{"spec":{"replicas":1}}"#);
    let mut revision = Vec::new();
    push_len(&mut revision, 1, &meta);
    push_len(&mut revision, 2, &data);
    push_varint(&mut revision, 3 << 3);
    push_varint(&mut revision, 3);
    assert_eq!(
        decode_as("k8s.io.api.apps.v1.ControllerRevision", &revision),
        json!({"metadata": {"name": "r"}, "data": {"spec": {"replicas": 1}}, "revision": 3})
    );

    // CertificateSigningRequestSpec{request: "CSR", extra{"scopes": ["a", "b"]}}.
    let mut scopes = Vec::new();
    push_len(&mut scopes, 1, b"a");
    push_len(&mut scopes, 1, b"b");
    let mut entry = Vec::new();
    push_len(&mut entry, 1, b"scopes");
    push_len(&mut entry, 2, &scopes);
    let mut spec = Vec::new();
    push_len(&mut spec, 1, b"CSR");
    push_len(&mut spec, 6, &entry);
    assert_eq!(
        decode_as(
            "k8s.io.api.certificates.v1.CertificateSigningRequestSpec",
            &spec
        ),
        json!({"request": "Q1NS", "extra": {"scopes": ["a", "b"]}})
    );
}

#[test]
fn a_raw_extension_that_is_not_json_is_refused() {
    let schema = schema::kubernetes();
    let message = schema.get("k8s.io.api.apps.v1.ControllerRevision").unwrap();
    let mut data = Vec::new();
    push_len(&mut data, 1, b"k8s\0...");
    let mut revision = Vec::new();
    push_len(&mut revision, 2, &data);
    let err = decode::message(schema, message, &revision, 0, &Path::Root("")).unwrap_err();
    assert_eq!(err.path, "data");
    assert!(err.what.starts_with("RawExtension is not JSON"), "{err}");
}

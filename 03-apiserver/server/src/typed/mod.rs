//! Objects every client can read back: the JSON body checked against the
//! Kubernetes type of its kind before it is stored.
//!
//! kube-apiserver never stores the JSON a client sent. It decodes the body
//! into the Go struct of the kind, and what it stores is that struct
//! encoded again. So a body whose values do not fit the struct (a number
//! in a ConfigMap's `data`, `command: "sleep 1"` where a list of strings
//! belongs, a quantity such as `"lots"`, a Secret value that is not
//! base64) never reaches etcd: the decode fails and the client gets a 400
//! naming Go's complaint. orc stores JSON as sent (it has no Go structs),
//! so without this check such an object is stored with a 201, and every
//! typed client that reads it afterwards fails: `kubectl describe`,
//! client-go informers, k8s-openapi programs, orc's own controllers.
//!
//! The check needs the types, and orc has them already: the protobuf view
//! of Kubernetes v1.32 ([`crate::protobuf::schema`]) knows, for every field
//! of every served kind, its JSON name, whether it is a list or a map, and
//! the kind of one value (string, int32, int64, bool, `[]byte`, a nested
//! message, or one of the Go types with a JSON form of their own: `Time`,
//! `Quantity`, `IntOrString`). [`check`] walks the JSON and that view
//! together, once, top-down, and answers as kube-apiserver would:
//!
//! - **400 BadRequest** for a value Go could not decode, in Go's words:
//!   `Pod in version "v1" cannot be handled as a Pod: json: cannot
//!   unmarshal string into Go struct field Container.spec.containers.command
//!   of type []string`; a bad quantity or base64 string gets the message of
//!   Go's parser (`quantities must match the regular expression ...`,
//!   `illegal base64 data at input byte 4`). Kubernetes names no field for
//!   those two; orc adds the field path to the Status' `details.causes`.
//! - **422 Invalid** causes, with field paths, for values that decode but
//!   break a rule every object of the type follows: the enums listed in
//!   [`ENUMS`] (the ones no kind-specific check in `validation.rs` and its
//!   siblings already covers), and `metadata.annotations` over 256 KiB in
//!   total.
//!
//! What Go accepts is accepted: `null` anywhere (Go leaves the zero value),
//! a number for a quantity (`cpu: 1`), either form of an `IntOrString`.
//! Where Go would store something else than the text sent, the walk stores
//! what Go would: a `null` inside a list or map becomes the element's zero
//! value, and base64 is re-encoded canonically, so strict readers accept it.
//! Fields the view does not know are left alone: naming them is
//! [`crate::schema`]'s job (a warning, or an error with
//! `fieldValidation=Strict`).
//!
//! The view is built once per process; a walk allocates nothing unless it
//! finds something to report: the path is a chain of links on the stack
//! ([`Path`]), made into text only for an error. The chapter's section
//! "Objects every client can read back" tells the story.

mod go_base64;
mod quantity;

use serde_json::{Map, Value, json};

use crate::protobuf::Path;
use crate::protobuf::message::{Field, Form, Kind, Message, Schema, Shape};
use crate::protobuf::{roots, schema};
use crate::status::FieldCause;

/// The protobuf name of `ObjectMeta`, whose annotations are capped.
const OBJECT_META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Kubernetes' `TotalAnnotationSizeLimitB`: keys and values together.
pub const ANNOTATIONS_LIMIT: usize = 256 * 1024;

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

// ANCHOR: enums
/// String fields with a fixed set of values, by message and JSON name, in
/// the order Kubernetes lists them in its message. Only the ones no other
/// check covers: `imagePullPolicy`, `dnsPolicy`, a Service's `type`, an
/// Ingress' `pathType` and others are validated with their kind.
pub const ENUMS: &[(&str, &str, &[&str])] = &[
    (
        "k8s.io.api.core.v1.PodSpec",
        "restartPolicy",
        &["Always", "OnFailure", "Never"],
    ),
    ("k8s.io.api.core.v1.ContainerPort", "protocol", PROTOCOLS),
    ("k8s.io.api.core.v1.ServicePort", "protocol", PROTOCOLS),
    ("k8s.io.api.core.v1.EndpointPort", "protocol", PROTOCOLS),
    (
        "k8s.io.api.discovery.v1.EndpointPort",
        "protocol",
        PROTOCOLS,
    ),
    (
        "k8s.io.api.apps.v1.DeploymentStrategy",
        "type",
        &["Recreate", "RollingUpdate"],
    ),
];
// ANCHOR_END: enums

/// A value Go could not decode: the object is refused whole with a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    /// Go's error text, e.g. `json: cannot unmarshal number into Go struct
    /// field ConfigMap.data of type string`.
    pub message: String,
    /// Where, as a Kubernetes field path: `data[port]`.
    pub field: String,
}

// ANCHOR: check
/// Checks `obj` against the Kubernetes type of its `apiVersion` and `kind`,
/// normalizing what Go would store differently. Answers the 422 causes
/// (possibly none), or the first value that does not decode. Kinds with no
/// Kubernetes type are not checked.
pub fn check(obj: &mut Value) -> Result<Vec<FieldCause>, Undecodable> {
    let api_version = obj.get("apiVersion").and_then(Value::as_str);
    let kind = obj.get("kind").and_then(Value::as_str);
    let root = match (api_version, kind) {
        (Some(api_version), Some(kind)) => roots::root(api_version, kind),
        _ => None,
    };
    let (Some(root), Value::Object(fields)) = (root, obj) else {
        return Ok(Vec::new());
    };
    let mut walk = Walk {
        schema: schema::kubernetes(),
        causes: Vec::new(),
    };
    walk.object(root, fields, &Path::Root(""))?;
    Ok(walk.causes)
}
// ANCHOR_END: check

/// One pass over an object: the schema it follows and the causes found.
struct Walk {
    schema: &'static Schema,
    causes: Vec<FieldCause>,
}

impl Walk {
    /// The fields of one JSON object of message `msg`.
    fn object(
        &mut self,
        msg: &Message,
        fields: &mut Map<String, Value>,
        at: &Path,
    ) -> Result<(), Undecodable> {
        if msg.full_name == OBJECT_META {
            self.annotations(fields, at);
        }
        for (name, value) in fields.iter_mut() {
            // An unknown field is `schema.rs`'s to name, not this walk's.
            let Some(field) = field_of(self.schema, msg, name) else {
                continue;
            };
            self.field(msg, field, value, &Path::Field(at, name))?;
        }
        Ok(())
    }

    /// One field by its shape: a list or map holds values of the field's
    /// kind, anything else is one value.
    fn field(
        &mut self,
        owner: &Message,
        field: &Field,
        value: &mut Value,
        at: &Path,
    ) -> Result<(), Undecodable> {
        match (field.shape, value) {
            // Go leaves a field it reads `null` for at its zero value.
            (_, Value::Null) => Ok(()),
            (Shape::List, Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.element(owner, field, item, &Path::Index(at, i))?;
                }
                Ok(())
            }
            (Shape::Map, Value::Object(entries)) => {
                for (key, item) in entries.iter_mut() {
                    self.element(owner, field, item, &Path::Key(at, key))?;
                }
                Ok(())
            }
            (Shape::List | Shape::Map, other) => {
                let element = go_type(self.schema, field.kind);
                let go = if field.shape == Shape::List {
                    format!("[]{element}")
                } else {
                    format!("map[string]{element}")
                };
                Err(mismatch(owner, at, other, &go))
            }
            (_, value) => self.value(owner, field, value, at),
        }
    }

    /// An element of a list or a map: `null` becomes the zero value Go
    /// would have stored, which is what a strict reader expects there.
    fn element(
        &mut self,
        owner: &Message,
        field: &Field,
        item: &mut Value,
        at: &Path,
    ) -> Result<(), Undecodable> {
        if item.is_null() {
            *item = zero(self.schema, field.kind);
            return Ok(());
        }
        self.value(owner, field, item, at)
    }

    /// One value of `field`'s kind.
    fn value(
        &mut self,
        owner: &Message,
        field: &Field,
        value: &mut Value,
        at: &Path,
    ) -> Result<(), Undecodable> {
        if let Kind::Msg(id) = field.kind {
            let schema = self.schema;
            return self.message(owner, &schema[id], value, at);
        }
        let mut canonical = None;
        let fits = match (field.kind, &*value) {
            (Kind::Str, Value::String(text)) => {
                self.enumerated(owner, field, text, at);
                true
            }
            (Kind::Bool, Value::Bool(_)) => true,
            (Kind::I32, Value::Number(n)) => {
                fits_integer(n, i64::from(i32::MIN), i64::from(i32::MAX))
            }
            (Kind::I64, Value::Number(n)) => fits_integer(n, i64::MIN, i64::MAX),
            (Kind::Bytes, Value::String(text)) => {
                canonical = go_base64::canonical(text).map_err(|byte| {
                    undecodable(at, format!("illegal base64 data at input byte {byte}"))
                })?;
                true
            }
            _ => false,
        };
        if let Some(again) = canonical {
            *value = Value::String(again);
        }
        if fits {
            Ok(())
        } else {
            Err(mismatch(
                owner,
                at,
                value,
                &go_type(self.schema, field.kind),
            ))
        }
    }

    /// A value of message type `msg`, in the JSON form its Go type has.
    fn message(
        &mut self,
        owner: &Message,
        msg: &Message,
        value: &mut Value,
        at: &Path,
    ) -> Result<(), Undecodable> {
        match (msg.form, value) {
            (Form::Object, Value::Object(fields)) => self.object(msg, fields, at),
            (Form::Time | Form::MicroTime, value) => time(value, at),
            (Form::Quantity, value) => {
                // Go parses a number's own text, and the raw JSON of
                // anything else (which never matches).
                let result = match &*value {
                    Value::String(text) => quantity::check(text),
                    Value::Number(n) => quantity::check(&n.to_string()),
                    _ => Err(quantity::FORMAT_WRONG),
                };
                result.map_err(|why| undecodable(at, why.to_string()))
            }
            (Form::IntOrString, Value::String(_)) => Ok(()),
            (Form::IntOrString, Value::Number(n))
                if fits_integer(n, i64::from(i32::MIN), i64::from(i32::MAX)) =>
            {
                Ok(())
            }
            (Form::IntOrString, other) => Err(undecodable(
                at,
                format!(
                    "json: cannot unmarshal {} into Go value of type int32",
                    what(other, "int32")
                ),
            )),
            // Go keeps these as raw JSON, whatever it is.
            (Form::FieldsV1 | Form::RawExtension, _) => Ok(()),
            (Form::Items, Value::Array(items)) => {
                for (i, item) in items.iter_mut().enumerate() {
                    match item {
                        Value::Null => *item = json!(""),
                        Value::String(_) => {}
                        other => {
                            return Err(mismatch(owner, &Path::Index(at, i), other, "string"));
                        }
                    }
                }
                Ok(())
            }
            (_, other) => Err(mismatch(owner, at, other, &go_name(msg))),
        }
    }

    /// A string field with a fixed set of values ([`ENUMS`]). An empty
    /// string is left to defaulting and the kind's own checks.
    fn enumerated(&mut self, owner: &Message, field: &Field, text: &str, at: &Path) {
        let allowed = ENUMS
            .iter()
            .find(|(message, name, _)| *message == owner.full_name && *name == field.json);
        if let Some((_, _, allowed)) = allowed
            && !text.is_empty()
            && !allowed.contains(&text)
        {
            self.causes
                .push(FieldCause::not_supported(at.to_string(), text, allowed));
        }
    }

    /// Kubernetes' cap on an object's annotations, keys and values together.
    fn annotations(&mut self, meta: &Map<String, Value>, at: &Path) {
        let Some(Value::Object(annotations)) = meta.get("annotations") else {
            return;
        };
        let total: usize = annotations
            .iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum();
        if total > ANNOTATIONS_LIMIT {
            self.causes.push(FieldCause {
                field: Path::Field(at, "annotations").to_string(),
                message: format!("Too long: must have at most {ANNOTATIONS_LIMIT} bytes"),
                reason: "FieldValueTooLong",
            });
        }
    }
}

/// The field of `msg` a JSON object calls `name`, looking into embedded
/// structs (`Volume`'s `VolumeSource`), whose fields join the parent.
fn field_of<'s>(schema: &'s Schema, msg: &'s Message, name: &str) -> Option<&'s Field> {
    msg.fields
        .iter()
        .find(|f| f.shape != Shape::Inline && f.json == name)
        .or_else(|| {
            msg.fields.iter().find_map(|f| match (f.shape, f.kind) {
                (Shape::Inline, Kind::Msg(id)) => field_of(schema, &schema[id], name),
                _ => None,
            })
        })
}

/// A JSON number that is an integer within `min..=max`: Go refuses `1.5`
/// or `1e3` for an int, and a number too large for its type.
fn fits_integer(n: &serde_json::Number, min: i64, max: i64) -> bool {
    n.as_i64().is_some_and(|i| (min..=max).contains(&i))
}

/// `metav1.Time` and `MicroTime`: an RFC 3339 string.
fn time(value: &Value, at: &Path) -> Result<(), Undecodable> {
    let Value::String(text) = value else {
        return Err(undecodable(
            at,
            format!(
                "json: cannot unmarshal {} into Go value of type string",
                json_kind(value)
            ),
        ));
    };
    match text.parse::<jiff::Timestamp>() {
        Ok(_) => Ok(()),
        Err(_) => Err(undecodable(
            at,
            format!(
                "parsing time {text:?} as \"2006-01-02T15:04:05Z07:00\": cannot parse {text:?} as \"2006\""
            ),
        )),
    }
}

/// The zero value Go stores for a `null` element of a list or map.
fn zero(schema: &Schema, kind: Kind) -> Value {
    match kind {
        Kind::Str | Kind::Bytes => json!(""),
        Kind::I32 | Kind::I64 => json!(0),
        Kind::Bool => json!(false),
        Kind::Msg(id) => match schema[id].form {
            Form::Object => json!({}),
            Form::Quantity => json!("0"),
            Form::IntOrString => json!(0),
            Form::Items => json!([]),
            Form::Time | Form::MicroTime | Form::FieldsV1 | Form::RawExtension => Value::Null,
        },
    }
}

/// Go's `UnmarshalTypeError`: what JSON held, where (the innermost struct
/// and the path of JSON names from the top, without indices), and the Go
/// type wanted.
fn mismatch(owner: &Message, at: &Path, value: &Value, go: &str) -> Undecodable {
    let mut names = String::new();
    go_path(at, &mut names);
    undecodable(
        at,
        format!(
            "json: cannot unmarshal {} into Go struct field {}.{names} of type {go}",
            what(value, go),
            owner.name
        ),
    )
}

/// What Go's decoder says it read: the JSON type, and for a number it
/// could not fit into an integer type, the number itself (`number 1.5`).
fn what(value: &Value, go: &str) -> String {
    match value {
        Value::Number(n) if go.starts_with("int") => format!("number {n}"),
        other => json_kind(other).to_string(),
    }
}

fn undecodable(at: &Path, message: String) -> Undecodable {
    Undecodable {
        message,
        field: at.to_string(),
    }
}

/// The field names of a path, dotted, as Go's error names them
/// (`spec.containers.command`: indices and map keys left out).
fn go_path(at: &Path, out: &mut String) {
    match at {
        Path::Root(_) => {}
        Path::Index(parent, _) | Path::Key(parent, _) => go_path(parent, out),
        Path::Field(parent, name) => {
            go_path(parent, out);
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(name);
        }
    }
}

/// How Go's JSON decoder names a value it read.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The Go type of one value of `kind`, as Go prints it.
fn go_type(schema: &Schema, kind: Kind) -> String {
    match kind {
        Kind::Str => "string".into(),
        Kind::Bytes => "[]uint8".into(),
        Kind::I32 => "int32".into(),
        Kind::I64 => "int64".into(),
        Kind::Bool => "bool".into(),
        Kind::Msg(id) => go_name(&schema[id]),
    }
}

/// A message's Go type: its package's last element and its name
/// (`k8s.io.api.core.v1.PodSpec` → `v1.PodSpec`, `resource.Quantity`).
/// Go names a named type (`v1.ResourceList`, `v1.RestartPolicy`) by its
/// own name, which protobuf does not keep; orc names what it stands for.
fn go_name(msg: &Message) -> String {
    let mut parts = msg.full_name.rsplit('.');
    let name = parts.next().unwrap_or_default();
    match parts.next() {
        Some(package) => format!("{package}.{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests;

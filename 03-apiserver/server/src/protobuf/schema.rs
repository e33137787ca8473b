//! Kubernetes' protobuf schema: the descriptors kubectl carries, turned
//! into the decoder's view ([`super::message`]) once, by Kubernetes'
//! conventions.
//!
//! `k8s-v1.32.fds` is a `FileDescriptorSet` of every GA API group of
//! Kubernetes v1.32 (core, apps, batch, networking, rbac, storage, policy,
//! discovery, ...) and the apimachinery types they share, 180 KB taken out
//! of the kubectl v1.32 binary by `scripts/k8s-descriptors.py`; the script
//! says how. `scripts/k8s-descriptors.py [KUBECTL] [-o FILE]` writes it
//! again, byte for byte, or for another kubectl version. The file is
//! compiled into orc, so neither the build nor the server needs kubectl.
//!
//! orc reads the set with its own [`wire`](super::wire) reader
//! ([`super::descriptor`]) rather than a reflection crate such as
//! `prost-reflect`. A descriptor is a protobuf message like any other, so
//! reading one is the chapter's lesson once more, in one short file. And
//! the decoder needs a view of its own either way: what it asks (is this
//! Go field a pointer? is this type a `Time`?) is answered by gogoproto
//! options and Kubernetes' conventions, not by a generic reflection API,
//! and answering it once per message, here, keeps each request's decoding
//! to plain vector lookups. A crate would only replace the reading.
//!
//! Most of the view comes straight from the descriptors:
//! - number, name and type of every field;
//! - list or map: a repeated field whose message protoc marked `map_entry`
//!   is a Go map;
//! - value or pointer: `(gogoproto.nullable) = false`, which go-to-protobuf
//!   writes on every Go value field;
//! - the JSON form of the few Go types with marshallers of their own
//!   (`Time`, `Quantity`, `IntOrString`, ...), by message name ([`FORMS`]).
//!
//! Two facts live only in Go's struct tags, which protobuf never sees:
//! which embedded structs are `json:",inline"` ([`INLINE`]; go-to-protobuf
//! no longer writes `(gogoproto.embed)`), and the handful of fields
//! whose protobuf name is not their JSON name ([`JSON_NAMES`]). Both lists
//! are checked against the descriptors when the schema loads, and the
//! extraction script prints what kubectl's struct tags say, to compare.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::descriptor::{self, FieldDescriptor, MessageDescriptor, ProtoType};
use super::message::{Field, Form, Kind, Message, MessageId, Schema, Shape};
use super::wire::WireError;

/// Kubernetes v1.32's messages, made by `scripts/k8s-descriptors.py`.
pub static DESCRIPTOR_SET: &[u8] = include_bytes!("k8s-v1.32.fds");

// ANCHOR: kubernetes
/// The schema of Kubernetes v1.32, loaded on first use (a few
/// milliseconds) and shared by every request after that.
pub fn kubernetes() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // The set is part of orc's source, and `tests::the_kubernetes_schema_loads`
        // loads it: a failure here is a bug in orc, not bad input.
        load(DESCRIPTOR_SET, INLINE).expect("the compiled-in Kubernetes descriptor set loads")
    })
}
// ANCHOR_END: kubernetes

/// Go types whose JSON is not an object of their protobuf fields.
pub const FORMS: &[(&str, Form)] = &[
    ("k8s.io.apimachinery.pkg.apis.meta.v1.Time", Form::Time),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime",
        Form::MicroTime,
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1",
        Form::FieldsV1,
    ),
    ("k8s.io.apimachinery.pkg.apis.meta.v1.Verbs", Form::Items),
    (
        "k8s.io.apimachinery.pkg.api.resource.Quantity",
        Form::Quantity,
    ),
    (
        "k8s.io.apimachinery.pkg.api.resource.QuantityValue",
        Form::Quantity,
    ),
    (
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
        Form::IntOrString,
    ),
    (
        "k8s.io.apimachinery.pkg.runtime.RawExtension",
        Form::RawExtension,
    ),
    ("k8s.io.api.authentication.v1.ExtraValue", Form::Items),
    ("k8s.io.api.authorization.v1.ExtraValue", Form::Items),
    ("k8s.io.api.certificates.v1.ExtraValue", Form::Items),
];

/// Embedded Go structs tagged `json:",inline"`, whose fields join their
/// parent's in JSON (`Volume{name, volumeSource{emptyDir}}` is
/// `{"name", "emptyDir"}`). On the wire they are ordinary message fields,
/// and the descriptors cannot tell them from a field that happens to be
/// named after its type (`RoleBinding.roleRef`), so they are listed.
/// (`runtime.Unknown.typeMeta` is inline too, but `Unknown` is the
/// envelope, which [`super::envelope`] reads by hand.)
pub const INLINE: &[&str] = &[
    "k8s.io.api.admissionregistration.v1.NamedRuleWithOperations.ruleWithOperations",
    "k8s.io.api.admissionregistration.v1.RuleWithOperations.rule",
    "k8s.io.api.core.v1.ConfigMapEnvSource.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapProjection.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapVolumeSource.localObjectReference",
    "k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon",
    "k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource",
    "k8s.io.api.core.v1.Probe.handler",
    "k8s.io.api.core.v1.SecretEnvSource.localObjectReference",
    "k8s.io.api.core.v1.SecretKeySelector.localObjectReference",
    "k8s.io.api.core.v1.SecretProjection.localObjectReference",
    "k8s.io.api.core.v1.Volume.volumeSource",
    "k8s.io.api.networking.v1.IngressRule.ingressRuleValue",
];

/// Fields whose Go struct tag gives protobuf a name of its own
/// (`protobuf:"...,name=Webhooks"` next to `json:"webhooks"`): protobuf
/// name → JSON name. Every other field's protobuf name is its JSON name.
pub const JSON_NAMES: &[(&str, &str)] = &[
    (
        "k8s.io.api.admissionregistration.v1.MutatingWebhookConfiguration.Webhooks",
        "webhooks",
    ),
    (
        "k8s.io.api.admissionregistration.v1.ValidatingWebhookConfiguration.Webhooks",
        "webhooks",
    ),
    (
        "k8s.io.api.admissionregistration.v1.Validation.Expression",
        "expression",
    ),
    ("k8s.io.api.admissionregistration.v1.Variable.Name", "name"),
    (
        "k8s.io.api.admissionregistration.v1.Variable.Expression",
        "expression",
    ),
    (
        "k8s.io.api.authentication.v1.BoundObjectReference.uID",
        "uid",
    ),
    (
        "k8s.io.api.networking.v1.IngressClassParametersReference.aPIGroup",
        "apiGroup",
    ),
];

/// Why a descriptor set did not give a schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The bytes are not a `FileDescriptorSet`.
    #[error("the descriptor set is not valid protobuf: {0}")]
    Wire(#[from] WireError),
    /// The descriptors are readable but do not fit together or with orc's lists.
    #[error("{0}")]
    Invalid(String),
}

/// Reads a descriptor set and builds the decoder's view of every message
/// in it; `inline` lists the embedded fields (see [`INLINE`]).
pub fn load(set: &[u8], inline: &[&str]) -> Result<Schema, SchemaError> {
    let descriptors = descriptor::read_set(set)?;
    let mut by_name = HashMap::new();
    for (i, d) in descriptors.iter().enumerate() {
        if by_name.insert(d.full_name.clone(), MessageId(i)).is_some() {
            return Err(invalid(format!("{} is defined twice", d.full_name)));
        }
    }
    let builder = Builder {
        descriptors: &descriptors,
        by_name: &by_name,
        inline,
    };
    builder.check_lists()?;
    let messages = descriptors
        .iter()
        .map(|d| builder.message(d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schema { messages, by_name })
}

fn invalid(what: String) -> SchemaError {
    SchemaError::Invalid(what)
}

/// What building one message needs to see of the others.
struct Builder<'a> {
    descriptors: &'a [MessageDescriptor],
    by_name: &'a HashMap<String, MessageId>,
    inline: &'a [&'a str],
}

impl Builder<'_> {
    fn message(&self, d: &MessageDescriptor) -> Result<Message, SchemaError> {
        let mut fields = Vec::with_capacity(d.fields.len());
        for f in &d.fields {
            if let Some(field) = self.field(d, f)? {
                fields.push(field);
            }
        }
        fields.sort_by_key(|f| f.number);
        let form = FORMS
            .iter()
            .find(|(name, _)| *name == d.full_name)
            .map_or(Form::Object, |&(_, form)| form);
        let name = d.full_name.rsplit('.').next().unwrap_or_default();
        Ok(Message {
            name: name.to_string(),
            full_name: d.full_name.clone(),
            form,
            fields,
        })
    }

    // ANCHOR: field
    /// One field as the decoder sees it; `None` for a type orc does not
    /// decode (none occurs in Kubernetes objects; such a field on the wire
    /// is then refused as unknown).
    fn field(
        &self,
        message: &MessageDescriptor,
        f: &FieldDescriptor,
    ) -> Result<Option<Field>, SchemaError> {
        let Some(kind) = self.kind(f)? else {
            return Ok(None);
        };
        let path = format!("{}.{}", message.full_name, f.name);
        let shape = match kind {
            // protoc turns `map<K, V> m` into `repeated MEntry m`, with
            // `MEntry {K key = 1; V value = 2}` marked as a map entry.
            Kind::Msg(entry) if f.repeated && self.descriptors[entry.0].map_entry => {
                return Ok(self
                    .map_value(&self.descriptors[entry.0])?
                    .map(|value| Field {
                        number: f.number,
                        json: f.name.clone(),
                        kind: value,
                        shape: Shape::Map,
                    }));
            }
            _ if f.repeated => Shape::List,
            _ if self.inline.contains(&path.as_str()) => Shape::Inline,
            _ if f.nullable => Shape::Pointer,
            _ => Shape::Value,
        };
        let json = JSON_NAMES
            .iter()
            .find(|(name, _)| *name == path)
            .map_or(f.name.as_str(), |(_, json)| json);
        Ok(Some(Field {
            number: f.number,
            json: json.to_string(),
            kind,
            shape,
        }))
    }
    // ANCHOR_END: field

    /// The kind of one value of `f`, the referenced message resolved.
    fn kind(&self, f: &FieldDescriptor) -> Result<Option<Kind>, SchemaError> {
        Ok(Some(match f.ty {
            ProtoType::String => Kind::Str,
            ProtoType::Bytes => Kind::Bytes,
            ProtoType::Int32 => Kind::I32,
            ProtoType::Int64 => Kind::I64,
            ProtoType::Bool => Kind::Bool,
            ProtoType::Message => Kind::Msg(self.resolve(&f.type_name)?),
            ProtoType::Other(_) => return Ok(None),
        }))
    }

    /// A message type by the name a field gives it: protoc writes full
    /// names with a leading dot.
    fn resolve(&self, type_name: &str) -> Result<MessageId, SchemaError> {
        type_name
            .strip_prefix('.')
            .and_then(|name| self.by_name.get(name))
            .copied()
            .ok_or_else(|| invalid(format!("no message {type_name} in the descriptor set")))
    }

    /// The value kind of a map whose entry message is `entry`. Go maps in
    /// Kubernetes objects have string keys, which JSON needs anyway.
    fn map_value(&self, entry: &MessageDescriptor) -> Result<Option<Kind>, SchemaError> {
        let by_number = |n| entry.fields.iter().find(|f| f.number == n);
        match (by_number(1), by_number(2)) {
            (Some(key), Some(value)) if key.ty == ProtoType::String => self.kind(value),
            _ => Err(invalid(format!(
                "{} is not a map entry with string keys",
                entry.full_name
            ))),
        }
    }

    /// The field `message.field` of a path such as `...v1.Volume.volumeSource`.
    fn lookup(&self, path: &str) -> Option<&FieldDescriptor> {
        let (message, field) = path.rsplit_once('.')?;
        let id = self.by_name.get(message)?;
        self.descriptors[id.0]
            .fields
            .iter()
            .find(|f| f.name == field)
    }

    /// Every name in [`FORMS`], [`JSON_NAMES`] and the inline list must be
    /// in the descriptors, so a typo or a renamed type fails loudly.
    fn check_lists(&self) -> Result<(), SchemaError> {
        for (name, _) in FORMS {
            if !self.by_name.contains_key(*name) {
                return Err(invalid(format!(
                    "FORMS names {name}, not in the descriptor set"
                )));
            }
        }
        for (path, _) in JSON_NAMES {
            if self.lookup(path).is_none() {
                return Err(invalid(format!(
                    "JSON_NAMES names {path}, not in the descriptor set"
                )));
            }
        }
        for path in self.inline {
            let Some(f) = self.lookup(path) else {
                return Err(invalid(format!(
                    "INLINE names {path}, not in the descriptor set"
                )));
            };
            // Go names an embedded field after its type, and go-to-protobuf
            // records that Go name as `customname`; an embedded struct is
            // a value, not a pointer.
            let type_name = f.type_name.rsplit('.').next().unwrap_or_default();
            let embedded = f.ty == ProtoType::Message
                && !f.repeated
                && !f.nullable
                && f.go_name.as_deref().unwrap_or(&f.name) == type_name;
            if !embedded {
                return Err(invalid(format!(
                    "INLINE names {path}, which is not an embedded Go struct"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(schema: &'a Schema, message: &str, json: &str) -> &'a Field {
        let m = schema
            .get(message)
            .unwrap_or_else(|| panic!("no {message}"));
        m.field_named(json)
            .unwrap_or_else(|| panic!("no {json} in {message}"))
    }

    #[test]
    fn the_kubernetes_schema_loads() {
        let schema = load(DESCRIPTOR_SET, INLINE).unwrap();
        // Every field of every Kubernetes message has a kind orc decodes:
        // none was left out of the view.
        let descriptors = descriptor::read_set(DESCRIPTOR_SET).unwrap();
        for d in descriptors
            .iter()
            .filter(|d| d.full_name.starts_with("k8s.io."))
        {
            let m = schema.get(&d.full_name).unwrap();
            assert_eq!(m.fields.len(), d.fields.len(), "{}", d.full_name);
        }
        // The GA groups orc does not serve yet are there too.
        for name in [
            "k8s.io.api.apps.v1.StatefulSet",
            "k8s.io.api.batch.v1.CronJob",
            "k8s.io.api.discovery.v1.EndpointSlice",
            "k8s.io.api.rbac.v1.ClusterRoleBinding",
            "k8s.io.api.policy.v1.PodDisruptionBudget",
            "k8s.io.api.storage.v1.StorageClass",
            "k8s.io.api.core.v1.PersistentVolume",
            "k8s.io.api.autoscaling.v2.HorizontalPodAutoscaler",
        ] {
            assert!(schema.get(name).is_some(), "{name}");
        }
    }

    #[test]
    fn pointers_and_values_come_from_gogoproto_nullable() {
        let schema = kubernetes();
        let spec = "k8s.io.api.apps.v1.DeploymentSpec";
        // `Replicas *int32`: nullable, so 0 on the wire means 0.
        assert_eq!(field(schema, spec, "replicas").shape, Shape::Pointer);
        // `MinReadySeconds int32`: `(gogoproto.nullable) = false`.
        assert_eq!(field(schema, spec, "minReadySeconds").shape, Shape::Value);
        assert_eq!(field(schema, spec, "template").shape, Shape::Value);
        let meta = "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta";
        assert_eq!(field(schema, meta, "creationTimestamp").shape, Shape::Value);
        assert_eq!(
            field(schema, meta, "deletionTimestamp").shape,
            Shape::Pointer
        );
    }

    #[test]
    fn lists_maps_and_forms_come_from_the_descriptors() {
        let schema = kubernetes();
        let meta = "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta";
        let labels = field(schema, meta, "labels");
        assert_eq!((labels.shape, labels.kind), (Shape::Map, Kind::Str));
        assert_eq!(field(schema, meta, "finalizers").shape, Shape::List);
        let limits = field(schema, "k8s.io.api.core.v1.ResourceRequirements", "limits");
        let Kind::Msg(quantity) = limits.kind else {
            panic!("{limits:?}")
        };
        assert_eq!(
            (limits.shape, schema[quantity].form),
            (Shape::Map, Form::Quantity)
        );
        let Kind::Msg(time) = field(schema, meta, "creationTimestamp").kind else {
            panic!()
        };
        assert_eq!(schema[time].form, Form::Time);
        // A Go named slice is an array in JSON; a struct holding only a
        // list (`DownwardAPIProjection{items}`) is still an object.
        let extra = schema
            .get("k8s.io.api.authentication.v1.ExtraValue")
            .unwrap();
        assert_eq!(extra.form, Form::Items);
        let projection = schema
            .get("k8s.io.api.core.v1.DownwardAPIProjection")
            .unwrap();
        assert_eq!(projection.form, Form::Object);
    }

    #[test]
    fn inline_fields_are_the_listed_embedded_structs() {
        let schema = kubernetes();
        let source = field(schema, "k8s.io.api.core.v1.Volume", "volumeSource");
        assert_eq!(source.shape, Shape::Inline);
        assert_eq!(
            source.kind,
            Kind::Msg(schema.by_name["k8s.io.api.core.v1.VolumeSource"])
        );
        // Go field `RoleRef RoleRef`, tagged `json:"roleRef"`: named after
        // its type like an embedded struct, but a field of its own in JSON.
        let role_ref = field(schema, "k8s.io.api.rbac.v1.RoleBinding", "roleRef");
        assert_eq!(role_ref.shape, Shape::Value);
        let inline = schema
            .messages()
            .flat_map(|m| m.fields.iter().filter(|f| f.shape == Shape::Inline))
            .count();
        assert_eq!(inline, INLINE.len());
    }

    #[test]
    fn json_names_follow_the_go_tags_where_protobuf_names_differ() {
        let schema = kubernetes();
        let config = "k8s.io.api.admissionregistration.v1.ValidatingWebhookConfiguration";
        assert_eq!(field(schema, config, "webhooks").number, 2);
        let reference = "k8s.io.api.networking.v1.IngressClassParametersReference";
        assert_eq!(field(schema, reference, "apiGroup").number, 1);
        // `DaemonEndpoint.Port` really is capitalised in JSON (`json:"Port"`).
        assert_eq!(
            field(schema, "k8s.io.api.core.v1.DaemonEndpoint", "Port").number,
            1
        );
    }

    #[test]
    fn lists_naming_what_the_descriptors_lack_are_refused() {
        let err = load(DESCRIPTOR_SET, &["k8s.io.api.core.v1.Volume.nothing"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "INLINE names k8s.io.api.core.v1.Volume.nothing, not in the descriptor set"
        );
        let err = load(DESCRIPTOR_SET, &["k8s.io.api.rbac.v1.RoleBinding.subjects"]).unwrap_err();
        assert!(
            err.to_string().ends_with("not an embedded Go struct"),
            "{err}"
        );
        let err = load(&DESCRIPTOR_SET[..100], INLINE).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the descriptor set is not valid protobuf"),
            "{err}"
        );
    }
}

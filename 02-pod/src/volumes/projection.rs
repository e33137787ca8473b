//! What files a `configMap`, `secret`, `downwardAPI` or `projected` volume
//! holds: the kubelet's `MakePayload`, pure.
//!
//! A [`Payload`] maps each file's path inside the volume to its bytes and
//! permission bits. It is computed afresh at every sync from the objects
//! the pod names, and [`super::atomic_writer`] makes the directory match it,
//! so an edited ConfigMap reaches the running pod.

use std::collections::BTreeMap;

use super::source::{
    DEFAULT_MODE, DownwardApiVolumeFile, KeyToPath, ObjectProjection, VolumeProjection,
};
use crate::env::{self, ObjectSource, PodFacts};
use crate::pod_spec::{Pod, Volume};

/// One file of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProjection {
    pub data: Vec<u8>,
    /// Permission bits (`0o644`), from the item's `mode`, else the
    /// volume's `defaultMode`, else [`DEFAULT_MODE`].
    pub mode: u32,
}

/// Every file of a volume, by path relative to the volume's root.
pub type Payload = BTreeMap<String, FileProjection>;

/// Which object a ConfigMap or Secret source names, for messages and
/// lookups: Kubernetes' words differ per kind.
#[derive(Clone, Copy)]
enum Kind {
    ConfigMap,
    Secret,
}

// ANCHOR: payload
/// The files of `volume`, or `None` for a volume that is a plain directory
/// (`emptyDir`, `hostPath`). `Err` is the reason the kubelet gives after
/// `MountVolume.SetUp failed for volume "<name>" : ` (`configmap "web" not
/// found`); the pod's containers wait until it is repaired.
pub fn payload(
    pod: &Pod,
    volume: &Volume,
    objects: &dyn ObjectSource,
    facts: &PodFacts,
) -> Result<Option<Payload>, String> {
    let mut files = Payload::new();
    let mode = |default: Option<u32>| default.unwrap_or(DEFAULT_MODE);
    if let Some(cm) = &volume.config_map {
        let source = (
            Kind::ConfigMap,
            cm.name.as_str(),
            &cm.items[..],
            cm.optional,
        );
        project_object(&mut files, pod, objects, source, mode(cm.default_mode))?;
    } else if let Some(s) = &volume.secret {
        let source = (
            Kind::Secret,
            s.secret_name.as_str(),
            &s.items[..],
            s.optional,
        );
        project_object(&mut files, pod, objects, source, mode(s.default_mode))?;
    } else if let Some(downward) = &volume.downward_api {
        let mode = mode(downward.default_mode);
        project_fields(&mut files, pod, &downward.items, mode, facts)?;
    } else if let Some(projected) = &volume.projected {
        let mode = mode(projected.default_mode);
        for source in &projected.sources {
            project_source(&mut files, pod, source, mode, objects, facts)?;
        }
    } else {
        return Ok(None);
    }
    files.keys().try_for_each(|path| check_path(path))?;
    Ok(Some(files))
}
// ANCHOR_END: payload

/// One source of a `projected` volume, added to `files`.
fn project_source(
    files: &mut Payload,
    pod: &Pod,
    source: &VolumeProjection,
    mode: u32,
    objects: &dyn ObjectSource,
    facts: &PodFacts,
) -> Result<(), String> {
    let object = |kind, p: &ObjectProjection, files: &mut Payload| {
        let source = (kind, p.name.as_str(), &p.items[..], p.optional);
        project_object(files, pod, objects, source, mode)
    };
    match source {
        VolumeProjection {
            config_map: Some(p),
            ..
        } => object(Kind::ConfigMap, p, files),
        VolumeProjection {
            secret: Some(p), ..
        } => object(Kind::Secret, p, files),
        VolumeProjection {
            downward_api: Some(d),
            ..
        } => project_fields(files, pod, &d.items, mode, facts),
        VolumeProjection {
            service_account_token: Some(t),
            ..
        } => {
            // The volume's mode, as the kubelet writes it for a pod
            // without `fsUser`/`fsGroup` (orc has neither).
            let token = objects.service_account_token(pod, t)?;
            let data = token.into_bytes();
            files.insert(t.path.clone(), FileProjection { data, mode });
            Ok(())
        }
        VolumeProjection {
            cluster_trust_bundle: Some(_),
            ..
        } => Err("clusterTrustBundle projections are not built".into()),
        _ => Ok(()),
    }
}

/// A ConfigMap or Secret source: which kind, its name, its `items`, and
/// whether it is `optional`.
type ObjectSourceRef<'a> = (Kind, &'a str, &'a [KeyToPath], bool);

/// The files of one ConfigMap or Secret source, added to `files`.
fn project_object(
    files: &mut Payload,
    pod: &Pod,
    objects: &dyn ObjectSource,
    (kind, name, items, optional): ObjectSourceRef,
    mode: u32,
) -> Result<(), String> {
    let data = object_data(pod, objects, kind, name, optional)?;
    project_keys(files, data, items, mode, optional, kind)
}

/// The keys of ConfigMap or Secret `name` in the pod's namespace as bytes
/// (a ConfigMap's `binaryData` too); `None` when it is missing and
/// `optional`, the kubelet's `not found` message when it is missing and not.
fn object_data(
    pod: &Pod,
    objects: &dyn ObjectSource,
    kind: Kind,
    name: &str,
    optional: bool,
) -> Result<Option<BTreeMap<String, Vec<u8>>>, String> {
    let ns = &pod.metadata.namespace;
    let found = match kind {
        Kind::ConfigMap => objects.config_map(ns, name)?.map(|data| {
            let mut bytes: BTreeMap<String, Vec<u8>> =
                data.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
            bytes.extend(objects.config_map_binary_data(ns, name));
            bytes
        }),
        Kind::Secret => objects.secret(ns, name)?,
    };
    match (found, optional) {
        (Some(data), _) => Ok(Some(data)),
        (None, true) => Ok(None),
        (None, false) => Err(match kind {
            Kind::ConfigMap => format!("configmap {name:?} not found"),
            Kind::Secret => format!("secret {name:?} not found"),
        }),
    }
}

// ANCHOR: project_keys
/// An object's keys as files: all of them at their own names, or only
/// `items`, each at its `path` with its own `mode`. A listed key the object
/// lacks is an error unless the source is `optional`.
fn project_keys(
    files: &mut Payload,
    data: Option<BTreeMap<String, Vec<u8>>>,
    items: &[KeyToPath],
    mode: u32,
    optional: bool,
    kind: Kind,
) -> Result<(), String> {
    let Some(data) = data else { return Ok(()) };
    if items.is_empty() {
        for (key, bytes) in data {
            files.insert(key, FileProjection { data: bytes, mode });
        }
        return Ok(());
    }
    for item in items {
        let Some(bytes) = data.get(&item.key) else {
            if optional {
                continue;
            }
            return Err(match kind {
                Kind::ConfigMap => {
                    format!("configmap references non-existent config key: {}", item.key)
                }
                Kind::Secret => format!("references non-existent secret key: {}", item.key),
            });
        };
        let mode = item.mode.unwrap_or(mode);
        files.insert(
            item.path.clone(),
            FileProjection {
                data: bytes.clone(),
                mode,
            },
        );
    }
    Ok(())
}
// ANCHOR_END: project_keys

/// Downward API items: each a field of the pod or a container's resource.
fn project_fields(
    files: &mut Payload,
    pod: &Pod,
    items: &[DownwardApiVolumeFile],
    mode: u32,
    facts: &PodFacts,
) -> Result<(), String> {
    for item in items {
        let text = match (&item.field_ref, &item.resource_field_ref) {
            (Some(f), _) => field_text(&f.field_path, pod, facts)?,
            (None, Some(r)) => {
                let container = pod.container(&r.container_name).ok_or_else(|| {
                    format!(
                        "{}: resourceFieldRef needs the containerName of one of the pod's containers",
                        item.path
                    )
                })?;
                env::resource_value(r, pod, container, facts)?
            }
            (None, None) => continue,
        };
        let mode = item.mode.unwrap_or(mode);
        files.insert(
            item.path.clone(),
            FileProjection {
                data: text.into_bytes(),
                mode,
            },
        );
    }
    Ok(())
}

// ANCHOR: field_text
/// A field as a downward API file holds it. The whole `metadata.labels` or
/// `metadata.annotations` (which only a volume may ask for) is one
/// `key="value"` line per entry, sorted, as the kubelet's `FormatMap`;
/// anything else is the same text an environment variable gets.
fn field_text(path: &str, pod: &Pod, facts: &PodFacts) -> Result<String, String> {
    let map = match path {
        "metadata.labels" => &pod.metadata.labels,
        "metadata.annotations" => &pod.metadata.annotations,
        _ => return env::field_value(path, pod, facts),
    };
    let lines: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    Ok(lines.join("\n"))
}
// ANCHOR_END: field_text

/// A file's path must stay inside the volume: relative, no `..` element,
/// and not starting with `..` (the writer's own names start so).
pub fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.starts_with('/') {
        return Err(format!("invalid path {path:?}: must be a relative path"));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("invalid path {path:?}: must not contain '..'"));
    }
    if path.starts_with("..") {
        return Err(format!("invalid path {path:?}: must not start with '..'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::env::tests::Objects;

    fn volume(yaml: &str) -> Volume {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn pod() -> Pod {
        let yaml = "metadata: {name: p, namespace: shop, labels: {app: shop, tier: web}}\nspec:\n  containers:\n  - {name: a, image: i, resources: {limits: {memory: 64Mi}}}\n";
        serde_yaml::from_str(yaml).unwrap()
    }

    fn files(v: &str) -> Result<Vec<(String, String, u32)>, String> {
        let payload = payload(&pod(), &volume(v), &Objects, &PodFacts::default())?.unwrap();
        Ok(payload
            .into_iter()
            .map(|(p, f)| (p, String::from_utf8(f.data).unwrap(), f.mode))
            .collect())
    }

    fn file(path: &str, text: &str, mode: u32) -> (String, String, u32) {
        (path.into(), text.into(), mode)
    }

    #[test]
    fn every_key_or_only_the_items() {
        assert_eq!(
            files("{name: v, configMap: {name: web}}").unwrap(),
            [file("mode", "fast", 0o644), file("port", "8080", 0o644)]
        );
        let only = "{name: v, configMap: {name: web, defaultMode: 256, items: [{key: port, path: conf/port}, {key: mode, path: m, mode: 511}]}}";
        assert_eq!(
            files(only).unwrap(),
            [file("conf/port", "8080", 0o400), file("m", "fast", 0o777)]
        );
        assert_eq!(
            files("{name: v, secret: {secretName: db}}").unwrap(),
            [file("password", "s3cr3t", 0o644)]
        );
    }

    #[test]
    fn missing_objects_and_keys_say_so_unless_optional() {
        assert_eq!(
            files("{name: v, configMap: {name: nope}}").unwrap_err(),
            "configmap \"nope\" not found"
        );
        assert_eq!(
            files("{name: v, configMap: {name: nope, optional: true}}").unwrap(),
            []
        );
        assert_eq!(
            files("{name: v, secret: {secretName: db, items: [{key: user, path: u}]}}")
                .unwrap_err(),
            "references non-existent secret key: user"
        );
        assert_eq!(
            files("{name: v, configMap: {name: web, items: [{key: x, path: x}]}}").unwrap_err(),
            "configmap references non-existent config key: x"
        );
        assert_eq!(
            files("{name: v, configMap: {name: web, items: [{key: port, path: ../x}]}}")
                .unwrap_err(),
            "invalid path \"../x\": must not contain '..'"
        );
    }

    #[test]
    fn downward_and_projected_files() {
        let downward = "{name: v, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: name, fieldRef: {fieldPath: metadata.name}}, {path: mem, resourceFieldRef: {containerName: a, resource: limits.memory, divisor: 1Mi}}]}}";
        assert_eq!(
            files(downward).unwrap(),
            [
                file("labels", "app=\"shop\"\ntier=\"web\"", 0o644),
                file("mem", "64", 0o644),
                file("name", "p", 0o644)
            ]
        );
        let projected = "{name: v, projected: {defaultMode: 288, sources: [{configMap: {name: web, items: [{key: port, path: port}]}}, {secret: {name: db}}, {downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}}]}}";
        assert_eq!(
            files(projected).unwrap(),
            [
                file("ns", "shop", 0o440),
                file("password", "s3cr3t", 0o440),
                file("port", "8080", 0o440)
            ]
        );
        // The token as the object source answers it, at `path`; the
        // CA and namespace beside it, as the API server's admission
        // step lays out every pod's `kube-api-access-*` volume.
        let token = "{name: v, projected: {defaultMode: 420, sources: [{serviceAccountToken: {path: token, expirationSeconds: 3607}}, {configMap: {name: web, items: [{key: port, path: ca.crt}]}}, {downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}}]}}";
        assert_eq!(
            files(token).unwrap(),
            [
                file("ca.crt", "8080", 0o644),
                file("namespace", "shop", 0o644),
                file("token", "@:3607", 0o644)
            ]
        );
        // A static pod (no API server) cannot have one.
        let payload = payload(
            &pod(),
            &volume(token),
            &crate::env::NoApiServer,
            &PodFacts::default(),
        );
        assert!(payload.unwrap_err().contains("no API server"));
    }

    #[test]
    fn plain_directories_have_no_payload() {
        let v = volume("{name: v, emptyDir: {}}");
        assert_eq!(
            payload(&pod(), &v, &Objects, &PodFacts::default()),
            Ok(None)
        );
    }
}

//! Where the agent learns which pods to run: the [`PodSource`] trait.
//!
//! The kubelet merges pods from several sources: static manifests in a
//! directory (`--pod-manifest-path`, how control-plane pods start before
//! there is an API server), an HTTP URL, and the API server. Chapter 02 has
//! the first, [`ManifestDir`]; chapter 03 adds the API server as a second
//! implementation of the same trait.
//!
//! A source returns its *whole* current set of pods every time (level, not
//! edge): the sync loop never needs to know what changed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::pod_spec::Pod;

/// One source's pods, and the manifests it could not use.
#[derive(Debug, Default)]
pub struct SourceSnapshot {
    pub pods: Vec<Pod>,
    pub errors: Vec<ManifestError>,
    /// Pods the source still holds but that are being deleted: the API
    /// server's graceful deletion marks a pod with a `deletionTimestamp`
    /// and leaves it to the node to stop it. They are not desired any more;
    /// the agent stops them with the grace period given here, and then
    /// tells its status sinks that they are gone (chapter 03). Static
    /// manifests never have any: a removed file is simply gone.
    pub terminating: Vec<Terminating>,
}

/// A pod being deleted, by uid, and how long its containers get between
/// SIGTERM and SIGKILL (`metadata.deletionGracePeriodSeconds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminating {
    pub uid: String,
    pub grace: std::time::Duration,
}

/// A provider of desired pods.
pub trait PodSource: Send + Sync {
    /// A short name for logs, e.g. `file:/etc/orc/manifests`.
    fn name(&self) -> String;
    /// Every pod this source wants on the node right now.
    fn snapshot(&self) -> SourceSnapshot;
}

/// A manifest (or one document of it) that was not used, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestError {
    pub file: PathBuf,
    /// The document's index in a multi-document file, from 0.
    pub document: usize,
    /// Where in the document: `spec.containers[0].image`, or `.` for the whole.
    pub field: String,
    /// `line:column` when the parser knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(loc) = &self.location {
            write!(f, ":{loc}")?;
        }
        write!(
            f,
            " (document {}): {}: {}",
            self.document, self.field, self.reason
        )
    }
}

/// Static pods: every `*.yaml`, `*.yml` and `*.json` file of a directory,
/// each holding one or more Pod documents.
pub struct ManifestDir {
    dir: PathBuf,
}

impl ManifestDir {
    pub fn new(dir: impl Into<PathBuf>) -> ManifestDir {
        ManifestDir { dir: dir.into() }
    }
}

impl PodSource for ManifestDir {
    fn name(&self) -> String {
        format!("file:{}", self.dir.display())
    }

    fn snapshot(&self) -> SourceSnapshot {
        let mut snapshot = SourceSnapshot::default();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries.filter_map(|e| Some(e.ok()?.path())).collect(),
            Err(e) => {
                snapshot.errors.push(whole_file(&self.dir, e.to_string()));
                return snapshot;
            }
        };
        files.retain(|p| {
            // Editors' swap and backup files (and dotfiles) are skipped, as the kubelet does.
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.')
                && [".yaml", ".yml", ".json"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
        });
        files.sort();
        for file in files {
            match std::fs::read_to_string(&file) {
                Ok(text) => parse_manifest(&file, &text, &mut snapshot),
                Err(e) => snapshot.errors.push(whole_file(&file, e.to_string())),
            }
        }
        // Two pods with one name would fight over it: the first file wins.
        let mut seen = std::collections::BTreeSet::new();
        let mut kept = vec![];
        for pod in std::mem::take(&mut snapshot.pods) {
            if seen.insert(pod.full_name()) {
                kept.push(pod);
            } else {
                let file = pod.metadata.annotations.get(SOURCE_FILE).cloned();
                snapshot.errors.push(ManifestError {
                    file: file.unwrap_or_default().into(),
                    document: 0,
                    field: "metadata.name".into(),
                    location: None,
                    reason: format!(
                        "pod {} is already defined in another manifest",
                        pod.full_name()
                    ),
                });
            }
        }
        snapshot.pods = kept;
        snapshot
    }
}

/// The annotation naming the manifest a static pod came from, like the
/// kubelet's `kubernetes.io/config.source` and `config.hash`.
pub const SOURCE_FILE: &str = "orc.config.file";

fn whole_file(file: &Path, reason: String) -> ManifestError {
    ManifestError {
        file: file.to_path_buf(),
        document: 0,
        field: ".".into(),
        location: None,
        reason,
    }
}

// ANCHOR: parse_manifest
/// Parses every document of one manifest file, adding good pods and
/// precise errors to `out`. One bad document does not hide the others.
pub fn parse_manifest(file: &Path, text: &str, out: &mut SourceSnapshot) {
    for (document, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let error = |field: String, location: Option<String>, reason: String| ManifestError {
            file: file.to_path_buf(),
            document,
            field,
            location,
            reason,
        };
        // serde_path_to_error tracks the field path while serde descends,
        // so "invalid type" comes with `spec.containers[1].ports[0]`.
        let value: Option<Pod> = match serde_path_to_error::deserialize(doc) {
            Ok(pod) => Some(pod),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let location = inner
                    .location()
                    .map(|l| format!("{}:{}", l.line(), l.column()));
                // An empty document (a trailing `---`) is not an error.
                if inner.to_string().contains("EOF while parsing") || text.trim().is_empty() {
                    None
                } else {
                    out.errors.push(error(path, location, inner.to_string()));
                    None
                }
            }
        };
        let Some(mut pod) = value else { continue };
        match validate(&pod) {
            Ok(()) => {
                if pod.metadata.uid.is_empty() {
                    pod.metadata.uid = static_pod_uid(&pod);
                }
                pod.metadata
                    .annotations
                    .insert(SOURCE_FILE.into(), file.display().to_string());
                out.pods.push(pod);
            }
            Err((field, reason)) => out.errors.push(error(field, None, reason)),
        }
    }
}
// ANCHOR_END: parse_manifest

/// Checks what types alone cannot: returns the field path and the reason.
pub fn validate(pod: &Pod) -> Result<(), (String, String)> {
    let fail = |field: &str, reason: String| Err((field.to_string(), reason));
    if !pod.kind.is_empty() && pod.kind != "Pod" {
        return fail(
            "kind",
            format!(
                "{:?} is not a Pod; static manifests hold pods only",
                pod.kind
            ),
        );
    }
    if !is_dns_label(&pod.metadata.name, 253) {
        return fail(
            "metadata.name",
            format!(
                "{:?} is not a valid name (lowercase letters, digits and '-')",
                pod.metadata.name
            ),
        );
    }
    if pod.spec.host_network {
        return fail(
            "spec.hostNetwork",
            "orc runs every pod in its own network namespace".into(),
        );
    }
    for (i, c) in pod.spec.init_containers.iter().enumerate() {
        // `Always` is the one value: it makes the init container a sidecar.
        if c.restart_policy.is_some() && !c.is_sidecar() {
            return fail(
                &format!("spec.initContainers[{i}].restartPolicy"),
                format!(
                    "{:?}: the only supported value is \"Always\" (a sidecar); leave it out for an init container that runs to completion",
                    c.restart_policy.as_deref().unwrap_or_default()
                ),
            );
        }
        // Only a sidecar runs long enough to be probed.
        let probed =
            c.liveness_probe.is_some() || c.readiness_probe.is_some() || c.startup_probe.is_some();
        if probed && !c.is_sidecar() {
            return fail(
                &format!("spec.initContainers[{i}]"),
                "probes may not be set for init containers without restartPolicy=Always".into(),
            );
        }
        if c.image.is_empty() {
            return fail(
                &format!("spec.initContainers[{i}].image"),
                "required".into(),
            );
        }
    }
    if pod.spec.containers.is_empty() {
        return fail(
            "spec.containers",
            "a pod needs at least one container".into(),
        );
    }
    // Init and app containers share one name space.
    let mut names: std::collections::BTreeSet<&String> =
        pod.spec.init_containers.iter().map(|c| &c.name).collect();
    for (i, c) in pod.spec.containers.iter().enumerate() {
        if !is_dns_label(&c.name, 63) {
            return fail(
                &format!("spec.containers[{i}].name"),
                format!("{:?} is not a DNS label", c.name),
            );
        }
        if !names.insert(&c.name) {
            return fail(
                &format!("spec.containers[{i}].name"),
                format!("duplicate container name {:?}", c.name),
            );
        }
        if c.image.is_empty() {
            return fail(&format!("spec.containers[{i}].image"), "required".into());
        }
        if c.restart_policy.is_some() {
            return fail(
                &format!("spec.containers[{i}].restartPolicy"),
                "may not be set for non-init containers: the pod's restartPolicy applies".into(),
            );
        }
        if c.startup_probe
            .as_ref()
            .is_some_and(|p| p.success_threshold != 1)
        {
            return fail(
                &format!("spec.containers[{i}].startupProbe.successThreshold"),
                "must be 1".into(),
            );
        }
        for (j, m) in c.volume_mounts.iter().enumerate() {
            if !pod.spec.volumes.iter().any(|v| v.name == m.name) {
                return fail(
                    &format!("spec.containers[{i}].volumeMounts[{j}].name"),
                    format!("no volume named {:?}", m.name),
                );
            }
        }
    }
    for (i, v) in pod.spec.volumes.iter().enumerate() {
        let sources = [
            v.empty_dir.is_some(),
            v.host_path.is_some(),
            v.config_map.is_some(),
            v.secret.is_some(),
            v.downward_api.is_some(),
            v.projected.is_some(),
            v.persistent_volume_claim.is_some(),
        ];
        if sources.iter().filter(|set| **set).count() != 1 {
            return fail(
                &format!("spec.volumes[{i}]"),
                "exactly one of emptyDir, hostPath, configMap, secret, downwardAPI, projected and persistentVolumeClaim is supported".into(),
            );
        }
    }
    Ok(())
}

fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A static pod's uid: a hash of its content (FNV-1a, 64 bits), as the
/// kubelet hashes a static pod's manifest. Editing the manifest changes
/// the uid, so the old pod is stopped and the new one started: exactly how
/// Kubernetes updates a static pod.
pub fn static_pod_uid(pod: &Pod) -> String {
    let text = serde_json::to_string(pod).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_documents_in_one_file() {
        let text = "\
apiVersion: v1
kind: Pod
metadata: {name: good}
spec:
  containers: [{name: a, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  containers:
  - name: a
    image: busybox
    ports: [{containerPort: eighty}]
---
kind: Pod
metadata: {name: Bad_Name}
spec:
  containers: [{name: a, image: busybox}]
";
        let mut out = SourceSnapshot::default();
        parse_manifest(Path::new("/m/pods.yaml"), text, &mut out);
        assert_eq!(out.pods.len(), 1);
        assert_eq!(out.pods[0].metadata.name, "good");
        assert_eq!(out.pods[0].metadata.uid.len(), 16);
        assert_eq!(out.errors.len(), 2, "{:?}", out.errors);
        assert_eq!(out.errors[0].document, 1);
        assert_eq!(
            out.errors[0].field,
            "spec.containers[0].ports[0].containerPort"
        );
        assert_eq!(out.errors[1].field, "metadata.name");
        assert!(out.errors[0].to_string().starts_with("/m/pods.yaml:"));
    }

    #[test]
    fn uid_follows_content() {
        let mut out = SourceSnapshot::default();
        let a = "metadata: {name: a}\nspec: {containers: [{name: c, image: busybox}]}\n";
        let b = "metadata: {name: a}\nspec: {containers: [{name: c, image: busybox, args: [x]}]}\n";
        parse_manifest(Path::new("a"), a, &mut out);
        parse_manifest(Path::new("a"), a, &mut out);
        parse_manifest(Path::new("a"), b, &mut out);
        assert_eq!(out.pods[0].metadata.uid, out.pods[1].metadata.uid);
        assert_ne!(out.pods[0].metadata.uid, out.pods[2].metadata.uid);
    }
}

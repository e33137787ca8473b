//! Encryption at rest: what `etcdctl get` shows of a Secret is ciphertext.
//!
//! Anyone who can read etcd (or its backups, or its disk) can read every
//! object. For most objects that is acceptable; for Secrets it is not.
//! Kubernetes encrypts chosen resources before they reach etcd, with keys
//! the API server holds, and writes a prefix naming the scheme and the key:
//!
//! ```text
//! k8s:enc:aesgcm:v1:<key name>:<12-byte nonce><ciphertext and tag>
//! ```
//!
//! orc reads the same configuration file as kube-apiserver
//! (`--encryption-provider-config`, see [`config`]): for each group of
//! resources, a list of providers and their keys. The *first* key of the
//! first provider seals every write; *every* key can open a read, chosen by
//! the prefix the value starts with. That split is what makes rotation
//! possible without downtime: add the new key second, restart; move it
//! first, restart; rewrite every Secret (`orc secrets reencrypt`); remove
//! the old key, restart.
//!
//! A value no configured key opens is *unreadable*, not lost: the API
//! server names it (a 500 on GET, a warning on LIST) and lets it be
//! deleted, and putting the key back makes it readable again.
//!
//! ## Layout
//!
//! - [`providers`]: one key of `aesgcm`, `aescbc` or `identity`, sealing
//!   and opening values.
//! - [`config`]: the EncryptionConfiguration file, parsed and checked.

pub mod config;
pub mod providers;

use std::path::Path;

pub use providers::OpenError;
use providers::ProviderKey;

/// The keys of one `resources` element of the configuration, in order.
#[derive(Debug, Clone)]
pub struct ResourceRule {
    /// `secrets`, `deployments.apps`, `*.apps`, `*.` (every core
    /// resource) or `*.*` (everything).
    pub resources: Vec<String>,
    /// Every provider's keys, flattened in the file's order: the first
    /// seals, all open.
    pub keys: Vec<ProviderKey>,
}

impl ResourceRule {
    /// Whether this rule covers the object stored at etcd key `at`
    /// (`/registry/secrets/...`: the key names the resource, not its
    /// group, so the resource table says which group it is).
    fn covers(&self, at: &str) -> bool {
        let Some(resource) = crate::storage::resource_at(at) else {
            return false;
        };
        let (group, plural) = (resource.group, resource.plural);
        self.resources.iter().any(|pattern| {
            let (p_plural, p_group) = pattern.split_once('.').unwrap_or((pattern, ""));
            let group_ok = p_group == "*" || p_group == group;
            let plural_ok = p_plural == "*" || p_plural == plural;
            group_ok && plural_ok
        })
    }
}

/// The whole configuration: which keys seal and open which resources.
#[derive(Debug, Clone, Default)]
pub struct Encryption {
    /// In the file's order: the first rule covering a resource wins, as
    /// in kube-apiserver.
    rules: Vec<ResourceRule>,
}

/// Why the configuration could not be loaded: the file, and what in it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("error while parsing encryption provider configuration file {path:?}: {error}")]
    Config {
        path: std::path::PathBuf,
        error: config::ConfigError,
    },
    #[error("reading encryption provider configuration file {path:?}: {error}")]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    /// The older `--encryption-key-file` (64 hex digits) is malformed.
    #[error(
        "encryption key file {path:?}: the key must be 64 hex digits (32 bytes); \
         better, move to --encryption-provider-config (see chapter 03)"
    )]
    BadKeyFile { path: std::path::PathBuf },
}

impl Encryption {
    /// A configuration of these rules.
    pub fn new(rules: Vec<ResourceRule>) -> Encryption {
        Encryption { rules }
    }

    /// Reads an EncryptionConfiguration file.
    pub fn load(path: &Path) -> Result<Encryption, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
            path: path.into(),
            error,
        })?;
        config::parse(&text).map_err(|error| LoadError::Config {
            path: path.into(),
            error,
        })
    }

    /// orc's older `--encryption-key-file`: 64 hex digits, one AES-256-GCM
    /// key named after the file's stem, Secrets only, plain values
    /// readable. Exactly the configuration file that says so.
    pub fn from_key_file(path: &Path) -> Result<Encryption, LoadError> {
        let bad = || LoadError::BadKeyFile { path: path.into() };
        let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
            path: path.into(),
            error,
        })?;
        let hex = text.trim();
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..64)
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("key");
        let key = ProviderKey::aes_gcm(name, &bytes).ok_or_else(bad)?;
        Ok(Encryption::new(vec![ResourceRule {
            resources: vec!["secrets".into()],
            keys: vec![key, ProviderKey::identity()],
        }]))
    }

    /// The keys for the object at etcd key `at`; none: stored plain.
    fn keys(&self, at: &str) -> &[ProviderKey] {
        self.rules
            .iter()
            .find(|rule| rule.covers(at))
            .map(|rule| rule.keys.as_slice())
            .unwrap_or(&[])
    }

    /// The bytes to store at `at`: sealed with the first key covering it.
    pub fn seal(&self, at: &str, plain: &[u8]) -> Vec<u8> {
        match self.keys(at).first() {
            Some(key) => key.seal(at, plain),
            None => plain.to_vec(),
        }
    }

    /// Opens what is stored at `at` with the key its prefix names.
    pub fn open(&self, at: &str, stored: &[u8]) -> Result<Vec<u8>, OpenError> {
        let keys = self.keys(at);
        if keys.is_empty() {
            // Not an encrypted resource here; a value that is encrypted
            // all the same (the configuration changed) is still refused.
            return ProviderKey::identity().open(at, stored);
        }
        // Kubernetes tries every key whose prefix matches, and answers the
        // first error if none opens the value.
        let mut first_error = None;
        for key in keys.iter().filter(|k| k.matches(stored)) {
            match key.open(at, stored) {
                Ok(plain) => return Ok(plain),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(OpenError::NoMatchingPrefix))
    }

    /// Whether `stored` at `at` was written by a key other than the one
    /// that writes now: what `orc secrets reencrypt` rewrites.
    pub fn is_stale(&self, at: &str, stored: &[u8]) -> bool {
        match self.keys(at).first() {
            Some(first) if first.prefix().is_empty() => stored.starts_with(providers::ENCRYPTED),
            Some(first) => !stored.starts_with(first.prefix().as_bytes()),
            None => stored.starts_with(providers::ENCRYPTED),
        }
    }
}

/// The `k8s:enc:<scheme>:v1:<name>:` prefix `stored` starts with, if any:
/// which key an unreadable value needs.
pub fn written_with(stored: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stored.get(..200.min(stored.len()))?);
    let rest = text.strip_prefix("k8s:enc:")?;
    let mut parts = rest.splitn(4, ':');
    let (scheme, version, name) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    Some(format!("k8s:enc:{scheme}:{version}:{name}:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: &str = "/registry/secrets/default/db";

    fn rule(resources: &[&str], keys: Vec<ProviderKey>) -> ResourceRule {
        ResourceRule {
            resources: resources.iter().map(|s| s.to_string()).collect(),
            keys,
        }
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let key1 = ProviderKey::aes_gcm("key1", &[1; 32]).unwrap();
        let key2 = ProviderKey::aes_cbc("key2", &[2; 32]).unwrap();
        let old = Encryption::new(vec![rule(&["secrets"], vec![key1.clone()])]);
        let sealed_by_1 = old.seal(AT, b"{}");
        let rotated = Encryption::new(vec![rule(&["secrets"], vec![key2.clone(), key1])]);
        assert_eq!(rotated.open(AT, &sealed_by_1).unwrap(), b"{}");
        assert!(rotated.is_stale(AT, &sealed_by_1));
        let sealed_by_2 = rotated.seal(AT, b"{}");
        assert!(sealed_by_2.starts_with(b"k8s:enc:aescbc:v1:key2:"));
        assert!(!rotated.is_stale(AT, &sealed_by_2));
        let only_2 = Encryption::new(vec![rule(&["secrets"], vec![key2])]);
        assert_eq!(
            only_2.open(AT, &sealed_by_1),
            Err(OpenError::NoMatchingPrefix)
        );
        assert_eq!(
            written_with(&sealed_by_1).as_deref(),
            Some("k8s:enc:aesgcm:v1:key1:")
        );
        assert_eq!(
            only_2.open(AT, b"{}"),
            Err(OpenError::NoMatchingPrefix),
            "without identity, plain values are not read"
        );
    }

    #[test]
    fn resources_match_by_group_and_wildcard() {
        let r = |p: &[&str]| rule(p, vec![]);
        assert!(r(&["secrets"]).covers(AT));
        assert!(!r(&["secrets"]).covers("/registry/configmaps/default/c"));
        assert!(r(&["deployments.apps"]).covers("/registry/deployments/default/web"));
        assert!(r(&["*.apps"]).covers("/registry/replicasets/default/web"));
        assert!(r(&["*."]).covers(AT));
        assert!(!r(&["*."]).covers("/registry/deployments/default/web"));
        assert!(r(&["*.*"]).covers("/registry/ingress/default/i"));
    }

    #[test]
    fn the_old_key_file_reads_as_one_aesgcm_key_and_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key1.hex");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        let e = Encryption::from_key_file(&path).unwrap();
        assert!(e.seal(AT, b"{}").starts_with(b"k8s:enc:aesgcm:v1:key1:"));
        assert_eq!(e.open(AT, b"{}").unwrap(), b"{}");
        std::fs::write(&path, "abc").unwrap();
        assert!(Encryption::from_key_file(&path).is_err());
    }
}

//! `--encryption-provider-config`: Kubernetes' EncryptionConfiguration file.
//!
//! ```yaml
//! apiVersion: apiserver.config.k8s.io/v1
//! kind: EncryptionConfiguration
//! resources:
//!   - resources: [secrets]        # or configmaps, deployments.apps, *.apps, *.*
//!     providers:                  # the first one encrypts, every one decrypts
//!       - aesgcm:
//!           keys:
//!             - name: key2        # the first key of the first provider writes
//!               secret: <base64 of 16, 24 or 32 random bytes>
//!             - name: key1
//!               secret: ...
//!       - identity: {}            # and plain values stay readable
//! ```
//!
//! Parsing checks what kube-apiserver's validation checks, and words each
//! problem the way it does (`resources[0].providers[0].aesgcm.keys[0].secret:
//! Invalid value: "REDACTED": ...`), with the file's name in front and what
//! to do behind. `kms` and `secretbox` are refused by name: orc implements
//! neither, and a file that asks for them must not start a server that
//! quietly writes Secrets some other way.

use serde::Deserialize;

use super::providers::{AES_KEY_SIZES, ProviderKey, random_secret};
use super::{Encryption, ResourceRule};

/// The file as written. Unknown fields are errors, not ignored: a
/// misspelt `provders` must not leave Secrets unencrypted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    resources: Vec<ResourceEntry>,
}

/// One element of `resources`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceEntry {
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    providers: Vec<ProviderEntry>,
}

/// One element of `providers`: exactly one of these is set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderEntry {
    aesgcm: Option<Keys>,
    aescbc: Option<Keys>,
    secretbox: Option<serde_yaml::Value>,
    kms: Option<serde_yaml::Value>,
    identity: Option<serde_yaml::Value>,
}

/// `keys` of `aesgcm` or `aescbc`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    #[serde(default)]
    keys: Vec<Key>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Key {
    #[serde(default)]
    name: String,
    #[serde(default)]
    secret: String,
}

/// The group and version the file must name.
pub const API_VERSION: &str = "apiserver.config.k8s.io/v1";

/// What was wrong with the file: Kubernetes' field path and words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Parses and checks a configuration file's text.
pub fn parse(text: &str) -> Result<Encryption, ConfigError> {
    let file: File = serde_yaml::from_str(text).map_err(|e| {
        ConfigError(format!(
            "error while parsing file: {e} (the format is Kubernetes' EncryptionConfiguration)"
        ))
    })?;
    match file.api_version.as_deref() {
        Some(API_VERSION) => {}
        other => {
            return Err(ConfigError(format!(
                "apiVersion: Unsupported value: {:?}: supported values: {API_VERSION:?}",
                other.unwrap_or("")
            )));
        }
    }
    if file.kind.as_deref() != Some("EncryptionConfiguration") {
        return Err(ConfigError(format!(
            "kind: Unsupported value: {:?}: supported values: \"EncryptionConfiguration\"",
            file.kind.unwrap_or_default()
        )));
    }
    if file.resources.is_empty() {
        return Err(ConfigError(
            "resources: Required value: EncryptionConfiguration.Resources must contain at least \
             one resource (add one with `resources: [secrets]` and its providers)"
                .into(),
        ));
    }
    let rules = file
        .resources
        .iter()
        .enumerate()
        .map(|(i, entry)| rule(&format!("resources[{i}]"), entry))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Encryption::new(rules))
}

/// One `resources` element, checked.
fn rule(path: &str, entry: &ResourceEntry) -> Result<ResourceRule, ConfigError> {
    if entry.resources.is_empty() {
        return Err(ConfigError(format!(
            "{path}.resources: Required value: EncryptionConfiguration.Resources[].Resources \
             must contain at least one resource (for example `secrets`)"
        )));
    }
    for (j, name) in entry.resources.iter().enumerate() {
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_uppercase) {
            return Err(ConfigError(format!(
                "{path}.resources[{j}]: Invalid value: {name:?}: resources must be lowercase \
                 plural names with their group (`secrets`, `deployments.apps`), or wildcards \
                 (`*.apps`, `*.`, `*.*`)"
            )));
        }
    }
    if entry.providers.is_empty() {
        return Err(ConfigError(format!(
            "{path}.providers: Required value: EncryptionConfiguration.Resources[].Providers \
             must contain at least one provider (`aesgcm`, `aescbc` or `identity`)"
        )));
    }
    let mut keys = Vec::new();
    for (j, provider) in entry.providers.iter().enumerate() {
        keys.extend(provider_keys(&format!("{path}.providers[{j}]"), provider)?);
    }
    Ok(ResourceRule {
        resources: entry.resources.clone(),
        keys,
    })
}

/// One `providers` element: its keys, in order.
fn provider_keys(path: &str, p: &ProviderEntry) -> Result<Vec<ProviderKey>, ConfigError> {
    let set = [
        p.aesgcm.is_some(),
        p.aescbc.is_some(),
        p.secretbox.is_some(),
        p.kms.is_some(),
        p.identity.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if set > 1 {
        return Err(ConfigError(format!(
            "{path}: Invalid value: \"providers\": more than one provider specified in a single \
             element, should split into different list elements"
        )));
    }
    if set == 0 {
        return Err(ConfigError(format!(
            "{path}: Invalid value: \"providers\": provider does not contain any of the expected \
             providers: aesgcm, aescbc, identity"
        )));
    }
    if p.secretbox.is_some() || p.kms.is_some() {
        let which = if p.kms.is_some() { "kms" } else { "secretbox" };
        return Err(ConfigError(format!(
            "{path}.{which}: Unsupported value: orc implements the aesgcm, aescbc and identity \
             providers only; use aesgcm (with a key from `head -c 32 /dev/urandom | base64`)"
        )));
    }
    if p.identity.is_some() {
        return Ok(vec![ProviderKey::identity()]);
    }
    let (scheme, keys) = match (&p.aesgcm, &p.aescbc) {
        (Some(keys), _) => ("aesgcm", keys),
        (_, Some(keys)) => ("aescbc", keys),
        _ => unreachable!("one provider is set"),
    };
    let path = format!("{path}.{scheme}");
    if keys.keys.is_empty() {
        return Err(ConfigError(format!(
            "{path}.keys: Required value: keys (name and secret) must be provided"
        )));
    }
    keys.keys
        .iter()
        .enumerate()
        .map(|(k, key)| provider_key(&format!("{path}.keys[{k}]"), scheme, key))
        .collect()
}

/// One key, checked: a name without `:`, a base64 secret of an AES size.
fn provider_key(path: &str, scheme: &str, key: &Key) -> Result<ProviderKey, ConfigError> {
    use base64::Engine;
    if key.name.is_empty() {
        return Err(ConfigError(format!(
            "{path}.name: Required value: key name is required"
        )));
    }
    if key.name.contains(':') {
        return Err(ConfigError(format!(
            "{path}.name: Invalid value: {:?}: should not contain ':' (it ends the prefix \
             written before every value)",
            key.name
        )));
    }
    if key.secret.is_empty() {
        return Err(ConfigError(format!(
            "{path}.secret: Required value: secret is required (make one with \
             `head -c 32 /dev/urandom | base64`)"
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.secret.trim())
        .map_err(|_| {
            ConfigError(format!(
                "{path}.secret: Invalid value: \"REDACTED\": secrets must be base64 encoded \
                 (make one with `head -c 32 /dev/urandom | base64`)"
            ))
        })?;
    let made = match scheme {
        "aesgcm" => ProviderKey::aes_gcm(&key.name, &bytes),
        _ => ProviderKey::aes_cbc(&key.name, &bytes),
    };
    made.ok_or_else(|| {
        ConfigError(format!(
            "{path}.secret: Invalid value: \"REDACTED\": secret is not of the expected length, \
             got {}, expected one of {AES_KEY_SIZES:?} (make one with \
             `head -c 32 /dev/urandom | base64`)",
            bytes.len()
        ))
    })
}

// ANCHOR: generated
/// The configuration `orc server` writes when given none: Secrets sealed
/// with one fresh AES-256-GCM key, and `identity` last so Secrets written
/// before encryption was on stay readable until they are next written.
pub fn generated() -> String {
    format!(
        "apiVersion: {API_VERSION}\n\
         kind: EncryptionConfiguration\n\
         resources:\n\
         \x20 - resources:\n\
         \x20     - secrets\n\
         \x20   providers:\n\
         \x20     - aesgcm:\n\
         \x20         keys:\n\
         \x20           - name: key1\n\
         \x20             secret: {}\n\
         \x20     - identity: {{}}\n",
        random_secret::<32>()
    )
}
// ANCHOR_END: generated

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text).unwrap_err().0
    }

    const HEAD: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";

    #[test]
    fn the_generated_file_parses_and_encrypts_secrets() {
        let encryption = parse(&generated()).unwrap();
        let at = "/registry/secrets/default/db";
        let sealed = encryption.seal(at, b"{}");
        assert!(sealed.starts_with(b"k8s:enc:aesgcm:v1:key1:"));
        assert_eq!(encryption.open(at, &sealed).unwrap(), b"{}");
        assert_eq!(
            encryption.seal("/registry/configmaps/default/c", b"{}"),
            b"{}",
            "only Secrets"
        );
    }

    #[test]
    fn problems_name_the_field_and_the_fix() {
        let short = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k\n        secret: cGFzc3dvcmQ=\n"
        );
        assert_eq!(
            error(&short),
            "resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret \
             is not of the expected length, got 8, expected one of [16, 24, 32] (make one with \
             `head -c 32 /dev/urandom | base64`)"
        );
        let two = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - identity: {{}}\n    aesgcm: {{keys: []}}\n"
        );
        assert!(
            error(&two).starts_with(
                "resources[0].providers[0]: Invalid value: \"providers\": more than one provider"
            ),
            "{}",
            error(&two)
        );
        let kms =
            format!("{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - kms: {{}}\n");
        assert!(error(&kms).starts_with("resources[0].providers[0].kms: Unsupported value"));
        let typo = format!("{HEAD}resources:\n- resources: [secrets]\n  provders: []\n");
        assert!(
            error(&typo).contains("unknown field `provders`"),
            "{}",
            error(&typo)
        );
        assert!(
            error("apiVersion: v1\nkind: EncryptionConfiguration\n")
                .starts_with("apiVersion: Unsupported value: \"v1\"")
        );
        let colon = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: a:b\n        secret: AAAAAAAAAAAAAAAAAAAAAA==\n"
        );
        assert!(
            error(&colon).starts_with(
                "resources[0].providers[0].aesgcm.keys[0].name: Invalid value: \"a:b\""
            )
        );
        let none = format!("{HEAD}resources:\n- resources: [secrets]\n  providers: []\n");
        assert!(error(&none).starts_with("resources[0].providers: Required value"));
    }
}

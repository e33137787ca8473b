//! Certificates for TLS termination, chosen by SNI.
//!
//! An Ingress's `spec.tls` lists hosts and the Secret (`kubernetes.io/tls`:
//! `tls.crt`, a PEM chain, and `tls.key`, its key) that serves them. A
//! client names the host it wants in the TLS handshake itself (Server Name
//! Indication, RFC 6066), before any HTTP is sent; the proxy looks that
//! name up here, exact names first, then `*.` wildcards, and answers with
//! the matching certificate. A host with a certificate is also redirected
//! from HTTP to HTTPS (ingress-nginx's `ssl-redirect`, on by default).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio_rustls::rustls::crypto::ring::sign::any_supported_type;
use tokio_rustls::rustls::sign::CertifiedKey;

use super::host::{HostMatch, lower_case};

/// The certificates by host, as the handshake looks them up.
#[derive(Debug, Clone, Default)]
pub struct Certificates {
    /// By [`HostMatch`]: exact names sort before wildcards. The oldest
    /// Ingress's certificate wins a host two of them name.
    by_host: BTreeMap<HostMatch, Arc<CertifiedKey>>,
}

impl Certificates {
    /// Adds `key` for `host`, unless an older Ingress already did.
    pub fn insert(&mut self, host: &str, key: Arc<CertifiedKey>) {
        self.by_host.entry(HostMatch::parse(host)).or_insert(key);
    }

    // ANCHOR: lookup
    /// The certificate for an SNI name: an exact host, else a wildcard
    /// that covers it.
    pub fn lookup(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        let name = lower_case(server_name.trim_end_matches('.'));
        let matching = self
            .by_host
            .iter()
            .filter_map(|(h, k)| Some((h.matches(&name)?, k)));
        matching
            .min_by_key(|(precision, _)| *precision)
            .map(|(_, k)| k.clone())
    }
    // ANCHOR_END: lookup

    /// The hosts with a certificate (as `foo.example.com` or `*.example.com`).
    pub fn len(&self) -> usize {
        self.by_host.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }
}

/// A `kubernetes.io/tls` Secret as a certificate rustls can serve, or why not.
pub fn certified_key(secret: &Value) -> Result<Arc<CertifiedKey>, String> {
    let name = secret
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = secret["type"].as_str().unwrap_or("Opaque");
    if kind != "kubernetes.io/tls" {
        return Err(format!(
            "secret {name:?} is of type {kind:?}, not \"kubernetes.io/tls\""
        ));
    }
    let field = |key: &str| -> Result<Vec<u8>, String> {
        let text = secret["data"][key]
            .as_str()
            .ok_or_else(|| format!("secret {name:?} has no {key}"))?;
        let engine = base64::engine::general_purpose::STANDARD;
        engine
            .decode(text)
            .map_err(|e| format!("secret {name:?}: {key} is not base64: {e}"))
    };
    let (crt, key) = (field("tls.crt")?, field("tls.key")?);
    let chain = CertificateDer::pem_slice_iter(&crt)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("secret {name:?}: tls.crt: {e}"))?;
    if chain.is_empty() {
        return Err(format!("secret {name:?}: tls.crt holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| format!("secret {name:?}: tls.key: {e}"))?;
    let signer = any_supported_type(&key).map_err(|e| format!("secret {name:?}: tls.key: {e}"))?;
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

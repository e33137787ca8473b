//! TLS as a client: which server to trust, and who to say we are.
//!
//! A cluster's API server presents a certificate signed by the cluster's
//! own CA, so a client trusts that CA (a kubeconfig's
//! `certificate-authority-data`), not the machine's web roots. A client may
//! also present a certificate of its own: the API server then reads the
//! user from its subject (CN = user, O = groups; chapter 03, "Who is
//! asking"). rustls does the work, with ring as its crypto provider, named
//! explicitly so nothing depends on a process-wide default.
//!
//! This is the client half only: orc-client links no TLS *server*
//! (`testkit/src/architecture.rs` checks it).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Makes ring the process's default rustls crypto provider, once.
///
/// reqwest (built here with `rustls-no-provider`) panics when it builds a
/// client with no provider installed, and Cargo's feature unification
/// turns that feature on for every crate built beside orc-client. So code
/// that builds its own reqwest client goes through [`http_client`].
pub fn install_crypto_provider() {
    // An error means a provider is installed already: that one stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client for plain HTTP (and https only to servers a web root
/// vouches for, which a cluster's API server never is: use [`ClientTls`]).
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::new()
}

/// Why TLS credentials could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM block could not be read (`what` names the file or field).
    #[error("{what}: {message}")]
    Pem { what: String, message: String },
    /// The PEM held no certificate.
    #[error("{0}: no certificate in it")]
    NoCertificate(String),
    /// rustls refused the credentials (e.g. a key that does not match).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A client certificate chain and its private key, as PEM text.
#[derive(Clone)]
pub struct Identity {
    /// The certificate (then any intermediates), PEM.
    pub cert_pem: Vec<u8>,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    // Never print a private key, even in a debug log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity { .. }")
    }
}

/// What a client needs to speak TLS to a cluster: the CA to trust, and
/// optionally a certificate to present. Built once, then shared by every
/// connection (cheap to clone).
#[derive(Clone)]
pub struct ClientTls {
    /// The rustls configuration reqwest is given as it is.
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field(
                "client_cert",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .finish()
    }
}

impl ClientTls {
    /// Trusts the CA certificates in `ca_pem` (only those: a cluster's
    /// API server is never vouched for by a web root), and presents
    /// `identity` when the server asks for a client certificate.
    pub fn new(ca_pem: &[u8], identity: Option<&Identity>) -> Result<ClientTls, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let cas = certificates(ca_pem, "certificate-authority")?;
        roots.add_parsable_certificates(cas);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let chain = certificates(&identity.cert_pem, "client-certificate")?;
                let key = PrivateKeyDer::from_pem_slice(&identity.key_pem).map_err(|e| {
                    TlsError::Pem {
                        what: "client-key".into(),
                        message: e.to_string(),
                    }
                })?;
                builder.with_client_auth_cert(chain, key)?
            }
        };
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// The rustls configuration, for a connector built by hand (the
    /// streaming hops that are not reqwest requests).
    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }
}

/// Every certificate in `pem`; at least one.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.into(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(what.into()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_a_certificate_is_refused_by_name() {
        let error = ClientTls::new(b"not pem", None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "certificate-authority: no certificate in it"
        );
    }
}

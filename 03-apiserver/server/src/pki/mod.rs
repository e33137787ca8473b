//! The cluster's PKI: one CA, and the certificates it signs.
//!
//! Kubernetes trusts certificates, not networks. kubeadm makes a CA
//! (`/etc/kubernetes/pki/ca.crt`) and signs with it the API server's
//! serving certificate (whose names are every address clients use to reach
//! it) and one client certificate per identity: `kubernetes-admin` in
//! group `system:masters`, `system:kube-scheduler`,
//! `system:node:<name>` in `system:nodes`, and so on. The API server reads
//! a client certificate's subject as the user: CN is the name, each O a
//! group (chapter 03, "Who is asking"). `orc up` does the same with this
//! module; rcgen writes the certificates, with ring underneath.
//!
//! ## Layout
//!
//! - this file: [`CertificateAuthority`] (generate, load, issue) and the
//!   pure decisions: [`serving_names`], a certificate's [`Subject`].
//! - [`files`]: the PKI directory, 0700, with keys written 0600.

pub mod files;

pub use files::PkiDir;

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Why a certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused (an unparsable CA, a name that is not a DNS name, ...).
    #[error("{what}: {source}")]
    Certificate { what: String, source: rcgen::Error },
    /// A file of the PKI directory could not be read or written.
    #[error("{path}: {source}")]
    File {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Who a certificate names: Kubernetes reads CN as the user, each O as a
/// group. orc's certificates carry at most one O (rcgen keeps one value
/// per attribute type), which is all Kubernetes' own identities use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `kubernetes-admin`, `system:node:node-1`, `kube-apiserver`.
    pub common_name: String,
    /// `system:masters`, `system:nodes`; often none.
    pub organization: Option<String>,
}

impl Subject {
    /// A user in no group but `system:authenticated`.
    pub fn new(common_name: &str) -> Subject {
        Subject {
            common_name: common_name.into(),
            organization: None,
        }
    }

    /// A user in `group`.
    pub fn in_group(common_name: &str, group: &str) -> Subject {
        Subject {
            common_name: common_name.into(),
            organization: Some(group.into()),
        }
    }
}

/// What a certificate is for: a TLS server (with the names clients dial)
/// or a TLS client (an identity). Kubernetes checks the extended key usage:
/// a client certificate cannot serve, nor a serving one log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Usage {
    /// Serving TLS for these DNS names and IP addresses.
    Server { names: Vec<String> },
    /// Authenticating as a client.
    Client,
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8). Written 0600, never logged.
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Issued { .. }")
    }
}

/// How long the CA is valid (kubeadm: ten years).
const CA_YEARS: i16 = 10;
/// How long what it signs is valid (kubeadm: one year; `orc up` issues
/// them afresh at every start).
const LEAF_YEARS: i16 = 1;

// ANCHOR: serving_names
/// The names the API server's serving certificate must hold: every name
/// and address a client dials. kube-apiserver's are its addresses, the
/// first Service IP (the `kubernetes` Service, how pods reach it),
/// `localhost`, and the `kubernetes` Service's DNS names.
pub fn serving_names(addresses: &[IpAddr], first_service_ip: IpAddr) -> Vec<String> {
    let mut names: Vec<String> = vec![
        "localhost".into(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        "kubernetes.default.svc.cluster.local".into(),
        "127.0.0.1".into(),
        first_service_ip.to_string(),
    ];
    for address in addresses {
        let address = address.to_string();
        if !names.contains(&address) {
            names.push(address);
        }
    }
    names
}
// ANCHOR_END: serving_names

/// A certificate authority: its certificate, and the key it signs with.
pub struct CertificateAuthority {
    /// The CA certificate, PEM: what every client and server trusts.
    cert_pem: String,
    /// The signer: the CA's subject and key.
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    /// A new self-signed CA named `common_name` (kubeadm: `kubernetes`).
    pub fn generate(common_name: &str) -> Result<CertificateAuthority, PkiError> {
        let failed = |source| PkiError::Certificate {
            what: format!("the CA {common_name}"),
            source,
        };
        let key = KeyPair::generate().map_err(failed)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(&Subject::new(common_name));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, CA_YEARS);
        let cert = params.self_signed(&key).map_err(failed)?;
        Ok(CertificateAuthority {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// A CA from its certificate and key, PEM (a cluster's, kept on disk).
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<CertificateAuthority, PkiError> {
        let failed = |source| PkiError::Certificate {
            what: "the CA on disk".into(),
            source,
        };
        let key = KeyPair::from_pem(key_pem).map_err(failed)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).map_err(failed)?;
        Ok(CertificateAuthority {
            cert_pem: cert_pem.into(),
            issuer,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM (to keep it on disk, 0600).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A new key and a certificate for it, signed by this CA.
    pub fn issue(&self, subject: &Subject, usage: &Usage) -> Result<Issued, PkiError> {
        let failed = |source| PkiError::Certificate {
            what: format!("the certificate of {}", subject.common_name),
            source,
        };
        let key = KeyPair::generate().map_err(failed)?;
        let mut params = match usage {
            Usage::Server { names } => CertificateParams::new(names.clone()).map_err(failed)?,
            Usage::Client => CertificateParams::default(),
        };
        params.distinguished_name = distinguished_name(subject);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match usage {
            Usage::Server { .. } => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, LEAF_YEARS);
        let cert = params.signed_by(&key, &self.issuer).map_err(failed)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// CN, then O (the group), as Kubernetes reads them.
fn distinguished_name(subject: &Subject) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, subject.common_name.as_str());
    if let Some(organization) = &subject.organization {
        name.push(DnType::OrganizationName, organization.as_str());
    }
    name
}

/// Valid from yesterday (clocks differ a little) for `years`.
fn validity(params: &mut CertificateParams, years: i16) {
    let today = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date();
    let from = today.yesterday().unwrap_or(today);
    let until = today.saturating_add(jiff::Span::new().years(years));
    let ymd = |d: jiff::civil::Date| {
        rcgen::date_time_ymd(d.year().into(), d.month() as u8, d.day() as u8)
    };
    params.not_before = ymd(from);
    params.not_after = ymd(until);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_names_cover_every_way_to_dial_the_api_server() {
        let names = serving_names(
            &[
                "192.168.200.254".parse().unwrap(),
                "127.0.0.1".parse().unwrap(),
            ],
            "10.96.0.1".parse().unwrap(),
        );
        for name in [
            "localhost",
            "kubernetes.default.svc.cluster.local",
            "127.0.0.1",
            "10.96.0.1",
            "192.168.200.254",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        // 127.0.0.1 once, though given twice.
        assert_eq!(names.iter().filter(|n| *n == "127.0.0.1").count(), 1);
    }

    #[test]
    fn a_ca_reloaded_from_its_pem_signs_as_before() {
        let ca = CertificateAuthority::generate("kubernetes").unwrap();
        let again = CertificateAuthority::load(ca.cert_pem(), &ca.key_pem()).unwrap();
        let issued = again
            .issue(&Subject::in_group("alice", "dev"), &Usage::Client)
            .unwrap();
        assert!(issued.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(CertificateAuthority::load("junk", &ca.key_pem()).is_err());
    }
}

//! X.509 client certificates: the user is the certificate's subject.
//!
//! kube-apiserver's `--client-ca-file` authenticator reads a verified
//! client certificate's subject as the user: the Common Name (CN) is the
//! user name, each Organization (O) a group. So
//! `CN=kubernetes-admin, O=system:masters` is user `kubernetes-admin` in
//! group `system:masters`, and `CN=system:node:n1, O=system:nodes` is node
//! n1's agent. Whoever holds the CA's key can mint any such identity:
//! that is why `orc up` keeps it 0600 in a 0700 directory.
//!
//! Verification (the chain to the CA, validity dates, the client-auth
//! usage) is rustls's, during the handshake (`tls.rs`); a certificate that
//! reaches this module has passed it. Here the subject is only read.

use x509_parser::prelude::{FromDer, X509Certificate};

use super::UserInfo;

/// Why a verified certificate names no user.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum X509Error {
    /// The DER did not parse (rustls accepted it, so this is rare).
    #[error("the client certificate does not parse: {0}")]
    Parse(String),
    /// Kubernetes refuses a certificate whose CN is empty.
    #[error("the client certificate has no common name (CN), which names the user")]
    NoCommonName,
}

// ANCHOR: user
/// The user a client certificate names: CN the name, each O a group, and
/// `system:authenticated`. No uid: a certificate carries none.
pub fn user(der: &[u8]) -> Result<UserInfo, X509Error> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| X509Error::Parse(e.to_string()))?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .filter(|cn| !cn.is_empty())
        .ok_or(X509Error::NoCommonName)?;
    let groups: Vec<&str> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .collect();
    Ok(UserInfo::authenticated(name, "", &groups))
}
// ANCHOR_END: user

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::AUTHENTICATED;
    use crate::pki::{CertificateAuthority, Subject, Usage};

    fn der(pem: &str) -> Vec<u8> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    #[test]
    fn cn_is_the_user_and_each_o_a_group() {
        let ca = CertificateAuthority::generate("kubernetes").unwrap();
        let subject = Subject::in_group("system:node:n1", "system:nodes");
        let issued = ca.issue(&subject, &Usage::Client).unwrap();
        let user = user(&der(&issued.cert_pem)).unwrap();
        assert_eq!(user.name, "system:node:n1");
        assert_eq!(user.uid, "");
        assert_eq!(user.groups, ["system:nodes", AUTHENTICATED]);
    }

    #[test]
    fn an_empty_common_name_is_refused() {
        let ca = CertificateAuthority::generate("kubernetes").unwrap();
        let issued = ca
            .issue(&Subject::in_group("", "g"), &Usage::Client)
            .unwrap();
        assert_eq!(user(&der(&issued.cert_pem)), Err(X509Error::NoCommonName));
        assert!(matches!(user(b"junk"), Err(X509Error::Parse(_))));
    }
}

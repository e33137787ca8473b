//! TLS to a pod for `https:` proxy requests (`https:web:8443`), checking
//! no certificate.
//!
//! The API server dials a pod by IP address, and a pod's certificate names
//! a host (or nothing the API server knows), signed by a CA it does not
//! know: there is nothing to check it against. kube-apiserver says as
//! much in its proxy transport ("Proxying to pods and services is
//! IP-based... don't expect to be able to verify the hostname") and sets
//! `InsecureSkipVerify`. The encryption still protects the bytes on the
//! wire; it proves nothing about who answers, which the address (taken
//! from the API server's own store, `location.rs`) has to.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

/// The TLS handshake on `tcp`, to the pod at `address`.
pub async fn connect(address: SocketAddr, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::IpAddress(address.ip().into());
    TlsConnector::from(config()).connect(name, tcp).await
}

/// One client configuration, made on first use.
fn config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AnyCertificate(provider.clone()));
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Accepts any certificate, but still checks that the handshake is signed
/// by the key of the certificate shown (so the session is with whoever
/// holds that key, as TLS without verification means).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

/// A `ServerCertVerifier` method that checks a handshake signature with
/// `check` (TLS 1.2's or TLS 1.3's rules, which rustls keeps apart) and
/// the provider's algorithms: the two methods differ in nothing else.
macro_rules! signature_check {
    ($method:ident, $check:path) => {
        fn $method(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            $check(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
    };
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    signature_check!(
        verify_tls12_signature,
        rustls::crypto::verify_tls12_signature
    );
    signature_check!(
        verify_tls13_signature,
        rustls::crypto::verify_tls13_signature
    );

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

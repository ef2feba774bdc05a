//! The one server-certificate verifier of the tests and the signing bench (which includes this
//! file by path). What it trusts is said by `Trust`; handshake signatures are checked against
//! the pinned certificate, or against the raw key where rustls' certificate-based check cannot
//! parse the leaf (X.509 v1), or not at all for the bench's untimed client.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

#[derive(Debug)]
pub enum Trust {
    /// Exactly this certificate (DER), with the handshake signature checked against it.
    Pinned(Vec<u8>),
    /// Exactly this certificate, TLS 1.3 only, its handshake signature checked against `spki`
    /// (the leaf's SubjectPublicKeyInfo, DER): rustls' certificate-based check goes through
    /// webpki, which refuses X.509 v1 certificates.
    PinnedRawKey { cert: Vec<u8>, spki: Vec<u8> },
    /// Any certificate and any signature: for a client whose cost is not what is measured.
    Anything,
}

#[derive(Debug)]
pub struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    pub fn new(trust: Trust, provider: Arc<CryptoProvider>) -> Arc<Verifier> {
        Arc::new(Verifier { trust, provider })
    }

    fn pinned_cert(&self) -> Option<&[u8]> {
        match &self.trust {
            Trust::Pinned(cert) | Trust::PinnedRawKey { cert, .. } => Some(cert),
            Trust::Anything => None,
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.pinned_cert() {
            Some(cert) if end_entity.as_ref() != cert => Err(rustls::Error::General(
                "unexpected server certificate".into(),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match &self.trust {
            Trust::Pinned(_) => rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
            Trust::PinnedRawKey { .. } => Err(rustls::Error::General("TLS 1.3 only".into())),
            Trust::Anything => Ok(HandshakeSignatureValid::assertion()),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        match &self.trust {
            Trust::Pinned(_) => {
                rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
            }
            Trust::PinnedRawKey { spki, .. } => {
                rustls::crypto::verify_tls13_signature_with_raw_key(
                    message,
                    &SubjectPublicKeyInfoDer::from(spki.as_slice()),
                    dss,
                    algorithms,
                )
            }
            Trust::Anything => Ok(HandshakeSignatureValid::assertion()),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

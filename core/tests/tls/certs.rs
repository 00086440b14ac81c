//! Certificates for the TLS tests, made with rcgen: Ed25519 keys (their
//! signatures are deterministic, so whole transcripts are), a CA, leaves
//! for fax.example.org and others.

use faxnotify_core::tls::{CertificateDer, PrivateKeyDer, ServerIdentity};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_ED25519};
use rustls::pki_types::PrivatePkcs8KeyDer;

/// A certificate authority.
pub struct Ca {
    pub cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self {
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `name`, valid in the tests' fixed time unless `expired`.
    pub fn leaf(&self, name: &str, expired: bool) -> ServerIdentity {
        let (chain, key) = self.leaf_parts(name, expired);
        ServerIdentity::new(chain, key).unwrap()
    }

    /// The chain and key of a new leaf (for the relay, which runs rustls itself).
    pub fn leaf_parts(
        &self,
        name: &str,
        expired: bool,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

/// A self-signed certificate for `name` (for pinning).
pub fn self_signed(name: &str) -> ServerIdentity {
    let key = KeyPair::generate_for(&PKCS_ED25519).unwrap();
    let params = CertificateParams::new(vec![name.to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    ServerIdentity::new(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap()
}

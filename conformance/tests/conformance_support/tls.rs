//! TLS for the test adapters: the client process's `[tls]` settings turned
//! into the core's [`ClientTls`], and a certificate for the server core with
//! the trust the suite needs to verify it.

use faxnotify_core::client::{TlsSettings, TlsTrust};
use faxnotify_core::tls::pem::parse_chain;
use faxnotify_core::tls::{ClientTls, PrivateKeyDer, ServerIdentity, Trust};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_ED25519};

/// The core's TLS settings for the settings file's `[tls]` table (`None`:
/// plain TCP). `server` is the settings' `host:port`.
pub fn client_tls(settings: &TlsSettings, server: &str) -> Option<ClientTls> {
    let trust = match &settings.trust {
        TlsTrust::Off => return None,
        TlsTrust::CaFile(path) => {
            let pem = std::fs::read(path).expect("the CA file the suite wrote");
            Trust::Roots(parse_chain(&pem).expect("a PEM CA file"))
        }
        TlsTrust::Pinned(pin) => Trust::PinnedSha256(pin.0),
        other => panic!("the test client supports ca: and pin: trust, not {other}"),
    };
    Some(ClientTls {
        server_name: settings.name_for(server),
        trust,
    })
}

/// A server identity for `localhost` and 127.0.0.1 from a fresh CA, and
/// the settings a client (the suite) needs to trust it.
pub fn server_identity() -> (ServerIdentity, ClientTls) {
    let ca_key = KeyPair::generate_for(&PKCS_ED25519).expect("an Ed25519 key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate_for(&PKCS_ED25519).expect("an Ed25519 key");
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("leaf parameters")
        .signed_by(&key, &issuer)
        .expect("the server certificate");
    let identity = ServerIdentity::new(
        vec![leaf.der().clone()],
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("a usable identity");
    let trust = ClientTls {
        server_name: "localhost".to_owned(),
        trust: Trust::Roots(vec![ca.der().clone()]),
    };
    (identity, trust)
}

//! The scenarios over TLS 1.3 (protocol.md section 12): inside
//! [`with_tls`], every server and client setup made on this thread runs
//! TLS, with a test CA made once per process and a server certificate for
//! `localhost`, 127.0.0.1 and ::1.

use std::cell::Cell;
use std::sync::OnceLock;

use faxnotify_core::tls::{CertificateDer, ClientTls, PrivateKeyDer, ServerIdentity, Trust};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_ED25519};

/// The name clients verify.
pub const SERVER_NAME: &str = "localhost";

thread_local! {
    static TLS: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with TLS on for the setups it makes on this thread.
pub fn with_tls<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            TLS.with(|t| t.set(self.0));
        }
    }
    let _reset = Reset(TLS.with(|t| t.replace(true)));
    f()
}

struct Pki {
    ca: CertificateDer<'static>,
    identity: ServerIdentity,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        // Ed25519: deterministic signatures, and cheap to make.
        let ca_key = KeyPair::generate_for(&PKCS_ED25519).expect("an Ed25519 key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "faxnotify scenario CA");
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate_for(&PKCS_ED25519).expect("an Ed25519 key");
        let params = CertificateParams::new(vec![
            SERVER_NAME.to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .expect("leaf parameters");
        let leaf = params
            .signed_by(&key, &issuer)
            .expect("the server certificate");
        let identity = ServerIdentity::new(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("a usable identity");
        Pki {
            ca: ca.der().clone(),
            identity,
        }
    })
}

/// The server's identity under [`with_tls`], else `None`.
pub(super) fn server_identity() -> Option<ServerIdentity> {
    TLS.with(Cell::get).then(|| pki().identity.clone())
}

/// The client's TLS settings under [`with_tls`], else `None`.
pub(super) fn client_tls() -> Option<ClientTls> {
    TLS.with(Cell::get).then(|| ClientTls {
        server_name: SERVER_NAME.to_owned(),
        trust: Trust::Roots(vec![pki().ca.clone()]),
    })
}

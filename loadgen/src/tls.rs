//! FNP/1 over TLS in the load runs (`faxnotify bench --tls`): a self-signed
//! certificate made once by the parent, the server's identity from it, and
//! clients that pin its fingerprint — the LAN set-up `faxnotify tls
//! self-signed` gives an administrator, so the handshake costs are the
//! ones a deployment pays (ECDSA P-256, X25519, no resumption [T-12]).

use faxnotify_core::tls::pin::fingerprint;
use faxnotify_core::tls::{CertificateDer, ClientTls, PrivateKeyDer, ServerIdentity, Trust};
use serde::{Deserialize, Serialize};

/// The name the certificate carries (clients pin it, so it is not checked).
const NAME: &str = "localhost";

/// The certificate and key of a TLS run, as DER, passed to the children in
/// their task.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TlsMaterial {
    cert: Vec<u8>,
    key: Vec<u8>,
}

impl TlsMaterial {
    /// A new self-signed ECDSA P-256 certificate, as `faxnotify tls
    /// self-signed` makes.
    pub fn self_signed() -> Result<Self, String> {
        let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let cert = rcgen::CertificateParams::new(vec![NAME.to_owned()])
            .and_then(|params| params.self_signed(&key))
            .map_err(|e| format!("cannot make the certificate: {e}"))?;
        Ok(Self {
            cert: cert.der().to_vec(),
            key: key.serialize_der(),
        })
    }

    /// The server's identity.
    pub fn identity(&self) -> Result<ServerIdentity, String> {
        ServerIdentity::new(
            vec![CertificateDer::from(self.cert.clone())],
            PrivateKeyDer::Pkcs8(self.key.clone().into()),
        )
        .map_err(|e| format!("the load certificate cannot be used: {e}"))
    }

    /// A client's settings: the certificate pinned.
    pub fn client(&self) -> ClientTls {
        ClientTls {
            server_name: NAME.to_owned(),
            trust: Trust::PinnedSha256(fingerprint(&CertificateDer::from(self.cert.as_slice()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_material_survives_the_task_and_the_pin_is_the_certificate() {
        let made = TlsMaterial::self_signed().expect("material");
        let json = serde_json::to_string(&made).expect("json");
        let back: TlsMaterial = serde_json::from_str(&json).expect("back");
        let identity = back.identity().expect("a usable identity");
        let Trust::PinnedSha256(pin) = back.client().trust else {
            panic!("pinned trust expected");
        };
        assert_eq!(pin, fingerprint(&identity.chain()[0]));
    }
}

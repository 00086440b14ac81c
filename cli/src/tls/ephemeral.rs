//! A self-signed identity made in memory for one run (the demo): nothing
//! is written to disk, and the clients pin it, as they would pin the
//! certificate `faxnotify tls self-signed` writes.

use faxnotify_core::tls::pin::Fingerprint;
use faxnotify_core::tls::{ClientTls, PrivateKeyDer, ServerIdentity, Trust};

/// A server identity for `name` and the client settings that pin it.
#[derive(Debug)]
pub struct Ephemeral {
    /// The server's certificate and key.
    pub identity: ServerIdentity,
    /// The certificate's fingerprint.
    pub fingerprint: Fingerprint,
    name: String,
}

impl Ephemeral {
    /// A new ECDSA P-256 certificate for `name` (what `faxnotify tls
    /// self-signed` makes), or why it could not be made.
    pub fn new(name: &str) -> Result<Self, String> {
        let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .and_then(|params| params.self_signed(&key))
            .map_err(|e| format!("cannot make a certificate for {name}: {e}"))?;
        let fingerprint = Fingerprint::of(cert.der());
        let identity = ServerIdentity::new(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .map_err(|e| format!("the certificate made for {name} cannot be used: {e}"))?;
        Ok(Self {
            identity,
            fingerprint,
            name: name.to_owned(),
        })
    }

    /// A client's TLS settings: exactly this certificate.
    pub fn pinned(&self) -> ClientTls {
        ClientTls {
            server_name: self.name.clone(),
            trust: Trust::PinnedSha256(self.fingerprint.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_is_the_fingerprint_of_the_identity() {
        let made = Ephemeral::new("localhost").expect("made");
        assert_eq!(made.fingerprint, Fingerprint::of(&made.identity.chain()[0]));
        assert_eq!(made.pinned().trust, Trust::PinnedSha256(made.fingerprint.0));
    }
}

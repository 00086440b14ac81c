//! Certificate pinning: a fax client on a LAN trusts exactly one
//! self-signed server certificate, named by its SHA-256 fingerprint.
//!
//! The fingerprint is SHA-256 over the certificate's DER bytes, the same
//! number `openssl x509 -noout -fingerprint -sha256` prints. Its text form is
//! `sha256:` and 32 colon-separated upper-case hex pairs.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use sha2::{Digest as _, Sha256};

/// SHA-256 over the certificate's DER bytes.
pub fn fingerprint(cert: &CertificateDer<'_>) -> [u8; 32] {
    Sha256::digest(cert.as_ref()).into()
}

/// A SHA-256 certificate fingerprint, written `sha256:AB:CD:…` (32 pairs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `cert`.
    pub fn of(cert: &CertificateDer<'_>) -> Self {
        Self(fingerprint(cert))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

/// Why a text is not a fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintParseError {
    /// Another hash than SHA-256 is named.
    #[error(
        "{text:?} is not a SHA-256 fingerprint: only sha256 is supported (e.g. `faxnotify tls fingerprint cert.pem`)"
    )]
    NotSha256 {
        /// The text given.
        text: String,
    },
    /// Not 64 hex digits.
    #[error(
        "{text:?} is not a SHA-256 fingerprint: expected 32 hex pairs (64 hex digits, colons optional), found {digits} hex digits"
    )]
    WrongLength {
        /// The text given.
        text: String,
        /// How many hex digits it has.
        digits: usize,
    },
    /// A character that is neither a hex digit nor a separator.
    #[error(
        "{text:?} is not a SHA-256 fingerprint: {bad:?} is not a hex digit (write it as sha256:AB:CD:...)"
    )]
    NotHex {
        /// The text given.
        text: String,
        /// The first offending character.
        bad: char,
    },
}

impl FromStr for Fingerprint {
    type Err = FingerprintParseError;

    /// Accepts `sha256:AB:CD:…`, the same without the prefix, plain hex
    /// (either case), and OpenSSL's `sha256 Fingerprint=AB:CD:…`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        let body = if let Some(rest) = lower.strip_prefix("sha256 fingerprint=") {
            rest
        } else if let Some(rest) = lower.strip_prefix("sha256:") {
            rest
        } else if lower.contains('=')
            || lower
                .split_once(':')
                .is_some_and(|(head, _)| head.len() > 2)
        {
            return Err(FingerprintParseError::NotSha256 {
                text: text.to_owned(),
            });
        } else {
            &lower
        };
        let mut digits = Vec::with_capacity(64);
        for c in body.chars() {
            match c {
                ':' | ' ' | '-' => {}
                c if c.is_ascii_hexdigit() => digits.push(c as u8),
                bad => {
                    return Err(FingerprintParseError::NotHex {
                        text: text.to_owned(),
                        bad,
                    });
                }
            }
        }
        if digits.len() != 64 {
            return Err(FingerprintParseError::WrongLength {
                text: text.to_owned(),
                digits: digits.len(),
            });
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let hex = |d: u8| (d as char).to_digit(16).map_or(0, |v| v as u8);
            *byte = hex(pair[0]) << 4 | hex(pair[1]);
        }
        Ok(Self(out))
    }
}

/// The server presented another certificate than the pinned one.
///
/// This is the error inside the `rustls::Error` the pinning verifier
/// returns; [`PinMismatch::find`] gets it back out to tell the person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "certificate fingerprint does not match the pinned one (expected {expected}, got {got}): \
     the server has a new certificate, or this is not the real server"
)]
pub struct PinMismatch {
    /// The pinned fingerprint.
    pub expected: Fingerprint,
    /// The fingerprint of the certificate the server presented.
    pub got: Fingerprint,
}

impl PinMismatch {
    /// The mismatch inside a handshake error, if that is what it was
    /// (rustls's own `Display` of it is not meant for people).
    pub fn find(error: &rustls::Error) -> Option<&PinMismatch> {
        match error {
            rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
                let inner: &(dyn std::error::Error + 'static) = &**inner;
                inner.downcast_ref::<PinMismatch>()
            }
            _ => None,
        }
    }
}

/// Accepts exactly the certificate with the pinned fingerprint, whatever
/// its issuer, names or validity dates: the pin *is* the administrator's
/// trust decision (a self-signed server on a LAN, reached by an IP address
/// its certificate may not name). The handshake signature is still
/// verified with the provider's algorithms, so only the holder of that
/// certificate's key gets past it.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pinned: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl PinnedVerifier {
    /// A verifier for `pinned` that checks signatures with `provider`'s
    /// algorithms.
    pub(crate) fn new(pinned: [u8; 32], provider: Arc<CryptoProvider>) -> Self {
        Self {
            pinned: Fingerprint(pinned),
            provider,
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity);
        if got == self.pinned {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch {
                    expected: self.pinned,
                    got,
                })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // FNP/1 over TLS is TLS 1.3 only, but a correct answer costs nothing.
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[path = "pin_tests.rs"]
mod tests;

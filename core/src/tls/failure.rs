//! Why a TLS session failed, in words a fax administrator understands
//! [T-9]. rustls's errors name protocol details; these name what is wrong
//! and, where it helps, what to do.

use std::fmt;

use rustls::pki_types::{ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, Error, PeerIncompatible};

use crate::wire::utc::UtcMillis;

/// Why a TLS handshake or session failed. Shown to people with `Display`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server's certificate does not carry the name the client expects.
    WrongName {
        /// The name the client verifies.
        expected: String,
        /// The names the certificate carries.
        presented: Vec<String>,
    },
    /// The certificate chain does not lead to a trusted root.
    UnknownAuthority,
    /// The certificate has expired.
    Expired {
        /// When it expired, if rustls said.
        not_after: Option<u64>,
    },
    /// The certificate is not valid yet.
    NotYetValid {
        /// When it becomes valid, if rustls said.
        not_before: Option<u64>,
    },
    /// The server's certificate is not the pinned one (with both
    /// fingerprints when the pinning verifier said which).
    FingerprintMismatch {
        /// The pinned fingerprint and the presented one.
        mismatch: Option<crate::tls::pin::PinMismatch>,
    },
    /// Another certificate problem.
    BadCertificate {
        /// What rustls found.
        reason: String,
    },
    /// The first bytes from the peer were not TLS.
    NotTls {
        /// They looked like a plain FNP/1 frame.
        plain_fnp: bool,
    },
    /// The peer closed the connection (close_notify) before the handshake
    /// finished: it gave up, most often at its own handshake timeout. Not a
    /// refusal: nothing in our certificate or settings needs to change.
    PeerClosed,
    /// The peer ended the handshake with an alert (for example, it did not
    /// trust our certificate).
    PeerAlert {
        /// The alert's name.
        alert: String,
    },
    /// The peer cannot do what FNP/1 requires (TLS 1.3, X25519, ...).
    Incompatible {
        /// What rustls found.
        reason: String,
    },
    /// The peer broke the TLS protocol.
    Protocol {
        /// What rustls found.
        reason: String,
    },
    /// The peer sent (or we queued) more than the session buffers.
    Overflow,
    /// The handshake did not finish within the handshake timeout.
    Timeout {
        /// Whether the peer sent anything at all (a plain FNP/1 client waits
        /// for the server to speak first, so it sends nothing).
        heard_anything: bool,
    },
}

fn unix_ms(t: UnixTime) -> u64 {
    t.as_secs().saturating_mul(1000)
}

impl TlsFailure {
    /// Translates a rustls error. `heard_tls`: whether a TLS record from the
    /// peer was already accepted (otherwise garbage means "not TLS").
    pub(crate) fn from_rustls(error: &Error, heard_tls: bool) -> Self {
        if let Some(mismatch) = crate::tls::pin::PinMismatch::find(error) {
            return Self::FingerprintMismatch {
                mismatch: Some(mismatch.clone()),
            };
        }
        match error {
            Error::InvalidCertificate(cert) => Self::from_certificate(cert),
            // close_notify is how a peer says goodbye, not an objection;
            // read as "refused", it would send an administrator chasing
            // certificates when the peer merely timed out.
            Error::AlertReceived(AlertDescription::CloseNotify) => Self::PeerClosed,
            Error::AlertReceived(alert) => Self::PeerAlert {
                alert: alert_name(*alert),
            },
            Error::InvalidMessage(_) | Error::InappropriateMessage { .. } if !heard_tls => {
                Self::NotTls { plain_fnp: false }
            }
            Error::PeerIncompatible(p) => Self::Incompatible {
                reason: incompatibility(p),
            },
            Error::General(reason) if reason.contains("pinned") => {
                Self::FingerprintMismatch { mismatch: None }
            }
            other => Self::Protocol {
                reason: other.to_string(),
            },
        }
    }

    fn from_certificate(error: &CertificateError) -> Self {
        match error {
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => Self::WrongName {
                expected: server_name_text(expected),
                presented: presented.iter().map(|p| presented_name(p)).collect(),
            },
            CertificateError::NotValidForName => Self::WrongName {
                expected: String::new(),
                presented: Vec::new(),
            },
            // A certificate whose issuer's *name* is that of a trusted
            // root that did not sign it (two self-signed certificates for
            // the same host, or a forgery) fails as a bad signature: for the
            // person it is the same thing, no trusted authority signed it.
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                Self::UnknownAuthority
            }
            CertificateError::Expired => Self::Expired { not_after: None },
            CertificateError::ExpiredContext { not_after, .. } => Self::Expired {
                not_after: Some(unix_ms(*not_after)),
            },
            CertificateError::NotValidYet => Self::NotYetValid { not_before: None },
            CertificateError::NotValidYetContext { not_before, .. } => Self::NotYetValid {
                not_before: Some(unix_ms(*not_before)),
            },
            CertificateError::ApplicationVerificationFailure => {
                Self::FingerprintMismatch { mismatch: None }
            }
            other => Self::BadCertificate {
                reason: Error::InvalidCertificate(other.clone()).to_string(),
            },
        }
    }

    /// The same failure, knowing the peer's first bytes looked like FNP/1.
    pub(crate) fn with_first_bytes(self, first: &[u8]) -> Self {
        match self {
            // A plain FNP/1 frame starts with a u32 length of at most
            // 65 535, so its first two bytes are zero; a TLS record starts
            // with a content type (20..=24).
            Self::NotTls { .. } => Self::NotTls {
                plain_fnp: first.len() >= 2 && first[0] == 0 && first[1] == 0,
            },
            other => other,
        }
    }
}

/// A name the certificate presents, as webpki's debug form gives it
/// (`DnsName("fax.example.org")`, `IpAddress(192.0.2.1)`,
/// `UniformResourceIdentifier("…")`), without the wrapper; any other form
/// as it comes.
fn presented_name(debug: &str) -> String {
    ["DnsName(", "IpAddress(", "UniformResourceIdentifier("]
        .iter()
        .find_map(|prefix| debug.strip_prefix(prefix)?.strip_suffix(')'))
        .map_or(debug, |inner| {
            inner
                .strip_prefix('"')
                .and_then(|quoted| quoted.strip_suffix('"'))
                .unwrap_or(inner)
        })
        .to_owned()
}

fn server_name_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(d) => d.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

fn alert_name(alert: AlertDescription) -> String {
    // rustls spells them BadCertificate; the RFC says bad_certificate.
    words(&format!("{alert:?}"), '_')
}

/// What an incompatible peer lacks, in words: what a client offering too
/// little (the usual case) lacks is said plainly; the rarer cases are
/// rustls's names split into lower-case words.
fn incompatibility(incompatible: &PeerIncompatible) -> String {
    match incompatible {
        PeerIncompatible::SupportedVersionsExtensionRequired
        | PeerIncompatible::ServerDoesNotSupportTls12Or13
        | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig => {
            "it offers only TLS 1.2 or older".to_owned()
        }
        PeerIncompatible::NoCipherSuitesInCommon => {
            "it offers none of the cipher suites FNP/1 uses".to_owned()
        }
        PeerIncompatible::NoKxGroupsInCommon
        | PeerIncompatible::KeyShareExtensionRequired
        | PeerIncompatible::NamedGroupsExtensionRequired => {
            "it offers no key exchange FNP/1 uses (X25519)".to_owned()
        }
        PeerIncompatible::NoSignatureSchemesInCommon
        | PeerIncompatible::SignatureAlgorithmsExtensionRequired => {
            "it offers no signature scheme in common with the certificate".to_owned()
        }
        // The variant's name only (an ECH refusal's payload is no words).
        other => {
            let name = format!("{other:?}");
            words(name.split('(').next().unwrap_or(&name), ' ')
        }
    }
}

/// A CamelCase name as lower-case words joined by `separator`. (UnknownCA
/// is unknown_ca: a capital after a capital starts no word.)
fn words(name: &str, separator: char) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for ch in name.chars() {
        if ch.is_ascii_uppercase() && previous_lower {
            out.push(separator);
        }
        previous_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        out.push(ch.to_ascii_lowercase());
    }
    out
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongName { expected, presented } => match presented.as_slice() {
                [] => write!(f, "the server's certificate is not valid for {expected}"),
                [one] => write!(f, "the server's certificate is for {one}, not {expected}"),
                many => write!(
                    f,
                    "the server's certificate is for {}, not {expected}",
                    many.join(", ")
                ),
            },
            Self::UnknownAuthority => {
                f.write_str("the server's certificate is not signed by a trusted authority")
            }
            Self::Expired { not_after: Some(t) } => {
                write!(f, "the certificate expired on {}", UtcMillis(*t))
            }
            Self::Expired { not_after: None } => f.write_str("the certificate has expired"),
            Self::NotYetValid { not_before: Some(t) } => {
                write!(f, "the certificate is not valid before {}", UtcMillis(*t))
            }
            Self::NotYetValid { not_before: None } => {
                f.write_str("the certificate is not valid yet (is the clock right?)")
            }
            Self::FingerprintMismatch {
                mismatch: Some(mismatch),
            } => write!(f, "{mismatch}"),
            Self::FingerprintMismatch { mismatch: None } => {
                f.write_str("the server's certificate does not match the pinned fingerprint")
            }
            Self::BadCertificate { reason } => write!(f, "the certificate cannot be used: {reason}"),
            Self::NotTls { plain_fnp: true } => {
                f.write_str("the peer does not speak TLS (it sent plain FNP/1)")
            }
            Self::NotTls { plain_fnp: false } => f.write_str("the peer does not speak TLS"),
            Self::PeerClosed => f.write_str(
                "the peer closed the connection during the TLS handshake (it gave up waiting, or stopped)",
            ),
            Self::PeerAlert { alert } => {
                write!(f, "the peer refused the TLS handshake ({alert})")
            }
            Self::Incompatible { reason } => {
                write!(f, "the peer cannot speak TLS 1.3 as FNP/1 requires: {reason}")
            }
            Self::Protocol { reason } => write!(f, "TLS failed: {reason}"),
            Self::Overflow => f.write_str("the peer sent more than the TLS session can buffer"),
            Self::Timeout { heard_anything: true } => {
                f.write_str("the TLS handshake did not finish in time")
            }
            Self::Timeout { heard_anything: false } => f.write_str(
                "the peer sent nothing within the handshake timeout (a plain FNP/1 client waits for the server to speak first: does it have TLS turned off?)",
            ),
        }
    }
}

impl std::error::Error for TlsFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_lose_webpkis_wrappers_whatever_their_kind() {
        let error = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("other.example.org").expect("a name"),
            presented: vec![
                "DnsName(\"fax.example.org\")".to_owned(),
                "IpAddress(127.0.0.2)".to_owned(),
                "IpAddress(2001:db8::1)".to_owned(),
                "UniformResourceIdentifier(\"urn:x\")".to_owned(),
                "Unsupported(0x01)".to_owned(),
            ],
        };
        let failure = TlsFailure::from_rustls(&Error::InvalidCertificate(error), true);
        assert_eq!(
            failure,
            TlsFailure::WrongName {
                expected: "other.example.org".to_owned(),
                presented: [
                    "fax.example.org",
                    "127.0.0.2",
                    "2001:db8::1",
                    "urn:x",
                    "Unsupported(0x01)"
                ]
                .map(str::to_owned)
                .to_vec(),
            }
        );
    }

    #[test]
    fn a_root_of_the_same_name_that_did_not_sign_is_an_unknown_authority() {
        for error in [
            CertificateError::UnknownIssuer,
            CertificateError::BadSignature,
        ] {
            let failure = TlsFailure::from_rustls(&Error::InvalidCertificate(error), true);
            assert_eq!(failure, TlsFailure::UnknownAuthority);
            assert_eq!(
                failure.to_string(),
                "the server's certificate is not signed by a trusted authority"
            );
        }
    }

    #[test]
    fn an_incompatible_peer_is_told_in_words_not_in_rustls_names() {
        use rustls::PeerIncompatible as P;
        for (incompatible, words) in [
            (
                P::SupportedVersionsExtensionRequired,
                "it offers only TLS 1.2 or older",
            ),
            (
                P::NoCipherSuitesInCommon,
                "it offers none of the cipher suites FNP/1 uses",
            ),
            (
                P::NoKxGroupsInCommon,
                "it offers no key exchange FNP/1 uses (X25519)",
            ),
            (P::NullCompressionRequired, "null compression required"),
        ] {
            let text =
                TlsFailure::from_rustls(&Error::PeerIncompatible(incompatible), true).to_string();
            assert_eq!(
                text,
                format!("the peer cannot speak TLS 1.3 as FNP/1 requires: {words}")
            );
        }
    }

    #[test]
    fn close_notify_during_the_handshake_is_a_goodbye_not_a_refusal() {
        let closed =
            TlsFailure::from_rustls(&Error::AlertReceived(AlertDescription::CloseNotify), true);
        assert_eq!(closed, TlsFailure::PeerClosed);
        assert!(
            closed
                .to_string()
                .contains("closed the connection during the TLS handshake")
        );
        let refused = TlsFailure::from_rustls(
            &Error::AlertReceived(AlertDescription::BadCertificate),
            true,
        );
        assert_eq!(
            refused,
            TlsFailure::PeerAlert {
                alert: "bad_certificate".to_owned()
            }
        );
        assert!(refused.to_string().contains("refused"));
    }
}

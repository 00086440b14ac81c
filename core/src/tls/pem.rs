//! PEM files → a certificate chain or a private key, with errors that say
//! what the file holds instead of what was expected.
//!
//! The errors' messages are written to follow a file name: the caller that
//! read the file says `"{path} {error}"`, e.g. "/etc/faxnotify/key.pem holds
//! no private key (found: CERTIFICATE)".

use std::fmt;

use rustls::pki_types::pem::{self, PemObject as _, SectionKind};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};

/// Why PEM bytes give no certificate chain or no private key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// No `CERTIFICATE` section.
    #[error("holds no certificate (found: {found})")]
    NoCertificate {
        /// The PEM sections that are there.
        found: Found,
    },
    /// No `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` section.
    #[error("holds no private key (found: {found})")]
    NoPrivateKey {
        /// The PEM sections that are there.
        found: Found,
    },
    /// The key is encrypted with a passphrase, which a server that starts
    /// and reloads unattended cannot ask for.
    #[error(
        "holds an encrypted private key: the server cannot ask for its passphrase; \
         decrypt it (e.g. `openssl pkey -in KEY -out KEY.plain`) and keep that file mode 0600"
    )]
    EncryptedKey,
    /// More than one private key: which one belongs to the certificate
    /// would be a guess.
    #[error("holds {count} private keys: give a file with exactly one")]
    SeveralKeys {
        /// How many.
        count: usize,
    },
    /// The bytes are not PEM text at all (perhaps DER).
    #[error(
        "is not PEM text (binary data; if it is DER, convert it with \
         `openssl x509 -inform der` or `openssl pkey -inform der`)"
    )]
    NotText,
    /// A section is broken (no END line, bad base64, ...).
    #[error("is not valid PEM: {reason}")]
    Malformed {
        /// What is wrong, for a person.
        reason: String,
    },
}

/// The labels of the PEM sections in a file (`CERTIFICATE`, `PRIVATE
/// KEY`, ...), in order, to tell a person what the file holds.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Found(Vec<String>);

impl Found {
    /// The labels of every `-----BEGIN label-----` line in `pem`.
    fn scan(pem: &[u8]) -> Self {
        let text = String::from_utf8_lossy(pem);
        Self(
            text.lines()
                .filter_map(|line| {
                    line.trim()
                        .strip_prefix("-----BEGIN ")?
                        .strip_suffix("-----")
                        .map(str::to_owned)
                })
                .collect(),
        )
    }

    /// The labels, in file order.
    pub fn labels(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for Found {
    /// "CERTIFICATE", "CERTIFICATE ×2, PRIVATE KEY", or "no PEM section".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no PEM section");
        }
        let mut counted: Vec<(&str, usize)> = Vec::new();
        for label in &self.0 {
            match counted.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => counted.push((label, 1)),
            }
        }
        for (i, (label, n)) in counted.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(label)?;
            if *n > 1 {
                write!(f, " ×{n}")?;
            }
        }
        Ok(())
    }
}

/// A person's sentence for pki-types' PEM error (its own `Display` shows
/// raw bytes).
fn malformed(error: pem::Error) -> PemError {
    let reason = match error {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a section does not end (no \"-----END {}-----\" line)",
            String::from_utf8_lossy(&end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "bad section start line \"{}\"",
            String::from_utf8_lossy(&line)
        ),
        pem::Error::Base64Decode(e) => format!("a section's base64 is broken ({e})"),
        pem::Error::SectionTooLarge => "a section is larger than 256 MB".to_owned(),
        other => other.to_string(),
    };
    PemError::Malformed { reason }
}

/// Every section pki-types recognises, in order.
fn sections(pem: &[u8]) -> Result<Vec<(SectionKind, Vec<u8>)>, PemError> {
    // PEM is ASCII text; a NUL or invalid UTF-8 means DER or some other binary.
    if pem.contains(&0) || std::str::from_utf8(pem).is_err() {
        return Err(PemError::NotText);
    }
    <(SectionKind, Vec<u8>)>::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(malformed)
}

/// The certificates of a PEM file, in file order (leaf first, as servers
/// write them). Other sections (a key in the same file) are skipped.
pub fn parse_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let chain: Vec<CertificateDer<'static>> = sections(pem)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if chain.is_empty() {
        return Err(PemError::NoCertificate {
            found: Found::scan(pem),
        });
    }
    Ok(chain)
}

/// The one private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
/// Certificates in the same file are skipped.
pub fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    // OpenSSL's legacy encryption puts headers inside an RSA/EC section,
    // which would otherwise read as broken base64.
    if pem.windows(22).any(|w| w == b"Proc-Type: 4,ENCRYPTED") {
        return Err(PemError::EncryptedKey);
    }
    let mut keys: Vec<PrivateKeyDer<'static>> = sections(pem)?
        .into_iter()
        .filter_map(|(kind, der)| match kind {
            SectionKind::PrivateKey => Some(PrivatePkcs8KeyDer::from(der).into()),
            SectionKind::RsaPrivateKey => Some(PrivatePkcs1KeyDer::from(der).into()),
            SectionKind::EcPrivateKey => Some(PrivateSec1KeyDer::from(der).into()),
            _ => None,
        })
        .collect();
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => {
            let found = Found::scan(pem);
            if found.labels().iter().any(|l| l == "ENCRYPTED PRIVATE KEY") {
                Err(PemError::EncryptedKey)
            } else {
                Err(PemError::NoPrivateKey { found })
            }
        }
        count => Err(PemError::SeveralKeys { count }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, as PEM.
    fn cert_and_key() -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["fax.example.org".to_owned()])
            .expect("rcgen makes a certificate");
        (made.cert.pem(), made.signing_key.serialize_pem())
    }

    #[test]
    fn a_chain_is_the_certificates_in_file_order() {
        let (leaf, key) = cert_and_key();
        let (ca, _) = cert_and_key();
        let chain = parse_chain(format!("{leaf}{ca}{key}").as_bytes()).expect("a chain");
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0], parse_chain(leaf.as_bytes()).expect("leaf")[0]);
        assert_eq!(chain[1], parse_chain(ca.as_bytes()).expect("ca")[0]);
    }

    #[test]
    fn a_key_file_gives_its_key_even_beside_a_certificate() {
        let (cert, key) = cert_and_key();
        let alone = parse_key(key.as_bytes()).expect("a key");
        let combined = parse_key(format!("{cert}{key}").as_bytes()).expect("a key");
        assert!(matches!(alone, PrivateKeyDer::Pkcs8(_)));
        assert_eq!(alone.secret_der(), combined.secret_der());
    }

    #[test]
    fn a_certificate_given_as_the_key_says_what_it_found() {
        let (cert, _) = cert_and_key();
        let err = parse_key(cert.as_bytes()).expect_err("no key");
        assert_eq!(err.to_string(), "holds no private key (found: CERTIFICATE)");
    }

    #[test]
    fn a_key_given_as_the_certificate_says_what_it_found() {
        let (_, key) = cert_and_key();
        let err = parse_chain(key.as_bytes()).expect_err("no certificate");
        assert_eq!(err.to_string(), "holds no certificate (found: PRIVATE KEY)");
    }

    #[test]
    fn an_empty_or_non_pem_text_file_finds_no_section() {
        for text in ["", "hello\n", "server = \"fax:4580\"\n"] {
            assert_eq!(
                parse_chain(text.as_bytes())
                    .expect_err("nothing")
                    .to_string(),
                "holds no certificate (found: no PEM section)"
            );
        }
    }

    #[test]
    fn repeated_labels_are_counted() {
        let (a, _) = cert_and_key();
        let (b, _) = cert_and_key();
        let err = parse_key(format!("{a}{b}").as_bytes()).expect_err("no key");
        assert_eq!(
            err.to_string(),
            "holds no private key (found: CERTIFICATE ×2)"
        );
    }

    #[test]
    fn an_encrypted_key_is_named_as_such() {
        let text = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkq\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(parse_key(text.as_bytes()), Err(PemError::EncryptedKey));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123\n\nMIIB\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(parse_key(legacy.as_bytes()), Err(PemError::EncryptedKey));
    }

    #[test]
    fn two_keys_are_refused() {
        let (_, a) = cert_and_key();
        let (_, b) = cert_and_key();
        assert_eq!(
            parse_key(format!("{a}{b}").as_bytes()),
            Err(PemError::SeveralKeys { count: 2 })
        );
    }

    #[test]
    fn der_bytes_are_not_text() {
        let (cert, _) = cert_and_key();
        let der = parse_chain(cert.as_bytes()).expect("chain").remove(0);
        assert_eq!(parse_chain(der.as_ref()), Err(PemError::NotText));
    }

    #[test]
    fn a_truncated_section_is_malformed_with_a_readable_reason() {
        let (cert, _) = cert_and_key();
        let cut = &cert[..cert.len() / 2];
        let err = parse_chain(cut.as_bytes()).expect_err("truncated");
        assert_eq!(
            err.to_string(),
            "is not valid PEM: a section does not end (no \"-----END CERTIFICATE-----\" line)"
        );
    }

    #[test]
    fn broken_base64_is_malformed() {
        let text = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let err = parse_chain(text.as_bytes()).expect_err("bad base64");
        assert!(
            err.to_string()
                .starts_with("is not valid PEM: a section's base64 is broken"),
            "{err}"
        );
    }
}

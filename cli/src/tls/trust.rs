//! The client's trust settings (`[tls]` of the settings file, or the
//! client's flags) turned into the core's [`ClientTls`]: the system's
//! roots or a CA file loaded, a pin taken as it is.

use std::path::Path;

use faxnotify_core::client::{TlsSettings, TlsTrust};
use faxnotify_core::tls::pem::parse_chain;
use faxnotify_core::tls::{CertificateDer, ClientTls, Trust};

/// The core's TLS settings for a server dialled at `server` (`host:port`),
/// or `None` for plain TCP. The error is a sentence for the person who set
/// the trust.
pub fn client_tls(settings: &TlsSettings, server: &str) -> Result<Option<ClientTls>, String> {
    let trust = match &settings.trust {
        TlsTrust::Off => return Ok(None),
        TlsTrust::System => Trust::Roots(system_roots()?),
        TlsTrust::CaFile(path) => Trust::Roots(ca_file(path)?),
        TlsTrust::Pinned(fingerprint) => Trust::PinnedSha256(fingerprint.0),
        other => return Err(format!("trust {other} is not supported by this version")),
    };
    Ok(Some(ClientTls {
        server_name: settings.name_for(server),
        trust,
    }))
}

/// The operating system's trusted roots.
fn system_roots() -> Result<Vec<CertificateDer<'static>>, String> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = match found.errors.first() {
            Some(e) => format!(" ({e})"),
            None => String::new(),
        };
        return Err(format!(
            "trust = \"system\", but this host has no trusted root certificates{why}: install \
             them (e.g. the ca-certificates package), or trust a CA file (\"ca:/path/ca.pem\") \
             or pin the server's certificate (\"pin:sha256:...\")"
        ));
    }
    Ok(found.certs)
}

/// The CA certificates of a PEM file.
fn ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = super::files::read_pem_file(path, "CA file")?;
    parse_chain(&pem).map_err(|e| format!("the CA file {} {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use faxnotify_core::tls::pin::Fingerprint;

    use super::*;

    fn settings(trust: TlsTrust) -> TlsSettings {
        TlsSettings::new(trust)
    }

    #[test]
    fn off_is_plain_tcp() {
        assert_eq!(client_tls(&settings(TlsTrust::Off), "fax:4580"), Ok(None));
    }

    #[test]
    fn a_pin_is_taken_as_it_is_with_the_servers_host_as_name() {
        let pin = Fingerprint([7; 32]);
        let tls = client_tls(&settings(TlsTrust::Pinned(pin)), "fax.example.org:4580")
            .expect("ok")
            .expect("tls");
        assert_eq!(tls.server_name, "fax.example.org");
        assert_eq!(tls.trust, Trust::PinnedSha256([7; 32]));
    }

    #[test]
    fn a_ca_file_gives_its_certificates_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let made =
            rcgen::generate_simple_self_signed(vec!["ca.example".to_owned()]).expect("rcgen");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, made.cert.pem()).expect("write");
        let mut with_name = settings(TlsTrust::CaFile(ca.clone()));
        with_name.server_name = Some("fax.example.org".to_owned());
        let tls = client_tls(&with_name, "192.0.2.7:4580")
            .expect("ok")
            .expect("tls");
        assert_eq!(tls.server_name, "fax.example.org");
        assert_eq!(tls.trust, Trust::Roots(vec![made.cert.der().clone()]));

        let key = dir.path().join("key.pem");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write");
        assert_eq!(
            client_tls(&settings(TlsTrust::CaFile(key.clone())), "fax:4580"),
            Err(format!(
                "the CA file {} holds no certificate (found: PRIVATE KEY)",
                key.display()
            ))
        );
        let missing = dir.path().join("missing.pem");
        let err = client_tls(&settings(TlsTrust::CaFile(missing.clone())), "fax:4580")
            .expect_err("missing");
        assert!(
            err.starts_with(&format!("cannot read the CA file {}: ", missing.display())),
            "{err}"
        );
    }
}

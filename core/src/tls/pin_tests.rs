//! The fingerprint's text form, and [`PinnedVerifier`] in real TLS 1.3
//! handshakes between rustls connections in memory.

use std::io::{Read as _, Write as _};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

use super::*;
use crate::tls::pem;

// ring's ready-made provider is deprecated since rustls 0.23.48 only for
// lacking post-quantum key exchange; these tests need its signature
// algorithms, which it has.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for `name`: (certificate DER, key PEM).
fn self_signed(name: &str) -> (CertificateDer<'static>, String) {
    let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("rcgen");
    (made.cert.der().clone(), made.signing_key.serialize_pem())
}

/// Always presents one certificate with one signing key, matching or not
/// (rustls's own `with_single_cert` refuses a mismatched pair).
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

fn server(cert: CertificateDer<'static>, key_pem: &str) -> ServerConnection {
    let key = pem::parse_key(key_pem.as_bytes()).expect("key");
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .expect("a usable key");
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(Arc::new(CertifiedKey::new(
            vec![cert],
            signing,
        )))));
    ServerConnection::new(Arc::new(config)).expect("server connection")
}

fn client(pinned: [u8; 32], name: &str) -> ClientConnection {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(pinned, provider())))
        .with_no_client_auth();
    let name = ServerName::try_from(name.to_owned()).expect("a server name");
    ClientConnection::new(Arc::new(config), name).expect("client connection")
}

/// Which side of a handshake failed.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the errors are read through Debug, in panic messages"
)]
enum Failed {
    Client(rustls::Error),
    Server(rustls::Error),
}

/// Moves every pending record from `from` into `to`.
fn transfer<A, B>(
    from: &mut rustls::ConnectionCommon<A>,
    to: &mut rustls::ConnectionCommon<B>,
) -> Result<(), rustls::Error> {
    let mut records = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut records).expect("writes to a Vec");
    }
    let mut rest = &records[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).expect("reads from a slice");
        to.process_new_packets()?;
    }
    Ok(())
}

/// Runs the handshake to its end: Ok when both sides finished it.
fn handshake(client: &mut ClientConnection, server: &mut ServerConnection) -> Result<(), Failed> {
    for _ in 0..10 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok(());
        }
        transfer(&mut **client, &mut **server).map_err(Failed::Server)?;
        transfer(&mut **server, &mut **client).map_err(Failed::Client)?;
    }
    panic!("the handshake did not finish in 10 round trips");
}

#[test]
fn the_pinned_certificate_is_accepted_and_data_flows() {
    let (cert, key) = self_signed("fax.example.org");
    let mut server = server(cert.clone(), &key);
    let mut client = client(fingerprint(&cert), "fax.example.org");
    handshake(&mut client, &mut server).expect("the handshake succeeds");
    assert_eq!(
        client.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    client.writer().write_all(b"LOGIN").expect("write");
    transfer(&mut *client, &mut *server).expect("records");
    let mut got = [0u8; 5];
    server.reader().read_exact(&mut got).expect("read");
    assert_eq!(&got, b"LOGIN");
}

#[test]
fn the_pin_is_not_tied_to_the_name_the_client_dialled() {
    // A LAN server reached by its IP address: the pin alone decides.
    let (cert, key) = self_signed("fax.example.org");
    let mut server = server(cert.clone(), &key);
    let mut client = client(fingerprint(&cert), "192.0.2.7");
    handshake(&mut client, &mut server).expect("the handshake succeeds");
}

#[test]
fn another_certificate_is_refused_with_both_fingerprints() {
    let (pinned, _) = self_signed("fax.example.org");
    let (other, other_key) = self_signed("fax.example.org");
    let mut server = server(other.clone(), &other_key);
    let mut client = client(fingerprint(&pinned), "fax.example.org");
    let error = match handshake(&mut client, &mut server) {
        Err(Failed::Client(error)) => error,
        other => panic!("the client must refuse the certificate, not {other:?}"),
    };
    let mismatch = PinMismatch::find(&error).expect("a pin mismatch");
    assert_eq!(mismatch.expected, Fingerprint::of(&pinned));
    assert_eq!(mismatch.got, Fingerprint::of(&other));
    assert_eq!(
        mismatch.to_string(),
        format!(
            "certificate fingerprint does not match the pinned one (expected {}, got {}): \
             the server has a new certificate, or this is not the real server",
            Fingerprint::of(&pinned),
            Fingerprint::of(&other)
        )
    );
}

#[test]
fn the_pinned_certificate_without_its_key_fails_the_signature_check() {
    // An attacker who copied the (public) certificate but not the key.
    let (cert, _) = self_signed("fax.example.org");
    let (_, attacker_key) = self_signed("fax.example.org");
    let mut server = server(cert.clone(), &attacker_key);
    let mut client = client(fingerprint(&cert), "fax.example.org");
    let error = match handshake(&mut client, &mut server) {
        Err(Failed::Client(error)) => error,
        other => panic!("the client must refuse the handshake signature, not {other:?}"),
    };
    assert!(PinMismatch::find(&error).is_none(), "{error}");
    assert!(
        matches!(
            error,
            rustls::Error::InvalidCertificate(CertificateError::BadSignature)
                | rustls::Error::InvalidCertificate(
                    CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
                )
        ),
        "{error}"
    );
}

#[test]
fn the_verifier_offers_the_providers_schemes() {
    let verifier = PinnedVerifier::new([0; 32], provider());
    assert_eq!(
        verifier.supported_verify_schemes(),
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    );
    assert!(
        verifier
            .supported_verify_schemes()
            .contains(&SignatureScheme::ED25519)
    );
}

#[test]
fn the_fingerprint_is_sha256_of_the_der() {
    let (cert, _) = self_signed("fax.example.org");
    let expected: [u8; 32] = Sha256::digest(cert.as_ref()).into();
    assert_eq!(fingerprint(&cert), expected);
}

const VECTOR: [u8; 32] = [
    0x00, 0x01, 0x0A, 0xAB, 0xCD, 0xEF, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0,
    0xB0, 0xC0, 0xD0, 0xE0, 0xF0, 0xFF, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x99,
];
const VECTOR_TEXT: &str = "sha256:00:01:0A:AB:CD:EF:10:20:30:40:50:60:70:80:90:A0:B0:C0:D0:E0:F0:FF:01:02:03:04:05:06:07:08:09:99";

#[test]
fn the_text_form_is_sha256_and_upper_case_pairs() {
    assert_eq!(Fingerprint(VECTOR).to_string(), VECTOR_TEXT);
}

#[test]
fn every_accepted_spelling_parses_to_the_same_fingerprint() {
    let plain = VECTOR_TEXT
        .strip_prefix("sha256:")
        .expect("prefix")
        .replace(':', "");
    for text in [
        VECTOR_TEXT.to_owned(),
        VECTOR_TEXT.to_ascii_lowercase(),
        VECTOR_TEXT["sha256:".len()..].to_owned(),
        plain.clone(),
        plain.to_ascii_lowercase(),
        format!("  {VECTOR_TEXT}\n"),
        format!("sha256 Fingerprint={}", &VECTOR_TEXT["sha256:".len()..]),
        format!("SHA256 Fingerprint={}", &VECTOR_TEXT["sha256:".len()..]),
    ] {
        assert_eq!(
            text.parse::<Fingerprint>(),
            Ok(Fingerprint(VECTOR)),
            "{text}"
        );
    }
}

#[test]
fn bad_fingerprints_say_what_is_wrong() {
    let short = "sha256:AB:CD";
    assert_eq!(
        short.parse::<Fingerprint>().expect_err("short").to_string(),
        "\"sha256:AB:CD\" is not a SHA-256 fingerprint: expected 32 hex pairs \
         (64 hex digits, colons optional), found 4 hex digits"
    );
    let sha1 = "sha1:AB:CD";
    assert!(matches!(
        sha1.parse::<Fingerprint>(),
        Err(FingerprintParseError::NotSha256 { .. })
    ));
    assert!(matches!(
        "SHA1 Fingerprint=AB:CD".parse::<Fingerprint>(),
        Err(FingerprintParseError::NotSha256 { .. })
    ));
    let bad = VECTOR_TEXT.replace("0A", "0G");
    assert_eq!(
        bad.parse::<Fingerprint>(),
        Err(FingerprintParseError::NotHex {
            text: bad,
            bad: 'g'
        })
    );
    assert!(matches!(
        "".parse::<Fingerprint>(),
        Err(FingerprintParseError::WrongLength { digits: 0, .. })
    ));
}

#[test]
fn display_and_parse_round_trip() {
    let (cert, _) = self_signed("fax.example.org");
    let fp = Fingerprint::of(&cert);
    assert_eq!(fp.to_string().parse::<Fingerprint>(), Ok(fp));
}

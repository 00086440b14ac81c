//! The suite's own TLS 1.3 (protocol.md section 12), made with rustls
//! directly rather than with faxnotify-core's TLS driver: the suite is a
//! second implementation of the peer, and sharing the core's driver would
//! let one mistake pass on both sides. Only the settings types
//! ([`ClientTls`]) are shared.
//!
//! The fax client is always the TLS client [T-2]: against a server under
//! test the suite is TLS client on control connections and on the callbacks
//! it accepts; against a client under test it is TLS server on both.

use std::fmt;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faxnotify_core::tls::pin::Fingerprint;
use faxnotify_core::tls::{CertificateDer, ClientTls, PrivateKeyDer, Trust, UnixTime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::ServerName;
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::stream::TlsStream;

fn provider() -> Arc<CryptoProvider> {
    // Deprecated for lacking post-quantum key exchange, which the profile
    // of [T-12] (X25519) does not use either.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The suite as TLS client: whom it trusts and the name it verifies.
#[derive(Clone)]
pub struct SuiteTlsClient {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl fmt::Debug for SuiteTlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SuiteTlsClient")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SuiteTlsClient {
    /// TLS 1.3 only, no resumption (every connection a full handshake
    /// [T-12]), trusting what `tls` says.
    pub fn new(tls: &ClientTls) -> Result<Self, String> {
        let name = ServerName::try_from(tls.server_name.clone()).map_err(|_| {
            format!(
                "{:?} is not a valid server name (a DNS name or an IP address)",
                tls.server_name
            )
        })?;
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?;
        let mut config = match &tls.trust {
            Trust::Roots(roots) => {
                let mut store = rustls::RootCertStore::empty();
                let (added, _) = store.add_parsable_certificates(roots.iter().cloned());
                if added == 0 {
                    return Err("none of the CA certificates given is usable".to_owned());
                }
                builder.with_root_certificates(store).with_no_client_auth()
            }
            Trust::PinnedSha256(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned(*pin, provider())))
                .with_no_client_auth(),
            _ => return Err("this kind of trust is not supported by the suite".to_owned()),
        };
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            config: Arc::new(config),
            name,
        })
    }

    /// Runs the TLS client handshake on `sock`.
    pub(crate) fn handshake(&self, sock: TcpStream, wait: Duration) -> HandshakeResult {
        let conn = rustls::ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(|e| e.to_string())?;
        handshake(conn.into(), sock, wait)
    }
}

/// The suite as TLS server: the certificate chain it presents.
#[derive(Clone)]
pub struct SuiteTlsServer {
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for SuiteTlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SuiteTlsServer")
    }
}

impl SuiteTlsServer {
    /// TLS 1.3 only, no client certificates [T-5], no tickets.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| e.to_string())?;
        config.send_tls13_tickets = 0;
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// Runs the TLS server handshake on `sock`.
    pub(crate) fn handshake(&self, sock: TcpStream, wait: Duration) -> HandshakeResult {
        let conn =
            rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(|e| e.to_string())?;
        handshake(conn.into(), sock, wait)
    }
}

/// A finished handshake, or why it failed (rustls's reason, or the socket
/// error), for a person.
pub(crate) type HandshakeResult = Result<TlsStream, String>;

fn handshake(conn: rustls::Connection, sock: TcpStream, wait: Duration) -> HandshakeResult {
    TlsStream::handshake(conn, sock, Instant::now() + wait).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no complete handshake within {:.1} s", wait.as_secs_f64())
        }
        std::io::ErrorKind::UnexpectedEof => "the peer closed the connection".to_owned(),
        _ => e.to_string(),
    })
}

/// Accepts exactly the certificate with this SHA-256 fingerprint; the
/// handshake signature is still verified with the certificate's key [T-4].
#[derive(Debug)]
struct Pinned([u8; 32], Arc<CryptoProvider>);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity);
        if got.0 == self.0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the certificate's fingerprint {got} is not the pinned {}",
                Fingerprint(self.0)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.1.signature_verification_algorithms,
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
            &self.1.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.1.signature_verification_algorithms.supported_schemes()
    }
}

//! FNP/1 over TLS 1.3 (docs/protocol.md section 12): the settings the client
//! and server cores take, and (inside the crate) the per-connection TLS
//! session that drives rustls's sans-IO connection with the core's seeded
//! randomness and the caller's clock.
//!
//! The server has one [`ServerIdentity`] (certificate chain and key), used on
//! control and callback connections alike; a fax client is always the TLS
//! client and decides whom to trust with [`ClientTls`].
//!
//! # Example
//!
//! TLS is a field of each side's configuration, so it is the same on every
//! runtime and on a core driven by hand: [`ServerConfig::tls`] takes the
//! server's identity, [`ClientConfig::tls`] the name to verify and whom to
//! trust. Here the server has a self-signed certificate (the files
//! `faxnotify tls self-signed --name fax.example.org --out tls` writes) and
//! the client pins it:
//!
//! ```
//! use faxnotify_core::client::{ClientConfig, ListenPolicy, NetworkSettings};
//! use faxnotify_core::server::ServerConfig;
//! use faxnotify_core::tls::pin::Fingerprint;
//! use faxnotify_core::tls::{ClientTls, ServerIdentity, Trust, pem};
//! # let made = rcgen::generate_simple_self_signed(vec!["fax.example.org".to_owned()])?;
//! # let dir = std::env::temp_dir().join(format!("fnp-tls-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # std::fs::write(dir.join("cert.pem"), made.cert.pem())?;
//! # std::fs::write(dir.join("key.pem"), made.signing_key.serialize_pem())?;
//! # let cert_path = dir.join("cert.pem");
//! # let key_path = dir.join("key.pem");
//!
//! // The server: its certificate chain and key from PEM files.
//! let chain = pem::parse_chain(&std::fs::read(&cert_path)?)?;
//! let key = pem::parse_key(&std::fs::read(&key_path)?)?;
//! let pin = Fingerprint::of(&chain[0]); // prints as sha256:AB:CD:...
//! let mut server = ServerConfig::new([1; 32]); // a persisted random secret in production
//! server.tls = Some(ServerIdentity::new(chain, key)?);
//!
//! // The client: the name the certificate carries, and the pin (parsed
//! // from its text form, as a user would paste it).
//! let pin: Fingerprint = pin.to_string().parse()?;
//! let settings = NetworkSettings::new(ListenPolicy::Dynamic);
//! let mut client = ClientConfig::new("127.0.0.1:4580".parse()?, "alice", "pw", settings);
//! client.tls = Some(ClientTls {
//!     server_name: "fax.example.org".into(),
//!     trust: Trust::PinnedSha256(pin.0),
//! });
//! assert!(client.validate().is_ok());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To trust a CA instead of a pin, give its certificates:
//! `Trust::Roots(pem::parse_chain(&std::fs::read("ca.pem")?)?)` (the
//! operating system's roots: load them, e.g. with `rustls-native-certs`,
//! into the same `Trust::Roots`). A failed handshake reaches the client's
//! application as [`client::Event::TlsFailed`](crate::client::Event::TlsFailed)
//! and, for a certificate it cannot trust,
//! [`client::StopReason::Tls`](crate::client::StopReason::Tls).
//!
//! [`ServerConfig::tls`]: crate::server::ServerConfig::tls
//! [`ClientConfig::tls`]: crate::client::ClientConfig::tls

mod config;
mod failure;
pub mod pem;
pub mod pin;
mod provider;
mod session;

use std::fmt;
use std::sync::Arc;

pub use failure::TlsFailure;
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
pub use rustls::time_provider::TimeProvider;

pub(crate) use config::{ClientTlsConfig, server_config};
pub(crate) use session::TlsSession;

/// The wall clock rustls checks certificate validity against: the system
/// clock unless the application injects another (tests and the simulator
/// inject a fixed one). It is the only time the TLS sessions read, and it
/// never affects the bytes sent.
pub fn system_clock() -> Arc<dyn TimeProvider> {
    Arc::new(rustls::time_provider::DefaultTimeProvider)
}

/// A wall clock that always says `at` (tests, the simulator).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub UnixTime);

impl TimeProvider for FixedClock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

/// The server's certificate chain and key (same identity on control and
/// callback connections [T-2]).
///
/// The key is parsed and checked against the leaf certificate when the
/// identity is made, so a wrong pair is refused at configuration time rather
/// than in every handshake.
#[derive(Clone)]
pub struct ServerIdentity {
    pub(crate) key: Arc<rustls::sign::CertifiedKey>,
}

impl ServerIdentity {
    /// An identity from a certificate chain (leaf first) and its private key.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsConfigError> {
        if chain.is_empty() {
            return Err(TlsConfigError::EmptyChain);
        }
        let signing_key = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| {
            TlsConfigError::UnusableKey {
                reason: e.to_string(),
            }
        })?;
        let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
        match certified.keys_match() {
            Ok(()) => {}
            // Keys whose public half cannot be extracted are not checked
            // here; the handshake's own signature check still binds them.
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                return Err(TlsConfigError::KeyDoesNotMatchCertificate);
            }
            Err(e) => {
                return Err(TlsConfigError::BadCertificate {
                    reason: e.to_string(),
                });
            }
        }
        Ok(Self {
            key: Arc::new(certified),
        })
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.key.cert
    }
}

impl fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("ServerIdentity")
            .field("chain_len", &self.key.cert.len())
            .finish_non_exhaustive()
    }
}

/// How a fax client decides to trust the server [T-4].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trust {
    /// Verify the chain against these roots (system roots loaded by the
    /// caller, or a CA file).
    Roots(Vec<CertificateDer<'static>>),
    /// Accept exactly the certificate with this SHA-256 fingerprint
    /// (self-signed servers on a LAN).
    PinnedSha256([u8; 32]),
}

/// A client's TLS settings: the name the server's certificate must carry,
/// and the trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTls {
    /// The DNS name (or IP address literal) the server's certificate must
    /// carry; also sent as SNI.
    pub server_name: String,
    /// Whom the client trusts.
    pub trust: Trust,
}

/// Why a TLS setting is refused when it is made (a configuration mistake,
/// never a peer's fault).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// The certificate chain has no certificate.
    #[error("the certificate chain is empty: the certificate file holds no certificate")]
    EmptyChain,
    /// The private key could not be used for TLS 1.3 signatures.
    #[error("the private key cannot be used: {reason}")]
    UnusableKey {
        /// What rustls said about it.
        reason: String,
    },
    /// The key is not the one the leaf certificate was issued for.
    #[error(
        "the private key does not belong to the certificate (the certificate and key files do not match)"
    )]
    KeyDoesNotMatchCertificate,
    /// The leaf certificate could not be read.
    #[error("the certificate cannot be used: {reason}")]
    BadCertificate {
        /// What was wrong.
        reason: String,
    },
    /// The server name is neither a DNS name nor an IP address.
    #[error("{name:?} is not a valid server name (a DNS name or an IP address)")]
    BadServerName {
        /// The name given.
        name: String,
    },
    /// No trusted root could be used.
    #[error("no usable trusted root certificate: {reason}")]
    NoUsableRoots {
        /// Why.
        reason: String,
    },
}

//! TLS around the `server_tls` harness: the server's fixed identity, the
//! honest TLS client each harness-played peer runs (so the fuzzer's frames
//! reach the FNP/1 code behind a completed handshake), and the record-layer
//! check of what the server writes.
//!
//! Everything is deterministic: the identity is fixed material (`pki/`, the
//! simulator's test certificate), the wall clock is fixed, and each peer's
//! TLS randomness is a seed derived from its connection handle, so an input
//! replays byte for byte.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::ConnId;
use crate::auth::ChannelBinding;
use crate::tls::{
    ClientTls, ClientTlsConfig, FixedClock, ServerIdentity, TimeProvider, TlsFailure, TlsSession,
    Trust, UnixTime, pem, pin,
};

/// The name in the certificate (`pki/server.pem`).
const SERVER_NAME: &str = "fax.sim.test";

/// 2030-01-01T00:00:00Z: inside the certificate's validity.
const WALL_CLOCK_SECS: u64 = 1_893_456_000;

/// How the harness's peers speak TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// Every peer completes an honest handshake; every byte the fuzzer
    /// sends (frames and raw bytes alike) is sealed in application data.
    Sealed,
    /// Honest handshakes, but raw bytes go into the TLS stream unsealed:
    /// forged records after (or during) a handshake.
    RawRecords,
    /// No TLS on the peers' side: every byte reaches the server's TLS
    /// session as it is (handshake parsing and "not TLS" paths).
    Raw,
}

impl TlsMode {
    /// The mode a `server_tls` input selects with its first byte.
    pub(crate) fn from_byte(b: u8) -> Self {
        match b % 3 {
            0 => Self::Sealed,
            1 => Self::RawRecords,
            _ => Self::Raw,
        }
    }

    /// The byte that selects the mode.
    pub(crate) fn byte(self) -> u8 {
        match self {
            Self::Sealed => 0,
            Self::RawRecords => 1,
            Self::Raw => 2,
        }
    }
}

pub(crate) fn wall_clock() -> Arc<dyn TimeProvider> {
    Arc::new(FixedClock(UnixTime::since_unix_epoch(Duration::from_secs(
        WALL_CLOCK_SECS,
    ))))
}

/// The server's identity (parsed once per process).
pub(crate) fn identity() -> ServerIdentity {
    static IDENTITY: OnceLock<ServerIdentity> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let chain = pem::parse_chain(include_bytes!("pki/server.pem"));
            let key = pem::parse_key(include_bytes!("pki/server.key"));
            match (chain, key) {
                (Ok(chain), Ok(key)) => match ServerIdentity::new(chain, key) {
                    Ok(identity) => identity,
                    Err(err) => panic!("the harness's identity is refused: {err}"),
                },
                _ => panic!("the harness's certificate or key does not parse"),
            }
        })
        .clone()
}

/// The peers' TLS client configuration: they pin the server's certificate.
fn client_config() -> &'static ClientTlsConfig {
    static CONFIG: OnceLock<ClientTlsConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let tls = ClientTls {
            server_name: SERVER_NAME.to_owned(),
            trust: Trust::PinnedSha256(pin::fingerprint(&identity().chain()[0])),
        };
        match ClientTlsConfig::new(&tls, wall_clock()) {
            Ok(config) => config,
            Err(err) => panic!("the harness's TLS client settings are refused: {err}"),
        }
    })
}

/// The honest TLS client of one harness-played connection.
#[derive(Debug)]
pub(crate) struct TlsPeer {
    session: TlsSession,
    /// The session failed (the server sent an alert, or bytes the fuzzer
    /// forged broke the stream); it sends nothing more.
    pub(crate) failed: Option<TlsFailure>,
}

impl TlsPeer {
    /// A peer for `conn`, seeded from the handle; returns it with its
    /// ClientHello.
    pub(crate) fn start(conn: ConnId) -> (Self, Vec<u8>) {
        let mut seed = [0x7e; 32];
        seed[..8].copy_from_slice(&conn.into_raw().to_be_bytes());
        let config = client_config();
        let session = match TlsSession::client(&config.config, config.server_name.clone(), seed) {
            Ok(session) => session,
            Err(err) => panic!("the harness's TLS client cannot start: {err}"),
        };
        let mut peer = Self {
            session,
            failed: None,
        };
        let hello = peer.session.take_output();
        (peer, hello)
    }

    /// Seals plaintext; returns the records to send (possibly none while
    /// the handshake runs: rustls holds the plaintext until it completes).
    pub(crate) fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        if self.failed.is_some() {
            return Vec::new();
        }
        self.session.send(plaintext);
        self.session.take_output()
    }

    /// Opens records the server wrote: the plaintext they carried, and
    /// whatever the peer answers (its Finished, alerts).
    pub(crate) fn open(&mut self, records: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut plaintext = Vec::new();
        if self.failed.is_some() {
            return (plaintext, Vec::new());
        }
        if let Err(failure) = self.session.receive(records, &mut plaintext) {
            self.failed = Some(failure);
        }
        (plaintext, self.session.take_output())
    }

    /// The connection's channel binding, once the handshake is over [T-6].
    pub(crate) fn binding(&self) -> Option<ChannelBinding> {
        self.session.channel_binding()
    }
}

/// The largest TLS 1.3 record (RFC 8446 section 5.2).
const MAX_RECORD: usize = (1 << 14) + 256;

/// Checks that a `Transmit` on a TLS connection is whole records of known
/// types and legal lengths (the adapter contract's "whole frames", one layer
/// down). Panics otherwise.
pub(crate) fn check_records(data: &[u8]) {
    assert!(!data.is_empty(), "an empty Transmit");
    let mut rest = data;
    while !rest.is_empty() {
        let [kind, major, minor, hi, lo, body @ ..] = rest else {
            panic!("a TLS Transmit ends in a partial record header: {rest:02x?}");
        };
        assert!((20..=23).contains(kind), "a record of content type {kind}");
        assert!(
            *major == 3 && (1..=3).contains(minor),
            "a record of version {major}.{minor}"
        );
        let len = usize::from(*hi) << 8 | usize::from(*lo);
        assert!(len <= MAX_RECORD, "a record of {len} bytes");
        assert!(
            body.len() >= len,
            "a TLS Transmit ends in a partial record ({} of {len} bytes)",
            body.len()
        );
        rest = &body[len..];
    }
}

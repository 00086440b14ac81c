//! The crypto provider the cores give rustls: *ring*'s TLS 1.3 cipher
//! suites and signature algorithms, but every random byte — the handshake
//! randoms and the ephemeral key-exchange keys — drawn from a ChaCha20
//! stream the core seeds. *ring*'s own key-exchange groups draw their
//! private keys from the operating system (and its RNG trait is sealed), so
//! the X25519 group here is our own, on `x25519-dalek`.
//!
//! rustls wants `'static` random sources, so the provider's parts are
//! zero-sized and read the stream of the TLS session that is calling into
//! rustls at the moment: [`with_random`] lends it for the duration of one
//! call on this thread. A draw outside such a call fails (the handshake then
//! fails) rather than fall back to another source.

use std::cell::RefCell;
use std::sync::Arc;

use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::{Error, NamedGroup, PeerMisbehaved};

thread_local! {
    /// The stream lent by [`with_random`] for the call in progress.
    static LENT: RefCell<Option<ChaCha20Rng>> = const { RefCell::new(None) };
}

/// Runs `f` with `rng` as the source of every random byte rustls draws
/// through this provider, then hands the stream back.
pub(crate) fn with_random<T>(rng: &mut Option<ChaCha20Rng>, f: impl FnOnce() -> T) -> T {
    let Some(lent) = rng.take() else {
        // No stream (the handshake is over): draws fail, nothing else changes.
        return f();
    };
    let previous = LENT.with(|cell| cell.borrow_mut().replace(lent));
    let out = f();
    *rng = LENT.with(|cell| std::mem::replace(&mut *cell.borrow_mut(), previous));
    out
}

fn fill_lent(buf: &mut [u8]) -> Result<(), GetRandomFailed> {
    LENT.with(|cell| match cell.borrow_mut().as_mut() {
        Some(rng) => {
            rng.fill_bytes(buf);
            Ok(())
        }
        None => Err(GetRandomFailed),
    })
}

/// Random bytes from the lent stream.
#[derive(Debug)]
struct LentRandom;

impl SecureRandom for LentRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        fill_lent(buf)
    }
}

/// X25519 with private keys from the seeded stream.
#[derive(Debug)]
struct SeededX25519;

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut bytes = [0u8; 32];
        fill_lent(&mut bytes).map_err(|_| Error::FailedToGetRandomBytes)?;
        let secret = x25519_dalek::StaticSecret::from(bytes);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct X25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: x25519_dalek::PublicKey,
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        let peer: [u8; 32] = peer_pub_key
            .try_into()
            .map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        // RFC 8446 section 7.4.2: an all-zero X25519 result must be refused.
        if !shared.was_contributory() {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// Loads signing keys with *ring* (Ed25519 and RSA PKCS#1 signatures are
/// deterministic; *ring*'s ECDSA and RSA-PSS signatures use the operating
/// system's randomness, which is why tests and the simulator use Ed25519).
#[derive(Debug)]
struct RingKeys;

impl KeyProvider for RingKeys {
    fn load_private_key(
        &self,
        key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, Error> {
        rustls::crypto::ring::sign::any_supported_type(&key_der)
    }
}

/// The provider every TLS session of the cores uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)] // only its signature-verification table is used
    let ring = rustls::crypto::ring::default_provider();
    Arc::new(CryptoProvider {
        cipher_suites: vec![
            rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
            rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![&SeededX25519],
        signature_verification_algorithms: ring.signature_verification_algorithms,
        secure_random: &LentRandom,
        key_provider: &RingKeys,
    })
}

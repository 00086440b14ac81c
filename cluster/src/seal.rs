//! Sealing bytes at rest: XChaCha20-Poly1305 with a random nonce per write.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::record::RecordError;
use crate::secret::ClusterSecret;

/// The sealed format's version (first byte).
const SEAL_V1: u8 = 1;
pub(crate) const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// `SEAL_V1 || nonce || ciphertext+tag`, authenticated with `aad` (the
/// bucket key, so a record copied under another session id fails to open).
pub(crate) fn seal(
    secret: &ClusterSecret,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, RecordError> {
    // A random 192-bit nonce per write: no counter to keep consistent
    // across servers, and collisions are negligible at any write rate.
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|err| RecordError::NoRandomness(err.to_string()))?;
    seal_with_nonce(secret, aad, plaintext, nonce)
}

/// [`seal`] with the nonce given: the fuzzing harness's inputs decide it,
/// so a run is reproducible.
pub(crate) fn seal_with_nonce(
    secret: &ClusterSecret,
    aad: &[u8],
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<Vec<u8>, RecordError> {
    let cipher = XChaCha20Poly1305::new(secret.record_key().into());
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| RecordError::Malformed("too long to seal"))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(SEAL_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens what [`seal`] made; anything changed, or sealed with another
/// secret or under another key, is [`RecordError::NotAuthentic`].
pub(crate) fn open(
    secret: &ClusterSecret,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>, RecordError> {
    let (&version, rest) = sealed
        .split_first()
        .ok_or(RecordError::Malformed("empty"))?;
    if version != SEAL_V1 {
        return Err(RecordError::UnknownVersion(version));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(RecordError::Malformed("shorter than a sealed record"));
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
    XChaCha20Poly1305::new(secret.record_key().into())
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| RecordError::NotAuthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_only_unchanged_with_the_same_secret_and_key() {
        let secret = ClusterSecret::from_bytes(&[3; 32]);
        let sealed = seal(&secret, b"00000000000000aa", b"record").unwrap();
        assert_eq!(
            open(&secret, b"00000000000000aa", &sealed).unwrap(),
            b"record"
        );
        // A fresh nonce each time: equal records do not look equal at rest.
        assert_ne!(
            sealed,
            seal(&secret, b"00000000000000aa", b"record").unwrap()
        );

        let other = ClusterSecret::from_bytes(&[4; 32]);
        assert_eq!(
            open(&other, b"00000000000000aa", &sealed),
            Err(RecordError::NotAuthentic)
        );
        assert_eq!(
            open(&secret, b"00000000000000ab", &sealed),
            Err(RecordError::NotAuthentic)
        );
        for i in 1..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 0x01;
            assert_eq!(
                open(&secret, b"00000000000000aa", &flipped),
                Err(RecordError::NotAuthentic),
                "byte {i}"
            );
        }
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(
            open(&secret, b"00000000000000aa", &v2),
            Err(RecordError::UnknownVersion(2))
        );
        assert!(matches!(
            open(&secret, b"k", &sealed[..20]),
            Err(RecordError::Malformed(_))
        ));
        assert!(matches!(
            open(&secret, b"k", &[]),
            Err(RecordError::Malformed(_))
        ));
    }
}

//! The two proofs of the callback handshake (spec section 6).

use super::binding::ChannelBinding;
use super::hmac_sha256;
use super::keys::SessionKey;
use crate::wire::{Mac, Nonce};

/// CB_HELLO.proof = HMAC(session_key, "FNP/1 callback" || 0x00 || client_nonce
/// || server_nonce || session_id): the server proves it holds the session key.
pub fn cb_hello_proof(
    key: &SessionKey,
    client_nonce: &Nonce,
    server_nonce: &Nonce,
    session_id: u64,
) -> Mac {
    cb_hello_proof_bound(key, client_nonce, server_nonce, session_id, None)
}

/// CB_HELLO.proof, bound to the callback's TLS connection when it has one
/// [T-7]: the channel binding's 32 bytes follow `session_id`.
pub fn cb_hello_proof_bound(
    key: &SessionKey,
    client_nonce: &Nonce,
    server_nonce: &Nonce,
    session_id: u64,
    binding: Option<&ChannelBinding>,
) -> Mac {
    hmac_sha256(
        key.as_bytes(),
        &[
            b"FNP/1 callback\0",
            client_nonce,
            server_nonce,
            &session_id.to_be_bytes(),
            binding.map_or(&[][..], |b| &b.as_bytes()[..]),
        ],
    )
}

/// CB_READY.proof = HMAC(session_key, "FNP/1 ready" || 0x00 || client_nonce ||
/// server_nonce || session_id || last_seq): the listener proves it is the
/// session's client, and binds the seq it reports.
pub fn cb_ready_proof(
    key: &SessionKey,
    client_nonce: &Nonce,
    server_nonce: &Nonce,
    session_id: u64,
    last_seq: u64,
) -> Mac {
    cb_ready_proof_bound(key, client_nonce, server_nonce, session_id, last_seq, None)
}

/// CB_READY.proof, bound to the callback's TLS connection when it has one
/// [T-7]: the channel binding's 32 bytes follow `last_seq`.
pub fn cb_ready_proof_bound(
    key: &SessionKey,
    client_nonce: &Nonce,
    server_nonce: &Nonce,
    session_id: u64,
    last_seq: u64,
    binding: Option<&ChannelBinding>,
) -> Mac {
    hmac_sha256(
        key.as_bytes(),
        &[
            b"FNP/1 ready\0",
            client_nonce,
            server_nonce,
            &session_id.to_be_bytes(),
            &last_seq.to_be_bytes(),
            binding.map_or(&[][..], |b| &b.as_bytes()[..]),
        ],
    )
}

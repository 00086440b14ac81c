//! FNP/1 authentication (spec section 4) and the callback proofs (section 6).
//!
//! The login is SCRAM-SHA-256 (RFC 5802, RFC 7677) carried in binary frames,
//! extended to sign the whole handshake and to derive a per-session key:
//!
//! ```text
//! SaltedPassword   = PBKDF2-HMAC-SHA256(password, salt, iterations, 32)
//! ClientKey        = HMAC(SaltedPassword, "Client Key")      StoredKey = SHA-256(ClientKey)
//! ServerKey        = HMAC(SaltedPassword, "Server Key")
//! AuthMessage      = body(SERVER_HELLO) || body(LOGIN) || body(LOGIN_CHALLENGE)
//! proof            = ClientKey XOR HMAC(StoredKey, AuthMessage)
//! server_signature = HMAC(ServerKey, AuthMessage || LOGIN_OK body before the signature)
//! session_key      = HMAC(ClientKey, "FNP/1 session" || 0x00 || AuthMessage)
//! ```
//!
//! Over TLS [T-6], AuthMessage ends with the connection's 32-byte
//! `tls-exporter` channel binding, and so do the callback proofs' inputs.
//!
//! The server stores only [`Credentials`] (salt, iterations, StoredKey,
//! ServerKey, role): never the password or anything that logs in as the user.
//! Every comparison of secrets is constant-time.

mod binding;
mod callback;
mod credentials;
mod keys;
mod prep;
mod scram;

pub use binding::ChannelBinding;
pub use callback::{cb_hello_proof, cb_hello_proof_bound, cb_ready_proof, cb_ready_proof_bound};
pub use credentials::{Credentials, CredentialsError};
pub use keys::{ClientKey, SaltedPassword, ServerKey, SessionKey, StoredKey};
pub use prep::{PrepError, prepare_password, prepare_username};
pub use scram::{
    AuthMessage, ClientSecrets, client_proof, recover_client_key, server_signature, session_key,
    unknown_user_salt, verify_mac,
};

/// The smallest PBKDF2 iteration count a client accepts [A-4].
pub const MIN_ITERATIONS: u32 = 4_096;

/// The default cap on PBKDF2 iterations a client accepts [A-4].
pub const DEFAULT_ITERATION_CAP: u32 = 1_000_000;

/// The iteration count the server uses for new users and for unknown users' fake challenges [A-3].
pub const DEFAULT_ITERATIONS: u32 = 4_096;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// HMAC-SHA256 over the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

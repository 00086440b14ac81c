//! The SCRAM computations of the login, for both sides.

use subtle::ConstantTimeEq;

use super::hmac_sha256;
use super::keys::{ClientKey, SaltedPassword, ServerKey, SessionKey, StoredKey};
use crate::wire::{EncodeError, Frame, LoginOk, Mac, login_ok_signed_prefix};

/// body(SERVER_HELLO) || body(LOGIN) || body(LOGIN_CHALLENGE): the exact bytes
/// both sides sign.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuthMessage(Vec<u8>);

impl AuthMessage {
    /// Concatenates the three bodies as they were sent.
    pub fn from_bodies(server_hello: &[u8], login: &[u8], challenge: &[u8]) -> Self {
        let mut out = Vec::with_capacity(server_hello.len() + login.len() + challenge.len());
        out.extend_from_slice(server_hello);
        out.extend_from_slice(login);
        out.extend_from_slice(challenge);
        Self(out)
    }

    /// Encodes the three frames' bodies. The encoding is canonical, so a
    /// frame decoded strictly re-encodes to the bytes that were sent.
    pub fn from_frames(
        server_hello: &Frame<'_>,
        login: &Frame<'_>,
        challenge: &Frame<'_>,
    ) -> Result<Self, EncodeError> {
        let mut out =
            Vec::with_capacity(server_hello.body_len() + login.body_len() + challenge.body_len());
        server_hello.encode_body(&mut out)?;
        login.encode_body(&mut out)?;
        challenge.encode_body(&mut out)?;
        Ok(Self(out))
    }

    /// Binds the login to its TLS connection [T-6]: appends the 32 bytes of
    /// the connection's `tls-exporter` value, so the proof, the server
    /// signature and the session key all depend on them.
    pub fn bind(mut self, binding: &super::ChannelBinding) -> Self {
        self.0.extend_from_slice(binding.as_bytes());
        self
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The keys a client derives from its password for one salt and iteration count.
#[derive(Clone, Debug)]
pub struct ClientSecrets {
    /// HMAC(SaltedPassword, "Client Key").
    pub client_key: ClientKey,
    /// SHA-256(ClientKey).
    pub stored_key: StoredKey,
    /// HMAC(SaltedPassword, "Server Key").
    pub server_key: ServerKey,
}

impl ClientSecrets {
    /// Runs PBKDF2 over an already prepared password and derives the keys.
    pub fn derive(prepared_password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = SaltedPassword::derive(prepared_password, salt, iterations);
        let client_key = salted.client_key();
        Self {
            stored_key: client_key.stored_key(),
            client_key,
            server_key: salted.server_key(),
        }
    }
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

/// LOGIN_PROOF.proof = ClientKey XOR HMAC(StoredKey, AuthMessage).
pub fn client_proof(secrets: &ClientSecrets, auth: &AuthMessage) -> Mac {
    let signature = hmac_sha256(secrets.stored_key.as_bytes(), &[auth.as_bytes()]);
    xor(secrets.client_key.as_bytes(), &signature)
}

/// The server's check of a proof: recovers ClientKey = proof XOR
/// ClientSignature and returns it iff SHA-256(ClientKey) == StoredKey
/// (compared in constant time).
pub fn recover_client_key(
    stored: &StoredKey,
    auth: &AuthMessage,
    proof: &Mac,
) -> Option<ClientKey> {
    let signature = hmac_sha256(stored.as_bytes(), &[auth.as_bytes()]);
    let client_key = ClientKey::from_bytes(xor(proof, &signature));
    let matches: bool = client_key
        .stored_key()
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into();
    matches.then_some(client_key)
}

/// LOGIN_OK.server_signature = HMAC(ServerKey, AuthMessage || LOGIN_OK body
/// before the signature). The client recomputes it and compares with
/// [`verify_mac`].
pub fn server_signature(server_key: &ServerKey, auth: &AuthMessage, login_ok: &LoginOk) -> Mac {
    hmac_sha256(
        server_key.as_bytes(),
        &[auth.as_bytes(), &login_ok_signed_prefix(login_ok)],
    )
}

/// session_key = HMAC(ClientKey, "FNP/1 session" || 0x00 || AuthMessage).
pub fn session_key(client_key: &ClientKey, auth: &AuthMessage) -> SessionKey {
    SessionKey::from_bytes(hmac_sha256(
        client_key.as_bytes(),
        &[b"FNP/1 session\0", auth.as_bytes()],
    ))
}

/// Constant-time equality of two MACs.
pub fn verify_mac(expected: &Mac, received: &Mac) -> bool {
    expected.ct_eq(received).into()
}

/// The salt of an unknown user's fake challenge: the first 16 bytes of
/// HMAC(server secret, prepared user name), stable per name so that repeated
/// probes cannot tell it from a real user's salt.
pub fn unknown_user_salt(server_secret: &[u8; 32], prepared_user: &str) -> [u8; 16] {
    let mac = hmac_sha256(server_secret, &[prepared_user.as_bytes()]);
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&mac[..16]);
    salt
}

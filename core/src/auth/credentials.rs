//! What a server stores per user.

use super::keys::{SaltedPassword, ServerKey, StoredKey};
use super::prep::{PrepError, prepare_password};
use super::{DEFAULT_ITERATION_CAP, MIN_ITERATIONS};
use crate::wire::{MAX_SALT_LEN, MIN_SALT_LEN, Role};

/// A user's SCRAM credentials as the server stores them: salt, iteration
/// count, StoredKey, ServerKey and role. Never the password, nor the
/// ClientKey or SaltedPassword that would let the holder log in.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Credentials {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: StoredKey,
    server_key: ServerKey,
    role: Role,
}

/// Why credentials cannot be made.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The salt is not 16 to 64 bytes.
    #[error("salt is {len} bytes; it must be 16 to 64")]
    BadSaltLength {
        /// The salt's length.
        len: usize,
    },
    /// The iteration count is outside what clients accept.
    #[error("iteration count {iterations} is outside {min}..={max}, which clients refuse")]
    BadIterations {
        /// The count given.
        iterations: u32,
        /// The protocol minimum.
        min: u32,
        /// The default client cap.
        max: u32,
    },
    /// The password is refused by RFC 8265.
    #[error(transparent)]
    Password(#[from] PrepError),
}

fn check(salt: &[u8], iterations: u32) -> Result<(), CredentialsError> {
    if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
        return Err(CredentialsError::BadSaltLength { len: salt.len() });
    }
    if !(MIN_ITERATIONS..=DEFAULT_ITERATION_CAP).contains(&iterations) {
        return Err(CredentialsError::BadIterations {
            iterations,
            min: MIN_ITERATIONS,
            max: DEFAULT_ITERATION_CAP,
        });
    }
    Ok(())
}

impl Credentials {
    /// Derives credentials from a password (prepared here with RFC 8265
    /// OpaqueString). `salt` should be 16+ fresh random bytes per user.
    pub fn from_password(
        password: &str,
        salt: &[u8],
        iterations: u32,
        role: Role,
    ) -> Result<Self, CredentialsError> {
        check(salt, iterations)?;
        let prepared = prepare_password(password)?;
        let salted = SaltedPassword::derive(&prepared, salt, iterations);
        Ok(Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: salted.client_key().stored_key(),
            server_key: salted.server_key(),
            role,
        })
    }

    /// Rebuilds stored credentials (e.g. read back from a users file).
    pub fn from_parts(
        salt: Vec<u8>,
        iterations: u32,
        stored_key: StoredKey,
        server_key: ServerKey,
        role: Role,
    ) -> Result<Self, CredentialsError> {
        check(&salt, iterations)?;
        Ok(Self {
            salt,
            iterations,
            stored_key,
            server_key,
            role,
        })
    }

    /// The PBKDF2 salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The PBKDF2 iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// SHA-256(ClientKey).
    pub fn stored_key(&self) -> &StoredKey {
        &self.stored_key
    }

    /// HMAC(SaltedPassword, "Server Key").
    pub fn server_key(&self) -> &ServerKey {
        &self.server_key
    }

    /// The user's role.
    pub fn role(&self) -> Role {
        self.role
    }
}

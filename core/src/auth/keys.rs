//! The SCRAM key types. Each is a distinct type so that one cannot be passed
//! where another is expected, and none prints its bytes in `Debug`.

use std::fmt;

use sha2::{Digest, Sha256};

use super::hmac_sha256;

macro_rules! secret_key {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw key bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw key bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_key! {
    /// PBKDF2-HMAC-SHA256(password, salt, iterations). Client side only.
    SaltedPassword
}
secret_key! {
    /// HMAC(SaltedPassword, "Client Key"). Recovered by the server from a proof.
    ClientKey
}
secret_key! {
    /// SHA-256(ClientKey): what the server stores to check proofs.
    StoredKey
}
secret_key! {
    /// HMAC(SaltedPassword, "Server Key"): what the server signs LOGIN_OK with.
    ServerKey
}
secret_key! {
    /// The per-session key that authenticates callback connections.
    SessionKey
}

impl SaltedPassword {
    /// PBKDF2-HMAC-SHA256 of an already prepared password.
    ///
    /// This costs `iterations` HMAC computations (about 1 ms per 1 000 on a
    /// current CPU in an optimised build): run it only on the client, once per
    /// salt and iteration count.
    pub fn derive(prepared_password: &str, salt: &[u8], iterations: u32) -> Self {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(prepared_password.as_bytes(), salt, iterations, &mut out);
        Self(out)
    }

    /// HMAC(SaltedPassword, "Client Key").
    pub fn client_key(&self) -> ClientKey {
        ClientKey(hmac_sha256(&self.0, &[b"Client Key"]))
    }

    /// HMAC(SaltedPassword, "Server Key").
    pub fn server_key(&self) -> ServerKey {
        ServerKey(hmac_sha256(&self.0, &[b"Server Key"]))
    }
}

impl ClientKey {
    /// SHA-256(ClientKey).
    pub fn stored_key(&self) -> StoredKey {
        StoredKey(Sha256::digest(self.0).into())
    }
}

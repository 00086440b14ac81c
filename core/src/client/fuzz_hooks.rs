//! What the fuzzing harnesses (feature `fuzzing`) need from inside the
//! client: a way past PBKDF2's cost, and a look at what it holds.

use crate::auth::ClientSecrets;

use super::Client;

impl Client {
    /// Gives the client the keys of its password for `salt` and
    /// `iterations`, as if it had derived them for an earlier login. The
    /// keys must be the real ones (the harness derives them once per process):
    /// the login then behaves exactly as it would, minus PBKDF2's cost.
    pub(crate) fn fuzz_prime_login_keys(
        &mut self,
        salt: &[u8],
        iterations: u32,
        secrets: ClientSecrets,
    ) {
        self.creds.prime(salt, iterations, secrets);
    }

    /// The callback connections the client holds (pending and ready).
    pub(crate) fn fuzz_callbacks(&self) -> usize {
        self.callbacks.len()
    }
}

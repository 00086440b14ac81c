//! Where the server finds users' SCRAM credentials.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::auth::{Credentials, CredentialsError, PrepError, prepare_username};
use crate::wire::Role;

/// The server's user database: SCRAM credentials and role per prepared user name.
///
/// Looked up once per LOGIN. An unknown name returns `None`; the server then
/// answers with a fake challenge and fails the proof exactly as for a wrong
/// password, so the two cannot be told apart [A-3].
///
/// Implemented for [`MemoryUserStore`], and for `Arc<T>` and `RwLock<T>` so
/// that an application can keep a handle and change users while the server
/// runs (`Arc<RwLock<MemoryUserStore>>`).
pub trait UserStore {
    /// The credentials of `prepared_user` (an RFC 8265 UsernameCaseMapped
    /// name, exactly as LOGIN carries it), or `None` if there is no such user.
    fn credentials(&self, prepared_user: &str) -> Option<Credentials>;
}

/// A user store held in memory.
///
/// ```
/// use faxnotify_core::server::{MemoryUserStore, UserStore};
/// use faxnotify_core::wire::Role;
///
/// let mut users = MemoryUserStore::new();
/// users.add_password("Alice", "correct horse", &[0x5a; 16], 4096, Role::Admin).unwrap();
/// assert!(users.credentials("alice").is_some()); // names are stored prepared
/// assert!(users.credentials("mallory").is_none());
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryUserStore {
    users: HashMap<String, Credentials>,
}

/// Why a user cannot be added.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddUserError {
    /// The user name or password is refused by RFC 8265.
    #[error(transparent)]
    Prep(#[from] PrepError),
    /// The salt or iteration count is out of bounds.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores credentials under the prepared form of `user`; returns the
    /// credentials it replaces.
    pub fn insert(
        &mut self,
        user: &str,
        credentials: Credentials,
    ) -> Result<Option<Credentials>, PrepError> {
        let name = prepare_username(user)?;
        Ok(self.users.insert(name, credentials))
    }

    /// Derives credentials from a password (PBKDF2: slow on purpose) and stores them.
    /// Use 16 fresh random bytes of salt and [`DEFAULT_ITERATIONS`](crate::auth::DEFAULT_ITERATIONS)
    /// so that real users look like unknown ones (spec section 10, "Noticed, not changed").
    pub fn add_password(
        &mut self,
        user: &str,
        password: &str,
        salt: &[u8],
        iterations: u32,
        role: Role,
    ) -> Result<(), AddUserError> {
        let credentials = Credentials::from_password(password, salt, iterations, role)?;
        self.insert(user, credentials)?;
        Ok(())
    }

    /// Removes a user (by any spelling that prepares to the stored name).
    /// Live sessions are not affected.
    pub fn remove(&mut self, user: &str) -> Option<Credentials> {
        let name = prepare_username(user).ok()?;
        self.users.remove(&name)
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl UserStore for MemoryUserStore {
    fn credentials(&self, prepared_user: &str) -> Option<Credentials> {
        self.users.get(prepared_user).cloned()
    }
}

impl<T: UserStore + ?Sized> UserStore for Arc<T> {
    fn credentials(&self, prepared_user: &str) -> Option<Credentials> {
        (**self).credentials(prepared_user)
    }
}

impl<T: UserStore + ?Sized> UserStore for Box<T> {
    fn credentials(&self, prepared_user: &str) -> Option<Credentials> {
        (**self).credentials(prepared_user)
    }
}

/// A poisoned lock still serves lookups: the data of a store is replaced
/// whole per user, so a panic elsewhere cannot leave a half-written entry.
impl<T: UserStore + ?Sized> UserStore for RwLock<T> {
    fn credentials(&self, prepared_user: &str) -> Option<Credentials> {
        let guard = self
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.credentials(prepared_user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DEFAULT_ITERATIONS;

    #[test]
    fn names_are_prepared_on_insert_and_remove() {
        let mut users = MemoryUserStore::new();
        users
            .add_password("Bob", "pw", &[1; 16], DEFAULT_ITERATIONS, Role::User)
            .unwrap();
        assert!(users.credentials("bob").is_some());
        assert!(
            users.credentials("Bob").is_none(),
            "lookups take prepared names"
        );
        assert_eq!(users.len(), 1);
        assert!(users.remove("BOB").is_some());
        assert!(users.is_empty());
    }

    #[test]
    fn refuses_bad_names_and_salts() {
        let mut users = MemoryUserStore::new();
        assert!(matches!(
            users.add_password("a b", "pw", &[1; 16], DEFAULT_ITERATIONS, Role::User),
            Err(AddUserError::Prep(_))
        ));
        assert!(matches!(
            users.add_password("ab", "pw", &[1; 8], DEFAULT_ITERATIONS, Role::User),
            Err(AddUserError::Credentials(_))
        ));
    }

    #[test]
    fn shared_store_sees_updates() {
        let shared = Arc::new(RwLock::new(MemoryUserStore::new()));
        let boxed: Box<dyn UserStore + Send> = Box::new(Arc::clone(&shared));
        assert!(boxed.credentials("carol").is_none());
        shared
            .write()
            .unwrap()
            .add_password("carol", "pw", &[2; 16], DEFAULT_ITERATIONS, Role::User)
            .unwrap();
        assert!(boxed.credentials("carol").is_some());
    }
}

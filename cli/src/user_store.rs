//! The running server's view of the users file, shared with the admin
//! socket and replaced whole when the file changes.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use faxnotify_core::auth::Credentials;
use faxnotify_core::server::UserStore;

/// Users by prepared name; cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct SharedUsers(Arc<RwLock<BTreeMap<String, Credentials>>>);

impl SharedUsers {
    /// A store holding `users`.
    pub fn new(users: BTreeMap<String, Credentials>) -> Self {
        Self(Arc::new(RwLock::new(users)))
    }

    /// Replaces every user (after the file changed). Live sessions are not
    /// affected; the next login sees the new credentials.
    pub fn replace(&self, users: BTreeMap<String, Credentials>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = users;
    }

    /// Whether a user with this prepared name exists.
    pub fn contains(&self, prepared_user: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(prepared_user)
    }

    /// Every user's prepared name, in order.
    pub fn names(&self) -> Vec<String> {
        let users = self.0.read().unwrap_or_else(PoisonError::into_inner);
        users.keys().cloned().collect()
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A poisoned lock still serves lookups: the map is only ever replaced whole.
impl UserStore for SharedUsers {
    fn credentials(&self, prepared_user: &str) -> Option<Credentials> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(prepared_user)
            .cloned()
    }
}

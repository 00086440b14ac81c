//! RFC 8265 preparation of user names and passwords.

use precis_core::profile::PrecisFastInvocation;
use precis_profiles::{OpaqueString, UsernameCaseMapped};

/// A user name or password that RFC 8265 refuses.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepError {
    /// The user name is not valid under the UsernameCaseMapped profile
    /// (e.g. empty, or contains spaces or control characters).
    #[error("invalid user name {name:?}: {reason}")]
    Username {
        /// The name as given.
        name: String,
        /// What the PRECIS profile objected to.
        reason: String,
    },
    /// The password is not valid under the OpaqueString profile (e.g. empty,
    /// or contains control characters).
    #[error("invalid password: {reason}")]
    Password {
        /// What the PRECIS profile objected to.
        reason: String,
    },
}

/// Enforces the RFC 8265 UsernameCaseMapped profile: width-mapped,
/// lower-cased, NFC-normalised. The result is what LOGIN.user carries and
/// what user stores are keyed by.
pub fn prepare_username(name: &str) -> Result<String, PrepError> {
    UsernameCaseMapped::enforce(name)
        .map(|s| s.into_owned())
        .map_err(|e| PrepError::Username {
            name: name.to_owned(),
            reason: format!("{e:?}"),
        })
}

/// Enforces the RFC 8265 OpaqueString profile (non-ASCII spaces mapped to
/// ASCII space, NFC-normalised) before the password is salted.
pub fn prepare_password(password: &str) -> Result<String, PrepError> {
    OpaqueString::enforce(password)
        .map(|s| s.into_owned())
        .map_err(|e| PrepError::Password {
            reason: format!("{e:?}"),
        })
}

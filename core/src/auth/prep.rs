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
            reason: precis_reason(&e, "a user name"),
        })
}

/// Enforces the RFC 8265 OpaqueString profile (non-ASCII spaces mapped to
/// ASCII space, NFC-normalised) before the password is salted.
pub fn prepare_password(password: &str) -> Result<String, PrepError> {
    OpaqueString::enforce(password)
        .map(|s| s.into_owned())
        .map_err(|e| PrepError::Password {
            reason: precis_reason(&e, "a password"),
        })
}

/// What the PRECIS profile objected to, in words: the library's own text
/// ("bad codepoint: code point 0x0020, position: 3, property: ...") is
/// written for the library's developers.
fn precis_reason(error: &precis_core::Error, what: &str) -> String {
    match error {
        precis_core::Error::Invalid => format!("empty, or not usable as {what} (RFC 8265)"),
        precis_core::Error::BadCodepoint(info) => {
            let at = info.position + 1;
            match char::from_u32(info.cp) {
                Some(' ') => format!("character {at} is a space, which {what} cannot contain"),
                Some(c) if c.is_control() => format!(
                    "character {at} is a control character (U+{:04X}), which {what} cannot contain",
                    info.cp
                ),
                Some(c) if !c.is_whitespace() => format!(
                    "character {at} ('{c}', U+{:04X}) is not allowed in {what} (RFC 8265)",
                    info.cp
                ),
                _ => format!(
                    "character {at} (U+{:04X}) is not allowed in {what} (RFC 8265)",
                    info.cp
                ),
            }
        }
        other => format!("it cannot be prepared as {what} (RFC 8265: {other})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_is_wrong_in_words() {
        let err = prepare_username("bob smith").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid user name \"bob smith\": character 4 is a space, which a user name cannot contain"
        );
        let err = prepare_password("").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid password: empty, or not usable as a password (RFC 8265)"
        );
        let err = prepare_password("a\u{7}b").unwrap_err().to_string();
        assert!(err.contains("control character (U+0007)"), "{err}");
    }
}

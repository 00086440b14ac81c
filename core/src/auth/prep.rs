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
///
/// A name is refused unless its prepared form prepares to itself: every
/// store, subject and record holds the prepared form and prepares it again
/// on the way in (the users file when it loads, the cluster's log
/// subjects). The PRECIS library's case mapping knows newer Unicode than
/// its table of allowed characters, so a few names (Cherokee capitals
/// such as U+13A0, say) lower-case to characters the table does not allow:
/// accepted once, such a name made a users file the server then refused
/// to load.
pub fn prepare_username(name: &str) -> Result<String, PrepError> {
    let refused = |reason: String| PrepError::Username {
        name: name.to_owned(),
        reason,
    };
    let prepared = UsernameCaseMapped::enforce(name)
        .map(|s| s.into_owned())
        .map_err(|e| refused(precis_reason(&e, "a user name")))?;
    match UsernameCaseMapped::enforce(prepared.as_str()) {
        Ok(again) if again == prepared => Ok(prepared),
        Ok(again) => Err(refused(format!(
            "it becomes {prepared:?} once prepared, which would become {again:?} in turn; \
             choose another name"
        ))),
        Err(e) => Err(refused(format!(
            "it becomes {prepared:?} once prepared, in which {}; choose another name",
            precis_reason(&e, "a user name")
        ))),
    }
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

    #[test]
    fn a_name_whose_prepared_form_does_not_prepare_again_is_refused() {
        // U+13A0 lower-cases to U+AB70, which the profile's table refuses.
        let err = prepare_username("\u{13a0}").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid user name \"\u{13a0}\": it becomes \"\u{ab70}\" once prepared, in which \
             character 1 ('\u{ab70}', U+AB70) is not allowed in a user name (RFC 8265); choose \
             another name"
        );
        assert!(prepare_username("\u{ab70}").is_err());
        assert_eq!(prepare_username("Zoë").unwrap(), "zoë");
    }

    #[test]
    fn every_one_character_name_prepares_idempotently() {
        for c in (0..=0x10_ffff).filter_map(char::from_u32) {
            let name = c.to_string();
            if let Ok(prepared) = prepare_username(&name) {
                assert_eq!(
                    prepare_username(&prepared),
                    Ok(prepared.clone()),
                    "U+{:04X}",
                    u32::from(c)
                );
            }
        }
    }

    proptest::proptest! {
        /// What a name prepares to prepares to itself: stores, subjects and
        /// records keyed by the prepared form can prepare it again.
        #[test]
        fn preparing_is_idempotent(name in "\\PC{1,12}") {
            if let Ok(prepared) = prepare_username(&name) {
                proptest::prop_assert_eq!(prepare_username(&prepared), Ok(prepared.clone()));
            }
        }
    }
}

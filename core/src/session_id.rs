//! Session identifiers.

use std::fmt;
use std::str::FromStr;

/// A session's id: a random non-zero u64 the server picks at LOGIN_OK and never
/// reuses [C-10]. `0` on the wire means "no session" (LOGIN.resume_session).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    /// The id for a wire value; `None` for 0.
    pub const fn new(raw: u64) -> Option<Self> {
        if raw == 0 { None } else { Some(Self(raw)) }
    }

    /// The wire value.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session#{:016x}", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Text that is not a session id ([`SessionId`]'s `FromStr`).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error(
    "{text:?} is not a session id: one to 16 hexadecimal digits, not all zero, as the id is printed"
)]
#[non_exhaustive]
pub struct ParseSessionIdError {
    /// The text as given.
    pub text: String,
}

/// Reads a session id as [`Display`](fmt::Display) prints it: hexadecimal
/// digits (16, or fewer without the leading zeros), an optional `0x`
/// before them, surrounding whitespace ignored.
///
/// ```
/// use faxnotify_core::SessionId;
///
/// let id = SessionId::new(0x2a).unwrap();
/// assert_eq!(id.to_string().parse(), Ok(id));
/// assert_eq!(" 0x2a ".parse(), Ok(id));
/// assert!("0".parse::<SessionId>().is_err());
/// ```
impl FromStr for SessionId {
    type Err = ParseSessionIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
        (!digits.is_empty() && digits.len() <= 16 && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(digits, 16).ok())
            .flatten()
            .and_then(SessionId::new)
            .ok_or_else(|| ParseSessionIdError {
                text: text.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_back_from_its_printed_form_and_nothing_else_does() {
        for raw in [1, 0x2a, u64::MAX, 0x0123_4567_89ab_cdef] {
            let id = SessionId::new(raw).unwrap();
            assert_eq!(id.to_string().parse(), Ok(id));
        }
        for bad in ["", "0", "0x", "xyz", "+1", "-1", "00000000000000001", "1 2"] {
            let err = bad.parse::<SessionId>().unwrap_err();
            assert_eq!(err.text, bad);
        }
        assert_eq!(
            "xyz".parse::<SessionId>().unwrap_err().to_string(),
            "\"xyz\" is not a session id: one to 16 hexadecimal digits, not all zero, as the id is printed"
        );
    }
}

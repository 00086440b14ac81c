//! [`Text`]: a notification's string field, backed by shared bytes.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::Utf8Error;

use bytes::Bytes;
use bytestring::ByteString;

/// UTF-8 text held in a [`Bytes`]: a notification's string fields.
///
/// A decoded notification's strings are slices of the bytes the client
/// received, so handing a notification to the application copies and
/// allocates nothing; cloning one is a reference count. Use it as a `&str`
/// (it derefs to one); build one from a `String` or `&str` with `From`
/// (`Text::from("sales")`, `"sales".into()`).
///
/// A `Text` keeps the whole buffer it was sliced from alive: an
/// application that stores notifications for long should store
/// `text.to_string()` instead (see docs/architecture.md, "Received bytes").
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(ByteString);

impl Text {
    /// The empty string (no allocation).
    pub const fn new() -> Self {
        Text(ByteString::new())
    }

    /// A string with static lifetime (no allocation, no copy).
    pub const fn from_static(text: &'static str) -> Self {
        Text(ByteString::from_static(text))
    }

    /// Checks that `bytes` are UTF-8 and keeps them, without copying.
    #[inline]
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Utf8Error> {
        ByteString::try_from(bytes).map(Text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// The underlying bytes, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Text {
    /// Takes the string's buffer (no copy).
    fn from(text: String) -> Self {
        Text(ByteString::from(text))
    }
}

impl From<&str> for Text {
    /// Copies the string.
    fn from(text: &str) -> Self {
        Text(ByteString::from(text))
    }
}

impl From<&String> for Text {
    /// Copies the string.
    fn from(text: &String) -> Self {
        Text(ByteString::from(text.as_str()))
    }
}

impl From<Box<str>> for Text {
    fn from(text: Box<str>) -> Self {
        Text(ByteString::from(text))
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        String::from(text.0)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_of_received_bytes_is_shared_not_copied() {
        let received = Bytes::from_static(b"from +1 555 0100");
        let text = Text::from_utf8(received.slice(5..)).unwrap();
        assert_eq!(text, "+1 555 0100");
        assert_eq!(text.as_bytes().as_ptr(), received[5..].as_ptr());
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(Text::from_utf8(Bytes::from_static(b"\xff\xfe")).is_err());
    }

    #[test]
    fn it_reads_and_prints_like_a_str() {
        let text = Text::from("sales \"east\"");
        assert_eq!(format!("{text}"), "sales \"east\"");
        assert_eq!(format!("{text:?}"), format!("{:?}", "sales \"east\""));
        assert_eq!(String::from(text.clone()), "sales \"east\"");
        assert!(text.starts_with("sales"));
        assert_eq!(Text::from(String::from("x")), Text::from_static("x"));
        assert_eq!(Text::new(), "");
    }
}

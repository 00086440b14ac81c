//! [`Text`]: a notification's string field, held in place when short or
//! backed by shared bytes.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::str::Utf8Error;

use arrayvec::ArrayString;
use bytes::Bytes;
use bytestring::ByteString;

/// The longest text held in place (see [`Text`]): caller ids, DIDs, user
/// names and device names fit. 20 keeps a `Text` as large as a `Bytes`
/// (32 bytes), so notifications and outputs do not grow.
pub(crate) const INLINE_LEN: usize = 20;

/// UTF-8 text: a notification's string fields.
///
/// A decoded notification's short strings (up to 20 bytes: the usual
/// caller id or recipient) are copied into the `Text` itself;
/// longer or other strings are slices of the bytes the client received.
/// Either way handing a notification to the application allocates
/// nothing, and a short string takes no atomic reference count to make,
/// clone or drop (see docs/performance.md, "A fourth pass"). Use it as a
/// `&str` (it derefs to one); build one from a `String` or `&str` with
/// `From` (`Text::from("sales")`, `"sales".into()`). Equality, ordering
/// and hashing are those of the `&str`, however the text is held.
///
/// A `Text` sliced from received bytes keeps the whole buffer it was
/// sliced from alive: an application that stores notifications for long
/// should store `text.to_string()` instead (see docs/architecture.md,
/// "Received bytes").
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    /// Short text, in place.
    Inline(ArrayString<INLINE_LEN>),
    /// Any text, in shared bytes.
    Shared(ByteString),
}

impl Text {
    /// The empty string (no allocation).
    pub const fn new() -> Self {
        Text(Repr::Shared(ByteString::new()))
    }

    /// A string with static lifetime (no allocation, no copy).
    pub const fn from_static(text: &'static str) -> Self {
        Text(Repr::Shared(ByteString::from_static(text)))
    }

    /// Checks that `bytes` are UTF-8 and keeps them, without copying.
    #[inline]
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Utf8Error> {
        ByteString::try_from(bytes).map(|s| Text(Repr::Shared(s)))
    }

    /// `bytes` copied into the text itself, when they are UTF-8 and at
    /// most 20 bytes long; `None` otherwise.
    #[inline]
    pub(crate) fn inline(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > INLINE_LEN {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        ArrayString::from(text).ok().map(|s| Text(Repr::Inline(s)))
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(s) => s.as_str(),
            Repr::Shared(s) => s,
        }
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.as_str().as_bytes()
    }

    /// The text's bytes as [`Bytes`]: without a copy when they are shared,
    /// copied when the text is held in place.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Inline(s) => Bytes::copy_from_slice(s.as_bytes()),
            Repr::Shared(s) => s.into_bytes(),
        }
    }
}

impl Default for Text {
    fn default() -> Self {
        Text::new()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    /// As the `&str` hashes, so that `Borrow<str>` lookups work.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl Deref for Text {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
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
        Text(Repr::Shared(ByteString::from(text)))
    }
}

impl From<&str> for Text {
    /// Copies the string.
    fn from(text: &str) -> Self {
        Text(Repr::Shared(ByteString::from(text)))
    }
}

impl From<&String> for Text {
    /// Copies the string.
    fn from(text: &String) -> Self {
        Text(Repr::Shared(ByteString::from(text.as_str())))
    }
}

impl From<Box<str>> for Text {
    fn from(text: Box<str>) -> Self {
        Text(Repr::Shared(ByteString::from(text)))
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        String::from(text.as_str())
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
    fn a_short_text_held_in_place_is_the_same_text() {
        use std::collections::HashSet;
        let inline = Text::inline("+1 555 0100".as_bytes()).unwrap();
        let shared = Text::from_utf8(Bytes::from_static(b"+1 555 0100")).unwrap();
        assert!(matches!(inline.0, Repr::Inline(_)));
        assert_eq!(inline, shared);
        assert_eq!(inline.cmp(&shared), std::cmp::Ordering::Equal);
        assert_eq!(
            HashSet::from([inline.clone()]).get("+1 555 0100"),
            Some(&shared)
        );
        assert_eq!(inline.as_bytes(), b"+1 555 0100");
        assert_eq!(inline.clone().into_bytes(), shared.clone().into_bytes());
        assert_eq!(String::from(inline), "+1 555 0100");
        // Too long, or not UTF-8: not held in place.
        assert!(Text::inline(&[b'x'; 21]).is_none());
        assert!(Text::inline(b"\xff").is_none());
        assert!(Text::inline("Müller".as_bytes()).is_some());
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

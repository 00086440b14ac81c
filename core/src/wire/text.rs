//! [`Text`]: a notification's string field, held in place when short or
//! backed by shared bytes.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, Range};
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

    /// An empty text held in place, for [`Text::fill_inline`] to fill.
    #[inline(always)]
    pub(crate) const fn inline_empty() -> Self {
        Text(Repr::Inline(ArrayString::new_const()))
    }

    /// Sets this text, held in place (see [`Text::inline_empty`]), to
    /// `received[range]` when that is UTF-8 and at most 20 bytes long;
    /// `false` otherwise, or when the text is not held in place.
    /// `received` may go on past the range: the copy is then one of a
    /// fixed 20 bytes (see [`inline_bytes`]).
    #[inline(always)]
    pub(crate) fn fill_inline(&mut self, received: &[u8], range: Range<usize>) -> bool {
        let Repr::Inline(text) = &mut self.0 else {
            return false;
        };
        let Some(bytes) = inline_bytes(received, range.clone()) else {
            return false;
        };
        // The bytes past the text are zeros, valid UTF-8 and a character
        // boundary at `range.len()`: so the whole 20 are UTF-8 exactly when
        // the text is, and the truncation cannot panic. The array is copied
        // into the `ArrayString` by a copy of fixed size.
        let Ok(filled) = ArrayString::from_byte_string(&bytes) else {
            return false;
        };
        *text = filled;
        text.truncate(range.len());
        true
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

/// Masks for [`inline_bytes`]: the 20 bytes from `INLINE_LEN - len` keep
/// the first `len` bytes and clear the rest.
static KEEP: [u8; 2 * INLINE_LEN] = {
    let mut keep = [0; 2 * INLINE_LEN];
    let mut at = 0;
    while at < INLINE_LEN {
        keep[at] = u8::MAX;
        at += 1;
    }
    keep
};

/// `received[range]` in a zeroed array of [`INLINE_LEN`] bytes; `None`
/// when the range is longer or outside `received`.
///
/// Where `received` holds 20 bytes from the range's start, they are read
/// as a fixed 20 and the bytes past the range masked off with a constant
/// table. The array is then written by wide stores that the wide loads moving it
/// into the notification can be forwarded from. A copy of the range's own
/// length (a `memcpy` of variable size) writes it in narrow pieces instead,
/// and each wide load of them stalls until those stores have landed: the
/// largest cost of the client's decode in the profile at window 64. Only a
/// text within 20 bytes of the end of the received bytes is copied so.
#[inline(always)]
fn inline_bytes(received: &[u8], range: Range<usize>) -> Option<[u8; INLINE_LEN]> {
    let text = received.get(range.clone())?;
    let len = text.len();
    if len > INLINE_LEN {
        return None;
    }
    let mut bytes = [0; INLINE_LEN];
    let Some(window) = received[range.start..].first_chunk::<INLINE_LEN>() else {
        bytes[..len].copy_from_slice(text);
        return Some(bytes);
    };
    // Masked byte by byte with a fixed 20 of a constant table (ones
    // over the text's bytes): compiled to a vector `and`, no loop, no
    // branch.
    let mask = KEEP[INLINE_LEN - len..].first_chunk::<INLINE_LEN>()?;
    for ((byte, &received), &keep) in bytes.iter_mut().zip(window).zip(mask) {
        *byte = received & keep;
    }
    Some(bytes)
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
        let inline = whole("+1 555 0100".as_bytes()).unwrap();
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
        assert!(whole(&[b'x'; 21]).is_none());
        assert!(whole(b"\xff").is_none());
        assert!(whole("Müller".as_bytes()).is_some());
    }

    /// All of `bytes` held in place.
    fn whole(bytes: &[u8]) -> Option<Text> {
        inline(bytes, 0..bytes.len())
    }

    /// `received[range]` held in place.
    fn inline(received: &[u8], range: Range<usize>) -> Option<Text> {
        let mut text = Text::inline_empty();
        text.fill_inline(received, range).then_some(text)
    }

    #[test]
    fn a_text_held_in_place_is_its_range_whatever_follows_it() {
        // Every length, at the end of the received bytes (copied by its
        // length) and followed by 20 bytes that are not UTF-8 (read as a
        // fixed 20 and masked).
        let text = "+1 555 0100 ext. 4ü";
        assert_eq!(text.len(), INLINE_LEN);
        for len in (0..=INLINE_LEN).filter(|&len| text.is_char_boundary(len)) {
            for after in [0, 1, INLINE_LEN - 1, INLINE_LEN] {
                let mut received = b"\xff\xfe".to_vec();
                received.extend_from_slice(&text.as_bytes()[..len]);
                received.extend(std::iter::repeat_n(0xff, after));
                let held = inline(&received, 2..2 + len).unwrap();
                assert!(matches!(held.0, Repr::Inline(_)));
                assert_eq!(held, &text[..len], "{len} bytes, {after} after");
            }
        }
        // Cut inside a character, outside the bytes, or too long: refused.
        let received = "Müller and more bytes after it".as_bytes();
        assert!(inline(received, 0..2).is_none());
        assert!(inline(received, 2..4).is_none());
        assert!(inline(received, 0..received.len() + 1).is_none());
        assert!(inline(received, 0..INLINE_LEN + 1).is_none());
        #[allow(clippy::reversed_empty_ranges)] // a range no parser gives
        let backwards = received.len() + 2..received.len() + 1;
        assert!(inline(received, backwards).is_none());
        assert_eq!(inline(received, 0..3).unwrap(), "Mü");
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

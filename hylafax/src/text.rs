//! HylaFAX's text is untrusted (a caller's TSI, caller id and name come from
//! the telephone line): every string that goes into a notification passes
//! through [`clean`], which makes it valid UTF-8, escapes anything that could
//! move a terminal's cursor or fake a line, and bounds its length.

use faxnotify_core::peer_text::is_unsafe;

/// Longest device name kept (bytes).
pub const MAX_DEVICE: usize = 64;
/// Longest caller id, TSI, DID or sub-address kept (bytes).
pub const MAX_PARTY: usize = 128;
/// Longest detail text kept (bytes).
pub const MAX_DETAIL: usize = 512;
/// Longest user name kept from HylaFAX (bytes).
pub const MAX_USER: usize = 128;

/// `raw` as printable UTF-8 of at most `max` bytes: invalid UTF-8 becomes
/// U+FFFD, the characters [`is_unsafe`] names (controls, bidi overrides,
/// zero-width marks, line separators…) become `\u{..}` escapes, surrounding
/// whitespace is trimmed, and a text cut to fit ends in `…`.
pub fn clean(raw: &[u8], max: usize) -> String {
    let lossy = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(lossy.len().min(max));
    let ellipsis = '…';
    for c in lossy.trim().chars() {
        // `\u{1b}`, as the CLI and the conformance suite write it too.
        let escaped = is_unsafe(c).then(|| c.escape_unicode().to_string());
        let len = escaped.as_ref().map_or(c.len_utf8(), String::len);
        if out.len() + len > max {
            while !out.is_empty() && out.len() + ellipsis.len_utf8() > max {
                out.pop();
            }
            if max >= ellipsis.len_utf8() {
                out.push(ellipsis);
            }
            return out;
        }
        match escaped {
            Some(escaped) => out.push_str(&escaped),
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_passes_through_trimmed() {
        assert_eq!(clean(b"  +1 555 0100 ", 64), "+1 555 0100");
    }

    #[test]
    fn controls_and_bidi_overrides_are_escaped() {
        assert_eq!(clean(b"a\x1b[2Jb\r\nc", 64), "a\\u{1b}[2Jb\\u{d}\\u{a}c");
        assert_eq!(clean("x\u{202e}y".as_bytes(), 64), "x\\u{202e}y");
        assert_eq!(clean("a\u{85}b".as_bytes(), 64), "a\\u{85}b");
        // Zero-width and byte-order marks hide text as surely as overrides.
        assert_eq!(
            clean("pay\u{200b}pal\u{feff}\u{2060}".as_bytes(), 64),
            "pay\\u{200b}pal\\u{feff}\\u{2060}"
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(clean(b"a\xffb", 64), "a\u{fffd}b");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_with_an_ellipsis() {
        assert_eq!(clean("ééééé".as_bytes(), 6), "é…");
        assert_eq!(clean("ééé".as_bytes(), 6), "ééé");
        // Too short even for the ellipsis: cut to nothing, not a hang.
        assert_eq!(clean(b"abc", 2), "");
        // An escape is never cut in half.
        let cut = clean(b"ab\x01", 6);
        assert_eq!(cut, "ab…");
    }
}

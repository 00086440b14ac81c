//! Text a peer chose, on its way to a person.
//!
//! FNP/1 carries strings a peer picks (ERROR messages, a fax's caller id,
//! status details), and a fax engine passes on what came down the
//! telephone line. Shown as they are, an ESC starts a terminal control
//! sequence, a newline starts a line that looks like the program's own,
//! and a right-to-left override or a zero-width mark makes the reader see
//! something other than what is there. Every place that shows or logs
//! such text asks [`is_unsafe`], so that they all agree on what to escape.

/// Whether `c` must not reach a person as itself: C0 and C1 controls, DEL,
/// and the invisible characters that reorder or hide text (bidi marks,
/// embeddings, overrides and isolates, zero-width marks and joiners, line
/// and paragraph separators, invisible operators, the byte-order mark and
/// the interlinear annotation marks).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// `text` with every character [`is_unsafe`] names written as its `\u{..}`
/// escape (`\u{1b}`), the rest unchanged: a peer's string as one inert run
/// of characters, for logs and reports.
pub fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_text_keeps_what_is_safe_and_shows_the_rest_as_escapes() {
        assert_eq!(
            escaped("Fax\u{1b}[2K\r von Müller\u{202e}"),
            "Fax\\u{1b}[2K\\u{d} von Müller\\u{202e}"
        );
    }

    #[test]
    fn controls_and_invisible_reordering_characters_are_unsafe() {
        for c in [
            '\0', '\n', '\x1b', '\x7f', '\u{85}', '\u{9b}', '\u{200b}', '\u{200e}', '\u{2028}',
            '\u{202e}', '\u{2066}', '\u{2069}', '\u{2060}', '\u{feff}', '\u{fffb}',
        ] {
            assert!(is_unsafe(c), "{:x}", u32::from(c));
        }
    }

    #[test]
    fn printable_text_of_any_script_is_safe() {
        for c in "Fax von Müller, 3 Seiten ✓ 日本 עברית \u{fffd}".chars() {
            assert!(!is_unsafe(c), "{:x}", u32::from(c));
        }
    }
}

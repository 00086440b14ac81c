//! Text from the network made safe for a terminal.
//!
//! A peer's strings (ERROR messages, the server's name, status details) are
//! arbitrary UTF-8: an ESC starts a terminal control sequence, a newline
//! starts a line that looks like the program's own, a right-to-left
//! override reorders what the reader sees. Every such character is shown
//! as a visible escape instead, in text lines and in JSON lines alike.

use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as itself (one list for every
/// crate that shows a peer's text).
pub use faxnotify_core::peer_text::is_unsafe;

/// `text` with every unsafe character written as `\u{..}` (and `\n`, `\r`,
/// `\t`, `\\` as themselves escaped), so a peer's string shows as one
/// inert run of characters. Printable text, other scripts included, is
/// unchanged.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` escaped and cut to at most `max` characters (marking the cut),
/// for a stranger's message that only needs to be recognisable.
pub fn escape_short(text: &str, max: usize) -> String {
    let mut cut: String = text.chars().take(max).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    escape(&cut)
}

/// A line for the terminal: the unsafe characters that are still in it
/// (from a field that was not escaped) are escaped, but the newlines the
/// program itself put there are kept.
pub fn terminal_line(line: &str) -> String {
    if !line.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return line.to_owned();
    }
    line.split('\n').map(escape).collect::<Vec<_>>().join("\n")
}

/// A serialised JSON value made terminal-safe: JSON escapes C0 controls
/// itself, but not DEL, C1 controls or the invisible reordering characters;
/// those become `\uXXXX` escapes, which every JSON reader decodes back.
pub fn json_line(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if !text.chars().any(is_unsafe) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) {
            // Outside the BMP there are no unsafe characters, so one \u does.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn control_and_reordering_characters_become_visible() {
        let forged = "ok\n#2 server message: \"pay now\"\x1b[2J\u{9b}31m\u{202e}gnp.exe\u{7f}";
        let shown = escape(forged);
        assert_eq!(
            shown,
            "ok\\n#2 server message: \"pay now\"\\u{1b}[2J\\u{9b}31m\\u{202e}gnp.exe\\u{7f}"
        );
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        // Ordinary text, other scripts included, is left alone.
        assert_eq!(
            escape("Fax von Müller, 3 Seiten ✓ 日本"),
            "Fax von Müller, 3 Seiten ✓ 日本"
        );
    }

    #[test]
    fn a_short_form_is_cut_and_still_escaped() {
        assert_eq!(escape_short("\x1b[31mred alert", 6), "\\u{1b}[31mr…");
        assert_eq!(escape_short("short", 6), "short");
    }

    #[test]
    fn terminal_lines_keep_their_own_newlines_only() {
        assert_eq!(terminal_line("a\n  hint: b"), "a\n  hint: b");
        assert_eq!(terminal_line("a\x1b[2J\n  b"), "a\\u{1b}[2J\n  b");
    }

    #[test]
    fn json_lines_escape_what_json_leaves_raw_and_still_parse() {
        let value = json!({"message": "a\u{1b}b\u{9b}c\u{7f}d\u{202e}e\nf"});
        let line = json_line(&value);
        assert!(!line.chars().any(is_unsafe), "{line}");
        assert!(
            line.contains("\\u001b") && line.contains("\\u009b"),
            "{line}"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
    }
}

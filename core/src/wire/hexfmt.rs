//! Hex rendering of byte strings for logs, transcripts and snapshots.

use std::fmt;

/// Formats bytes as lowercase hex; long runs are shortened so one frame stays
/// on one line (the first 8 and last 4 bytes, with the length).
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW_ALL: usize = 40;
        let bytes = self.0;
        if bytes.len() <= SHOW_ALL {
            for b in bytes {
                write!(f, "{b:02x}")?;
            }
            return Ok(());
        }
        for b in &bytes[..8] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")?;
        for b in &bytes[bytes.len() - 4..] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "({} bytes)", bytes.len())
    }
}

//! Splits a byte stream into lines with bounded memory: hfaxd's trigger
//! stream and its queue listings are CRLF (or LF) terminated text, and a
//! line longer than the bound is reported and skipped instead of buffered.

/// Longest line kept (bytes, without the line end). HylaFAX's event lines
/// are well under 512 bytes; a caller id or TSI is at most a few dozen.
pub const MAX_LINE: usize = 4096;

/// One item out of a [`LineSplitter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its CR/LF.
    Text(Vec<u8>),
    /// A line over [`MAX_LINE`] bytes was skipped; `len` is how long it was.
    Overlong {
        /// The skipped line's length in bytes.
        len: usize,
    },
}

/// Incremental line splitter: [`push`](Self::push) bytes in any chunks, then
/// [`next_line`](Self::next_line) until `None`.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Where the next line starts in `buf`.
    start: usize,
    /// Bytes of an over-long line being skipped, if one is.
    skipping: Option<usize>,
}

impl LineSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete line, if any.
    pub fn next_line(&mut self) -> Option<Line> {
        let pending = &self.buf[self.start..];
        let Some(end) = pending.iter().position(|&b| b == b'\n') else {
            // Bound the buffer: an unterminated line past the limit is
            // dropped now and skipped up to its end.
            if pending.len() > MAX_LINE {
                let len = pending.len();
                *self.skipping.get_or_insert(0) += len;
                self.buf.clear();
                self.start = 0;
            }
            self.compact();
            return None;
        };
        let line = &pending[..end];
        self.start += end + 1;
        if let Some(skipped) = self.skipping.take() {
            return Some(Line::Overlong { len: skipped + end });
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE {
            return Some(Line::Overlong { len: line.len() });
        }
        Some(Line::Text(line.to_vec()))
    }

    /// Bytes held that are not yet a complete line (never much over [`MAX_LINE`]).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &mut LineSplitter) -> Vec<Line> {
        std::iter::from_fn(|| s.next_line()).collect()
    }

    #[test]
    fn crlf_and_lf_lines_in_any_chunks() {
        let mut s = LineSplitter::new();
        s.push(b"one\r\ntw");
        assert_eq!(all(&mut s), vec![Line::Text(b"one".to_vec())]);
        s.push(b"o\nthree\r");
        assert_eq!(all(&mut s), vec![Line::Text(b"two".to_vec())]);
        s.push(b"\n");
        assert_eq!(all(&mut s), vec![Line::Text(b"three".to_vec())]);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn an_overlong_line_is_skipped_with_bounded_memory() {
        let mut s = LineSplitter::new();
        for _ in 0..10 {
            s.push(&[b'x'; 1000]);
            assert_eq!(all(&mut s), vec![]);
            assert!(s.buffered() <= MAX_LINE + 1000);
        }
        s.push(b"yy\nnext\n");
        assert_eq!(
            all(&mut s),
            vec![Line::Overlong { len: 10_002 }, Line::Text(b"next".to_vec())]
        );
    }
}

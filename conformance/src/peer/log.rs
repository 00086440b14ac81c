//! The per-case log of everything the suite sent and received, kept for the
//! reports of failed cases.

use std::cell::RefCell;
use std::fmt::Display;
use std::rc::Rc;
use std::time::Instant;

/// Lines longer than this are cut, so that a 64 KiB frame does not flood a report.
const MAX_LINE: usize = 400;
/// At most this many lines are kept per case.
const MAX_LINES: usize = 2_000;

/// A shared, timestamped log of one case.
#[derive(Clone, Debug)]
pub struct CaseLog(Rc<RefCell<Inner>>);

#[derive(Debug)]
struct Inner {
    start: Instant,
    lines: Vec<String>,
    dropped: usize,
}

impl CaseLog {
    /// A log whose time zero is now.
    pub fn new() -> Self {
        Self(Rc::new(RefCell::new(Inner {
            start: Instant::now(),
            lines: Vec::new(),
            dropped: 0,
        })))
    }

    /// Appends one line, stamped with the time since the case started.
    pub fn line(&self, what: impl Display) {
        let mut inner = self.0.borrow_mut();
        if inner.lines.len() >= MAX_LINES {
            inner.dropped += 1;
            return;
        }
        let t = inner.start.elapsed();
        let mut text = what.to_string();
        if text.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        let line = format!("{:>3}.{:03}s {text}", t.as_secs(), t.subsec_millis());
        inner.lines.push(line);
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        let inner = self.0.borrow();
        let mut lines = inner.lines.clone();
        if inner.dropped > 0 {
            lines.push(format!("({} more lines not kept)", inner.dropped));
        }
        lines
    }
}

impl Default for CaseLog {
    fn default() -> Self {
        Self::new()
    }
}

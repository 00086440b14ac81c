//! A readable log of a scripted exchange with a core, for insta snapshots.
//!
//! Every line carries the virtual time since the start, a direction, and
//! either a decoded frame or an event, so that a snapshot shows the whole
//! conversation and a change in behaviour shows as a readable diff.

#![allow(dead_code)] // each test binary uses a different subset

use std::fmt::{Display, Write as _};
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::wire::{Decoder, MAX_FRAME_LEN};

/// Accumulates transcript lines.
pub struct Transcript {
    start: Instant,
    out: String,
}

impl Transcript {
    /// A transcript whose time zero is `start`.
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            out: String::new(),
        }
    }

    fn stamp(&mut self, now: Instant) {
        let t = now.saturating_duration_since(self.start);
        let _ = write!(self.out, "{:>4}.{:03}s ", t.as_secs(), t.subsec_millis());
    }

    /// Logs one free-form line (an input, an output that is not bytes, an event).
    pub fn line(&mut self, now: Instant, what: impl Display) {
        self.stamp(now);
        let _ = writeln!(self.out, "{what}");
    }

    /// Logs every frame in `bytes` (which must hold whole frames), one line
    /// each, prefixed by `dir` (e.g. "S->C") and the connection.
    pub fn frames(&mut self, now: Instant, dir: &str, conn: ConnId, bytes: &[u8]) {
        let mut decoder = Decoder::new(MAX_FRAME_LEN);
        let mut input = bytes;
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    let line = format!("{dir} {conn} {frame}");
                    self.line(now, line);
                }
                Ok(None) => break,
                Err(err) => {
                    self.line(now, format!("{dir} {conn} <undecodable: {err}>"));
                    break;
                }
            }
        }
        if decoder.buffered() != 0 {
            self.line(
                now,
                format!("{dir} {conn} <partial frame: {} bytes>", decoder.buffered()),
            );
        }
    }

    /// The transcript text.
    pub fn finish(self) -> String {
        self.out
    }
}

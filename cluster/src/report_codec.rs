//! A report's bytes on the bus.
//!
//! `version u8 (2) | log_seq u64 | index u16 | session u64 | session_seq u64 |
//! outcome u8 (1 delivered, 2 undelivered) | reason_len u16 | reason`,
//! integers big-endian; the reason is empty for `delivered`. Version 1
//! (before log messages held batches) has no `index`: read as 0, exact for
//! its one-notification messages.

use crate::ids::LogSeq;
use crate::report::{Outcome, Report};

const REPORT_V1: u8 = 1;
const REPORT_V2: u8 = 2;
const DELIVERED: u8 = 1;
const UNDELIVERED: u8 = 2;
/// Reasons are for a person; a longer one is cut (at a character
/// boundary) rather than failing the report.
const MAX_REASON: usize = 1024;

impl Report {
    /// The report's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let (outcome, reason) = match &self.outcome {
            Outcome::Delivered => (DELIVERED, ""),
            Outcome::Undelivered { reason } => (UNDELIVERED, cut(reason)),
        };
        let mut out = Vec::with_capacity(30 + reason.len());
        out.push(REPORT_V2);
        out.extend_from_slice(&self.log_seq.0.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.session.to_be_bytes());
        out.extend_from_slice(&self.session_seq.to_be_bytes());
        out.push(outcome);
        let len = u16::try_from(reason.len()).expect("cut to MAX_REASON");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(reason.as_bytes());
        out
    }

    /// Parses a report; any other bytes are refused with the reason.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        let (&version, rest) = bytes.split_first().ok_or("it is empty")?;
        let (log_seq, index, rest) = match version {
            REPORT_V1 if rest.len() >= 8 => (&rest[..8], [0, 0], &rest[8..]),
            REPORT_V2 if rest.len() >= 10 => (&rest[..8], [rest[8], rest[9]], &rest[10..]),
            REPORT_V1 | REPORT_V2 => return Err("it ends inside a field"),
            _ => return Err("it has an unknown format version"),
        };
        let log_seq = u64::from_be_bytes(log_seq.try_into().expect("8"));
        if rest.len() < 8 * 2 + 1 + 2 {
            return Err("it ends inside a field");
        }
        let u64_at = |at: usize| u64::from_be_bytes(rest[at..at + 8].try_into().expect("8"));
        let outcome = rest[16];
        let len = usize::from(u16::from_be_bytes([rest[17], rest[18]]));
        let reason = &rest[19..];
        if reason.len() != len {
            return Err("its reason's length does not match");
        }
        let reason = std::str::from_utf8(reason).map_err(|_| "its reason is not UTF-8")?;
        let outcome = match outcome {
            DELIVERED if reason.is_empty() => Outcome::Delivered,
            UNDELIVERED => Outcome::Undelivered {
                reason: reason.to_owned(),
            },
            _ => return Err("it has an unknown outcome"),
        };
        Ok(Self {
            log_seq: LogSeq(log_seq),
            index: u16::from_be_bytes(index),
            session: u64_at(0),
            session_seq: u64_at(8),
            outcome,
        })
    }
}

fn cut(reason: &str) -> &str {
    if reason.len() <= MAX_REASON {
        return reason;
    }
    let mut end = MAX_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip_and_other_bytes_are_refused() {
        let delivered = Report {
            log_seq: LogSeq(7),
            index: 3,
            session: 0xabc,
            session_seq: 2,
            outcome: Outcome::Delivered,
        };
        assert_eq!(Report::decode(&delivered.encode()), Ok(delivered.clone()));
        let undelivered = Report {
            outcome: Outcome::Undelivered {
                reason: "the session expired".into(),
            },
            ..delivered.clone()
        };
        let bytes = undelivered.encode();
        assert_eq!(Report::decode(&bytes), Ok(undelivered));
        for len in 0..bytes.len() {
            assert!(Report::decode(&bytes[..len]).is_err(), "len {len}");
        }
        let mut unknown = delivered.encode();
        unknown[27] = 9;
        assert_eq!(Report::decode(&unknown), Err("it has an unknown outcome"));
        // Version 1 (no index) reads as index 0.
        let v2 = delivered.encode();
        let mut v1 = vec![REPORT_V1];
        v1.extend_from_slice(&v2[1..9]);
        v1.extend_from_slice(&v2[11..]);
        assert_eq!(
            Report::decode(&v1),
            Ok(Report {
                index: 0,
                ..delivered
            })
        );
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        let report = Report {
            log_seq: LogSeq(1),
            index: 0,
            session: 1,
            session_seq: 1,
            outcome: Outcome::Undelivered {
                reason: "é".repeat(600),
            },
        };
        let Ok(Report {
            outcome: Outcome::Undelivered { reason },
            ..
        }) = Report::decode(&report.encode())
        else {
            panic!("the report does not decode");
        };
        assert_eq!(reason, "é".repeat(512));
    }
}

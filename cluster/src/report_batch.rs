//! Several reports in one message on the bus: a session's cumulative
//! acknowledgement reports every notification it covers at once, and one
//! JetStream message per notification would cost the bus as much as the
//! log did before its batches.
//!
//! `0x00 | count u16 (≥ 2) | count × (len u16 | report)`, integers
//! big-endian, each `report` as in report_codec.rs, with its own MAC; a
//! message of one report is that report alone (its first byte is its
//! version, never 0).

use crate::ids::ServerId;
use crate::report::Report;
use crate::secret::ClusterSecret;

/// The first byte of a batch (no report version is 0).
const BATCH: u8 = 0;

/// The bytes of one message holding `reports` (at least one).
pub(crate) fn encode(secret: &ClusterSecret, origin: ServerId, reports: &[Report]) -> Vec<u8> {
    if let [one] = reports {
        return one.encode(secret, origin);
    }
    let count = u16::try_from(reports.len()).expect("at most 65 535 reports per message");
    let mut out = Vec::with_capacity(3 + reports.len() * 32);
    out.push(BATCH);
    out.extend_from_slice(&count.to_be_bytes());
    for report in reports {
        let bytes = report.encode(secret, origin);
        // A report is at most 30 + 1024 + 32 bytes (its reason is cut).
        let len = u16::try_from(bytes.len()).expect("a report fits a u16 length");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// The reports of one message, or why it holds none (all or nothing).
pub(crate) fn decode(
    secret: &ClusterSecret,
    origin: ServerId,
    bytes: &[u8],
) -> Result<Vec<Report>, &'static str> {
    let Some((&BATCH, rest)) = bytes.split_first() else {
        return Report::decode(secret, origin, bytes).map(|r| vec![r]);
    };
    let (count, mut rest) = rest.split_at_checked(2).ok_or("it ends inside its count")?;
    let count = usize::from(u16::from_be_bytes([count[0], count[1]]));
    if count < 2 {
        return Err("it is a batch of fewer than two reports");
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, tail) = rest
            .split_at_checked(2)
            .ok_or("it ends inside a report's length")?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (report, tail) = tail
            .split_at_checked(len)
            .ok_or("it ends inside a report")?;
        out.push(Report::decode(secret, origin, report)?);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err("bytes after its last report");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LogSeq;
    use crate::report::Outcome;

    fn report(seq: u64) -> Report {
        Report {
            log_seq: LogSeq(7),
            index: seq as u16,
            session: 0xabc,
            session_seq: seq,
            outcome: Outcome::Delivered,
        }
    }

    const ORIGIN: ServerId = ServerId(0x0a);

    fn secret() -> ClusterSecret {
        ClusterSecret::from_bytes(&[6; 32])
    }

    fn encode(reports: &[Report]) -> Vec<u8> {
        super::encode(&secret(), ORIGIN, reports)
    }

    fn decode(bytes: &[u8]) -> Result<Vec<Report>, &'static str> {
        super::decode(&secret(), ORIGIN, bytes)
    }

    #[test]
    fn one_report_is_itself_and_several_round_trip_as_a_batch() {
        let one = report(1).encode(&secret(), ORIGIN);
        assert_eq!(encode(&[report(1)]), one);
        assert_eq!(decode(&one), Ok(vec![report(1)]));
        let three = vec![report(1), report(2), report(3)];
        let bytes = encode(&three);
        assert_eq!(bytes[..3], [0, 0, 3]);
        assert_eq!(decode(&bytes), Ok(three));
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "len {len}");
        }
        let mut longer = bytes.clone();
        longer.push(1);
        assert_eq!(decode(&longer), Err("bytes after its last report"));
        assert_eq!(
            decode(&[0, 0, 1, 0, 0]),
            Err("it is a batch of fewer than two reports")
        );
        // Every report of a batch is authenticated: one changed byte in
        // any of them refuses the message.
        let mut forged = bytes;
        forged[10] ^= 1;
        assert!(decode(&forged).is_err());
    }
}

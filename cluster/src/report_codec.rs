//! A report's bytes on the bus.
//!
//! `version u8 (3) | log_seq u64 | index u16 | session u64 | session_seq u64 |
//! outcome u8 (1 delivered, 2 undelivered) | reason_len u16 | reason |
//! mac [32]`, integers big-endian; the reason is empty for `delivered`;
//! `index` is the notification's place in its log message (a message may
//! hold several, [D-17]).
//!
//! `mac` is HMAC-SHA256 under a key derived from the cluster secret
//! ([`ClusterSecret`]) over the origin server's id (8 bytes, big-endian)
//! and every byte before the mac. Anyone who may publish on the bus could
//! otherwise put a "delivered" on an origin's subject and `notify --wait`
//! would pass the lie on; with the origin inside the MAC, a genuine report
//! copied to another origin's subject is refused too. Versions 1 and 2
//! (no mac) are refused as unknown.

use hmac::Mac as _;

use crate::ids::{LogSeq, ServerId};
use crate::report::{Outcome, Report};
use crate::secret::ClusterSecret;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const REPORT_V3: u8 = 3;
const DELIVERED: u8 = 1;
const UNDELIVERED: u8 = 2;
/// Reasons are for a person; a longer one is cut (at a character
/// boundary) rather than failing the report, and a received one over it
/// is refused.
pub(crate) const MAX_REASON: usize = 1024;
/// The fixed fields: version, three u64, the index, outcome, reason length.
const FIXED_LEN: usize = 1 + 8 * 3 + 2 + 1 + 2;
const MAC_LEN: usize = 32;

impl Report {
    /// How many bytes [`encode`](Self::encode) makes of it (without
    /// encoding it: no MAC computed).
    pub(crate) fn encoded_len(&self) -> usize {
        let reason = match &self.outcome {
            Outcome::Delivered => 0,
            Outcome::Undelivered { reason } => cut(reason).len(),
        };
        FIXED_LEN + reason + MAC_LEN
    }

    /// The report's bytes for `origin`'s subject, with their MAC.
    pub(crate) fn encode(&self, secret: &ClusterSecret, origin: ServerId) -> Vec<u8> {
        let (outcome, reason) = match &self.outcome {
            Outcome::Delivered => (DELIVERED, ""),
            Outcome::Undelivered { reason } => (UNDELIVERED, cut(reason)),
        };
        let mut out = Vec::with_capacity(FIXED_LEN + reason.len() + MAC_LEN);
        out.push(REPORT_V3);
        out.extend_from_slice(&self.log_seq.0.to_be_bytes());
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&self.session.to_be_bytes());
        out.extend_from_slice(&self.session_seq.to_be_bytes());
        out.push(outcome);
        let len = u16::try_from(reason.len()).expect("cut to MAX_REASON");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(reason.as_bytes());
        let mac = mac(secret, origin, &out).finalize().into_bytes();
        out.extend_from_slice(&mac);
        out
    }

    /// Parses a report read from `origin`'s subject; bytes without a
    /// valid MAC, or not a report, are refused with the reason. Nothing
    /// of a report is looked at before its MAC is checked.
    pub(crate) fn decode(
        secret: &ClusterSecret,
        origin: ServerId,
        bytes: &[u8],
    ) -> Result<Self, &'static str> {
        if bytes.is_empty() {
            return Err("it is empty");
        }
        let Some(body_len) = bytes.len().checked_sub(MAC_LEN).filter(|&n| n > 0) else {
            return Err("it is shorter than an authenticated report");
        };
        let (body, tag) = bytes.split_at(body_len);
        mac(secret, origin, body)
            .verify_slice(tag)
            .map_err(|_| "it is not authentic (no valid MAC under the cluster secret)")?;
        let (&version, rest) = body.split_first().ok_or("it is empty")?;
        if version != REPORT_V3 {
            return Err("it has an unknown format version");
        }
        if rest.len() < FIXED_LEN - 1 {
            return Err("it ends inside a field");
        }
        let u64_at = |at: usize| u64::from_be_bytes(rest[at..at + 8].try_into().expect("8"));
        let index = u16::from_be_bytes([rest[8], rest[9]]);
        let rest = &rest[2..];
        let outcome = rest[24];
        let len = usize::from(u16::from_be_bytes([rest[25], rest[26]]));
        let reason = &rest[27..];
        if reason.len() != len {
            return Err("its reason's length does not match");
        }
        if len > MAX_REASON {
            return Err("its reason is longer than 1024 bytes");
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
            log_seq: LogSeq(u64_at(0)),
            index,
            session: u64_at(10),
            session_seq: u64_at(18),
            outcome,
        })
    }
}

/// `body` followed by its valid MAC: what a faulty server that holds the
/// secret would send (the fuzzing harness and the tests make such bytes).
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn authentic(secret: &ClusterSecret, origin: ServerId, body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&mac(secret, origin, body).finalize().into_bytes());
    out
}

/// The MAC state over `origin` and `body`.
fn mac(secret: &ClusterSecret, origin: ServerId, body: &[u8]) -> HmacSha256 {
    let mut mac = secret.report_mac();
    mac.update(&origin.0.to_be_bytes());
    mac.update(body);
    mac
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

    const ORIGIN: ServerId = ServerId(0x0a);

    fn secret() -> ClusterSecret {
        ClusterSecret::from_bytes(&[6; 32])
    }

    fn authentic(body: &[u8]) -> Vec<u8> {
        super::authentic(&secret(), ORIGIN, body)
    }

    fn decode(bytes: &[u8]) -> Result<Report, &'static str> {
        Report::decode(&secret(), ORIGIN, bytes)
    }

    #[test]
    fn reports_round_trip_and_other_bytes_are_refused() {
        let delivered = Report {
            log_seq: LogSeq(7),
            index: 3,
            session: 0xabc,
            session_seq: 2,
            outcome: Outcome::Delivered,
        };
        assert_eq!(
            decode(&delivered.encode(&secret(), ORIGIN)),
            Ok(delivered.clone())
        );
        let undelivered = Report {
            outcome: Outcome::Undelivered {
                reason: "the session expired".into(),
            },
            ..delivered.clone()
        };
        let bytes = undelivered.encode(&secret(), ORIGIN);
        assert_eq!(decode(&bytes), Ok(undelivered));
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "len {len}");
        }
        let mut unknown = delivered.encode(&secret(), ORIGIN);
        unknown.truncate(unknown.len() - MAC_LEN);
        unknown[27] = 9;
        assert_eq!(
            decode(&authentic(&unknown)),
            Err("it has an unknown outcome")
        );
    }

    #[test]
    fn a_report_without_a_valid_mac_is_refused() {
        let delivered = Report {
            log_seq: LogSeq(7),
            index: 3,
            session: 0xabc,
            session_seq: 2,
            outcome: Outcome::Delivered,
        };
        let bytes = delivered.encode(&secret(), ORIGIN);
        let forged = "it is not authentic (no valid MAC under the cluster secret)";
        // Any byte changed, the MAC included.
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x80;
            assert_eq!(decode(&changed), Err(forged), "byte {i}");
        }
        // Made with another cluster's secret, or copied to another
        // origin's subject.
        let other = ClusterSecret::from_bytes(&[7; 32]);
        assert_eq!(decode(&delivered.encode(&other, ORIGIN)), Err(forged));
        assert_eq!(
            decode(&delivered.encode(&secret(), ServerId(0x0b))),
            Err(forged)
        );
        // Versions 1 and 2 had no MAC: their bytes do not authenticate.
        for old in [1, 2] {
            let mut v = bytes[..bytes.len() - MAC_LEN].to_vec();
            v[0] = old;
            assert!(decode(&v).is_err());
            assert_eq!(
                decode(&authentic(&v)),
                Err("it has an unknown format version")
            );
        }
        assert_eq!(decode(&bytes).map(|r| r.index), Ok(3));
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
        }) = decode(&report.encode(&secret(), ORIGIN))
        else {
            panic!("the report does not decode");
        };
        assert_eq!(reason, "é".repeat(512));
    }

    #[test]
    fn a_received_reason_over_the_bound_is_refused() {
        let mut body = vec![REPORT_V3];
        body.extend_from_slice(&[0; 26]);
        body.push(UNDELIVERED);
        body.extend_from_slice(&1025u16.to_be_bytes());
        body.extend_from_slice(&[b'x'; 1025]);
        assert_eq!(
            decode(&authentic(&body)),
            Err("its reason is longer than 1024 bytes")
        );
    }
}

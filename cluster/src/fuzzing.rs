//! The fuzzing harness of the `cluster` cargo-fuzz target (and the corpus
//! replay test, `cluster/tests/fuzz_corpus.rs`): what arrives from the NATS
//! bus, which is network input.
//!
//! - **log messages**, which anyone allowed to publish on the log subjects
//!   writes (a fax engine, or an attacker without the cluster secret): a
//!   message is a notification exactly when it holds a kind byte and a
//!   payload within the NOTIFY bound, and then it is those bytes, unchanged;
//!   the origin header names a server only when it is one as servers write
//!   it;
//! - **sealed session records**: arbitrary bytes never open; what is sealed
//!   opens to the same record, and only unchanged, under its own session's
//!   key and the same secret; an authentic plaintext decodes only when it is
//!   exactly one record, the one encoding of that record;
//! - **reports**: arbitrary bytes are refused (no valid MAC); an authentic
//!   report parses only when well-formed, reasons within their bound, and
//!   is the one encoding of what it parsed to; changed, moved to another
//!   origin, or made with another secret, it is refused.
//!
//! Each harness step reads an operation byte, a big-endian u16 length and
//! that many bytes (fewer at the end of the input).

use bytes::Bytes;
use faxnotify_core::wire::MAX_PAYLOAD_LEN;

use crate::ids::{LogSeq, ServerId};
use crate::log_entry::LogEntry;
use crate::record::{RecordError, SessionRecord};
use crate::report::{Outcome, Report};
use crate::report_codec::{MAX_REASON, authentic};
use crate::seal::{self, NONCE_LEN};
use crate::secret::ClusterSecret;
use crate::subjects::session_key;

/// The origin the reports are read for.
const ORIGIN: ServerId = ServerId(0x0123_4567_89ab_cdef);

/// One input: a sequence of steps, each driving one bus input.
pub fn bus(data: &[u8]) {
    let secret = ClusterSecret::from_bytes(&[0x42; 32]);
    let other = ClusterSecret::from_bytes(&[0x43; 32]);
    let mut log_seq = 0u64;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let len = match tail {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => tail.len(),
        };
        let body = tail.get(2..).unwrap_or(&[]);
        let chunk = &body[..len.min(body.len())];
        rest = &body[chunk.len()..];
        log_seq += 1;
        match op % 7 {
            0 => log_message(LogSeq(log_seq), chunk),
            1 => forged_record(&secret, chunk),
            2 => sealed_record(&secret, &other, chunk),
            3 => record_plaintext(&secret, chunk),
            4 => forged_report(&secret, chunk),
            5 => report_bytes(&secret, &other, chunk),
            _ => report_round_trip(&secret, chunk),
        }
    }
}

/// Reads fields off the front of the fuzzer's bytes, zeros once they run
/// out, so that every input builds something.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    fn u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        let got = self.take(8);
        bytes[..got.len()].copy_from_slice(got);
        u64::from_be_bytes(bytes)
    }

    fn nonce(&mut self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        let got = self.take(NONCE_LEN);
        nonce[..got.len()].copy_from_slice(got);
        nonce
    }

    /// A string of up to `max` bytes (lossy UTF-8 of what is left).
    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.take(max)).into_owned()
    }
}

/// A log message: the first byte says whether it has an origin header
/// (high bit clear) and how long it is (low five bits); the rest is the
/// body.
fn log_message(log_seq: LogSeq, chunk: &[u8]) {
    let mut f = Fields(chunk);
    let flags = f.u8();
    let header = (flags & 0x80 == 0).then(|| f.take(usize::from(flags & 0x1f)));
    let header = header.map(String::from_utf8_lossy);
    let body = Bytes::copy_from_slice(f.0);
    let parsed = LogEntry::parse(log_seq, &body, header.as_deref());
    let batch = body.first() == Some(&crate::log_format::BATCH_MARKER);
    let fits = !body.is_empty() && body.len() - 1 <= MAX_PAYLOAD_LEN;
    let entries = match parsed {
        Ok(entries) => entries,
        Err(err) => {
            assert!(
                batch || !fits,
                "a notification of {} bytes refused: {err}",
                body.len()
            );
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("log message {log_seq} ")),
                "{text:?} does not say which message"
            );
            return;
        }
    };
    if batch {
        // A batch is accepted only as exactly its notifications in the
        // batch form: nothing skipped, added or reordered. (A batch of one
        // is valid too — a kind-0 notification needs it, and a fax engine
        // may write it — so a notification has two forms; each is exact.)
        let mut form = vec![crate::log_format::BATCH_MARKER];
        let count = u16::try_from(entries.len()).expect("a count is a u16");
        form.extend_from_slice(&count.to_be_bytes());
        for entry in &entries {
            let n = &entry.notification;
            form.push(n.kind());
            let len = u16::try_from(n.payload().len()).expect("a payload fits a u16");
            form.extend_from_slice(&len.to_be_bytes());
            form.extend_from_slice(n.payload());
        }
        assert_eq!(form, body);
        if let [one] = &entries[..]
            && one.notification.kind() != crate::log_format::BATCH_MARKER
        {
            // What a server would publish for it: the one-notification form.
            let single = crate::log_format::encode(&[&one.notification]);
            assert_eq!(single[0], one.notification.kind());
        }
    } else {
        assert!(fits, "a log message of {} bytes accepted", body.len());
        let [entry] = &entries[..] else {
            panic!("one notification read as {}", entries.len());
        };
        // The bytes a server publishes for it are the bytes read.
        let n = &entry.notification;
        assert_eq!(n.kind(), body[0]);
        assert_eq!(n.payload()[..], body[1..]);
    }
    // Only a header as servers write it names an origin, and then exactly
    // that server.
    let canonical = header
        .as_deref()
        .filter(|h| h.len() == 16 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
    for (entry, index) in entries.iter().zip(0u16..) {
        assert_eq!(
            entry.position(),
            crate::LogPos {
                seq: log_seq,
                index
            }
        );
        // Decoding never fails [N-1]: an unknown kind passes through.
        let n = &entry.notification;
        assert_eq!(n.decode().kind(), n.kind());
        match (entry.origin, canonical) {
            (Some(origin), Some(header)) => assert_eq!(origin.to_string(), header),
            (None, None) => {}
            (origin, _) => panic!("header {header:?} read as origin {origin:?}"),
        }
    }
}

/// Bytes from the bus as a sealed record: they never open.
fn forged_record(secret: &ClusterSecret, chunk: &[u8]) {
    let mut f = Fields(chunk);
    let session = f.u64();
    let sealed = f.0;
    match SessionRecord::open(secret, session, sealed) {
        Ok(record) => panic!("forged bytes opened to {record:?}"),
        Err(RecordError::UnknownVersion(v)) => assert_eq!(Some(&v), sealed.first()),
        Err(RecordError::NotAuthentic | RecordError::Malformed(_)) => {}
        Err(err) => panic!("opening forged bytes failed oddly: {err}"),
    }
}

/// A record built from the fuzzer's bytes, sealed: it opens to itself, and
/// any change — a byte, the length, the key, the secret — is refused.
fn sealed_record(secret: &ClusterSecret, other: &ClusterSecret, chunk: &[u8]) {
    let mut f = Fields(chunk);
    let nonce = f.nonce();
    let at = usize::from(f.u8()) << 8 | usize::from(f.u8());
    let flip = f.u8() | 1;
    let user_len = usize::from(f.u8()) + usize::from(f.u8() & 1) * 256;
    let record = SessionRecord {
        session: f.u64(),
        user: f.text(user_len),
        owner: ServerId(f.u64()),
        owner_until_unix_ms: f.u64(),
        start_log_seq: f.u64(),
        acked_session_seq: f.u64(),
        acked_log_seq: f.u64(),
        acked_log_index: u16::from(f.u8()) << 8 | u16::from(f.u8()),
        expires_unix_ms: f.u64(),
    };
    let key = session_key(record.session);
    let plain = match record.encode() {
        Ok(plain) => plain,
        Err(RecordError::UserTooLong { len }) => {
            assert!(len > 255 && len == record.user.len());
            return;
        }
        Err(err) => panic!("{record:?} does not encode: {err}"),
    };
    let sealed = seal::seal_with_nonce(secret, key.as_bytes(), &plain, nonce)
        .unwrap_or_else(|err| panic!("{record:?} does not seal: {err}"));
    let open = |bytes: &[u8]| SessionRecord::open(secret, record.session, bytes);
    assert_eq!(open(&sealed).as_ref(), Ok(&record));

    let mut changed = sealed.clone();
    let i = at % changed.len();
    changed[i] ^= flip;
    let expected = if i == 0 {
        RecordError::UnknownVersion(changed[0])
    } else {
        RecordError::NotAuthentic
    };
    assert_eq!(open(&changed), Err(expected), "byte {i} changed");
    let cut = &sealed[..at % sealed.len()];
    assert!(open(cut).is_err(), "cut to {} bytes", cut.len());
    let mut longer = sealed.clone();
    longer.push(flip);
    assert_eq!(open(&longer), Err(RecordError::NotAuthentic));
    // Copied under another session's key, or sealed by another cluster.
    let elsewhere = record.session ^ u64::from(flip);
    assert_eq!(
        SessionRecord::open(secret, elsewhere, &sealed),
        Err(RecordError::NotAuthentic)
    );
    assert_eq!(
        SessionRecord::open(other, record.session, &sealed),
        Err(RecordError::NotAuthentic)
    );
    // An older revision of the same session still opens, to exactly what
    // it held: rolling back is for the bucket's compare-and-set to refuse,
    // the seal only vouches for the bytes.
    let older = SessionRecord {
        acked_session_seq: record.acked_session_seq.wrapping_sub(1),
        ..record.clone()
    };
    let mut older_nonce = nonce;
    older_nonce.reverse();
    let older_plain = older.encode().expect("a record that encoded encodes");
    let older_sealed = seal::seal_with_nonce(secret, key.as_bytes(), &older_plain, older_nonce)
        .expect("a record that sealed seals");
    assert_eq!(open(&older_sealed), Ok(older));
}

/// Authentic plaintext (what a faulty server holding the secret could
/// write): it opens only when it is one record, that record's encoding,
/// under its own session's key.
fn record_plaintext(secret: &ClusterSecret, chunk: &[u8]) {
    let mut f = Fields(chunk);
    let nonce = f.nonce();
    let plain = f.0;
    // The key the plaintext names, when it names one.
    let session = plain
        .get(1..9)
        .map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8")));
    let sealed_for = |session: u64| {
        seal::seal_with_nonce(secret, session_key(session).as_bytes(), plain, nonce)
            .expect("any plaintext seals")
    };
    match SessionRecord::open(secret, session, &sealed_for(session)) {
        Ok(record) => {
            let encoded = record.encode().expect("an opened record encodes");
            if plain.first() == encoded.first() {
                // In the version this server writes: its one encoding.
                assert_eq!(&encoded[..], plain, "not canonical");
            } else {
                // An older version (read for upgrades): exactly its fields,
                // so the same record in today's version.
                let again = SessionRecord::open(
                    secret,
                    session,
                    &seal::seal_with_nonce(
                        secret,
                        session_key(session).as_bytes(),
                        &encoded,
                        nonce,
                    )
                    .expect("any plaintext seals"),
                );
                assert_eq!(again.as_ref(), Ok(&record), "an older version read oddly");
                assert_eq!(plain.first(), Some(&1), "only version 1 is older");
                assert_eq!(plain.len() + 2, encoded.len(), "version 1 lacks the index");
            }
            assert_eq!(record.session, session);
            // The same plaintext under another key names another session.
            let elsewhere = session ^ 1;
            assert_eq!(
                SessionRecord::open(secret, elsewhere, &sealed_for(elsewhere)),
                Err(RecordError::Malformed("it names another session"))
            );
        }
        Err(RecordError::UnknownVersion(v)) => assert_eq!(Some(&v), plain.first()),
        Err(RecordError::Malformed(_)) => {}
        Err(err) => panic!("authentic plaintext failed oddly: {err}"),
    }
}

/// Bytes from the bus as a report: without the secret, no valid MAC.
fn forged_report(secret: &ClusterSecret, chunk: &[u8]) {
    if let Ok(report) = Report::decode(secret, ORIGIN, chunk) {
        panic!("forged bytes read as {report:?}");
    }
}

/// A report body with a valid MAC: it parses only when well-formed and is
/// then that report's one encoding; changed, it is refused.
fn report_bytes(secret: &ClusterSecret, other: &ClusterSecret, chunk: &[u8]) {
    let mut f = Fields(chunk);
    let at = usize::from(f.u8()) << 8 | usize::from(f.u8());
    let flip = f.u8() | 1;
    let body = f.0;
    let bytes = authentic(secret, ORIGIN, body);
    if let Ok(report) = Report::decode(secret, ORIGIN, &bytes) {
        assert_eq!(report.encode(secret, ORIGIN), bytes, "not canonical");
        if let Outcome::Undelivered { reason } = &report.outcome {
            assert!(reason.len() <= MAX_REASON, "a reason of {}", reason.len());
        }
    }
    let mut changed = bytes.clone();
    let i = at % changed.len();
    changed[i] ^= flip;
    assert!(
        Report::decode(secret, ORIGIN, &changed).is_err(),
        "byte {i}"
    );
    assert!(Report::decode(secret, ServerId(!ORIGIN.0), &bytes).is_err());
    assert!(Report::decode(other, ORIGIN, &bytes).is_err());
}

/// A report built from the fuzzer's bytes reads back as itself, its reason
/// cut at a character boundary to the bound.
fn report_round_trip(secret: &ClusterSecret, chunk: &[u8]) {
    let mut f = Fields(chunk);
    let delivered = f.u8() & 1 == 0;
    let mut report = Report {
        log_seq: LogSeq(f.u64()),
        index: u16::from(f.u8()) << 8 | u16::from(f.u8()),
        session: f.u64(),
        session_seq: f.u64(),
        outcome: Outcome::Delivered,
    };
    if !delivered {
        report.outcome = Outcome::Undelivered {
            reason: f.text(usize::MAX),
        };
    }
    let read = Report::decode(secret, ORIGIN, &report.encode(secret, ORIGIN))
        .unwrap_or_else(|err| panic!("{report:?} does not read back: {err}"));
    match (&read.outcome, &report.outcome) {
        (Outcome::Undelivered { reason: got }, Outcome::Undelivered { reason: sent }) => {
            // Cut at the bound, less at most the three bytes of a
            // character that would straddle it.
            assert!(sent.starts_with(got.as_str()));
            assert!(got.len() <= MAX_REASON);
            assert!(got.len() == sent.len() || got.len() + 3 >= MAX_REASON);
            report.outcome = read.outcome.clone();
        }
        (a, b) => assert_eq!(a, b),
    }
    assert_eq!(read, report);
}

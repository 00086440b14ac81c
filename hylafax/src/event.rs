//! One line of hfaxd's `SITE TRIGGER` stream, parsed.
//!
//! hfaxd 6.0 writes one event per line, `HHMMSS CODE KIND ...` with the time
//! in UTC, e.g.
//!
//! ```text
//! 024319 119 JOB 1 (dest 5550001 pri 127 com ): SEND FAX: Page 1 sent in 0:00:00 (file docq/doc1.tif;c0) <...>
//! 024324 135 RECV FAX: From IAXmodem (com 000000002), 2 pages in 0:00:18, file recvq/fax000000001.tif
//! 024302 159 MODEM ttyIAX1: Caller-id information: "5550000","Modem 0","<NONE>","5550001"
//! ```
//!
//! The code is the trigger event number plus 100 (HylaFAX's `Trigger.h`);
//! [`codes`] names the ones the bridge uses. Text is cleaned ([`crate::text`]).

use crate::text::{MAX_DETAIL, MAX_DEVICE, MAX_PARTY, clean};

/// Event codes as the stream prints them.
pub mod codes {
    /// Job created.
    pub const JOB_CREATE: u16 = 100;
    /// Job ready to send (names the destination).
    pub const JOB_READY: u16 = 102;
    /// Job dead (finished, whatever the outcome).
    pub const JOB_DEAD: u16 = 104;
    /// Job's documents reaped (after it is dead).
    pub const JOB_REAP: u16 = 106;
    /// Job preparation finished (the page total is known from here on).
    pub const JOB_PREP_END: u16 = 115;
    /// Job killed (removed by a user).
    pub const JOB_KILL: u16 = 109;
    /// Job blocked by another job to the same destination.
    pub const JOB_BLOCKED: u16 = 110;
    /// An attempt to send begins.
    pub const SEND_BEGIN: u16 = 116;
    /// The call is placed (dialling).
    pub const SEND_CALL: u16 = 117;
    /// A page was sent.
    pub const SEND_PAGE: u16 = 119;
    /// The job goes back to the queue for another try.
    pub const SEND_REQUEUE: u16 = 125;
    /// Sending is over: printed after failed attempts too, so it is not the outcome.
    pub const SEND_DONE: u16 = 126;
    /// A call to receive begins (the first receive code).
    pub const RECV_BEGIN: u16 = 132;
    /// A received fax document is complete.
    pub const RECV_DOC: u16 = 135;
    /// A receive session started (names the commid and TSI).
    pub const RECV_START: u16 = 133;
    /// A modem is assigned to a job.
    pub const MODEM_ASSIGN: u16 = 148;
    /// A modem is released by a job.
    pub const MODEM_RELEASE: u16 = 149;
    /// A modem went down.
    pub const MODEM_DOWN: u16 = 150;
    /// A modem is ready.
    pub const MODEM_READY: u16 = 151;
    /// A modem is busy.
    pub const MODEM_BUSY: u16 = 152;
    /// A modem is wedged (does not answer).
    pub const MODEM_WEDGED: u16 = 153;
    /// Caller id of an incoming call.
    pub const MODEM_CID: u16 = 159;
}

/// A UTC time of day, as the stream gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeOfDay {
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–60 (a leap second).
    pub second: u8,
}

impl TimeOfDay {
    /// Seconds since midnight.
    pub fn seconds(self) -> u32 {
        u32::from(self.hour) * 3600 + u32::from(self.minute) * 60 + u32::from(self.second)
    }
}

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Subject {
    /// A send job.
    Job {
        /// The job id.
        id: u64,
        /// The number dialled (cleaned).
        dest: String,
        /// The communication id, once there is one.
        commid: Option<u64>,
    },
    /// A fax being received (the stream does not name the modem).
    Receive {
        /// The communication id, where the line gives one.
        commid: Option<u64>,
    },
    /// A modem.
    Modem {
        /// Its device id, e.g. `ttyIAX0` (cleaned).
        device: String,
    },
    /// Anything else (polls, future kinds): kept, not acted on.
    Other {
        /// The kind word (cleaned).
        kind: String,
    },
}

/// One parsed event line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When (UTC).
    pub time: TimeOfDay,
    /// The event code (see [`codes`]).
    pub code: u16,
    /// What it is about.
    pub subject: Subject,
    /// The message after the subject, cleaned and bounded.
    pub text: String,
    /// The message as sent, bounded, for the parsers of particular codes.
    raw_text: Vec<u8>,
}

/// Why a line is not an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The line does not start with a `HHMMSS` time.
    #[error("the line does not start with an HHMMSS time")]
    BadTime,
    /// No three-digit event code after the time.
    #[error("no three-digit event code after the time")]
    BadCode,
    /// A `JOB` line without a job number.
    #[error("a JOB event without a job number")]
    BadJobId,
    /// A `JOB` line without its `(dest … pri … com …):` part.
    #[error("a JOB event without its (dest ... com ...) part")]
    BadJobHeader,
    /// A `MODEM` line without `device:`.
    #[error("a MODEM event without a device name")]
    BadModem,
}

impl Event {
    /// Parses one line (without its line end).
    pub fn parse(line: &[u8]) -> Result<Event, EventError> {
        let (time, rest) = split_word(line);
        let time = parse_time(time).ok_or(EventError::BadTime)?;
        let (code, rest) = split_word(rest);
        let code = parse_code(code).ok_or(EventError::BadCode)?;
        let (kind, rest) = split_word(rest);
        let (subject, text) = match kind {
            b"JOB" => parse_job(rest)?,
            b"MODEM" => {
                let colon = find(rest, b":").ok_or(EventError::BadModem)?;
                let device = clean(&rest[..colon], MAX_DEVICE);
                if device.is_empty() {
                    return Err(EventError::BadModem);
                }
                (Subject::Modem { device }, trim(&rest[colon + 1..]))
            }
            b"RECV" => (
                Subject::Receive {
                    commid: commid_in(rest),
                },
                rest.strip_prefix(b"FAX:").map_or(rest, trim),
            ),
            other => (
                Subject::Other {
                    kind: clean(other, MAX_DEVICE),
                },
                rest,
            ),
        };
        let raw_text = text[..text.len().min(MAX_DETAIL * 2)].to_vec();
        Ok(Event {
            time,
            code,
            subject,
            text: clean(text, MAX_DETAIL),
            raw_text,
        })
    }

    /// The page number of a "Page N sent" line (code 119).
    pub fn page_sent(&self) -> Option<u16> {
        let at = find(&self.raw_text, b"Page ")?;
        number_at(&self.raw_text[at + 5..]).and_then(|n| u16::try_from(n).ok())
    }

    /// The page count of a received document line (code 135: "..., N pages in ...").
    pub fn pages_received(&self) -> Option<u16> {
        let at = find(&self.raw_text, b" page")?;
        let before = &self.raw_text[..at];
        let start = before
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map_or(0, |i| i + 1);
        number_at(&before[start..]).and_then(|n| u16::try_from(n).ok())
    }

    /// The file of a received document line (code 135: "..., file recvq/fax000000001.tif").
    pub fn received_file(&self) -> Option<String> {
        let at = find(&self.raw_text, b", file ")?;
        let rest = &self.raw_text[at + 7..];
        let end = rest
            .iter()
            .position(u8::is_ascii_whitespace)
            .unwrap_or(rest.len());
        Some(clean(&rest[..end], MAX_PARTY))
    }

    /// The sender's TSI of a receive line: `TSI "..."` (133) or `From TSI (com` (135).
    pub fn tsi(&self) -> Option<String> {
        let text = &self.raw_text;
        if let Some(at) = find(text, b"TSI \"") {
            let rest = &text[at + 5..];
            let end = find(rest, b"\"")?;
            return Some(clean(&rest[..end], MAX_PARTY));
        }
        let rest = text.strip_prefix(b"From ")?;
        let end = find(rest, b" (com ")?;
        Some(clean(&rest[..end], MAX_PARTY))
    }

    /// The sub-address of a receive line, where it names one (`SUB "..."`).
    pub fn subaddress(&self) -> Option<String> {
        let at = find(&self.raw_text, b"SUB \"")?;
        let rest = &self.raw_text[at + 5..];
        let end = find(rest, b"\"")?;
        Some(clean(&rest[..end], MAX_PARTY))
    }

    /// The values of a caller-id line (code 159), in the order of the
    /// modem's `CallIDPattern` entries, cleaned; `<NONE>` becomes empty.
    pub fn caller_id(&self) -> Vec<String> {
        let text = &self.raw_text;
        let Some(at) = find(text, b"information:") else {
            return Vec::new();
        };
        let list = trim(&text[at + 12..]);
        let list = list.strip_prefix(b"\"").unwrap_or(list);
        let list = list.strip_suffix(b"\"").unwrap_or(list);
        split_all(list, b"\",\"")
            .into_iter()
            .take(16)
            .map(|v| {
                if v == b"<NONE>" {
                    String::new()
                } else {
                    clean(v, MAX_PARTY)
                }
            })
            .collect()
    }
}

fn parse_job(rest: &[u8]) -> Result<(Subject, &[u8]), EventError> {
    let (id, rest) = split_word(rest);
    let id = number_at(id)
        .filter(|_| id.iter().all(u8::is_ascii_digit))
        .ok_or(EventError::BadJobId)?;
    let header = rest
        .strip_prefix(b"(dest ")
        .ok_or(EventError::BadJobHeader)?;
    let close = find(header, b"):").ok_or(EventError::BadJobHeader)?;
    let inside = &header[..close];
    let dest_end = find(inside, b" pri ").unwrap_or(inside.len());
    let commid = find(inside, b" com ").and_then(|at| number_at(trim(&inside[at + 5..])));
    Ok((
        Subject::Job {
            id,
            dest: clean(&inside[..dest_end], MAX_PARTY),
            commid,
        },
        trim(&header[close + 2..]),
    ))
}

/// The number after `(com ` in a receive line, if any.
fn commid_in(text: &[u8]) -> Option<u64> {
    let at = find(text, b"(com ")?;
    number_at(&text[at + 5..])
}

fn parse_time(word: &[u8]) -> Option<TimeOfDay> {
    if word.len() != 6 || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let two = |i: usize| (word[i] - b'0') * 10 + (word[i + 1] - b'0');
    let time = TimeOfDay {
        hour: two(0),
        minute: two(2),
        second: two(4),
    };
    (time.hour < 24 && time.minute < 60 && time.second <= 60).then_some(time)
}

fn parse_code(word: &[u8]) -> Option<u16> {
    if word.len() != 3 || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    u16::try_from(number_at(word)?).ok()
}

/// The decimal number at the start of `text` (at most 18 digits, so it fits).
fn number_at(text: &[u8]) -> Option<u64> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 18 {
        return None;
    }
    text[..digits].iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The first space-separated word and the rest (without the space).
fn split_word(text: &[u8]) -> (&[u8], &[u8]) {
    match text.iter().position(|&b| b == b' ') {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, &[]),
    }
}

fn trim(text: &[u8]) -> &[u8] {
    text.trim_ascii()
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn split_all<'a>(mut text: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(at) = find(text, sep) {
        out.push(&text[..at]);
        text = &text[at + sep.len()..];
    }
    out.push(text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Event {
        Event::parse(line.as_bytes()).unwrap()
    }

    #[test]
    fn job_lines_name_the_job_destination_and_commid() {
        let e = parse(
            "024325 126 JOB 1 (dest 5550001 pri 127 com 000000001): SEND FAX: Job completed successfully",
        );
        assert_eq!(e.code, codes::SEND_DONE);
        assert_eq!(e.time.seconds(), 2 * 3600 + 43 * 60 + 25);
        assert_eq!(
            e.subject,
            Subject::Job {
                id: 1,
                dest: "5550001".into(),
                commid: Some(1)
            }
        );
        assert_eq!(e.text, "SEND FAX: Job completed successfully");
        let created = parse("024252 100 JOB 1 (dest  pri 127 com ): Created");
        assert_eq!(
            created.subject,
            Subject::Job {
                id: 1,
                dest: String::new(),
                commid: None
            }
        );
    }

    #[test]
    fn page_lines_give_the_page_number() {
        let e = parse(
            "024322 119 JOB 1 (dest 5550001 pri 127 com ): SEND FAX: Page 2 sent in 0:00:00 (file docq/doc1.tif;c0) <INF, 3.85 line/mm, 2-D MMR, 14400 bit/s, 0 ms/scanline>",
        );
        assert_eq!(e.page_sent(), Some(2));
    }

    #[test]
    fn receive_lines_give_commid_tsi_and_pages() {
        let start = parse(
            "024314 133 RECV FAX: Session started (com 000000002), TSI \"+1 555 0100\" <A4, , 2-D MMR, 0 bit/s, 40 ms/scanline>",
        );
        assert_eq!(start.subject, Subject::Receive { commid: Some(2) });
        assert_eq!(start.tsi().as_deref(), Some("+1 555 0100"));
        let doc = parse(
            "024324 135 RECV FAX: From IAXmodem (com 000000002), 2 pages in 0:00:18, file recvq/fax000000001.tif",
        );
        assert_eq!(doc.subject, Subject::Receive { commid: Some(2) });
        assert_eq!(doc.pages_received(), Some(2));
        assert_eq!(doc.tsi().as_deref(), Some("IAXmodem"));
        assert_eq!(
            doc.received_file().as_deref(),
            Some("recvq/fax000000001.tif")
        );
        assert_eq!(start.received_file(), None);
        assert_eq!(parse("024324 136 RECV FAX: Call ended").text, "Call ended");
    }

    #[test]
    fn modem_lines_and_caller_id() {
        let e = parse(
            "024302 159 MODEM ttyIAX1: Caller-id information: \"5550000\",\"Modem 0\",\"<NONE>\",\"5550001\"",
        );
        assert_eq!(
            e.subject,
            Subject::Modem {
                device: "ttyIAX1".into()
            }
        );
        assert_eq!(e.caller_id(), vec!["5550000", "Modem 0", "", "5550001"]);
        assert_eq!(
            parse("024333 151 MODEM ttyIAX1: Marked ready").text,
            "Marked ready"
        );
    }

    #[test]
    fn broken_lines_are_typed_errors() {
        let err = |s: &str| Event::parse(s.as_bytes()).unwrap_err();
        assert_eq!(err(""), EventError::BadTime);
        assert_eq!(err("99 100 JOB 1"), EventError::BadTime);
        assert_eq!(err("250000 100 JOB 1"), EventError::BadTime);
        assert_eq!(err("024252 1x0 JOB 1"), EventError::BadCode);
        assert_eq!(err("024252 100 JOB x (dest"), EventError::BadJobId);
        assert_eq!(err("024252 100 JOB 1 dest"), EventError::BadJobHeader);
        assert_eq!(err("024252 151 MODEM :x"), EventError::BadModem);
        assert_eq!(
            parse("024252 137 POLL something").subject,
            Subject::Other {
                kind: "POLL".into()
            }
        );
    }

    #[test]
    fn hostile_text_is_escaped() {
        let e =
            parse("024302 159 MODEM ttyIAX1: Caller-id information: \"\x1b[2J\",\"a\u{202e}b\"");
        assert_eq!(e.caller_id(), vec!["\\u{1b}[2J", "a\\u{202e}b"]);
    }
}

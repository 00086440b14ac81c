//! Notification payloads (spec section 7) and their forward-compatible decoding [N-1].

use std::fmt;
use std::ops::Range;

use bytes::{Buf, BufMut, Bytes};

use super::MAX_PAYLOAD_LEN;
use super::MAX_STR_LEN;
use super::codes::{FrameType, NotificationKind};
use super::encode::put_str;
use super::error::{DecodeError, EncodeError};
use super::reader::BodyReader;
use super::text::{INLINE_LEN, Text};
use super::utc::UtcMillis;

/// Declares an enum carried in a notification payload: known values get a
/// variant, any other value passes through as `Other(n)` [N-1].
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version does not know, passed through unchanged.
            Other(u8),
        }

        impl $name {
            /// The value for a wire byte; unknown bytes become `Other`.
            pub const fn from_wire(value: u8) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Other(other),
                }
            }

            /// The wire byte.
            pub const fn to_wire(self) -> u8 {
                match self {
                    $( $name::$variant => $value, )+
                    $name::Other(other) => other,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $( $name::$variant => f.write_str($label), )+
                    $name::Other(n) => write!(f, "state {n}"),
                }
            }
        }
    };
}

open_enum! {
    /// JOB_STATUS.state.
    JobState {
        /// Waiting to be sent.
        Queued = 0 => "queued",
        /// Dialling the recipient.
        Dialing = 1 => "dialing",
        /// Sending pages.
        Sending = 2 => "sending",
        /// Sent.
        Completed = 3 => "completed",
        /// Gave up.
        Failed = 4 => "failed",
        /// Will try again.
        Retrying = 5 => "retrying",
        /// Cancelled by a user.
        Cancelled = 6 => "cancelled",
        /// Held back (e.g. by a policy).
        Blocked = 7 => "blocked",
    }
}

open_enum! {
    /// DEVICE_STATUS.state.
    DeviceState {
        /// Ready.
        Up = 0 => "up",
        /// Out of service.
        Down = 1 => "down",
        /// In a call.
        Busy = 2 => "busy",
    }
}

open_enum! {
    /// FAX_UPDATED.change.
    FaxChange {
        /// Marked as seen.
        Seen = 0 => "seen",
        /// Deleted.
        Deleted = 1 => "deleted",
        /// Commented.
        Commented = 2 => "commented",
    }
}

/// FAX_RECEIVED (kind 1).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FaxReceived {
    /// The server's job number.
    pub job: u64,
    /// Caller id or TSI.
    pub from: Text,
    /// DID or recipient.
    pub to: Text,
    /// Number of pages.
    pub pages: u16,
    /// When it arrived, in Unix milliseconds.
    pub received_at_ms: u64,
}

/// JOB_STATUS (kind 2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct JobStatus {
    /// The job number.
    pub job: u64,
    /// The job's new state.
    pub state: JobState,
    /// The page being sent.
    pub page: u16,
    /// Total pages.
    pub pages: u16,
    /// Attempt number.
    pub attempt: u16,
    /// Human-readable detail.
    pub detail: Text,
}

/// SERVER_MESSAGE (kind 3).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ServerMessage {
    /// The message.
    pub text: Text,
}

/// DEVICE_STATUS (kind 4).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeviceStatus {
    /// The device (e.g. a modem's tty).
    pub device: Text,
    /// Its new state.
    pub state: DeviceState,
    /// Human-readable detail.
    pub detail: Text,
}

/// FAX_UPDATED (kind 5).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FaxUpdated {
    /// The received fax's job number.
    pub job: u64,
    /// What changed.
    pub change: FaxChange,
    /// Who changed it.
    pub by: Text,
    /// The comment, if any.
    pub comment: Text,
}

/// Why a known kind's payload did not parse (it is then delivered raw [N-1]).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload ends inside `field`.
    #[error("payload ends inside {field}")]
    Truncated {
        /// The field that did not fit.
        field: &'static str,
    },
    /// A string field is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The offending field.
        field: &'static str,
    },
    /// A string field over 4 096 bytes.
    #[error("{field} is {len} bytes long; strings are at most 4096 bytes")]
    StringTooLong {
        /// The offending field.
        field: &'static str,
        /// Its declared length.
        len: usize,
    },
}

impl From<DecodeError> for PayloadError {
    fn from(err: DecodeError) -> Self {
        match err {
            DecodeError::InvalidUtf8 { field, .. } => PayloadError::InvalidUtf8 { field },
            DecodeError::StringTooLong { field, len, .. } => {
                PayloadError::StringTooLong { field, len }
            }
            DecodeError::Truncated { field, .. } => PayloadError::Truncated { field },
            // The payload reader only reads integers and strings.
            _ => PayloadError::Truncated { field: "payload" },
        }
    }
}

/// One notification, as the application sees it.
///
/// Decoding never fails [N-1]: an unknown kind comes out as
/// [`Notification::Unknown`], a known kind whose payload does not parse as
/// [`Notification::Malformed`] (both with the raw bytes), bytes after the
/// known fields are ignored, and unknown enum values pass through as numbers.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Notification {
    /// Kind 1.
    FaxReceived(FaxReceived),
    /// Kind 2.
    JobStatus(JobStatus),
    /// Kind 3.
    ServerMessage(ServerMessage),
    /// Kind 4.
    DeviceStatus(DeviceStatus),
    /// Kind 5.
    FaxUpdated(FaxUpdated),
    /// A kind this version does not know, with its payload as received.
    Unknown {
        /// The kind byte.
        kind: u8,
        /// The payload, unparsed.
        payload: Bytes,
    },
    /// A known kind whose payload did not parse, with the payload as received.
    Malformed {
        /// The kind.
        kind: NotificationKind,
        /// The payload, unparsed.
        payload: Bytes,
        /// Why it did not parse.
        error: PayloadError,
    },
}

impl Notification {
    /// The kind byte NOTIFY carries for this notification.
    pub fn kind(&self) -> u8 {
        match self {
            Notification::FaxReceived(_) => NotificationKind::FaxReceived.to_wire(),
            Notification::JobStatus(_) => NotificationKind::JobStatus.to_wire(),
            Notification::ServerMessage(_) => NotificationKind::ServerMessage.to_wire(),
            Notification::DeviceStatus(_) => NotificationKind::DeviceStatus.to_wire(),
            Notification::FaxUpdated(_) => NotificationKind::FaxUpdated.to_wire(),
            Notification::Unknown { kind, .. } => *kind,
            Notification::Malformed { kind, .. } => kind.to_wire(),
        }
    }

    /// Whether this came out raw (unknown kind or unparseable payload).
    pub fn is_raw(&self) -> bool {
        matches!(
            self,
            Notification::Unknown { .. } | Notification::Malformed { .. }
        )
    }

    /// A server message (kind 3).
    pub fn server_message(text: impl Into<Text>) -> Self {
        Notification::ServerMessage(ServerMessage { text: text.into() })
    }

    /// Decodes a NOTIFY payload, copying it once. Never fails: see the
    /// type's documentation.
    pub fn decode(kind: u8, payload: &[u8]) -> Notification {
        Self::decode_bytes(kind, Bytes::copy_from_slice(payload))
    }

    /// Decodes a NOTIFY payload held in shared bytes: string fields and raw
    /// payloads are slices of `payload`, so nothing is copied or allocated.
    /// Never fails: see the type's documentation.
    pub fn decode_bytes(kind: u8, payload: Bytes) -> Notification {
        let Some(known) = NotificationKind::from_wire(kind) else {
            return Notification::Unknown { kind, payload };
        };
        match Self::parse_known(known, &payload, true) {
            Ok(fields) => fields.build_shared(payload),
            Err(error) => Notification::Malformed {
                kind: known,
                payload,
                error,
            },
        }
    }

    /// Decodes a NOTIFY payload whose strings are all short enough to be
    /// held in place (see [`Text`]), copying them out of `payload`: the
    /// notification then keeps no reference to the received bytes, so the
    /// client need not split them off (an atomic reference count to take,
    /// and one to drop with each string). `None` for anything else (an
    /// unknown kind, a malformed payload, a longer or non-UTF-8 string),
    /// which [`Notification::decode_bytes`] then decodes. The notification
    /// is written into `decoded` (`true`), built where it is to be (see
    /// [`Fields::build_in_place`]); on `false` `decoded` holds what it held
    /// before or `None`.
    ///
    /// The payload is `received[..len]`; whatever `received` holds after
    /// it (the next frames of a read) lets a short string be copied as a
    /// fixed 20 bytes, which is faster (see [`Text`]'s `inline`), and does
    /// not change what is decoded.
    pub(crate) fn decode_in_place(
        kind: u8,
        received: &[u8],
        len: usize,
        decoded: &mut Option<Notification>,
    ) -> bool {
        let Some(known) = NotificationKind::from_wire(kind) else {
            return false;
        };
        // A payload too long for all its strings to fit is not parsed twice.
        let (fixed, strings) = layout(known);
        if len > fixed + strings * (2 + INLINE_LEN) {
            return false;
        }
        // No UTF-8 check while parsing: holding a text in place checks it.
        let Some(Ok(fields)) = received
            .get(..len)
            .map(|payload| Self::parse_known(known, payload, false))
        else {
            return false;
        };
        if fields.build_in_place(received, decoded) {
            return true;
        }
        // A part was written: the caller decodes it the other way.
        *decoded = None;
        false
    }

    /// Reads a known kind's fields, its strings as ranges of the payload.
    /// With `check_utf8` their UTF-8 is checked here, so that
    /// [`Fields::build_shared`] cannot fail and can hand the payload's own
    /// handle to the last string; without, [`Fields::build_in_place`]
    /// checks each string as it copies it.
    // Inlined into both callers: the parsed fields then need no moving.
    #[inline(always)]
    fn parse_known(
        kind: NotificationKind,
        payload: &[u8],
        check_utf8: bool,
    ) -> Result<Fields, PayloadError> {
        // The reader's errors name NOTIFY; they are converted to PayloadError.
        let mut r = BodyReader::new(FrameType::Notify, payload);
        let text = |r: &mut BodyReader<'_>, field: &'static str| {
            let raw = r.str_bytes(field)?;
            // `build` makes a `Text` of it, which checks UTF-8 (the only
            // way to make one without `unsafe`): checked here too only when
            // that check could fail, so the usual ASCII text is validated
            // once, not twice.
            if check_utf8 && !raw.is_ascii() {
                std::str::from_utf8(raw).map_err(|_| PayloadError::InvalidUtf8 { field })?;
            }
            let start = raw.as_ptr() as usize - payload.as_ptr() as usize;
            Ok::<_, PayloadError>(start..start + raw.len())
        };
        // Bytes after the known fields are ignored [N-1]: no `finish()`.
        Ok(match kind {
            NotificationKind::FaxReceived => Fields::FaxReceived {
                job: r.u64("job")?,
                from: text(&mut r, "from")?,
                to: text(&mut r, "to")?,
                pages: r.u16("pages")?,
                received_at_ms: r.u64("received_at_ms")?,
            },
            NotificationKind::JobStatus => Fields::JobStatus {
                job: r.u64("job")?,
                state: JobState::from_wire(r.u8("state")?),
                page: r.u16("page")?,
                pages: r.u16("pages")?,
                attempt: r.u16("attempt")?,
                detail: text(&mut r, "detail")?,
            },
            NotificationKind::ServerMessage => Fields::ServerMessage {
                text: text(&mut r, "text")?,
            },
            NotificationKind::DeviceStatus => Fields::DeviceStatus {
                device: text(&mut r, "device")?,
                state: DeviceState::from_wire(r.u8("state")?),
                detail: text(&mut r, "detail")?,
            },
            NotificationKind::FaxUpdated => Fields::FaxUpdated {
                job: r.u64("job")?,
                change: FaxChange::from_wire(r.u8("change")?),
                by: text(&mut r, "by")?,
                comment: text(&mut r, "comment")?,
            },
        })
    }

    /// The strings of this notification with their field names, for validation.
    fn strings(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let list: [Option<(&'static str, &str)>; 2] = match self {
            Notification::FaxReceived(n) => [Some(("from", &n.from)), Some(("to", &n.to))],
            Notification::JobStatus(n) => [Some(("detail", &n.detail)), None],
            Notification::ServerMessage(n) => [Some(("text", &n.text)), None],
            Notification::DeviceStatus(n) => {
                [Some(("device", &n.device)), Some(("detail", &n.detail))]
            }
            Notification::FaxUpdated(n) => [Some(("by", &n.by)), Some(("comment", &n.comment))],
            Notification::Unknown { .. } | Notification::Malformed { .. } => [None, None],
        };
        list.into_iter().flatten()
    }

    /// Length of the fixed-size fields of the payload (all but the strings).
    fn fixed_len(&self) -> usize {
        match self {
            Notification::Unknown { payload, .. } | Notification::Malformed { payload, .. } => {
                payload.len()
            }
            Notification::FaxReceived(_) => layout(NotificationKind::FaxReceived).0,
            Notification::JobStatus(_) => layout(NotificationKind::JobStatus).0,
            Notification::ServerMessage(_) => layout(NotificationKind::ServerMessage).0,
            Notification::DeviceStatus(_) => layout(NotificationKind::DeviceStatus).0,
            Notification::FaxUpdated(_) => layout(NotificationKind::FaxUpdated).0,
        }
    }

    /// Length of the encoded payload.
    pub fn payload_len(&self) -> usize {
        let strings: usize = self.strings().map(|(_, s)| 2 + s.len()).sum();
        strings + self.fixed_len()
    }

    /// Length of the encoded payload, or why no NOTIFY can carry it (a
    /// string over 4 096 bytes, a payload over 65 523 bytes): the checks
    /// and the length in one pass over the strings.
    pub fn checked_payload_len(&self) -> Result<usize, EncodeError> {
        let mut len = self.fixed_len();
        for (field, s) in self.strings() {
            if s.len() > MAX_STR_LEN {
                return Err(EncodeError::StringTooLong {
                    field,
                    len: s.len(),
                });
            }
            len += 2 + s.len();
        }
        if len > MAX_PAYLOAD_LEN {
            return Err(EncodeError::PayloadTooLarge { len });
        }
        Ok(len)
    }

    /// Appends the payload (the bytes NOTIFY's blob carries). Refuses strings
    /// over 4 096 bytes and payloads over 65 523 bytes; on error nothing is written.
    pub fn encode_payload(&self, out: &mut impl BufMut) -> Result<(), EncodeError> {
        self.checked_payload_len()?;
        self.write_payload(out);
        Ok(())
    }

    /// Appends the payload, whose length [`Notification::checked_payload_len`]
    /// has accepted.
    pub(super) fn write_payload(&self, out: &mut impl BufMut) {
        match self {
            Notification::FaxReceived(n) => {
                out.put_u64(n.job);
                put_str(out, &n.from);
                put_str(out, &n.to);
                out.put_u16(n.pages);
                out.put_u64(n.received_at_ms);
            }
            Notification::JobStatus(n) => {
                out.put_u64(n.job);
                out.put_u8(n.state.to_wire());
                out.put_u16(n.page);
                out.put_u16(n.pages);
                out.put_u16(n.attempt);
                put_str(out, &n.detail);
            }
            Notification::ServerMessage(n) => put_str(out, &n.text),
            Notification::DeviceStatus(n) => {
                put_str(out, &n.device);
                out.put_u8(n.state.to_wire());
                put_str(out, &n.detail);
            }
            Notification::FaxUpdated(n) => {
                out.put_u64(n.job);
                out.put_u8(n.change.to_wire());
                put_str(out, &n.by);
                put_str(out, &n.comment);
            }
            Notification::Unknown { payload, .. } | Notification::Malformed { payload, .. } => {
                out.put_slice(payload)
            }
        }
    }

    /// The encoded payload as shareable bytes (encode once, queue to many sessions).
    pub fn to_payload(&self) -> Result<Bytes, EncodeError> {
        let mut out = Vec::with_capacity(self.payload_len());
        self.encode_payload(&mut out)?;
        Ok(Bytes::from(out))
    }
}

/// A known kind's payload layout: the length of its fixed-size fields, and
/// its number of strings (each after a 2-byte length).
#[inline]
const fn layout(kind: NotificationKind) -> (usize, usize) {
    match kind {
        NotificationKind::FaxReceived => (8 + 2 + 8, 2),
        NotificationKind::JobStatus => (8 + 1 + 2 + 2 + 2, 1),
        NotificationKind::ServerMessage => (0, 1),
        NotificationKind::DeviceStatus => (1, 2),
        NotificationKind::FaxUpdated => (8 + 1, 2),
    }
}

/// A known kind's fields as parsed, strings as ranges of the payload
/// (their UTF-8 checked unless they are to be held in place, see
/// [`Notification::parse_known`]).
enum Fields {
    FaxReceived {
        job: u64,
        from: Range<usize>,
        to: Range<usize>,
        pages: u16,
        received_at_ms: u64,
    },
    JobStatus {
        job: u64,
        state: JobState,
        page: u16,
        pages: u16,
        attempt: u16,
        detail: Range<usize>,
    },
    ServerMessage {
        text: Range<usize>,
    },
    DeviceStatus {
        device: Range<usize>,
        state: DeviceState,
        detail: Range<usize>,
    },
    FaxUpdated {
        job: u64,
        change: FaxChange,
        by: Range<usize>,
        comment: Range<usize>,
    },
}

impl Fields {
    /// The notification, its strings slices of `payload`: the last one
    /// takes `payload`'s own handle, the others are clones of it (every
    /// clone of shared bytes is an atomic reference count, so one fewer
    /// matters on the client's hot path).
    // Not one builder with `build_in_place` taking a closure for the
    // strings: that cost this path ~50 instructions per notification
    // (callgrind, client_steps).
    fn build_shared(self, payload: Bytes) -> Notification {
        match self {
            Fields::FaxReceived {
                job,
                from,
                to,
                pages,
                received_at_ms,
            } => Notification::FaxReceived(FaxReceived {
                job,
                from: slice(&payload, from),
                to: take(payload, to),
                pages,
                received_at_ms,
            }),
            Fields::JobStatus {
                job,
                state,
                page,
                pages,
                attempt,
                detail,
            } => Notification::JobStatus(JobStatus {
                job,
                state,
                page,
                pages,
                attempt,
                detail: take(payload, detail),
            }),
            Fields::ServerMessage { text } => Notification::ServerMessage(ServerMessage {
                text: take(payload, text),
            }),
            Fields::DeviceStatus {
                device,
                state,
                detail,
            } => Notification::DeviceStatus(DeviceStatus {
                device: slice(&payload, device),
                state,
                detail: take(payload, detail),
            }),
            Fields::FaxUpdated {
                job,
                change,
                by,
                comment,
            } => Notification::FaxUpdated(FaxUpdated {
                job,
                change,
                by: slice(&payload, by),
                comment: take(payload, comment),
            }),
        }
    }

    /// The notification written into `decoded`, its strings copied out of
    /// `received` (the payload and any bytes after it) and held in place;
    /// `false` when one does not fit or is not UTF-8 (`decoded` is then
    /// left holding a part, which the caller clears).
    ///
    /// Written where it goes, its strings filled in there: a notification
    /// built on the stack and then moved is read back by wide loads right
    /// after its fields were written by narrower stores, and each such
    /// load stalls until those stores land (store-to-load forwarding).
    #[inline(always)]
    fn build_in_place(self, received: &[u8], decoded: &mut Option<Notification>) -> bool {
        let empty = Text::inline_empty;
        match self {
            Fields::FaxReceived {
                job,
                from,
                to,
                pages,
                received_at_ms,
            } => {
                let n = decoded.insert(Notification::FaxReceived(FaxReceived {
                    job,
                    from: empty(),
                    to: empty(),
                    pages,
                    received_at_ms,
                }));
                let Notification::FaxReceived(n) = n else {
                    return false;
                };
                n.from.fill_inline(received, from) && n.to.fill_inline(received, to)
            }
            Fields::JobStatus {
                job,
                state,
                page,
                pages,
                attempt,
                detail,
            } => {
                let n = decoded.insert(Notification::JobStatus(JobStatus {
                    job,
                    state,
                    page,
                    pages,
                    attempt,
                    detail: empty(),
                }));
                let Notification::JobStatus(n) = n else {
                    return false;
                };
                n.detail.fill_inline(received, detail)
            }
            Fields::ServerMessage { text } => {
                let n =
                    decoded.insert(Notification::ServerMessage(ServerMessage { text: empty() }));
                let Notification::ServerMessage(n) = n else {
                    return false;
                };
                n.text.fill_inline(received, text)
            }
            Fields::DeviceStatus {
                device,
                state,
                detail,
            } => {
                let n = decoded.insert(Notification::DeviceStatus(DeviceStatus {
                    device: empty(),
                    state,
                    detail: empty(),
                }));
                let Notification::DeviceStatus(n) = n else {
                    return false;
                };
                n.device.fill_inline(received, device) && n.detail.fill_inline(received, detail)
            }
            Fields::FaxUpdated {
                job,
                change,
                by,
                comment,
            } => {
                let n = decoded.insert(Notification::FaxUpdated(FaxUpdated {
                    job,
                    change,
                    by: empty(),
                    comment: empty(),
                }));
                let Notification::FaxUpdated(n) = n else {
                    return false;
                };
                n.by.fill_inline(received, by) && n.comment.fill_inline(received, comment)
            }
        }
    }
}

/// A checked string range of `payload`, as a shared slice.
#[inline]
fn slice(payload: &Bytes, range: Range<usize>) -> Text {
    // `Bytes::slice` sets the range on its clone directly (no second
    // truncate and advance as `take` needs on a handle it does not copy).
    Text::from_utf8(payload.slice(range)).unwrap_or_default()
}

/// A checked string range of `payload`, keeping `payload`'s handle.
#[inline]
fn take(mut payload: Bytes, range: Range<usize>) -> Text {
    payload.truncate(range.end);
    payload.advance(range.start);
    // The range was checked for UTF-8 when parsed; an empty text is only a
    // fallback that cannot happen.
    Text::from_utf8(payload).unwrap_or_default()
}

/// An optional free-text field at the end of a line: quoted (escaping any
/// control character), or nothing at all when empty, not `""`.
fn free_text(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    if text.is_empty() {
        Ok(())
    } else {
        write!(f, ": {text:?}")
    }
}

/// A one-line, human-readable rendering.
impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notification::FaxReceived(n) => write!(
                f,
                "fax received: job {} from {:?} to {:?}, {} page(s), at {}",
                n.job,
                n.from,
                n.to,
                n.pages,
                UtcMillis(n.received_at_ms)
            ),
            Notification::JobStatus(n) => {
                write!(
                    f,
                    "job {} {}: page {}/{}, attempt {}",
                    n.job, n.state, n.page, n.pages, n.attempt
                )?;
                free_text(f, &n.detail)
            }
            Notification::ServerMessage(n) => write!(f, "server message: {:?}", n.text),
            Notification::DeviceStatus(n) => {
                write!(f, "device {:?} {}", n.device, n.state)?;
                free_text(f, &n.detail)
            }
            Notification::FaxUpdated(n) => {
                write!(f, "fax {} {} by {:?}", n.job, n.change, n.by)?;
                free_text(f, &n.comment)
            }
            Notification::Unknown { kind, payload } => write!(
                f,
                "unknown notification kind {kind} ({} bytes)",
                payload.len()
            ),
            Notification::Malformed {
                kind,
                payload,
                error,
            } => write!(f, "malformed {kind} ({} bytes): {error}", payload.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_free_text_is_left_out() {
        let mut n = DeviceStatus {
            device: "ttyS0".into(),
            state: DeviceState::Up,
            detail: Text::new(),
        };
        let line = Notification::DeviceStatus(n.clone()).to_string();
        assert_eq!(line, "device \"ttyS0\" up");
        n.detail = "ready".into();
        let line = Notification::DeviceStatus(n).to_string();
        assert_eq!(line, "device \"ttyS0\" up: \"ready\"");
    }
}

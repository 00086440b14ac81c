//! Exactly-once, in-order delivery of notifications [B-2] [B-3] and
//! cumulative, coalesced acknowledgement.

use crate::ConnId;
use crate::wire::{Notification, SharedNotify};

use super::Client;
use super::events::{Event, ProtocolError};

/// The client's side of a session's sequence numbers.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    /// The highest seq handed to the application in this session.
    last: u64,
}

/// What to do with a NOTIFY's seq.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Verdict {
    /// The next one: deliver it.
    Deliver,
    /// Already delivered: acknowledge again, do not deliver [B-3].
    Duplicate,
    /// Skips ahead: UNEXPECTED_FRAME [B-3].
    Gap {
        /// The seq that would have been next.
        expected: u64,
    },
}

impl Delivery {
    pub(crate) fn check(&self, seq: u64) -> Verdict {
        if seq <= self.last {
            Verdict::Duplicate
        } else if seq == self.last + 1 {
            Verdict::Deliver
        } else {
            Verdict::Gap {
                expected: self.last + 1,
            }
        }
    }

    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// A new session starts at 0 [B-2].
    pub(crate) fn reset(&mut self) {
        self.last = 0;
    }
}

/// An ACK owed on one connection for the NOTIFYs of the current read,
/// sent once for a run of NOTIFYs rather than once per NOTIFY.
#[derive(Debug, Default)]
pub(crate) struct PendingAck(Option<u64>);

impl PendingAck {
    /// Whether an ACK is owed.
    pub(crate) fn is_owed(&self) -> bool {
        self.0.is_some()
    }
}

impl Client {
    /// Delivers (or recognises as a duplicate) one NOTIFY and records the
    /// ACK it needs. The notification's strings are held in place or are
    /// slices of the received bytes, so delivering allocates nothing; a
    /// NOTIFY without a payload was decoded into `decoded` by the decoder.
    pub(super) fn accept_notify(
        &mut self,
        notify: SharedNotify,
        decoded: &mut Option<Notification>,
        ack: &mut PendingAck,
    ) -> Result<(), ProtocolError> {
        match self.delivery.check(notify.seq) {
            Verdict::Deliver => {
                let (seq, kind) = (notify.seq, notify.kind);
                let notification = notify.notification(decoded);
                self.delivery.last = seq;
                tracing::trace!(seq, kind, "notification delivered");
                self.out.event(Event::Notification { seq, notification });
            }
            Verdict::Duplicate => {
                tracing::debug!(
                    seq = notify.seq,
                    last = self.delivery.last,
                    "duplicate NOTIFY acknowledged again, not redelivered"
                );
            }
            Verdict::Gap { expected } => {
                return Err(ProtocolError::SequenceGap {
                    expected,
                    received: notify.seq,
                });
            }
        }
        // Cumulative: everything up to the last delivered seq.
        ack.0 = Some(self.delivery.last);
        Ok(())
    }

    /// Sends the owed ACK, if any, on `conn`.
    pub(super) fn flush_ack(&mut self, conn: ConnId, ack: &mut PendingAck) {
        if let Some(seq) = ack.0.take() {
            self.out.ack(conn, seq);
        }
    }
}

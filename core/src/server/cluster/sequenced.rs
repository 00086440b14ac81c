//! Notifications from the shared log, each with the session seq the log
//! gives it [D-17], so that every server reading the log numbers a
//! session's notifications alike and contiguously [B-2].

use std::time::Instant;

use bytes::Bytes;

use super::Sequenced;
use crate::SessionId;
use crate::server::Server;
use crate::server::delivery::PushAt;
use crate::server::errors::{Refused, SeqError};
use crate::server::events::Event;
use crate::wire::MAX_PAYLOAD_LEN;

impl Server {
    /// Queues a notification from the shared log for one session at `seq`,
    /// which must be exactly the session's next seq (its newest + 1), and
    /// sends it where a path is up [D-17].
    ///
    /// A seq at or below what the session has acknowledged is ignored
    /// ([`Sequenced::AlreadyAcknowledged`]): the log is read from a
    /// persisted acknowledgement that may lag. A seq the client said it had
    /// from the session's previous server is reported delivered at once
    /// ([`Sequenced::DeliveredBefore`]). A gap or a repeat is
    /// [`SeqError::Gap`] / [`SeqError::Repeat`] and changes nothing; a full
    /// queue is [`Refused::QueueFull`]: the reader pauses and gives the
    /// same seq again after [`Event::Delivered`] frees room.
    pub fn notify_session_at(
        &mut self,
        now: Instant,
        session: SessionId,
        seq: u64,
        kind: u8,
        payload: Bytes,
    ) -> Result<Sequenced, SeqError> {
        if self.config.cluster.is_none() {
            return Err(SeqError::NotClustered);
        }
        if !self.cluster.bus_available {
            return Err(Refused::BusUnavailable.into());
        }
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(Refused::PayloadTooLarge { len: payload.len() }.into());
        }
        let limit = self.config.queue_limit;
        let key = self.sessions.key(session).ok_or(Refused::NoSuchSession)?;
        match self.sessions[key]
            .delivery
            .push_at(seq, kind, payload, limit)
        {
            PushAt::Queued => {
                self.pump(now, session);
                Ok(Sequenced::Queued)
            }
            PushAt::AlreadyAcked => Ok(Sequenced::AlreadyAcknowledged),
            PushAt::AckedOnArrival => {
                self.out.event(Event::Delivered {
                    session,
                    first_seq: seq,
                    last_seq: seq,
                });
                Ok(Sequenced::DeliveredBefore)
            }
            PushAt::Full => Err(Refused::QueueFull { limit }.into()),
            PushAt::Gap { expected } => Err(SeqError::Gap { expected, got: seq }),
            PushAt::Repeat { expected } => Err(SeqError::Repeat { expected, got: seq }),
        }
    }
}

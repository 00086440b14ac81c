//! Notifications from the shared log, each with the session seq the log
//! gives it [D-17], so that every server reading the log numbers a
//! session's notifications alike and contiguously [B-2]: one at a time, or
//! a run of consecutive seqs (one log message's worth) in one call, so that
//! the application pays one hand-over per message, not per notification.

use std::time::Instant;

use bytes::Bytes;

use super::{RunSequenced, Sequenced};
use crate::SessionId;
use crate::server::Server;
use crate::server::delivery::PushAt;
use crate::server::errors::{Refused, RunError, SeqError};
use crate::server::events::Event;
use crate::wire::{EncodedNotification, MAX_PAYLOAD_LEN};

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
        // Refused as a run of it would be: what holds for every
        // notification first, then this one's size.
        self.sequenced_key(session)?;
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(Refused::PayloadTooLarge { len: payload.len() }.into());
        }
        let notification = EncodedNotification::checked(kind, payload);
        let done = self
            .notify_session_run_at(now, session, seq, std::slice::from_ref(&notification))
            .map_err(|stopped| stopped.error)?;
        Ok(if done.delivered_before > 0 {
            Sequenced::DeliveredBefore
        } else if done.already_acknowledged > 0 {
            Sequenced::AlreadyAcknowledged
        } else {
            Sequenced::Queued
        })
    }

    /// Queues a run of notifications from the shared log for one session
    /// at consecutive seqs `first_seq`, `first_seq + 1`, …, and sends them
    /// where a path is up [D-17]: what [`Server::notify_session_at`] does
    /// for each, in order, in one call. Each is queued as a clone: a small
    /// payload held inline is copied with no allocation (decode the log
    /// with [`EncodedNotification::from_slice`]), a larger one shared.
    ///
    /// All or a prefix: the run is taken in order until a notification is
    /// refused for the reason `notify_session_at` would refuse it (full
    /// queue, gap, repeat, …). What came before it
    /// stays taken, nothing after it is looked at, and the error says how
    /// many were taken ([`RunError::taken`]), so the caller offers the rest
    /// again from `first_seq + taken` (after [`Event::Delivered`] freed
    /// room, for [`Refused::QueueFull`]). The seqs the client already had
    /// from the session's previous server are reported in one
    /// [`Event::Delivered`] for the range.
    pub fn notify_session_run_at(
        &mut self,
        now: Instant,
        session: SessionId,
        first_seq: u64,
        run: &[EncodedNotification],
    ) -> Result<RunSequenced, RunError> {
        let key = self
            .sequenced_key(session)
            .map_err(|error| RunError { taken: 0, error })?;
        let limit = self.config.queue_limit;
        let delivery = &mut self.sessions[key].delivery;
        let mut done = RunSequenced::default();
        // The seqs acknowledged on arrival: consecutive, before any queued.
        let mut delivered: Option<(u64, u64)> = None;
        let mut stopped = None;
        for (i, notification) in run.iter().enumerate() {
            // Not `(first_seq..).zip(run)`: a range at u64::MAX overflows.
            let Some(seq) = first_seq.checked_add(i as u64) else {
                stopped = Some(SeqError::PastEnd { got: u64::MAX });
                break;
            };
            match delivery.push_at(seq, notification.clone(), limit) {
                PushAt::Queued => done.queued += 1,
                PushAt::AlreadyAcked => done.already_acknowledged += 1,
                PushAt::AckedOnArrival => {
                    done.delivered_before += 1;
                    let first = delivered.map_or(seq, |(first, _)| first);
                    delivered = Some((first, seq));
                }
                PushAt::Full => {
                    stopped = Some(Refused::QueueFull { limit }.into());
                    break;
                }
                PushAt::Gap { expected } => {
                    stopped = Some(SeqError::Gap { expected, got: seq });
                    break;
                }
                PushAt::Repeat { expected } => {
                    stopped = Some(SeqError::Repeat { expected, got: seq });
                    break;
                }
                PushAt::PastEnd => {
                    stopped = Some(SeqError::PastEnd { got: seq });
                    break;
                }
            }
        }
        if let Some((first_seq, last_seq)) = delivered {
            self.out.event(Event::Delivered {
                session,
                first_seq,
                last_seq,
            });
        }
        if done.queued > 0 {
            // Once for the run: the window takes what it has room for.
            self.pump(now, session);
        }
        match stopped {
            None => Ok(done),
            Some(error) => Err(RunError {
                taken: done.taken(),
                error,
            }),
        }
    }

    /// The table key of `session` if it can take notifications from the
    /// log at all: cluster mode, the bus up, the session held here.
    fn sequenced_key(&self, session: SessionId) -> Result<usize, SeqError> {
        if self.config.cluster.is_none() {
            return Err(SeqError::NotClustered);
        }
        if !self.cluster.bus_available {
            return Err(Refused::BusUnavailable.into());
        }
        self.sessions
            .key(session)
            .ok_or(Refused::NoSuchSession.into())
    }
}

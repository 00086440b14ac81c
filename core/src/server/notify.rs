//! The application's notifications: queueing per session [B-6], windowed
//! pipelined sending on the active path [B-4], and cumulative ACKs [B-2] [D-9].

use std::time::Instant;

use bytes::Bytes;

use super::Server;
use super::delivery::Delivery;
use super::errors::{NotifyError, Refused};
use super::events::Event;
use super::session::{DeliveryPath, Session};
use super::target::{Accepted, NotifyReport, NotifySummary, Target};
use crate::wire::{EncodedNotification, MAX_PAYLOAD_LEN, Notification};
use crate::{ConnId, SessionId};

impl Server {
    /// Queues a notification for every session of `target` and sends it
    /// where a path is up. The payload is encoded once; every queue gets a
    /// copy of a small one and shares a larger one.
    ///
    /// The report lists, per session, the seq it got or why it was refused
    /// (queue full [B-6], no such session). `Err` only if the notification
    /// cannot be encoded at all. [`Server::notify_encoded`] is the same
    /// without the encoding and without the per-session list.
    pub fn notify(
        &mut self,
        now: Instant,
        target: Target,
        notification: &Notification,
    ) -> Result<NotifyReport, NotifyError> {
        let encoded = EncodedNotification::encode(notification)?;
        let mut report = NotifyReport::default();
        if target == Target::All {
            report.accepted.reserve(self.sessions.len());
        }
        self.notify_each(now, &target, &encoded, |session, result| match result {
            Ok(seq) => report.accepted.push(Accepted { session, seq }),
            Err(refused) => report.refused.push((session, refused)),
        });
        Ok(report)
    }

    /// Queues an encoded notification for every session of `target` and
    /// sends it where a path is up: every queue gets a clone of
    /// `notification` (a copy of a small payload held inline, a reference
    /// count on a larger shared one; never an allocation). The summary counts the sessions that accepted it and lists
    /// those that refused it (queue full [B-6], no such session); it
    /// allocates only for refusals, so a broadcast that every session
    /// accepts allocates nothing here. [`Event::Delivered`] and
    /// [`Event::Undelivered`] report each session's outcome later, as for
    /// [`Server::notify`].
    pub fn notify_encoded(
        &mut self,
        now: Instant,
        target: &Target,
        notification: &EncodedNotification,
    ) -> NotifySummary {
        let mut summary = NotifySummary::default();
        self.notify_each(now, target, notification, |session, result| {
            summary.record(session, result)
        });
        summary
    }

    /// As [`Server::notify_encoded`], taking the notification: one
    /// session's queue gets the notification itself, moved. A clone and a
    /// drop of a shared [`Bytes`] are two atomic operations on a reference
    /// count that the application's thread may be updating at the same
    /// moment (it encodes the next notifications into the same buffer): on
    /// the event loop, that cache line moving between cores cost more than
    /// the core's own step (docs/performance.md). Several sessions get a
    /// clone each, as with [`Server::notify_encoded`].
    pub fn notify_encoded_owned(
        &mut self,
        now: Instant,
        target: &Target,
        notification: EncodedNotification,
    ) -> NotifySummary {
        let Target::Session(id) = target else {
            return self.notify_encoded(now, target, &notification);
        };
        let mut summary = NotifySummary::default();
        summary.record(*id, self.notify_queued(now, *id, notification));
        summary
    }

    /// Queues an encoded notification for every session of `target`, and
    /// tells `each` what became of it per session: its seq there, or why it
    /// was refused. The most general form of [`Server::notify_encoded`].
    pub fn notify_each(
        &mut self,
        now: Instant,
        target: &Target,
        notification: &EncodedNotification,
        mut each: impl FnMut(SessionId, Result<u64, Refused>),
    ) {
        match target {
            Target::Session(id) => {
                let result = self.notify_queued(now, *id, notification.clone());
                each(*id, result);
            }
            Target::User(name) => {
                // `notify_session` never changes the index, so walking it by
                // position is stable and needs no copy.
                for i in 0.. {
                    let Some(id) = self.sessions.of_user(name.as_str(), i) else {
                        break;
                    };
                    let result = self.notify_queued(now, id, notification.clone());
                    each(id, result);
                }
            }
            Target::All => {
                for key in 0..self.sessions.key_bound() {
                    let Some(id) = self.sessions.by_key(key).map(Session::id) else {
                        continue;
                    };
                    let result = self.notify_queued(now, id, notification.clone());
                    each(id, result);
                }
            }
        }
    }

    /// Queues an already encoded payload for one session and returns its
    /// seq. `payload` is kept as it is, shared, not copied (a [`Bytes`]
    /// clone is a reference count); with transmit buffers handed back
    /// through [`Server::recycle`], a steady-state step allocates nothing.
    /// An [`EncodedNotification`] given to [`Server::notify_encoded_owned`]
    /// spares the reference count for a small payload.
    pub fn notify_session(
        &mut self,
        now: Instant,
        session: SessionId,
        kind: u8,
        payload: Bytes,
    ) -> Result<u64, Refused> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(Refused::PayloadTooLarge { len: payload.len() });
        }
        self.notify_queued(now, session, EncodedNotification::checked(kind, payload))
    }

    /// [`Server::notify_session`] for a notification checked to fit.
    // Inlined into each caller: a 48-byte notification passed to a call is
    // copied once more on the way.
    #[inline(always)]
    fn notify_queued(
        &mut self,
        now: Instant,
        session: SessionId,
        notification: EncodedNotification,
    ) -> Result<u64, Refused> {
        let key = self.sessions.key(session);
        let delivery = key.map(|key| &mut self.sessions[key].delivery);
        let seq = queue(
            delivery,
            self.config.cluster.is_some(),
            self.config.queue_limit,
            notification,
        )?;
        if let Some(key) = key {
            self.pump_key(now, key);
        }
        Ok(seq)
    }

    /// Queues several encoded notifications for one session, in order,
    /// and sends what the window allows once at the end: what
    /// [`Server::notify_session`] does for each of them, with one session
    /// lookup and one pass over the window instead of one per
    /// notification, so that their NOTIFYs are written back to back into
    /// the connection's buffer and leave in one transmit.
    ///
    /// `each` hears every notification's outcome, in order: its own seq,
    /// or why it was refused — exactly what `notify_session` would have
    /// said for it. With `n` places left in the session's queue the first
    /// `n` are queued and every one after them is refused with
    /// [`Refused::QueueFull`] [B-6]; with no such session every one is
    /// refused with [`Refused::NoSuchSession`]. Every notification is
    /// moved into the queue, with no reference count taken or dropped.
    pub fn notify_session_batch<I>(
        &mut self,
        now: Instant,
        session: SessionId,
        notifications: I,
        mut each: impl FnMut(Result<u64, Refused>),
    ) where
        I: IntoIterator<Item = EncodedNotification>,
    {
        let key = self.sessions.key(session);
        let clustered = self.config.cluster.is_some();
        let limit = self.config.queue_limit;
        // Looked up once for the batch.
        let mut delivery = key.map(|key| &mut self.sessions[key].delivery);
        let mut queued = false;
        for notification in notifications {
            let result = queue(delivery.as_deref_mut(), clustered, limit, notification);
            queued |= result.is_ok();
            each(result);
        }
        if let (true, Some(key)) = (queued, key) {
            // Once for the batch: the window takes what it has room for,
            // in seq order, as it would have one pump at a time.
            self.pump_key(now, key);
        }
    }

    /// Sends what the window allows on the active path.
    pub(in crate::server) fn pump(&mut self, now: Instant, sid: SessionId) {
        if let Some(key) = self.sessions.key(sid) {
            self.pump_key(now, key);
        }
    }

    /// [`Server::pump`] for a session already looked up (the hot paths
    /// spare a second lookup).
    fn pump_key(&mut self, now: Instant, key: usize) {
        let s = &mut self.sessions[key];
        if !s.delivery.can_send(self.config.window) {
            return; // the usual case after an ACK: nothing more queued
        }
        let conn_id = match s.path {
            DeliveryPath::Callback(c) | DeliveryPath::Backchannel(c) => c,
            DeliveryPath::None => return,
        };
        let Some(conn) = self.conns.get_mut(conn_id) else {
            return;
        };
        let (first_seq, [front, back]) = s.delivery.take_to_send(self.config.window);
        conn.write_notifies(conn_id, first_seq, front, now, &mut self.out);
        if !back.is_empty() {
            let seq = first_seq + front.len() as u64;
            conn.write_notifies(conn_id, seq, back, now, &mut self.out);
        }
    }

    /// A cumulative ACK received on `conn` for the session.
    pub(super) fn on_ack(&mut self, now: Instant, sid: SessionId, conn: ConnId, seq: u64) {
        if let Some(key) = self.sessions.key(sid) {
            self.on_ack_at(now, key, conn, seq);
        }
    }

    /// [`Server::on_ack`] for the session under `key`. Returns whether
    /// `conn` is still open (a violation closes it).
    pub(super) fn on_ack_at(&mut self, now: Instant, key: usize, conn: ConnId, seq: u64) -> bool {
        let s = &mut self.sessions[key];
        match s.delivery.ack(seq) {
            Ok(Some((first_seq, last_seq))) => {
                self.out.event(Event::Delivered {
                    session: s.id(),
                    first_seq,
                    last_seq,
                });
                self.pump_key(now, key);
                true
            }
            Ok(None) => true, // a repeat [D-9]
            Err(violation) => {
                let sid = s.id();
                self.sequence_violation(now, conn, sid, violation.message("ACK"));
                false
            }
        }
    }
}

/// Queues one notification in a session's `delivery` queue (`None`: no
/// such session) without sending it: the checks of
/// [`Server::notify_session`] after the payload's length (an
/// [`EncodedNotification`] was checked when it was made), in its order.
#[inline]
fn queue(
    delivery: Option<&mut Delivery>,
    clustered: bool,
    limit: usize,
    notification: EncodedNotification,
) -> Result<u64, Refused> {
    debug_assert!(notification.payload().len() <= MAX_PAYLOAD_LEN);
    if clustered {
        // [D-17]: the shared log numbers them (`notify_session_at`).
        return Err(Refused::Clustered);
    }
    delivery
        .ok_or(Refused::NoSuchSession)?
        .push(notification, limit)
        .ok_or(Refused::QueueFull { limit })
}

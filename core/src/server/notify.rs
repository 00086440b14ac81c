//! The application's notifications: queueing per session [B-6], windowed
//! pipelined sending on the active path [B-4], and cumulative ACKs [B-2] [D-9].

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;

use super::Server;
use super::errors::{NotifyError, Refused};
use super::events::Event;
use super::session::{DeliveryPath, Session};
use super::target::{Accepted, NotifyReport, Target};
use crate::wire::{Frame, MAX_PAYLOAD_LEN, Notification, Notify};
use crate::{ConnId, SessionId};

impl Server {
    /// Queues a notification for every session of `target` and sends it
    /// where a path is up. The payload is encoded once and shared by all
    /// queues.
    ///
    /// The report lists, per session, the seq it got or why it was refused
    /// (queue full [B-6], no such session). `Err` only if the notification
    /// cannot be encoded at all.
    pub fn notify(
        &mut self,
        now: Instant,
        target: Target,
        notification: &Notification,
    ) -> Result<NotifyReport, NotifyError> {
        let payload = notification.to_payload()?;
        let kind = notification.kind();
        let mut report = NotifyReport::default();
        if target == Target::All {
            report.accepted.reserve(self.sessions.len());
        }
        let mut record = |session: SessionId, result: Result<u64, Refused>| match result {
            Ok(seq) => report.accepted.push(Accepted { session, seq }),
            Err(refused) => report.refused.push((session, refused)),
        };
        match target {
            Target::Session(id) => {
                let result = self.notify_session(now, id, kind, payload);
                record(id, result);
            }
            Target::User(name) => {
                // `notify_session` never changes the index, so walking it by
                // position is stable and needs no copy.
                for i in 0.. {
                    let Some(id) = self.sessions.of_user(name.as_str(), i) else {
                        break;
                    };
                    let result = self.notify_session(now, id, kind, payload.clone());
                    record(id, result);
                }
            }
            Target::All => {
                for key in 0..self.sessions.key_bound() {
                    let Some(id) = self.sessions.by_key(key).map(Session::id) else {
                        continue;
                    };
                    let result = self.notify_session(now, id, kind, payload.clone());
                    record(id, result);
                }
            }
        }
        Ok(report)
    }

    /// Queues an already encoded payload for one session and returns its
    /// seq. This is the allocation-free path: `payload` is shared, not
    /// copied (a [`Bytes`] clone is a reference count), and in steady state
    /// the only allocation is the NOTIFY frame's bytes for the adapter.
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
        let limit = self.config.queue_limit;
        let s = self
            .sessions
            .get_mut(session)
            .ok_or(Refused::NoSuchSession)?;
        let seq = s
            .delivery
            .push(kind, payload, limit)
            .ok_or(Refused::QueueFull { limit })?;
        self.pump(now, session);
        Ok(seq)
    }

    /// Sends what the window allows on the active path.
    pub(super) fn pump(&mut self, now: Instant, sid: SessionId) {
        let Some(key) = self.sessions.key(sid) else {
            return;
        };
        let s = &mut self.sessions[key];
        let conn_id = match s.path {
            DeliveryPath::Callback(c) | DeliveryPath::Backchannel(c) => c,
            DeliveryPath::None => return,
        };
        let Some(conn) = self.conns.get_mut(conn_id) else {
            return;
        };
        while let Some((seq, kind, payload)) = s.delivery.next_to_send(self.config.window) {
            let frame = Frame::Notify(Notify {
                seq,
                kind,
                payload: Cow::Borrowed(payload.as_ref()),
            });
            conn.write(conn_id, &frame, now, &mut self.out);
        }
    }

    /// A cumulative ACK received on `conn` for the session.
    pub(super) fn on_ack(&mut self, now: Instant, sid: SessionId, conn: ConnId, seq: u64) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        match s.delivery.ack(seq) {
            Ok(Some((first_seq, last_seq))) => {
                self.out.event(Event::Delivered {
                    session: sid,
                    first_seq,
                    last_seq,
                });
                self.pump(now, sid);
            }
            Ok(None) => {} // a repeat [D-9]
            Err(violation) => {
                self.sequence_violation(now, conn, sid, violation.message("ACK"));
            }
        }
    }
}

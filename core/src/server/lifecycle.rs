//! How sessions end [C-10] and detach [C-5].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::Server;
use super::conn::ConnKind;
use super::events::{CloseReason, Event};
use super::session::{DeliveryPath, Dial};
use crate::SessionId;
use crate::wire::{ByeReason, Frame};

impl Server {
    /// Ends a session [C-10]: BYE with the matching reason on whichever of
    /// its connections are open (an ERROR on the control connection when the
    /// session dies of a protocol error elsewhere), every unacknowledged
    /// notification reported, then [`Event::SessionClosed`].
    pub(super) fn end_session_with(&mut self, now: Instant, sid: SessionId, reason: CloseReason) {
        let Some(mut s) = self.sessions.remove(sid) else {
            return;
        };
        tracing::debug!(session = %sid, user = %s.user(), %reason, "session ends");
        self.ips.remove_session(s.peer.ip(), now);

        let bye = |reason: ByeReason| Frame::Bye { reason };
        let (control_frame, callback_frame) = match &reason {
            CloseReason::Logout => (bye(ByeReason::Logout), bye(ByeReason::Logout)),
            CloseReason::LeaseExpired => {
                (bye(ByeReason::LeaseExpired), bye(ByeReason::LeaseExpired))
            }
            CloseReason::Replaced { .. } => (bye(ByeReason::Replaced), bye(ByeReason::Replaced)),
            CloseReason::EndedByServer => {
                (bye(ByeReason::EndedByServer), bye(ByeReason::EndedByServer))
            }
            CloseReason::Shutdown => (bye(ByeReason::Shutdown), bye(ByeReason::Shutdown)),
            // [F-6]: "ends the session exactly as LOGOUT does".
            CloseReason::ProtocolError(e) => (
                Frame::error(e.code(), e.message().to_owned()),
                bye(ByeReason::Logout),
            ),
        };
        let in_progress = match s.dial {
            Dial::InProgress(conn) => Some(conn),
            _ => None,
        };
        let active = match s.path {
            DeliveryPath::Callback(conn) => Some(conn),
            _ => None,
        };
        for cb in active.into_iter().chain(in_progress) {
            let after_hello = matches!(
                self.conns.get(cb).map(|c| &c.kind),
                Some(ConnKind::Callback(c)) if c.after_hello()
            );
            if after_hello {
                self.send(now, cb, &callback_frame);
            }
            self.remove_conn(now, cb, true);
        }
        let dial = std::mem::replace(&mut s.dial, Dial::Idle);
        self.cancel_dial(now, sid, dial, s.callback_endpoint());
        if let Some(control) = s.control {
            self.send(now, control, &control_frame);
            self.remove_conn(now, control, true);
        }
        let notifications = s.delivery.take_undelivered();
        if !notifications.is_empty() {
            self.out.event(Event::Undelivered {
                session: sid,
                user: Arc::clone(s.user()),
                notifications,
            });
        }
        self.out.event(Event::SessionClosed {
            session: sid,
            user: Arc::clone(s.user()),
            reason,
        });
    }

    /// Closes a dial or handshake in progress (no BYE: the session goes on,
    /// or its caller sends one) or leaves the destination's dial queue.
    pub(super) fn cancel_dial(
        &mut self,
        now: Instant,
        sid: SessionId,
        dial: Dial,
        endpoint: Option<SocketAddr>,
    ) {
        match dial {
            Dial::InProgress(conn) => {
                self.remove_conn(now, conn, true);
            }
            Dial::Waiting => {
                if let Some(endpoint) = endpoint {
                    self.ips.stop_waiting(endpoint.ip(), sid, now);
                }
            }
            Dial::Idle | Dial::Backoff(_) => {}
        }
    }

    /// Closes the session's callback connections and stops dialling; the
    /// path is gone until a new ADVERTISE or handshake.
    pub(super) fn drop_callbacks(&mut self, now: Instant, key: usize) {
        let s = &mut self.sessions[key];
        let (sid, endpoint) = (s.id(), s.callback_endpoint());
        let dial = std::mem::replace(&mut s.dial, Dial::Idle);
        let path = std::mem::replace(&mut s.path, DeliveryPath::None);
        s.dial_failures = 0;
        if let DeliveryPath::Callback(cb) = path {
            self.remove_conn(now, cb, true);
        }
        self.cancel_dial(now, sid, dial, endpoint);
    }

    /// The control connection closed: the session stays, detached, until it
    /// is resumed, or both its lease [C-5] and the detached grace period
    /// [D-15] have run out. Its callback is closed and delivery stops.
    pub(super) fn detach(&mut self, now: Instant, sid: SessionId) {
        let Some(key) = self.sessions.key(sid) else {
            return;
        };
        self.drop_callbacks(now, key);
        let s = &mut self.sessions[key];
        s.control = None;
        s.reported = None;
        s.lease_deadline = s.lease_deadline.max(now + self.config.detached_grace);
        s.lease_rechecked = false;
        let user = Arc::clone(s.user());
        self.arm_session(sid);
        tracing::debug!(session = %sid, "session detached");
        self.out
            .event(Event::SessionDetached { session: sid, user });
    }
}

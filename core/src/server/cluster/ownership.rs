//! Letting go of sessions this server no longer owns, and refusing what it
//! cannot make durable while the bus is away [D-17].

use std::sync::Arc;
use std::time::Instant;

use crate::SessionId;
use crate::server::Server;
use crate::server::errors::UnknownSession;
use crate::server::events::Event;
use crate::server::session::{DeliveryPath, Dial};

impl Server {
    /// Lets go of a session without ending it [D-17]: this server lost its
    /// ownership (its lease in the shared store could not be renewed, or it
    /// is leaving the cluster), and the session lives on in the store.
    ///
    /// Its connections are closed with no BYE — a BYE would end the
    /// session at the client — so the client resumes, here or on another
    /// server; its queue is dropped without [`Event::Undelivered`] (the log
    /// still holds it, and the next owner redelivers from the last
    /// persisted acknowledgement). Then [`Event::SessionReleased`].
    pub fn release_session(&mut self, now: Instant, id: SessionId) -> Result<(), UnknownSession> {
        if !self.sessions.contains(id) {
            return Err(UnknownSession(id));
        }
        self.release(now, id);
        self.prune_timers();
        Ok(())
    }

    pub(in crate::server) fn release(&mut self, now: Instant, sid: SessionId) {
        let Some(mut s) = self.sessions.remove(sid) else {
            return;
        };
        tracing::debug!(session = %sid, user = %s.user(), "session released");
        self.ips.remove_session(s.peer.ip(), now);
        if let DeliveryPath::Callback(cb) = s.path {
            self.remove_conn(now, cb, true);
        }
        let dial = std::mem::replace(&mut s.dial, Dial::Idle);
        self.cancel_dial(now, sid, dial, s.callback_endpoint());
        if let Some(control) = s.control {
            self.remove_conn(now, control, true);
        }
        self.out.event(Event::SessionReleased {
            session: sid,
            user: Arc::clone(s.user()),
        });
    }

    /// Tells the server whether the cluster bus is reachable [D-17]. While
    /// it is not, new connections get `ERROR SHUTTING_DOWN` before
    /// SERVER_HELLO, logins (resumes too) and logins waiting for a claim
    /// get it after their proof, and [`Server::notify_session_at`] is
    /// refused: the server accepts nothing it could not make durable and
    /// serves no session it might no longer own. Sessions it holds stay
    /// until the application releases them ([`Server::release_session`]),
    /// which it must do before their ownership leases run out. Does
    /// nothing outside cluster mode.
    pub fn set_bus_available(&mut self, now: Instant, available: bool) {
        if self.config.cluster.is_none() || self.cluster.bus_available == available {
            return;
        }
        tracing::debug!(available, "cluster bus availability changed");
        self.cluster.bus_available = available;
        if !available {
            self.refuse_pending_claims(now);
            self.prune_timers();
        }
    }

    /// Whether the application last said the bus is reachable (always true
    /// outside cluster mode).
    pub fn bus_available(&self) -> bool {
        self.config.cluster.is_none() || self.cluster.bus_available
    }
}

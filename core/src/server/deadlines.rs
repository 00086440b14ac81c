//! The server's reactions to its deadlines: handshake timeouts [C-9]
//! [B-7], lease expiry [C-5], dial retries [B-5], callback keepalive and
//! dead callbacks [D-4], forgetting old failed logins; and keeping
//! the heap's entries in step with them (see `timers`).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Server;
use super::conn::{CallbackPhase, ConnKind};
use super::events::CloseReason;
use super::session::Dial;
use super::timers::TimerKey;
use crate::wire::{ErrorCode, Frame};
use crate::{ConnId, SessionId};

/// How long a session whose lease timer (or a connection whose handshake
/// timer) was called late waits for what its client may have sent
/// meanwhile before the deadline counts as passed.
const LATE_RECHECK: Duration = Duration::from_secs(1);

impl Server {
    /// Keeps the connection's heap entry in step with its deadlines, and
    /// returns its frame length limit [F-1] if it is open (what a caller
    /// decoding its frames needs next, without another lookup).
    pub(super) fn arm_conn(&mut self, id: ConnId) -> Option<u32> {
        let c = self.conns.get_mut(id)?;
        let wanted = match &c.kind {
            ConnKind::Control(ctl) => ctl.next_deadline(),
            ConnKind::Callback(cb) => cb.next_deadline(self.config.lease, self.ping_interval),
        };
        self.timers.arm(&mut c.timer, wanted, TimerKey::Conn(id));
        Some(c.frame_limit())
    }

    pub(super) fn arm_session(&mut self, sid: SessionId) {
        let Some(key) = self.sessions.key(sid) else {
            return;
        };
        let s = &mut self.sessions[key];
        let wanted = s.next_deadline();
        self.timers
            .arm(&mut s.timer, Some(wanted), TimerKey::Session(sid));
    }

    pub(super) fn arm_ip(&mut self, ip: IpAddr) {
        let Some(e) = self.ips.get_mut(&ip) else {
            return;
        };
        let wanted = e.failed.as_ref().and_then(|f| f.forgotten_at());
        self.timers.arm(&mut e.timer, wanted, TimerKey::Ip(ip));
    }

    /// Whether a heap entry still stands for its owner's scheduled deadline.
    fn timer_is_live(&self, at: Instant, key: TimerKey) -> bool {
        match key {
            TimerKey::Conn(id) => self.conns.get(id).is_some_and(|c| c.timer == Some(at)),
            TimerKey::Session(sid) => self.sessions.get(sid).is_some_and(|s| s.timer == Some(at)),
            TimerKey::Ip(ip) => self.ips.get(&ip).is_some_and(|e| e.timer == Some(at)),
        }
    }

    /// Drops stale entries from the top of the heap so that
    /// [`Server::poll_timeout`] names a time when something may be due, and
    /// compacts the heap when stale entries outnumber the owners (see
    /// `timers`): every owner has at most one live entry, so afterwards the
    /// heap holds at most `2 × owners + 64` entries.
    pub(super) fn prune_timers(&mut self) {
        // Nothing pushed or popped and no owner removed since the top was
        // found live (an owner's slot changes only with a push or a pop):
        // it still is, and the heap has not grown. The usual case after a
        // frame, whose deadlines move later or not at all.
        let stamp = self.timer_stamp();
        if self.timers_pruned_at == Some(stamp) {
            return;
        }
        while let Some((at, key)) = self.timers.peek() {
            if self.timer_is_live(at, key) {
                break;
            }
            self.timers.pop();
        }
        let owners = self.conns.len() + self.sessions.len() + self.ips.len();
        if self.timers.len() > 2 * owners + 64 {
            let mut timers = std::mem::take(&mut self.timers);
            timers.retain(|at, key| self.timer_is_live(at, key));
            self.timers = timers;
        }
        self.timers_pruned_at = Some(self.timer_stamp());
    }

    /// Changes when the heap or the set of its possible owners does.
    fn timer_stamp(&self) -> u64 {
        self.timers
            .changes()
            .wrapping_add(self.conns.removed())
            .wrapping_add(self.sessions.removed())
            .wrapping_add(self.ips.removed())
    }

    pub(super) fn on_conn_timer(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        // The handshake timeouts cover TLS [T-8]: a TLS handshake still
        // running at the deadline is a TLS failure (no ERROR can be sent).
        let expired = match &c.kind {
            ConnKind::Control(ctl) => ctl.handshake_deadline.is_some_and(|d| d <= now),
            ConnKind::Callback(cb) => match cb.phase {
                CallbackPhase::AwaitChallenge { deadline }
                | CallbackPhase::AwaitReady { deadline, .. } => deadline <= now,
                CallbackPhase::Connecting { .. } | CallbackPhase::Ready { .. } => false,
            },
        };
        if expired
            && let Some(tls) = c.tls.as_ref()
            && tls.is_handshaking()
        {
            let failure = tls.timeout_failure();
            self.tls_failed(now, id, failure);
            return;
        }
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        match &mut c.kind {
            ConnKind::Control(ctl) => {
                if ctl.claim().is_some_and(|claim| claim.deadline <= now) {
                    // [D-17]: the application did not answer in time.
                    self.claim_timed_out(now, id);
                } else if ctl.handshake_deadline.is_some_and(|d| d < now)
                    && !ctl.handshake_rechecked
                {
                    // Called after the deadline, not at it: as for a lease
                    // (`on_session_timer`), the client's next frame may be
                    // waiting unread while this process did not run, and
                    // after LOGIN_OK a timeout ends the session [F-6]. A
                    // moment more, once, for the runtime to read it.
                    ctl.handshake_deadline = Some(now + LATE_RECHECK);
                    ctl.handshake_rechecked = true;
                } else if ctl.handshake_deadline.is_some_and(|d| d <= now) {
                    let secs = self.config.handshake_timeout.as_secs_f64();
                    let error = Self::violation(
                        ErrorCode::Timeout,
                        format!("handshake not completed within {secs} s"),
                    );
                    self.abort_conn(now, id, error);
                }
            }
            ConnKind::Callback(cb) => match cb.phase {
                CallbackPhase::Connecting { deadline } => {
                    if deadline <= now {
                        let sid = cb.session;
                        tracing::debug!(conn = %id, "callback dial timed out");
                        self.remove_conn(now, id, true);
                        self.callback_lost(now, sid, id, true);
                    }
                }
                CallbackPhase::AwaitChallenge { deadline }
                | CallbackPhase::AwaitReady { deadline, .. } => {
                    if deadline <= now {
                        let secs = self.config.callback_handshake_timeout.as_secs_f64();
                        let error = Self::violation(
                            ErrorCode::Timeout,
                            format!("callback handshake not completed within {secs} s"),
                        );
                        self.abort_conn(now, id, error);
                    }
                }
                CallbackPhase::Ready {
                    last_sent,
                    last_received,
                } => {
                    if last_received + self.config.lease <= now {
                        // A dead callback [D-4]: close it and dial again [D-8].
                        let sid = cb.session;
                        tracing::debug!(conn = %id, "callback silent for a lease; redialling");
                        self.remove_conn(now, id, true);
                        self.callback_lost(now, sid, id, false);
                    } else if last_sent + self.ping_interval <= now {
                        self.next_ping_nonce = self.next_ping_nonce.wrapping_add(1);
                        let nonce = self.next_ping_nonce;
                        self.send(now, id, &Frame::Ping { nonce });
                    }
                }
            },
        }
    }

    pub(super) fn on_session_timer(&mut self, now: Instant, sid: SessionId) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if s.lease_deadline < now && !s.lease_rechecked {
            // Called after the deadline, not at it: this process may not
            // have run meanwhile (stopped, a stalled VM, an overloaded
            // host), and the client's frames — or its resume — may be
            // waiting unread in the socket; the silence may be this
            // server's. A moment more, once, for its runtime to read them;
            // only silence then ends the session [C-5].
            s.lease_deadline = now + LATE_RECHECK;
            s.lease_rechecked = true;
            return;
        }
        if s.lease_deadline <= now {
            // [D-17] rule 6: in a cluster, an attached session whose client
            // fell silent may only be cut off from this server (a dropped
            // route) while it reaches another, which refuses the resume for
            // as long as this one holds the session. So the silent
            // connection is closed without BYE and the session detached, as
            // if the client had closed it: the grace [D-15] lets it resume
            // anywhere once the node lets it go; a client that is gone
            // ends at the grace's end as usual.
            if self.config.cluster.is_some()
                && !self.config.detached_grace.is_zero()
                && let Some(control) = s.control
            {
                tracing::debug!(session = %sid, "control connection silent for a lease; detached");
                self.remove_conn(now, control, true);
                self.detach(now, sid);
                return;
            }
            self.end_session_with(now, sid, CloseReason::LeaseExpired);
            return;
        }
        // About once a lease (the timer fires at the lease's scheduled end
        // even when frames renewed it): an idle session's empty queue gives
        // its buffer back.
        s.delivery.release_if_idle();
        if let Dial::Backoff(at) = s.dial
            && at <= now
        {
            s.dial = Dial::Idle;
            self.start_dial(now, sid);
        }
    }

    pub(super) fn on_ip_timer(&mut self, now: Instant, ip: IpAddr, at: Instant) {
        let Some(e) = self.ips.get_mut(&ip) else {
            return;
        };
        if e.timer != Some(at) {
            return;
        }
        e.timer = None;
        if e.failed.as_mut().is_some_and(|f| f.prune(now)) {
            e.failed = None;
        }
        self.ips.release(&ip, now);
        self.arm_ip(ip);
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::server::{Input, MemoryUserStore, ServerConfig};

    /// Connections that open and close while an earlier deadline is pending
    /// leave stale heap entries that cannot be popped yet; the heap must
    /// still stay in proportion to what the server holds, and the pending
    /// deadline must survive the compaction.
    #[test]
    fn churn_behind_a_pending_deadline_does_not_grow_the_heap() {
        let t0 = Instant::now();
        let config = ServerConfig::new([1; 32]);
        let timeout = config.handshake_timeout;
        let mut server = Server::new(config, Box::new(MemoryUserStore::new()), [2; 32]).unwrap();
        let kept: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let churn: SocketAddr = "192.0.2.2:4000".parse().unwrap();
        server.handle_accept(t0, kept);
        for _ in 0..10_000 {
            let conn = server.handle_accept(t0, churn);
            server.handle_input(t0, Input::Closed { conn }).unwrap();
            while server.poll_output().is_some() {}
        }
        let owners = server.conns.len() + server.sessions.len() + server.ips.len();
        assert_eq!(server.conns.len(), 1);
        assert!(
            server.timers.len() <= 2 * owners + 64,
            "{} heap entries for {owners} owners",
            server.timers.len()
        );
        assert_eq!(server.poll_timeout(), Some(t0 + timeout));
        // On time: a late call would give the handshake a second more.
        server.handle_timeout(t0 + timeout);
        assert_eq!(server.conns.len(), 0, "the kept connection timed out");
    }
}

//! Logins that wait for the application in cluster mode [D-17]: a new
//! session is registered in the shared store before LOGIN_OK; a resume of a
//! session this server does not hold is looked up and taken over. The wait
//! is bounded in number (`max_pending_claims`) and in time (`claim_timeout`).

use std::sync::Arc;
use std::time::Instant;

use super::{ClaimAnswer, ClaimId, ClaimKind, ClaimRefusal, PendingClaim};
use crate::ConnId;
use crate::SessionId;
use crate::auth::SessionKey;
use crate::server::Server;
use crate::server::conn::{ConnKind, ControlPhase};
use crate::server::delivery::Delivery;
use crate::server::errors::ClaimError;
use crate::server::events::{Event, LoginFailure};
use crate::server::login::PendingLogin;
use crate::server::session::Session;
use crate::wire::ErrorCode;

/// Ids drawn for one new session before the login is refused as
/// unavailable: two collisions of random 64-bit ids in a row mean the
/// application's answers are wrong, not that the ids are unlucky.
const MAX_OPEN_ATTEMPTS: u8 = 3;

impl Server {
    /// Puts a login with a valid proof on hold and asks the application
    /// ([`Event::ClaimSession`]).
    pub(in crate::server) fn start_claim(
        &mut self,
        now: Instant,
        conn: ConnId,
        kind: ClaimKind,
        session: SessionId,
        login: PendingLogin,
        key: SessionKey,
    ) {
        let Some(cluster) = self.config.cluster else {
            return;
        };
        let Some(peer) = self.conns.get(conn).map(|c| c.peer()) else {
            return;
        };
        if self.cluster.claims.len() >= cluster.max_pending_claims {
            let message = format!(
                "{} logins are waiting for the cluster; try again later",
                self.cluster.claims.len()
            );
            self.refuse_login(
                now,
                conn,
                login.user,
                LoginFailure::TooManyClaims,
                ErrorCode::LimitExceeded,
                message,
            );
            return;
        }
        let id = self.cluster.next_claim_id();
        let user = self.sessions.user_name(&login.user);
        let claim = PendingClaim {
            id,
            kind,
            session,
            login,
            key,
            deadline: now + cluster.claim_timeout,
            attempts: 1,
        };
        if let Some(ConnKind::Control(ctl)) = self.conns.get_mut(conn).map(|c| &mut c.kind) {
            ctl.phase = ControlPhase::AwaitClaim(Box::new(claim));
        }
        self.cluster.claims.insert(id, conn);
        self.arm_conn(conn);
        tracing::debug!(%conn, claim = %id, %kind, %session, "login waits for the cluster");
        self.out.event(Event::ClaimSession {
            claim: id,
            kind,
            session,
            user,
            peer,
        });
    }

    /// The application's answer to a claim [D-17]: the login goes on
    /// (LOGIN_OK, a new or restored session) or is refused with the ERROR
    /// the answer implies. Drain [`Server::poll_output`] afterwards.
    ///
    /// `Err` means the answer gave no session to anyone (see
    /// [`ClaimError`]): whatever the application took in the shared store
    /// for it — a created record, a session's ownership — it gives back.
    pub fn handle_claim(
        &mut self,
        now: Instant,
        claim: ClaimId,
        answer: ClaimAnswer,
    ) -> Result<(), ClaimError> {
        if !self.cluster.was_issued(claim) {
            return Err(ClaimError::NeverIssued(claim));
        }
        let Some(conn) = self.cluster.claims.remove(&claim) else {
            return Err(ClaimError::NotPending(claim));
        };
        let Some(ConnKind::Control(ctl)) = self.conns.get_mut(conn).map(|c| &mut c.kind) else {
            return Err(ClaimError::NotPending(claim));
        };
        let peer = ctl.peer;
        let ControlPhase::AwaitClaim(pending) =
            std::mem::replace(&mut ctl.phase, ControlPhase::AwaitLogin)
        else {
            return Err(ClaimError::NotPending(claim));
        };
        let pending = *pending;
        let result = match (pending.kind, answer) {
            (_, ClaimAnswer::Refused(refusal)) => {
                self.refuse_claim(now, conn, pending, refusal);
                Ok(())
            }
            (ClaimKind::Open, ClaimAnswer::Opened) => {
                if self.sessions.contains(pending.session) {
                    // A restore took the id meanwhile: draw another.
                    self.retry_open(now, conn, pending);
                } else {
                    let PendingClaim {
                        session,
                        login,
                        key,
                        ..
                    } = pending;
                    self.open_session(now, conn, peer, session, login, key);
                }
                Ok(())
            }
            (ClaimKind::Open, ClaimAnswer::IdTaken) => {
                self.retry_open(now, conn, pending);
                Ok(())
            }
            (ClaimKind::Resume, ClaimAnswer::Restore(record)) => {
                if record.user != pending.login.user {
                    self.refuse_claim(now, conn, pending, ClaimRefusal::UnknownSession);
                    Err(ClaimError::OtherUser(claim))
                } else {
                    self.restore(now, conn, pending, record.acked_seq);
                    Ok(())
                }
            }
            (asked, _) => {
                self.refuse_claim(now, conn, pending, ClaimRefusal::Unavailable);
                Err(ClaimError::WrongAnswer { claim, asked })
            }
        };
        self.prune_timers();
        result
    }

    /// The claim's time ran out [D-17]: refused as unavailable (try again).
    pub(in crate::server) fn claim_timed_out(&mut self, now: Instant, conn: ConnId) {
        let Some(ConnKind::Control(ctl)) = self.conns.get_mut(conn).map(|c| &mut c.kind) else {
            return;
        };
        let ControlPhase::AwaitClaim(pending) =
            std::mem::replace(&mut ctl.phase, ControlPhase::AwaitLogin)
        else {
            return;
        };
        self.cluster.claims.remove(&pending.id);
        tracing::debug!(%conn, claim = %pending.id, "the cluster did not answer in time");
        let secs = self
            .config
            .cluster
            .map_or(0.0, |c| c.claim_timeout.as_secs_f64());
        self.refuse_login(
            now,
            conn,
            pending.login.user,
            LoginFailure::ClaimTimedOut,
            ErrorCode::ShuttingDown,
            format!("the cluster did not answer within {secs} s; try again"),
        );
    }

    /// Refuses every login waiting for the application (the bus went away).
    pub(in crate::server) fn refuse_pending_claims(&mut self, now: Instant) {
        let mut waiting: Vec<(ClaimId, ConnId)> = self.cluster.claims.drain().collect();
        waiting.sort_unstable(); // a deterministic order of outputs
        for (_, conn) in waiting {
            let Some(ConnKind::Control(ctl)) = self.conns.get_mut(conn).map(|c| &mut c.kind) else {
                continue;
            };
            if let ControlPhase::AwaitClaim(pending) =
                std::mem::replace(&mut ctl.phase, ControlPhase::AwaitLogin)
            {
                self.refuse_unavailable(now, conn, pending.login.user);
            }
        }
    }

    /// `ERROR SHUTTING_DOWN`: the client keeps its session id and tries
    /// again after its backoff, here or elsewhere [D-17].
    pub(in crate::server) fn refuse_unavailable(
        &mut self,
        now: Instant,
        conn: ConnId,
        user: String,
    ) {
        self.refuse_login(
            now,
            conn,
            user,
            LoginFailure::ClusterUnavailable,
            ErrorCode::ShuttingDown,
            "the cluster bus is unreachable; try again".to_owned(),
        );
    }

    fn refuse_claim(
        &mut self,
        now: Instant,
        conn: ConnId,
        pending: PendingClaim,
        refusal: ClaimRefusal,
    ) {
        match refusal {
            ClaimRefusal::UnknownSession if pending.kind == ClaimKind::Resume => {
                let requested = pending.session.get();
                self.refuse_login(
                    now,
                    conn,
                    pending.login.user,
                    LoginFailure::UnknownSession { requested },
                    ErrorCode::UnknownSession,
                    format!("session {requested:#018x} is not a live session of this user"),
                );
            }
            ClaimRefusal::HeldElsewhere => self.refuse_login(
                now,
                conn,
                pending.login.user,
                LoginFailure::HeldElsewhere,
                ErrorCode::ShuttingDown,
                "the session is still held by another server of the cluster; try again".to_owned(),
            ),
            // An open cannot be "unknown": the store refused it.
            _ => self.refuse_unavailable(now, conn, pending.login.user),
        }
    }

    /// Draws another id for a new session and asks again, a few times.
    fn retry_open(&mut self, now: Instant, conn: ConnId, mut pending: PendingClaim) {
        if pending.attempts >= MAX_OPEN_ATTEMPTS {
            self.refuse_unavailable(now, conn, pending.login.user);
            return;
        }
        let Some(peer) = self.conns.get(conn).map(|c| c.peer()) else {
            return;
        };
        pending.attempts += 1;
        pending.session = self.fresh_session_id();
        let (id, session) = (pending.id, pending.session);
        let user = self.sessions.user_name(&pending.login.user);
        if let Some(ConnKind::Control(ctl)) = self.conns.get_mut(conn).map(|c| &mut c.kind) {
            ctl.phase = ControlPhase::AwaitClaim(Box::new(pending));
        }
        self.cluster.claims.insert(id, conn);
        self.out.event(Event::ClaimSession {
            claim: id,
            kind: ClaimKind::Open,
            session,
            user,
            peer,
        });
    }

    /// [D-17]: the session comes back from its record — detached, queue
    /// empty, next seq `acked + 1` — and attaches to this login as a resume
    /// does [C-6]. If another login restored it here meanwhile, this is a
    /// plain resume of that session.
    fn restore(&mut self, now: Instant, conn: ConnId, pending: PendingClaim, acked: u64) {
        let Some(peer) = self.conns.get(conn).map(|c| c.peer()) else {
            return;
        };
        let PendingClaim {
            session: sid,
            login,
            key,
            ..
        } = pending;
        if self.sessions.contains(sid) {
            self.resume(now, conn, peer, sid, login, key);
            return;
        }
        let user = self.sessions.user_name(&login.user);
        let role = login.role;
        self.send_login_ok(now, conn, sid, &login);
        let grant = self.grant(now, conn, peer, &login, key);
        let mut session = Session::new(sid, Arc::clone(&user), grant);
        session.delivery = Delivery::restored(acked);
        self.sessions.insert(session);
        self.ips.add_session(peer.ip());
        self.arm_session(sid);
        tracing::debug!(session = %sid, %user, %peer, acked, "session restored");
        self.out.event(Event::SessionRestored {
            session: sid,
            user,
            role,
            peer,
            acked_seq: acked,
        });
    }
}

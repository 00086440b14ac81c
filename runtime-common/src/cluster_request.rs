//! The requests of cluster mode [D-17]: what the application that glues a
//! server core to the cluster's bus asks of the running server. Kept apart
//! from [`ServerRequest`](crate::ServerRequest) (a runtime's command enum
//! carries one of these as a variant of its own), so that a server outside
//! cluster mode never sees them.

use std::fmt;
use std::time::Instant;

use bytes::Bytes;
use faxnotify_core::SessionId;
use faxnotify_core::server::{
    self, ClaimAnswer, ClaimError, ClaimId, RunError, RunSequenced, SeqError, Sequenced,
    UnknownSession,
};
use faxnotify_core::wire::EncodedNotification;

use crate::Replies;

/// A request of cluster mode to a server, answered by its core.
#[non_exhaustive]
pub enum ClusterRequest<R: Replies> {
    /// [`Server::handle_claim`](server::Server::handle_claim).
    Claim {
        /// Which login's claim.
        claim: ClaimId,
        /// The application's answer.
        answer: ClaimAnswer,
        /// The result.
        reply: R::Reply<Result<(), ClaimError>>,
    },
    /// [`Server::notify_session_at`](server::Server::notify_session_at).
    NotifySessionAt {
        /// Which session.
        session: SessionId,
        /// The seq the shared log gives the notification in it.
        seq: u64,
        /// NOTIFY.kind.
        kind: u8,
        /// The encoded payload.
        payload: Bytes,
        /// The result.
        reply: R::Reply<Result<Sequenced, SeqError>>,
    },
    /// [`Server::notify_session_run_at`](server::Server::notify_session_run_at):
    /// a run of consecutive seqs (one log message's notifications) at once.
    NotifySessionRun {
        /// Which session.
        session: SessionId,
        /// The seq the shared log gives the run's first notification.
        first_seq: u64,
        /// The notifications, in seq order.
        run: Vec<EncodedNotification>,
        /// The result.
        reply: R::Reply<Result<RunSequenced, RunError>>,
    },
    /// [`Server::release_session`](server::Server::release_session).
    Release {
        /// Which session.
        session: SessionId,
        /// The result.
        reply: R::Reply<Result<(), UnknownSession>>,
    },
    /// [`Server::set_bus_available`](server::Server::set_bus_available).
    SetBusAvailable {
        /// Whether the bus is reachable.
        available: bool,
        /// Answered once the core took it.
        reply: R::Reply<()>,
    },
    /// Whether the core holds the session (attached or detached).
    Holds {
        /// Which session.
        session: SessionId,
        /// The answer.
        reply: R::Reply<bool>,
    },
}

impl<R: Replies> ClusterRequest<R> {
    /// Answers the request from `server`. The caller drains the server's
    /// outputs afterwards (a LOGIN_OK, a NOTIFY or closed connections may
    /// be queued).
    pub fn answer(self, server: &mut server::Server, now: Instant) {
        match self {
            ClusterRequest::Claim {
                claim,
                answer,
                reply,
            } => R::send(reply, server.handle_claim(now, claim, answer)),
            ClusterRequest::NotifySessionAt {
                session,
                seq,
                kind,
                payload,
                reply,
            } => R::send(
                reply,
                server.notify_session_at(now, session, seq, kind, payload),
            ),
            ClusterRequest::NotifySessionRun {
                session,
                first_seq,
                run,
                reply,
            } => R::send(
                reply,
                server.notify_session_run_at(now, session, first_seq, &run),
            ),
            ClusterRequest::Release { session, reply } => {
                R::send(reply, server.release_session(now, session));
            }
            ClusterRequest::SetBusAvailable { available, reply } => {
                server.set_bus_available(now, available);
                R::send(reply, ());
            }
            ClusterRequest::Holds { session, reply } => {
                R::send(reply, server.session(session).is_some());
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            ClusterRequest::Claim { .. } => "Claim",
            ClusterRequest::NotifySessionAt { .. } => "NotifySessionAt",
            ClusterRequest::NotifySessionRun { .. } => "NotifySessionRun",
            ClusterRequest::Release { .. } => "Release",
            ClusterRequest::SetBusAvailable { .. } => "SetBusAvailable",
            ClusterRequest::Holds { .. } => "Holds",
        }
    }
}

impl<R: Replies> fmt::Debug for ClusterRequest<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The reply channel says nothing worth printing.
        f.write_str(self.name())
    }
}

//! Cluster mode's calls on a running server [D-17]: the application that
//! glues the server to the cluster's bus answers claims, feeds the shared
//! log's notifications with their seqs, lets sessions go and says whether
//! the bus is reachable. Each call is a round trip to the driver, which
//! carries out what the core produced before it takes the next request.

use bytes::Bytes;
use faxnotify_core::SessionId;
use faxnotify_core::server::{
    ClaimAnswer, ClaimError, ClaimId, RunError, RunSequenced, SeqError, Sequenced, UnknownSession,
};
use faxnotify_core::wire::EncodedNotification;
use faxnotify_runtime::ClusterRequest;

use crate::errors::Closed;
use crate::runtime::Runtime;
use crate::server::{Command, Server};

impl<R: Runtime> Server<R> {
    /// [`core::Server::handle_claim`](faxnotify_core::server::Server::handle_claim):
    /// answers a login's [`Event::ClaimSession`](faxnotify_core::server::Event::ClaimSession).
    pub async fn handle_claim(
        &self,
        claim: ClaimId,
        answer: ClaimAnswer,
    ) -> Result<Result<(), ClaimError>, Closed> {
        self.ask(|reply| {
            Command::Cluster(ClusterRequest::Claim {
                claim,
                answer,
                reply,
            })
        })
        .await
    }

    /// [`core::Server::notify_session_at`](faxnotify_core::server::Server::notify_session_at):
    /// queues a notification of the shared log for one session at `seq`.
    pub async fn notify_session_at(
        &self,
        session: SessionId,
        seq: u64,
        kind: u8,
        payload: Bytes,
    ) -> Result<Result<Sequenced, SeqError>, Closed> {
        self.ask(|reply| {
            Command::Cluster(ClusterRequest::NotifySessionAt {
                session,
                seq,
                kind,
                payload,
                reply,
            })
        })
        .await
    }

    /// [`core::Server::notify_session_run_at`](faxnotify_core::server::Server::notify_session_run_at):
    /// queues a run of the shared log's notifications for one session at
    /// consecutive seqs from `first_seq`, all or a prefix, in one round trip.
    pub async fn notify_session_run_at(
        &self,
        session: SessionId,
        first_seq: u64,
        run: Vec<EncodedNotification>,
    ) -> Result<Result<RunSequenced, RunError>, Closed> {
        self.ask(|reply| {
            Command::Cluster(ClusterRequest::NotifySessionRun {
                session,
                first_seq,
                run,
                reply,
            })
        })
        .await
    }

    /// [`core::Server::release_session`](faxnotify_core::server::Server::release_session):
    /// lets go of a session this server no longer owns, without ending it.
    pub async fn release_session(
        &self,
        session: SessionId,
    ) -> Result<Result<(), UnknownSession>, Closed> {
        self.ask(|reply| Command::Cluster(ClusterRequest::Release { session, reply }))
            .await
    }

    /// [`core::Server::set_bus_available`](faxnotify_core::server::Server::set_bus_available):
    /// whether the cluster's bus is reachable.
    pub async fn set_bus_available(&self, available: bool) -> Result<(), Closed> {
        self.ask(|reply| Command::Cluster(ClusterRequest::SetBusAvailable { available, reply }))
            .await
    }

    /// Whether the core holds `session` (attached or detached).
    pub async fn holds_session(&self, session: SessionId) -> Result<bool, Closed> {
        self.ask(|reply| Command::Cluster(ClusterRequest::Holds { session, reply }))
            .await
    }
}

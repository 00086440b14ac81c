//! Who a notification is for, and what became of it.

use crate::SessionId;
use crate::auth::{PrepError, prepare_username};

use super::errors::Refused;

/// The recipients of [`Server::notify`](super::Server::notify).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Target {
    /// One session.
    Session(SessionId),
    /// Every session of a user, by prepared name (see [`Target::user`]).
    User(String),
    /// Every session.
    All,
}

impl Target {
    /// Every session of `name`, prepared with RFC 8265 UsernameCaseMapped
    /// as LOGIN carries it (so `"Alice"` reaches the sessions of `alice`).
    pub fn user(name: &str) -> Result<Target, PrepError> {
        Ok(Target::User(prepare_username(name)?))
    }
}

/// A notification queued for one session.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Accepted {
    /// The session.
    pub session: SessionId,
    /// The notification's seq in that session.
    pub seq: u64,
}

/// What [`Server::notify`](super::Server::notify) did, per session.
/// Nothing is dropped silently: every recipient is either accepted or
/// refused with a reason [B-6].
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct NotifyReport {
    /// Sessions that queued it, with its seq.
    pub accepted: Vec<Accepted>,
    /// Sessions that did not, and why.
    pub refused: Vec<(SessionId, Refused)>,
}

impl NotifyReport {
    /// Whether every recipient accepted it (vacuously true for no recipients).
    pub fn all_accepted(&self) -> bool {
        self.refused.is_empty()
    }
}

/// What [`Server::notify_encoded`](super::Server::notify_encoded) did: how
/// many sessions accepted the notification, and which refused it and why.
/// Nothing is dropped silently [B-6]; a notification every recipient
/// accepted costs no allocation here.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct NotifySummary {
    /// How many sessions queued it.
    pub accepted: usize,
    /// Sessions that did not, and why.
    pub refused: Vec<(SessionId, Refused)>,
}

impl NotifySummary {
    /// Whether every recipient accepted it (vacuously true for no recipients).
    pub fn all_accepted(&self) -> bool {
        self.refused.is_empty()
    }

    /// How many recipients there were.
    pub fn recipients(&self) -> usize {
        self.accepted + self.refused.len()
    }

    pub(crate) fn record(&mut self, session: SessionId, result: Result<u64, Refused>) {
        match result {
            Ok(_) => self.accepted += 1,
            Err(refused) => self.refused.push((session, refused)),
        }
    }
}

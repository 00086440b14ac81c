//! The requests an application sends to a running client or server, the
//! same on every runtime. A runtime's command enum carries one of these
//! (beside its own commands: statistics, shutdown, test hooks) and answers
//! it with [`ServerRequest::answer`] / [`ClientRequest::answer`] on its
//! loop; only the reply channel differs per runtime, so the requests are
//! generic over a [`Replies`] family.

use std::fmt;
use std::time::Instant;

use faxnotify_core::SessionId;
use faxnotify_core::client::{
    self, ChangeSettingsError, ClientState, LogoutError, NetworkSettings, SettingsChange,
};
use faxnotify_core::server::{
    self, Accepted, NotifyError, NotifyReport, NotifySummary, SessionInfo, Target, UnknownSession,
};
use faxnotify_core::wire::{EncodedNotification, Notification};

/// A runtime's reply channels: one type per answer type, and how to answer.
///
/// A runtime implements it on a marker type of its own, e.g. for
/// `std::sync::mpsc`:
///
/// ```
/// use std::sync::mpsc::SyncSender;
/// use faxnotify_runtime::Replies;
///
/// struct Sync;
/// impl Replies for Sync {
///     type Reply<T> = SyncSender<T>;
///     fn send<T>(reply: SyncSender<T>, value: T) {
///         // The caller gave up waiting: nobody to tell.
///         let _ = reply.send(value);
///     }
/// }
/// ```
pub trait Replies {
    /// The sending half of a one-shot reply channel for a `T`.
    type Reply<T>;
    /// Answers; a caller that stopped waiting is not an error.
    fn send<T>(reply: Self::Reply<T>, value: T);
}

/// A request to a server, answered by its core.
#[non_exhaustive]
pub enum ServerRequest<R: Replies> {
    /// [`Server::notify`](server::Server::notify), encoded on the
    /// application's thread ([`encode_on_this_thread`](crate::encode_on_this_thread)):
    /// the report tells each session's seq.
    Notify {
        /// Who.
        target: Target,
        /// What, encoded.
        notification: EncodedNotification,
        /// The answer.
        reply: R::Reply<NotifyReport>,
    },
    /// [`ServerRequest::Notify`] for each, in order ([`EncodedBatch`]).
    NotifyBatch {
        /// The notifications.
        batch: Vec<(Target, EncodedNotification)>,
        /// One answer per notification.
        reply: R::Reply<Vec<NotifyReport>>,
    },
    /// [`Server::notify_encoded`](server::Server::notify_encoded): the
    /// notification was encoded on the application's thread.
    NotifyEncoded {
        /// Who.
        target: Target,
        /// What, encoded.
        notification: EncodedNotification,
        /// The answer.
        reply: R::Reply<NotifySummary>,
    },
    /// [`Server::sessions`](server::Server::sessions).
    Sessions {
        /// The answer.
        reply: R::Reply<Vec<SessionInfo>>,
    },
    /// [`Server::session`](server::Server::session).
    Session {
        /// Which.
        id: SessionId,
        /// The answer.
        reply: R::Reply<Option<SessionInfo>>,
    },
    /// [`Server::end_session`](server::Server::end_session).
    EndSession {
        /// Which.
        id: SessionId,
        /// The answer.
        reply: R::Reply<Result<(), UnknownSession>>,
    },
}

impl<R: Replies> ServerRequest<R> {
    /// Answers the request from `server`. The caller drains the server's
    /// outputs afterwards (a notification or a BYE may be queued).
    pub fn answer(self, server: &mut server::Server, now: Instant) {
        match self {
            ServerRequest::Notify {
                target,
                notification,
                reply,
            } => R::send(reply, report(server, now, &target, &notification)),
            ServerRequest::NotifyBatch { batch, reply } => {
                let reports = batch
                    .iter()
                    .map(|(target, notification)| report(server, now, target, notification))
                    .collect();
                R::send(reply, reports);
            }
            ServerRequest::NotifyEncoded {
                target,
                notification,
                reply,
            } => R::send(reply, server.notify_encoded(now, &target, &notification)),
            ServerRequest::Sessions { reply } => R::send(reply, server.sessions().collect()),
            ServerRequest::Session { id, reply } => R::send(reply, server.session(id)),
            ServerRequest::EndSession { id, reply } => R::send(reply, server.end_session(now, id)),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            ServerRequest::Notify { .. } => "Notify",
            ServerRequest::NotifyBatch { .. } => "NotifyBatch",
            ServerRequest::NotifyEncoded { .. } => "NotifyEncoded",
            ServerRequest::Sessions { .. } => "Sessions",
            ServerRequest::Session { .. } => "Session",
            ServerRequest::EndSession { .. } => "EndSession",
        }
    }
}

impl<R: Replies> fmt::Debug for ServerRequest<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The reply channel says nothing worth printing.
        f.write_str(self.name())
    }
}

/// [`Server::notify`](server::Server::notify)'s per-session report, for a
/// notification already encoded.
fn report(
    server: &mut server::Server,
    now: Instant,
    target: &Target,
    notification: &EncodedNotification,
) -> NotifyReport {
    let mut report = NotifyReport::default();
    server.notify_each(now, target, notification, |session, result| match result {
        Ok(seq) => report.accepted.push(Accepted { session, seq }),
        Err(refused) => report.refused.push((session, refused)),
    });
    report
}

/// A `notify_batch` encoded on the application's thread: the notifications
/// to send ([`ServerRequest::NotifyBatch`]) and, for the answer, where the
/// ones that cannot be encoded were.
#[derive(Debug)]
pub struct EncodedBatch {
    /// What to send, in order.
    batch: Vec<(Target, EncodedNotification)>,
    /// The position of each notification that cannot be encoded, and why.
    errors: Vec<(usize, NotifyError)>,
}

impl EncodedBatch {
    /// Encodes each notification on this thread
    /// ([`encode_on_this_thread`](crate::encode_on_this_thread)).
    pub fn encode(batch: Vec<(Target, Notification)>) -> Self {
        let mut encoded = Vec::with_capacity(batch.len());
        let mut errors = Vec::new();
        for (i, (target, notification)) in batch.into_iter().enumerate() {
            match crate::encode_on_this_thread(&notification) {
                Ok(n) => encoded.push((target, n)),
                Err(e) => errors.push((i, NotifyError::Encode(e))),
            }
        }
        Self {
            batch: encoded,
            errors,
        }
    }

    /// What to send, in order (taken once; the errors stay for
    /// [`EncodedBatch::answer`]).
    pub fn take_batch(&mut self) -> Vec<(Target, EncodedNotification)> {
        std::mem::take(&mut self.batch)
    }

    /// The answer to the original batch: the loop's reports for what was
    /// sent, with the encoding errors back in their places.
    pub fn answer(self, reports: Vec<NotifyReport>) -> Vec<Result<NotifyReport, NotifyError>> {
        let mut out = Vec::with_capacity(reports.len() + self.errors.len());
        let mut errors = self.errors.into_iter().peekable();
        let mut reports = reports.into_iter();
        loop {
            if let Some((i, _)) = errors.peek()
                && *i == out.len()
                && let Some((_, e)) = errors.next()
            {
                out.push(Err(e));
                continue;
            }
            match reports.next() {
                Some(report) => out.push(Ok(report)),
                None => break,
            }
        }
        out.extend(errors.map(|(_, e)| Err(e)));
        out
    }
}

/// A request to a client, answered by its core.
#[non_exhaustive]
pub enum ClientRequest<R: Replies> {
    /// [`Client::logout`](client::Client::logout).
    Logout {
        /// The answer.
        reply: R::Reply<Result<(), LogoutError>>,
    },
    /// [`Client::state`](client::Client::state) and
    /// [`Client::session`](client::Client::session).
    State {
        /// The answer.
        reply: R::Reply<(ClientState, Option<SessionId>)>,
    },
    /// [`Client::change_settings`](client::Client::change_settings).
    ChangeSettings {
        /// The new settings.
        settings: NetworkSettings,
        /// The answer.
        reply: R::Reply<Result<SettingsChange, ChangeSettingsError>>,
    },
}

impl<R: Replies> ClientRequest<R> {
    /// Answers the request from `client`. The caller drains the client's
    /// outputs afterwards (a logout queues a BYE).
    pub fn answer(self, client: &mut client::Client, now: Instant) {
        match self {
            ClientRequest::Logout { reply } => R::send(reply, client.logout(now)),
            ClientRequest::State { reply } => R::send(reply, (client.state(), client.session())),
            ClientRequest::ChangeSettings { settings, reply } => {
                R::send(reply, client.change_settings(settings));
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            ClientRequest::Logout { .. } => "Logout",
            ClientRequest::State { .. } => "State",
            ClientRequest::ChangeSettings { .. } => "ChangeSettings",
        }
    }
}

impl<R: Replies> fmt::Debug for ClientRequest<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxnotify_core::wire::EncodeError;

    #[test]
    fn encoding_errors_go_back_to_their_places() {
        let ok = Notification::server_message("fine");
        let bad = Notification::server_message("x".repeat(5_000));
        let batch = vec![
            (Target::All, bad.clone()),
            (Target::All, ok.clone()),
            (Target::All, bad.clone()),
            (Target::All, ok),
            (Target::All, bad),
        ];
        let mut encoded = EncodedBatch::encode(batch);
        assert_eq!(encoded.take_batch().len(), 2);
        let reports = vec![NotifyReport::default(), NotifyReport::default()];
        let answer = encoded.answer(reports);
        let shape: Vec<bool> = answer.iter().map(Result::is_ok).collect();
        assert_eq!(shape, vec![false, true, false, true, false]);
        assert!(matches!(
            answer[0],
            Err(NotifyError::Encode(EncodeError::StringTooLong { .. }))
        ));
    }
}

//! The node's readers of the log [D-17]: one per user with sessions held
//! here, shared by those sessions, so that each log message is fetched once
//! per server, not once per session (`reader.rs` serves each session at its
//! own position and seq). The loop adds and removes sessions here; a
//! reader's task runs while its user has a session held here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use faxnotify_core::SessionId;
use faxnotify_tokio::Server;
use tokio::sync::{Notify, mpsc};
use tokio::task::AbortHandle;

use super::glue::Msg;
use super::reader;
use super::retention::Retention;
use crate::connect::Bus;
use crate::ids::LogPos;

/// Where a session joins its user's reader.
#[derive(Clone, Copy, Debug)]
pub(super) struct Joined {
    /// Which hold of the session (a session released and held again is
    /// another member: nothing of the old hold's reaches the new one).
    pub(super) generation: u64,
    /// Everything of the user's log before this position was handed over.
    pub(super) from: LogPos,
    /// The session seq of the notification at `from`.
    pub(super) next_seq: u64,
}

/// What a user's reader and the loop share: the sessions to serve, and
/// the wake-ups.
#[derive(Clone, Debug, Default)]
pub(super) struct Shared {
    members: Arc<Mutex<HashMap<SessionId, Joined>>>,
    /// A session joined: serve it now, not after the next log message.
    pub(super) joined: Arc<Notify>,
    /// Acknowledgements freed room in one of the sessions' queues.
    pub(super) room: Arc<Notify>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Joined>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sessions to serve now, with where each joined.
    pub(super) fn members(&self) -> Vec<(SessionId, Joined)> {
        self.lock().iter().map(|(s, j)| (*s, *j)).collect()
    }

    /// Whether this hold of `session` is still to be served.
    pub(super) fn serves(&self, session: SessionId, generation: u64) -> bool {
        self.lock()
            .get(&session)
            .is_some_and(|j| j.generation == generation)
    }

    /// Stops serving this hold of `session` (the reader ended it, or the
    /// loop let it go); true when no session is left.
    pub(super) fn remove(&self, session: SessionId, generation: u64) -> bool {
        let mut members = self.lock();
        if members
            .get(&session)
            .is_some_and(|j| j.generation == generation)
        {
            members.remove(&session);
        }
        members.is_empty()
    }
}

/// What every reader of the node works with.
pub(super) struct Readers {
    bus: Bus,
    server: Server,
    msgs: mpsc::UnboundedSender<Msg>,
    retention: Retention,
    by_user: HashMap<String, (Shared, AbortHandle)>,
}

impl Readers {
    pub(super) fn new(
        bus: Bus,
        server: Server,
        msgs: mpsc::UnboundedSender<Msg>,
        retention: Retention,
    ) -> Self {
        Self {
            bus,
            server,
            msgs,
            retention,
            by_user: HashMap::new(),
        }
    }

    /// Serves `session` from `joined` on with `user`'s reader (started if
    /// it has none); returns the notify that acknowledgements of the
    /// session wake.
    pub(super) fn join(&mut self, user: &str, session: SessionId, joined: Joined) -> Arc<Notify> {
        let (shared, _) = self.by_user.entry(user.to_owned()).or_insert_with(|| {
            let shared = Shared::default();
            let cx = reader::Context {
                bus: self.bus.clone(),
                server: self.server.clone(),
                user: user.to_owned(),
                msgs: self.msgs.clone(),
                shared: shared.clone(),
                retention: self.retention.clone(),
            };
            let task = tokio::spawn(reader::read(cx)).abort_handle();
            (shared, task)
        });
        shared.lock().insert(session, joined);
        shared.joined.notify_one();
        Arc::clone(&shared.room)
    }

    /// Stops serving this hold of `session`; a reader left without
    /// sessions ends.
    pub(super) fn leave(&mut self, user: &str, session: SessionId, generation: u64) {
        let Some((shared, task)) = self.by_user.get(user) else {
            return;
        };
        if shared.remove(session, generation) {
            task.abort();
            self.by_user.remove(user);
        }
    }

    /// How many readers run (users with a session held here).
    pub(super) fn len(&self) -> usize {
        self.by_user.len()
    }

    /// Ends every reader (the node stops).
    pub(super) fn stop_all(&mut self) {
        for (_, (_, task)) in self.by_user.drain() {
            task.abort();
        }
    }
}

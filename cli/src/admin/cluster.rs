//! The admin socket's notify in cluster mode [D-17]: a notification is
//! published to the cluster's log and answered "accepted" only once the
//! cluster stored it durably (a refusal otherwise, saying why); with
//! delivery reports, the reports of every session of the user in the whole
//! cluster come back through the bus ([`ClusterTracker`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use faxnotify_cluster::{LogPos, Outcome, Report};
use faxnotify_core::auth::prepare_username;
use faxnotify_core::wire::{EncodedNotification, Notification, NotificationKind};
use serde_json::{Value, json};

use super::protocol::{To, codes, error_reply};
use crate::runtime::cluster::ClusterControl;
use crate::user_store::SharedUsers;

/// Reports remembered for registrations that come after them.
const REMEMBERED: usize = 4096;

/// One user's notification, as accepted.
#[derive(Clone, Debug)]
pub struct Published {
    /// The prepared user.
    pub user: String,
    /// Its position in the log (a log message may hold several).
    pub position: LogPos,
    /// The sessions whose reports to wait for (with delivery reports only).
    pub sessions: Vec<u64>,
}

/// Publishes a notify request's notification: the reply, and what to wait
/// for (none for an error reply).
pub fn notify(
    cluster: &ClusterControl,
    users: &SharedUsers,
    to: &To,
    notification: &Notification,
    reports: bool,
) -> (Value, Option<Vec<Published>>) {
    let refuse = |reply: Value| (reply, None);
    let targets = match to {
        To::All => users.names(),
        To::User(name) => {
            let prepared = match prepare_username(name) {
                Ok(p) => p,
                Err(e) => return refuse(error_reply(codes::NO_SUCH_USER, e.to_string())),
            };
            if !users.contains(&prepared) {
                return refuse(error_reply(
                    codes::NO_SUCH_USER,
                    format!("no user {prepared:?} in the users file"),
                ));
            }
            vec![prepared]
        }
        To::Session(_) => {
            return refuse(error_reply(
                codes::BAD_REQUEST,
                "in cluster mode a session's notifications come from its user's log: \
                 notify the user (--user) or everyone (--all)",
            ));
        }
    };
    let encoded = match EncodedNotification::encode(notification) {
        Ok(encoded) => encoded,
        Err(e) => return refuse(error_reply(codes::BAD_REQUEST, e.to_string())),
    };
    let mut published = Vec::with_capacity(targets.len());
    for user in targets {
        match cluster.publish(&user, &encoded) {
            Ok(position) => published.push(Published {
                user,
                position,
                sessions: Vec::new(),
            }),
            Err(failure) => {
                // Those published before stay accepted: say which.
                let done: Vec<Value> = published
                    .iter()
                    .map(|p| {
                        json!({"user": p.user, "log_seq": p.position.seq.0,
                                     "log_index": p.position.index})
                    })
                    .collect();
                let code = if failure.may_be_stored() {
                    codes::DURABILITY_UNKNOWN
                } else {
                    codes::NOT_DURABLE
                };
                let mut reply = error_reply(code, failure.to_string());
                if let Some(object) = reply.as_object_mut() {
                    object.insert("accepted".into(), Value::Array(done));
                }
                return refuse(reply);
            }
        }
    }
    let kind = NotificationKind::from_wire(notification.kind()).map_or("unknown", |k| k.name());
    tracing::info!(
        "admin notify ({kind}) accepted by the cluster for {} user(s)",
        published.len()
    );
    let mut recipients = 0usize;
    if reports {
        for p in &mut published {
            match cluster.sessions_of(&p.user, p.position.seq.0) {
                Ok(sessions) => p.sessions = sessions,
                Err(e) => {
                    tracing::warn!("cannot count {}'s sessions in the cluster: {e}", p.user);
                }
            }
            recipients += p.sessions.len();
        }
    }
    let accepted: Vec<Value> = published
        .iter()
        .map(|p| {
            json!({"user": p.user, "log_seq": p.position.seq.0,
                                     "log_index": p.position.index})
        })
        .collect();
    let reply = json!({"ok": true, "kind": notification.kind(), "cluster": true,
                       "accepted": accepted, "refused": [], "recipients": recipients});
    (reply, Some(published))
}

/// A request whose recipients are not all reported yet.
#[derive(Debug)]
struct Waiting {
    id: Value,
    /// The admin connection waiting.
    connection: u64,
    lines: Sender<Value>,
    /// (log position, session) → user.
    remaining: HashMap<(LogPos, u64), String>,
    delivered: usize,
    undelivered: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Reports seen, by (log position, session): outcome and session seq.
    seen: HashMap<(LogPos, u64), (Outcome, u64)>,
    seen_order: VecDeque<(LogPos, u64)>,
    requests: HashMap<u64, Waiting>,
    next: u64,
}

/// The reports of this server's notifications, matched to the admin
/// connections waiting for them. A report may come twice (a session's new
/// owner redelivers what was not yet persisted as acknowledged): the first
/// one counts.
#[derive(Clone, Debug, Default)]
pub struct ClusterTracker(Arc<Mutex<State>>);

impl State {
    fn deliver(&mut self, key: u64, at: (LogPos, u64), outcome: &Outcome, seq: u64) {
        let Some(waiting) = self.requests.get_mut(&key) else {
            return;
        };
        let Some(user) = waiting.remaining.remove(&at) else {
            return;
        };
        let session = format!("{:016x}", at.1);
        let line = match outcome {
            Outcome::Delivered => {
                waiting.delivered += 1;
                json!({"id": waiting.id, "report": "delivered", "session": session,
                       "user": user, "seq": seq, "log_seq": at.0.seq.0,
                       "log_index": at.0.index})
            }
            Outcome::Undelivered { reason } => {
                waiting.undelivered += 1;
                // Seq 0: the session ended before its server read the
                // notification from the log, so it never had a seq there.
                let seq = (seq != 0).then_some(seq);
                json!({"id": waiting.id, "report": "undelivered", "session": session,
                       "user": user, "seq": seq, "log_seq": at.0.seq.0,
                       "log_index": at.0.index, "reason": "session_ended", "message": reason})
            }
            _ => return,
        };
        let _ = waiting.lines.send(line);
        if waiting.remaining.is_empty() {
            self.finish(key);
        }
    }

    fn finish(&mut self, key: u64) {
        if let Some(w) = self.requests.remove(&key) {
            let _ = w.lines.send(json!({"id": w.id, "report": "done",
                "delivered": w.delivered, "undelivered": w.undelivered}));
        }
    }
}

impl ClusterTracker {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every wait of admin connection `connection`, whose client
    /// has gone: its reports are no longer written anywhere.
    pub fn cancel(&self, connection: u64) {
        self.lock()
            .requests
            .retain(|_, waiting| waiting.connection != connection);
    }

    /// A report from the bus.
    pub fn report(&self, report: &Report) {
        let at = (report.position(), report.session);
        let mut state = self.lock();
        if state.seen.contains_key(&at) {
            return;
        }
        state
            .seen
            .insert(at, (report.outcome.clone(), report.session_seq));
        state.seen_order.push_back(at);
        if state.seen_order.len() > REMEMBERED
            && let Some(old) = state.seen_order.pop_front()
        {
            state.seen.remove(&old);
        }
        let keys: Vec<u64> = state
            .requests
            .iter()
            .filter(|(_, w)| w.remaining.contains_key(&at))
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            state.deliver(key, at, &report.outcome, report.session_seq);
        }
    }

    /// Waits for the reports of `published` on behalf of an admin
    /// connection: report lines labelled `id`, then `done`.
    pub fn register(
        &self,
        connection: u64,
        id: Value,
        lines: Sender<Value>,
        published: &[Published],
    ) {
        let mut state = self.lock();
        let key = state.next;
        state.next += 1;
        let remaining: HashMap<(LogPos, u64), String> = published
            .iter()
            .flat_map(|p| {
                p.sessions
                    .iter()
                    .map(|s| ((p.position, *s), p.user.clone()))
            })
            .collect();
        let ready: HashSet<(LogPos, u64)> = remaining
            .keys()
            .filter(|at| state.seen.contains_key(at))
            .copied()
            .collect();
        state.requests.insert(
            key,
            Waiting {
                id,
                connection,
                lines,
                remaining,
                delivered: 0,
                undelivered: 0,
            },
        );
        for at in ready {
            if let Some((outcome, seq)) = state.seen.get(&at).cloned() {
                state.deliver(key, at, &outcome, seq);
            }
        }
        if state
            .requests
            .get(&key)
            .is_some_and(|w| w.remaining.is_empty())
        {
            state.finish(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{self, TryRecvError};

    use faxnotify_cluster::{LogPos, LogSeq};

    use super::*;

    fn published() -> Vec<Published> {
        vec![Published {
            user: "alice".into(),
            position: LogPos {
                seq: LogSeq(7),
                index: 0,
            },
            sessions: vec![0x42],
        }]
    }

    #[test]
    fn a_cancelled_connection_lets_go_of_its_waits_and_only_its_own() {
        let tracker = ClusterTracker::default();
        let (gone_tx, gone) = mpsc::channel();
        let (staying_tx, staying) = mpsc::channel();
        tracker.register(1, json!("a"), gone_tx, &published());
        tracker.register(2, json!("b"), staying_tx, &published());
        tracker.cancel(1);
        // Its writer's channel ends: nothing holds it open any longer.
        assert_eq!(gone.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(staying.try_recv(), Err(TryRecvError::Empty));
    }
}

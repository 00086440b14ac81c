//! Delivery reports for the admin socket: what became of each accepted
//! notification (issue 17, case 6).
//!
//! The thread that drains the server's events feeds every event to
//! [`Tracker::observe`]; an admin connection that asked for reports
//! registers the (session, seq) pairs a notify was accepted for, and gets a
//! report line for each one when its session acknowledges it (`delivered`)
//! or ends without doing so (`undelivered`), then a `done` line.
//!
//! Events and registrations race: an acknowledgement can be drained before
//! the admin thread registers the seq it was waiting for. So the tracker
//! keeps, for every session it has seen, the highest acknowledged seq, and
//! for recently closed ones how they ended; a registration is checked
//! against those first. Acknowledgements are cumulative [B-3], so one
//! number per session is enough.
//!
//! Nothing here blocks: reports go to each connection's writer through an
//! unbounded channel holding at most one line per registered recipient
//! (and one `done` per request).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use faxnotify_core::SessionId;
use faxnotify_core::server::{CloseReason, Event};
use serde_json::{Value, json};

/// Closed sessions remembered for late registrations.
const CLOSED_REMEMBERED: usize = 4096;

/// One recipient of a notify request: its session, user and seq.
#[derive(Clone, Debug)]
pub struct Recipient {
    /// The session.
    pub session: SessionId,
    /// Its user, if known.
    pub user: Option<String>,
    /// The seq the notification got in it.
    pub seq: u64,
}

/// How a session ended, for its undelivered reports.
#[derive(Clone, Debug)]
struct Ended {
    acked: u64,
    reason: &'static str,
    message: String,
}

/// A request whose recipients are not all reported yet.
#[derive(Debug)]
struct Request {
    id: Value,
    lines: Sender<Value>,
    connection: u64,
    remaining: usize,
    delivered: usize,
    undelivered: usize,
}

/// The requests (and user names) waiting for one seq of a session.
type Waiters = Vec<(u64, Option<String>)>;

#[derive(Debug, Default)]
struct State {
    /// Live sessions' highest acknowledged seq.
    acked: HashMap<SessionId, u64>,
    /// Recently closed sessions, oldest first.
    closed: HashMap<SessionId, Ended>,
    closed_order: VecDeque<SessionId>,
    /// Waiting recipients: session → seq → (request, user).
    waits: HashMap<SessionId, BTreeMap<u64, Waiters>>,
    requests: HashMap<u64, Request>,
    next_request: u64,
    /// The server has stopped: nothing waiting can be delivered any more.
    stopped: bool,
}

/// Shared between the event-draining thread and the admin connections.
#[derive(Clone, Debug, Default)]
pub struct Tracker(Arc<Mutex<State>>);

fn close_reason(reason: &CloseReason) -> &'static str {
    match reason {
        CloseReason::Logout => "logout",
        CloseReason::LeaseExpired => "lease_expired",
        CloseReason::Replaced { .. } => "replaced",
        CloseReason::EndedByServer => "ended_by_server",
        CloseReason::Shutdown => "shutdown",
        CloseReason::ProtocolError(_) => "protocol_error",
        _ => "session_ended",
    }
}

impl State {
    /// Reports one recipient and, after the last one, the request's `done`.
    fn report(&mut self, key: u64, session: SessionId, user: Option<String>, seq: u64) {
        let acked = self.acked.get(&session).copied().unwrap_or(0);
        let outcome = match self.closed.get(&session) {
            Some(ended) if seq > ended.acked => Err(ended.clone()),
            None if self.stopped && seq > acked => Err(Ended {
                acked,
                reason: "shutdown",
                message: "the server stopped before the client acknowledged it".to_owned(),
            }),
            _ => Ok(()),
        };
        let Some(request) = self.requests.get_mut(&key) else {
            return;
        };
        let line = match outcome {
            Ok(()) => {
                request.delivered += 1;
                json!({"id": request.id, "report": "delivered", "session": session.to_string(),
                       "user": user, "seq": seq})
            }
            Err(ended) => {
                request.undelivered += 1;
                json!({"id": request.id, "report": "undelivered", "session": session.to_string(),
                       "user": user, "seq": seq, "reason": ended.reason, "message": ended.message})
            }
        };
        // A connection that is gone drops its reports.
        let _ = request.lines.send(line);
        request.remaining -= 1;
        if request.remaining == 0 {
            self.finish(key);
        }
    }

    fn finish(&mut self, key: u64) {
        if let Some(request) = self.requests.remove(&key) {
            let _ = request
                .lines
                .send(json!({"id": request.id, "report": "done",
                "delivered": request.delivered, "undelivered": request.undelivered}));
        }
    }
}

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes note of a server event (acknowledgements and session ends).
    pub fn observe(&self, event: &Event) {
        match event {
            Event::Delivered {
                session, last_seq, ..
            } => {
                let mut state = self.lock();
                let acked = state.acked.entry(*session).or_default();
                *acked = (*acked).max(*last_seq);
                let done = match state.waits.get_mut(session) {
                    Some(waits) => {
                        let later = waits.split_off(&(last_seq + 1));
                        std::mem::replace(waits, later)
                    }
                    None => return,
                };
                for (seq, waiters) in done {
                    for (key, user) in waiters {
                        state.report(key, *session, user, seq);
                    }
                }
            }
            Event::SessionClosed {
                session, reason, ..
            } => {
                let mut state = self.lock();
                let acked = state.acked.remove(session).unwrap_or(0);
                state.closed.insert(
                    *session,
                    Ended {
                        acked,
                        reason: close_reason(reason),
                        message: format!(
                            "the session ended ({reason}) before the client acknowledged it"
                        ),
                    },
                );
                state.closed_order.push_back(*session);
                if state.closed_order.len() > CLOSED_REMEMBERED
                    && let Some(old) = state.closed_order.pop_front()
                {
                    state.closed.remove(&old);
                }
                for (seq, waiters) in state.waits.remove(session).unwrap_or_default() {
                    for (key, user) in waiters {
                        state.report(key, *session, user, seq);
                    }
                }
            }
            _ => {}
        }
    }

    /// Registers a request's accepted recipients; report lines (labelled
    /// with `id`) and a final `done` line go to `lines`. Recipients already
    /// acknowledged or ended are reported at once.
    pub fn register(
        &self,
        connection: u64,
        id: Value,
        lines: Sender<Value>,
        recipients: Vec<Recipient>,
    ) {
        let mut state = self.lock();
        let key = state.next_request;
        state.next_request += 1;
        state.requests.insert(
            key,
            Request {
                id,
                lines,
                connection,
                remaining: recipients.len(),
                delivered: 0,
                undelivered: 0,
            },
        );
        if recipients.is_empty() {
            state.finish(key);
            return;
        }
        for r in recipients {
            let acked = state.acked.get(&r.session).copied().unwrap_or(0);
            if r.seq <= acked || state.stopped || state.closed.contains_key(&r.session) {
                state.report(key, r.session, r.user, r.seq);
            } else {
                state
                    .waits
                    .entry(r.session)
                    .or_default()
                    .entry(r.seq)
                    .or_default()
                    .push((key, r.user));
            }
        }
    }

    /// The server has stopped (its events have ended): every recipient
    /// still waiting is reported undelivered now, and so is any registered
    /// later, since no acknowledgement can come any more.
    pub fn server_stopped(&self) {
        let mut state = self.lock();
        state.stopped = true;
        // In session order, so that the reports come in a stable order.
        let mut waiting: Vec<_> = std::mem::take(&mut state.waits).into_iter().collect();
        waiting.sort_by_key(|(session, _)| *session);
        for (session, waits) in waiting {
            for (seq, waiters) in waits {
                for (key, user) in waiters {
                    state.report(key, session, user, seq);
                }
            }
        }
    }

    /// Forgets the requests of a connection that has closed.
    pub fn cancel(&self, connection: u64) {
        let mut state = self.lock();
        let gone: Vec<u64> = state
            .requests
            .iter()
            .filter(|(_, r)| r.connection == connection)
            .map(|(k, _)| *k)
            .collect();
        if gone.is_empty() {
            return;
        }
        for key in &gone {
            state.requests.remove(key);
        }
        for waits in state.waits.values_mut() {
            for waiters in waits.values_mut() {
                waiters.retain(|(key, _)| !gone.contains(key));
            }
            waits.retain(|_, waiters| !waiters.is_empty());
        }
        state.waits.retain(|_, waits| !waits.is_empty());
    }

    /// Recipients still waiting for a report, over every connection.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock()
            .waits
            .values()
            .flat_map(|w| w.values())
            .map(Vec::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc;

    use super::*;

    fn session(n: u64) -> SessionId {
        SessionId::new(n).unwrap()
    }

    fn recipient(s: u64, seq: u64) -> Recipient {
        Recipient {
            session: session(s),
            user: Some("alice".into()),
            seq,
        }
    }

    fn delivered(s: u64, first_seq: u64, last_seq: u64) -> Event {
        Event::Delivered {
            session: session(s),
            first_seq,
            last_seq,
        }
    }

    fn closed(s: u64) -> Event {
        Event::SessionClosed {
            session: session(s),
            user: Arc::from("alice"),
            reason: CloseReason::LeaseExpired,
        }
    }

    fn lines(rx: &mpsc::Receiver<Value>) -> Vec<String> {
        rx.try_iter()
            .map(|v| match v["report"].as_str() {
                Some("done") => format!("done {} {}", v["delivered"], v["undelivered"]),
                Some(r) => format!("{r} {} {}", v["session"].as_str().unwrap(), v["seq"]),
                None => panic!("{v}"),
            })
            .collect()
    }

    #[test]
    fn each_recipient_is_reported_once_then_done() {
        let tracker = Tracker::default();
        let (tx, rx) = mpsc::channel();
        tracker.register(1, json!("a"), tx, vec![recipient(1, 5), recipient(2, 3)]);
        assert_eq!(lines(&rx), Vec::<String>::new());
        tracker.observe(&delivered(1, 1, 4));
        assert_eq!(lines(&rx), Vec::<String>::new());
        tracker.observe(&delivered(1, 5, 6));
        assert_eq!(lines(&rx), vec!["delivered 0000000000000001 5"]);
        tracker.observe(&closed(2));
        assert_eq!(
            lines(&rx),
            vec!["undelivered 0000000000000002 3", "done 1 1"]
        );
        assert_eq!(tracker.waiting(), 0);
    }

    #[test]
    fn events_drained_before_the_registration_still_count() {
        let tracker = Tracker::default();
        tracker.observe(&delivered(1, 1, 7));
        tracker.observe(&delivered(2, 1, 2));
        tracker.observe(&closed(2));
        let (tx, rx) = mpsc::channel();
        tracker.register(
            1,
            json!(7),
            tx,
            vec![recipient(1, 7), recipient(2, 2), recipient(2, 3)],
        );
        assert_eq!(
            lines(&rx),
            vec![
                "delivered 0000000000000001 7",
                "delivered 0000000000000002 2",
                "undelivered 0000000000000002 3",
                "done 2 1"
            ]
        );
    }

    #[test]
    fn a_stopped_server_reports_every_waiting_recipient_undelivered() {
        let tracker = Tracker::default();
        let (tx, rx) = mpsc::channel();
        tracker.observe(&delivered(1, 1, 2));
        tracker.register(
            1,
            json!("a"),
            tx.clone(),
            vec![recipient(1, 3), recipient(2, 1)],
        );
        tracker.server_stopped();
        assert_eq!(
            lines(&rx),
            vec![
                "undelivered 0000000000000001 3",
                "undelivered 0000000000000002 1",
                "done 0 2"
            ]
        );
        // Registered after the stop: acknowledged ones are still delivered.
        tracker.register(1, json!("b"), tx, vec![recipient(1, 2), recipient(1, 4)]);
        assert_eq!(
            lines(&rx),
            vec![
                "delivered 0000000000000001 2",
                "undelivered 0000000000000001 4",
                "done 1 1"
            ]
        );
        assert_eq!(tracker.waiting(), 0);
    }

    #[test]
    fn nothing_to_wait_for_is_done_at_once_and_a_closed_connection_is_forgotten() {
        let tracker = Tracker::default();
        let (tx, rx) = mpsc::channel();
        tracker.register(1, json!("x"), tx.clone(), vec![]);
        assert_eq!(lines(&rx), vec!["done 0 0"]);
        tracker.register(2, json!("y"), tx, vec![recipient(1, 1)]);
        assert_eq!(tracker.waiting(), 1);
        tracker.cancel(2);
        assert_eq!(tracker.waiting(), 0);
        tracker.observe(&delivered(1, 1, 1));
        assert_eq!(lines(&rx), Vec::<String>::new());
    }
}

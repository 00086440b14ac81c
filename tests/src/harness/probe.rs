//! Probes: a server or client under test plus the history of its events,
//! so scenarios can wait for an event without losing the others, check
//! everything that happened at the end (exactly-once delivery), and print
//! the history when an expectation fails.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faxnotify_core::client;
use faxnotify_core::server::{self, NotifyReport, SessionInfo, Target};
use faxnotify_core::wire::Notification;

use faxnotify_mio::PostReport;

use super::{ClientUnderTest, ServerUnderTest, WAIT};

/// Events seen, each of which one `wait_for` may claim.
#[derive(Debug)]
struct History<E> {
    events: Vec<E>,
    claimed: Vec<bool>,
}

impl<E: Debug> History<E> {
    fn new() -> Self {
        Self {
            events: Vec::new(),
            claimed: Vec::new(),
        }
    }

    fn push(&mut self, event: E) {
        self.events.push(event);
        self.claimed.push(false);
    }

    /// Claims the first unclaimed event `pick` accepts.
    fn claim<T>(&mut self, pick: &mut impl FnMut(&E) -> Option<T>) -> Option<T> {
        for (i, event) in self.events.iter().enumerate() {
            if self.claimed[i] {
                continue;
            }
            if let Some(found) = pick(event) {
                self.claimed[i] = true;
                return Some(found);
            }
        }
        None
    }

    fn dump(&self) -> String {
        let mut text = String::new();
        for (i, e) in self.events.iter().enumerate() {
            text.push_str(&format!("  {i:3} {e:?}\n"));
        }
        text
    }
}

/// Waits until `pick` accepts an event (claiming it), pulling new events
/// with `next`. Panics with the history after `timeout`.
fn wait<E: Debug, T>(
    history: &mut History<E>,
    name: &str,
    what: &str,
    timeout: Duration,
    mut next: impl FnMut(Duration) -> Option<E>,
    mut pick: impl FnMut(&E) -> Option<T>,
) -> T {
    if let Some(found) = history.claim(&mut pick) {
        return found;
    }
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!(
                "{name}: no {what} within {timeout:?}; events so far:\n{}",
                history.dump()
            );
        }
        if let Some(event) = next(left) {
            let accepted = pick(&event);
            history.push(event);
            if let Some(found) = accepted {
                let last = history.claimed.len() - 1;
                history.claimed[last] = true;
                return found;
            }
        }
    }
}

/// A client under test and its events.
#[allow(missing_debug_implementations)] // holds a trait object
pub struct ClientProbe {
    /// A name for messages.
    pub name: String,
    inner: Option<Box<dyn ClientUnderTest>>,
    history: History<client::Event>,
}

impl ClientProbe {
    /// Wraps a started client.
    pub fn new(name: impl Into<String>, inner: Box<dyn ClientUnderTest>) -> Self {
        Self {
            name: name.into(),
            inner: Some(inner),
            history: History::new(),
        }
    }

    fn inner(&self) -> &dyn ClientUnderTest {
        self.inner.as_deref().expect("client still running")
    }

    /// The callback listener's address.
    pub fn callback_addr(&self) -> SocketAddr {
        self.inner().callback_addr()
    }

    /// Waits (up to [`WAIT`]) for the first unclaimed event `pick` accepts.
    pub fn wait_for<T>(&mut self, what: &str, pick: impl FnMut(&client::Event) -> Option<T>) -> T {
        let inner = self.inner.as_deref().expect("client still running");
        wait(
            &mut self.history,
            &self.name,
            what,
            WAIT,
            |t| inner.next_event(t),
            pick,
        )
    }

    /// Waits for LoggedIn; returns (session, resumed).
    pub fn wait_logged_in(&mut self) -> (faxnotify_core::SessionId, bool) {
        self.wait_for("LoggedIn", |e| match e {
            client::Event::LoggedIn {
                session, resumed, ..
            } => Some((*session, *resumed)),
            _ => None,
        })
    }

    /// Waits until the notification with `seq` was delivered.
    pub fn wait_seq(&mut self, seq: u64) {
        let done = self.notifications().iter().any(|(s, _)| *s >= seq);
        if !done {
            self.wait_for(&format!("notification seq {seq}"), |e| match e {
                client::Event::Notification { seq: s, .. } if *s >= seq => Some(()),
                _ => None,
            });
        }
    }

    /// Waits until a notification with this server message arrived.
    pub fn wait_message(&mut self, text: &str) {
        let want = Notification::server_message(text);
        if self.notifications().iter().any(|(_, n)| *n == want) {
            return;
        }
        self.wait_for(&format!("notification {text:?}"), |e| match e {
            client::Event::Notification { notification, .. } if *notification == want => Some(()),
            _ => None,
        });
    }

    /// Every notification delivered so far, in delivery order.
    pub fn notifications(&self) -> Vec<(u64, Notification)> {
        self.history
            .events
            .iter()
            .filter_map(|e| match e {
                client::Event::Notification { seq, notification } => {
                    Some((*seq, notification.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Every event so far.
    pub fn events(&self) -> &[client::Event] {
        &self.history.events
    }

    /// The history, for messages.
    pub fn dump(&self) -> String {
        self.history.dump()
    }

    /// Fault: see [`ClientUnderTest::suspend_listener`].
    pub fn suspend_listener(&self) {
        self.inner().suspend_listener();
    }

    /// See [`ClientUnderTest::resume_listener`].
    pub fn resume_listener(&self) {
        self.inner().resume_listener();
    }

    /// Logs out and waits for LoggedOut; returns whether the server confirmed it.
    pub fn logout(&mut self) -> bool {
        self.inner().logout();
        self.wait_for("LoggedOut", |e| match e {
            client::Event::LoggedOut { confirmed } => Some(*confirmed),
            _ => None,
        })
    }

    /// Stops the client at once.
    pub fn kill(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.kill();
        }
    }
}

/// A server under test and its events.
#[allow(missing_debug_implementations)] // holds a trait object
pub struct ServerProbe {
    inner: Option<Box<dyn ServerUnderTest>>,
    history: History<server::Event>,
}

impl ServerProbe {
    /// Wraps a started server.
    pub fn new(inner: Box<dyn ServerUnderTest>) -> Self {
        Self {
            inner: Some(inner),
            history: History::new(),
        }
    }

    fn inner(&self) -> &dyn ServerUnderTest {
        self.inner.as_deref().expect("server still running")
    }

    /// The control address.
    pub fn addr(&self) -> SocketAddr {
        self.inner().addr()
    }

    /// Notifies `target`.
    pub fn notify(&self, target: Target, notification: &Notification) -> NotifyReport {
        self.inner().notify(target, notification)
    }

    /// Notifies everyone with a server message.
    pub fn broadcast(&self, text: &str) -> NotifyReport {
        self.notify(Target::All, &Notification::server_message(text))
    }

    /// The live sessions.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.inner().sessions()
    }

    /// Waits (up to [`WAIT`]) for the first unclaimed event `pick` accepts.
    pub fn wait_for<T>(&mut self, what: &str, pick: impl FnMut(&server::Event) -> Option<T>) -> T {
        let inner = self.inner.as_deref().expect("server still running");
        wait(
            &mut self.history,
            "server",
            what,
            WAIT,
            |t| inner.next_event(t),
            pick,
        )
    }

    /// Polls the session list until `check` accepts it (up to [`WAIT`]).
    pub fn wait_sessions(&mut self, what: &str, mut check: impl FnMut(&[SessionInfo]) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let sessions = self.sessions();
            if check(&sessions) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("server: sessions never became {what}: {sessions:#?}");
            }
            // Meanwhile keep the event history going.
            if let Some(event) = self.inner().next_event(Duration::from_millis(20)) {
                self.history.push(event);
            }
        }
    }

    /// Every event so far.
    pub fn events(&self) -> &[server::Event] {
        &self.history.events
    }

    /// Pulls events until `count` have come (up to [`WAIT`]).
    pub fn wait_events(&mut self, count: usize) {
        let deadline = Instant::now() + WAIT;
        while self.history.events.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "server: {count} events expected, {} came:\n{}",
                    self.history.events.len(),
                    self.history.dump()
                );
            }
            if let Some(event) = self.inner().next_event(left) {
                self.history.push(event);
            }
        }
    }

    /// What became of the posts since the last call.
    pub fn take_post_report(&self) -> PostReport {
        self.inner().take_post_report()
    }

    /// Graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.shutdown();
        }
    }

    /// Stops at once.
    pub fn kill(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.kill();
        }
    }
}

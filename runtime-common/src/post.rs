//! Fire-and-forget notifications: the application posts encoded
//! notifications into a bounded inbox and goes on; the event loop takes
//! the whole inbox on its next turn, queues each (a run of them for one
//! session in one
//! [`Server::notify_session_batch`](faxnotify_core::server::Server::notify_session_batch)),
//! and adds the outcome to a [`PostReport`] the application reads when it
//! likes. No reply per notification, and one wake-up of the loop for any
//! number of posts made while it was busy ([`WakeGate`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use faxnotify_core::SessionId;
use faxnotify_core::server::{self, NotifySummary, Refused, Target};
use faxnotify_core::wire::EncodedNotification;

/// Refusals a [`PostReport`] lists one by one; beyond that it only counts
/// them, so an application that never reads the report cannot make the
/// loop hold more.
pub const LISTED_REFUSALS: usize = 64;

/// One wake-up for many requests: the sender wakes the loop only when no
/// wake is pending already; the loop re-arms the gate just before it takes
/// what was sent.
///
/// With requests sent faster than the loop turns, only the first of a
/// turn's requests pays the wake (an eventfd write, a task wake-up).
#[derive(Debug, Default)]
pub struct WakeGate {
    pending: AtomicBool,
}

impl WakeGate {
    /// A gate with no wake pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Call after sending: whether this sender must wake the loop (no wake
    /// was pending). Release: what was sent before is visible to the loop
    /// once it has [re-armed](WakeGate::rearm) the gate.
    pub fn should_wake(&self) -> bool {
        !self.pending.swap(true, Ordering::AcqRel)
    }

    /// Call on the loop before taking what was sent: a send from here on
    /// wakes the loop again. Returns whether a wake was pending.
    pub fn rearm(&self) -> bool {
        // A read-modify-write, so that it synchronises with the senders'
        // `should_wake`: everything they sent before is seen after this.
        self.pending.swap(false, Ordering::AcqRel)
    }

    /// Whether a wake is pending (the loop has not re-armed since).
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }
}

/// Why a post was not queued. Nothing was queued then: the caller still
/// owns the decision (retry later, or make a round trip that waits).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostError {
    /// The loop has not taken the `capacity` notifications posted before
    /// (it is busy, or the application posts faster than it can deliver).
    #[error(
        "{capacity} posted notifications are still waiting for the server's loop; post fewer or wait"
    )]
    Full {
        /// The inbox's capacity (`post_capacity` in the runtime's options).
        capacity: usize,
    },
    /// The server has shut down.
    #[error("the server has shut down")]
    Closed,
}

/// What became of posted notifications since the report was last taken
/// ([`PostInbox::take_report`]): how many sessions queued them, and which
/// refused them and why. Per-notification outcomes come later as the
/// server's `Delivered` / `Undelivered` events, as for `notify`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct PostReport {
    /// Notifications the loop has taken from the inbox.
    pub posted: u64,
    /// Session queues that accepted one (a broadcast counts each session).
    pub accepted: u64,
    /// Sessions that refused one (queue full [B-6], no such session).
    pub refused: u64,
    /// The first [`LISTED_REFUSALS`] refusals, in order: which session, why.
    pub refusals: Vec<(SessionId, Refused)>,
}

impl PostReport {
    /// Whether nothing was refused.
    pub fn all_accepted(&self) -> bool {
        self.refused == 0
    }

    fn add(&mut self, summary: NotifySummary) {
        self.posted += 1;
        self.accepted += summary.accepted as u64;
        self.refused += summary.refused.len() as u64;
        let room = LISTED_REFUSALS.saturating_sub(self.refusals.len());
        self.refusals.extend(summary.refused.into_iter().take(room));
    }

    /// A notification posted to one session: [`PostReport::add`] of its
    /// summary, without building one.
    fn add_one(&mut self, session: SessionId, result: Result<u64, Refused>) {
        self.posted += 1;
        match result {
            Ok(_) => self.accepted += 1,
            Err(refused) => {
                self.refused += 1;
                if self.refusals.len() < LISTED_REFUSALS {
                    self.refusals.push((session, refused));
                }
            }
        }
    }

    /// Adds a later report's counts and refusals (the first
    /// [`LISTED_REFUSALS`] of both, in order).
    fn merge(&mut self, later: PostReport) {
        self.posted += later.posted;
        self.accepted += later.accepted;
        self.refused += later.refused;
        let room = LISTED_REFUSALS.saturating_sub(self.refusals.len());
        self.refusals.extend(later.refusals.into_iter().take(room));
    }
}

struct Inbox {
    posts: Vec<(Target, EncodedNotification)>,
    closed: bool,
}

/// The bounded queue of posted notifications between the application's
/// threads and the loop, and the report of what became of them.
///
/// The loop swaps the inbox's vector with an empty one of its own, so both
/// keep their capacity: posting allocates nothing in steady state, and the
/// loop never frees a vector the application allocated.
#[derive(Debug)]
pub struct PostInbox {
    inbox: Mutex<Inbox>,
    report: Mutex<PostReport>,
    capacity: usize,
    gate: Arc<WakeGate>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("posts", &self.posts.len())
            .field("closed", &self.closed)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single push, swap or update: a panic
    // cannot leave the state inconsistent, so poisoning is ignored.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl PostInbox {
    /// An inbox holding at most `capacity` notifications not yet taken,
    /// whose wake-ups go through `gate` (which the loop's other ways in,
    /// such as its command channel, may share: one wake-up serves all).
    pub fn new(capacity: usize, gate: Arc<WakeGate>) -> Self {
        Self {
            inbox: Mutex::new(Inbox {
                posts: Vec::new(),
                closed: false,
            }),
            report: Mutex::new(PostReport::default()),
            capacity,
            gate,
        }
    }

    /// The gate of this inbox's wake-ups (see [`PostInbox::post`]).
    pub fn gate(&self) -> &Arc<WakeGate> {
        &self.gate
    }

    /// Posts every notification of `batch`, or none of them if they do not
    /// all fit. `Ok(true)`: the caller must wake the loop (no wake was
    /// pending); `Ok(false)`: a wake is pending already.
    pub fn post<I>(&self, batch: I) -> Result<bool, PostError>
    where
        I: IntoIterator<Item = (Target, EncodedNotification)>,
        I::IntoIter: ExactSizeIterator,
    {
        let batch = batch.into_iter();
        {
            let mut inbox = lock(&self.inbox);
            if inbox.closed {
                return Err(PostError::Closed);
            }
            if inbox.posts.len() + batch.len() > self.capacity {
                return Err(PostError::Full {
                    capacity: self.capacity,
                });
            }
            inbox.posts.extend(batch);
        }
        Ok(self.gate.should_wake())
    }

    /// The loop's side: re-arms the gate and swaps everything posted into
    /// `into` (which must be empty; its capacity goes to the inbox).
    pub fn take(&self, into: &mut Vec<(Target, EncodedNotification)>) {
        debug_assert!(into.is_empty());
        self.gate.rearm();
        std::mem::swap(&mut lock(&self.inbox).posts, into);
    }

    /// The loop's side: queues every notification of `posts` on `server`,
    /// in order, and adds the outcomes to the report. Posts taken from the
    /// inbox come here (`posts.drain(..)`, which keeps the vector's
    /// capacity), and so do a loop handler's
    /// ([`LoopNotifier`](crate::LoopNotifier)): one accounting for both.
    /// The caller drains the server's outputs afterwards.
    ///
    /// A run of consecutive posts to the same session goes to the core in
    /// one call ([`Server::notify_session_batch`](server::Server::notify_session_batch)):
    /// one session lookup and one pass over its window for the run, its
    /// NOTIFYs written back to back. Each post is still its own
    /// notification with its own seq, and the report counts each as
    /// before.
    pub fn deliver<I>(&self, server: &mut server::Server, now: std::time::Instant, posts: I)
    where
        I: IntoIterator<Item = (Target, EncodedNotification)>,
    {
        // Counted here, then added under the lock once: the lock is not
        // held while the core queues the batch, so an application taking
        // the report meanwhile does not wait for it (and sleep, a
        // context switch on each side).
        let mut taken = PostReport::default();
        let mut posts = posts.into_iter().peekable();
        while let Some((target, notification)) = posts.next() {
            let Target::Session(session) = target else {
                taken.add(server.notify_encoded_owned(now, &target, notification));
                continue;
            };
            // This post and every next one for the same session.
            let run = std::iter::once(notification).chain(std::iter::from_fn(|| {
                posts
                    .next_if(|(next, _)| matches!(next, Target::Session(s) if *s == session))
                    .map(|(_, notification)| notification)
            }));
            server.notify_session_batch(now, session, run, |result| taken.add_one(session, result));
        }
        if taken.posted > 0 {
            lock(&self.report).merge(taken);
        }
    }

    /// What became of the notifications the loop has taken since the last
    /// call; resets the report.
    pub fn take_report(&self) -> PostReport {
        std::mem::take(&mut *lock(&self.report))
    }

    /// The loop has ended: later posts fail with [`PostError::Closed`],
    /// and what is still waiting is dropped (it was never queued, so no
    /// session will report it).
    pub fn close(&self) {
        let mut inbox = lock(&self.inbox);
        inbox.closed = true;
        inbox.posts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use faxnotify_core::client::{Client, ClientConfig, ListenPolicy, NetworkSettings};
    use faxnotify_core::server::{MemoryUserStore, Server, ServerConfig};
    use faxnotify_core::wire::{Notification, Role};
    use faxnotify_testkit::{Net, SERVER_ADDR};

    fn encoded(text: &str) -> EncodedNotification {
        EncodedNotification::encode(&Notification::server_message(text)).expect("encode")
    }

    #[test]
    fn one_wake_per_turn() {
        let inbox = PostInbox::new(8, Arc::default());
        assert_eq!(inbox.post([(Target::All, encoded("a"))]), Ok(true));
        assert_eq!(inbox.post([(Target::All, encoded("b"))]), Ok(false));
        let mut taken = Vec::new();
        inbox.take(&mut taken);
        assert_eq!(taken.len(), 2);
        // Taken: the next post wakes the loop again.
        assert_eq!(inbox.post([(Target::All, encoded("c"))]), Ok(true));
    }

    #[test]
    fn a_full_inbox_refuses_the_whole_batch() {
        let inbox = PostInbox::new(2, Arc::default());
        let three: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|t| (Target::All, encoded(t)))
            .collect();
        assert_eq!(inbox.post(three), Err(PostError::Full { capacity: 2 }));
        assert_eq!(inbox.post([(Target::All, encoded("a"))]), Ok(true));
        let mut taken = Vec::new();
        inbox.take(&mut taken);
        assert_eq!(taken.len(), 1, "nothing of the refused batch was queued");
    }

    #[test]
    fn a_closed_inbox_refuses_and_drops() {
        let inbox = PostInbox::new(2, Arc::default());
        inbox.post([(Target::All, encoded("a"))]).expect("post");
        inbox.close();
        assert_eq!(
            inbox.post([(Target::All, encoded("b"))]),
            Err(PostError::Closed)
        );
        let mut taken = Vec::new();
        inbox.take(&mut taken);
        assert!(taken.is_empty());
    }

    #[test]
    fn the_report_lists_a_bounded_number_of_refusals() {
        let mut report = PostReport::default();
        for i in 0..100u64 {
            let mut summary = NotifySummary::default();
            summary.accepted = 2;
            summary.refused.push((
                SessionId::new(i + 1).expect("non-zero"),
                Refused::NoSuchSession,
            ));
            report.add(summary);
        }
        assert_eq!(report.posted, 100);
        assert_eq!(report.accepted, 200);
        assert_eq!(report.refused, 100);
        assert_eq!(report.refusals.len(), LISTED_REFUSALS);
        assert!(!report.all_accepted());
    }

    #[test]
    fn merged_reports_add_up_and_keep_the_first_refusals() {
        let refusing = |from: u64, count: u64| {
            let mut report = PostReport::default();
            for i in from..from + count {
                let mut summary = NotifySummary::default();
                summary.accepted = 1;
                summary
                    .refused
                    .push((SessionId::new(i).expect("non-zero"), Refused::NoSuchSession));
                report.add(summary);
            }
            report
        };
        let mut report = refusing(1, 3);
        report.merge(refusing(100, LISTED_REFUSALS as u64));
        assert_eq!(report.posted, 3 + LISTED_REFUSALS as u64);
        assert_eq!(report.accepted, report.posted);
        assert_eq!(report.refused, report.posted);
        assert_eq!(report.refusals.len(), LISTED_REFUSALS);
        let first: Vec<u64> = report.refusals[..4].iter().map(|(s, _)| s.get()).collect();
        assert_eq!(first, [1, 2, 3, 100], "in order, the earlier ones first");
    }

    /// Two users logged in (nothing acknowledges while a test runs)
    /// on a server whose session queues hold `queue_limit`.
    fn two_sessions(queue_limit: usize) -> (Net, SessionId, SessionId) {
        const PASSWORD: &str = "correct horse";
        let mut store = MemoryUserStore::new();
        for user in ["user0", "user1"] {
            store
                .add_password(user, PASSWORD, &[0x5a; 16], 4096, Role::User)
                .expect("user");
        }
        let mut config = ServerConfig::new([9; 32]);
        config.queue_limit = queue_limit;
        let server = Server::new(config, Box::new(store), [2; 32]).expect("server");
        let now = Instant::now();
        let mut net = Net::new(server, now);
        for i in 0..2u8 {
            let settings = NetworkSettings::new(ListenPolicy::None);
            let config = ClientConfig::new(SERVER_ADDR, format!("user{i}"), PASSWORD, settings);
            net.add_client(Client::new(config, [i; 32], now).expect("client"));
        }
        net.drive();
        let mut sessions: Vec<_> = net.server.sessions().map(|s| (s.user, s.id)).collect();
        sessions.sort();
        assert_eq!(sessions.len(), 2);
        (net, sessions[0].1, sessions[1].1)
    }

    #[test]
    fn runs_for_one_session_are_reported_as_each_post() {
        // [B-6]: a run for one session is queued in one call, yet every
        // post is counted and refused exactly as on its own: the posts
        // beyond a full queue's room are refused one by one, in order.
        let (mut net, a, b) = two_sessions(3);
        let gone = SessionId::new(u64::MAX).expect("non-zero");
        let targets = [
            Target::Session(a),
            Target::Session(a),
            Target::Session(b),
            Target::Session(a),
            Target::Session(a),
            Target::Session(a),
            Target::All,
            Target::Session(gone),
            Target::Session(b),
        ];
        let posts: Vec<_> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), encoded(&format!("#{i}"))))
            .collect();
        // The reference: each post on its own, as before runs were batched.
        let (mut twin, ta, tb) = two_sessions(3);
        assert_eq!((ta, tb), (a, b), "the same seeds give the same sessions");
        let mut expected = PostReport::default();
        for (target, notification) in posts.clone() {
            let now = twin.now;
            expected.add(twin.server.notify_encoded_owned(now, &target, notification));
        }

        let inbox = PostInbox::new(16, Arc::default());
        let now = net.now;
        inbox.deliver(&mut net.server, now, posts);
        let report = inbox.take_report();
        assert_eq!(report, expected);
        assert_eq!(report.posted, 9);
        assert_eq!(report.accepted, 6);
        let full = Refused::QueueFull { limit: 3 };
        assert_eq!(
            report.refusals,
            [
                (a, full),
                (a, full),
                (a, full),
                (gone, Refused::NoSuchSession)
            ]
        );
        for (session, last_seq) in [(a, 3), (b, 3)] {
            let info = net.server.session(session).expect("session");
            let twin_info = twin.server.session(session).expect("session");
            assert_eq!((info.last_seq, info.queue_depth), (last_seq, 3));
            assert_eq!(
                (info.last_seq, info.queue_depth),
                (twin_info.last_seq, twin_info.queue_depth)
            );
        }
    }

    #[test]
    fn a_long_refused_run_lists_a_bounded_number() {
        let (mut net, a, _) = two_sessions(1);
        let posts: Vec<_> = (0..100)
            .map(|i| (Target::Session(a), encoded(&format!("#{i}"))))
            .collect();
        let inbox = PostInbox::new(100, Arc::default());
        let now = net.now;
        inbox.deliver(&mut net.server, now, posts);
        let report = inbox.take_report();
        assert_eq!(
            (report.posted, report.accepted, report.refused),
            (100, 1, 99)
        );
        assert_eq!(report.refusals.len(), LISTED_REFUSALS);
        assert!(
            report
                .refusals
                .iter()
                .all(|r| *r == (a, Refused::QueueFull { limit: 1 }))
        );
    }
}

//! Group commit of a user's notifications [D-17]: while one log message of
//! a user is being stored, that user's next submissions queue, and go out
//! together as ONE message when it returns. A publish costs JetStream about
//! the same for one notification as for many (a round trip to a quorum),
//! so under load a message carries many and the log keeps up; alone, a
//! notification goes out at once, as before. Users do not wait for each
//! other: each has its own queue and its own message in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use faxnotify_core::wire::EncodedNotification;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::PublishError;
use crate::ids::{LogPos, LogSeq};
use crate::log_format::{BATCH_HEADER, ENTRY_HEADER};

/// What bounds a batch and a user's queue.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    /// Notifications per log message (at most 65 535, the format's bound).
    pub(super) per_message: usize,
    /// Bytes per log message (a notification bigger than this still goes,
    /// alone): well under NATS's `max_payload` (1 MiB by default).
    pub(super) message_bytes: usize,
    /// Notifications a user's queue holds; beyond, submissions are refused.
    pub(super) queued: usize,
    /// Payload bytes a user's queue holds; beyond, submissions are refused.
    pub(super) queued_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_message: 256,
            message_bytes: 256 * 1024,
            queued: 16 * 1024,
            queued_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Where a batch goes: the log (with its retry), or a test's fake.
pub(super) trait Sink: Send + Sync + 'static {
    /// Stores `batch` as one message of `user`'s log; its seq once stored.
    fn store(
        &self,
        user: &str,
        batch: &[&EncodedNotification],
    ) -> impl Future<Output = Result<LogSeq, PublishError>> + Send;
}

type Reply = oneshot::Sender<Result<LogPos, PublishError>>;

struct Waiting {
    notification: EncodedNotification,
    reply: Reply,
}

/// A user's queue. It exists exactly while a task stores its batches.
#[derive(Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    bytes: usize,
}

/// The per-user batcher of a node.
pub(super) struct Batcher<S> {
    sink: S,
    limits: Limits,
    queues: Mutex<HashMap<String, Queue>>,
    runtime: Handle,
}

impl<S: Sink> Batcher<S> {
    /// A batcher whose tasks run on `runtime`.
    pub(super) fn new(sink: S, limits: Limits, runtime: Handle) -> Arc<Self> {
        Arc::new(Self {
            sink,
            limits,
            queues: Mutex::new(HashMap::new()),
            runtime,
        })
    }

    /// Submits `notification` for `user`; its position once the message
    /// that carries it is stored, or why it was not accepted (each
    /// submitter of a batch gets the batch's outcome, at its own index).
    pub(super) async fn submit(
        self: &Arc<Self>,
        user: &str,
        notification: &EncodedNotification,
    ) -> Result<LogPos, PublishError> {
        let (reply, answer) = oneshot::channel();
        let waiting = Waiting {
            notification: notification.clone(),
            reply,
        };
        let size = notification.payload().len();
        {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(queue) = queues.get_mut(user) {
                if queue.waiting.len() >= self.limits.queued
                    || queue.bytes + size > self.limits.queued_bytes
                {
                    return Err(PublishError::Backlog {
                        notifications: queue.waiting.len(),
                        bytes: queue.bytes,
                    });
                }
                queue.bytes += size;
                queue.waiting.push_back(waiting);
            } else {
                let mut queue = Queue {
                    bytes: size,
                    ..Queue::default()
                };
                queue.waiting.push_back(waiting);
                queues.insert(user.to_owned(), queue);
                // A task, not this caller: a submitter that stops waiting
                // must not stall the others queued behind it.
                let this = Arc::clone(self);
                let user = user.to_owned();
                drop(self.runtime.spawn(async move { this.drain(&user).await }));
            }
        }
        answer.await.unwrap_or(Err(PublishError::Stopped))
    }

    /// Notifications waiting, all users (the batches being stored are no
    /// longer counted).
    pub(super) fn queued(&self) -> usize {
        let queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        queues.values().map(|queue| queue.waiting.len()).sum()
    }

    /// Stores `user`'s queue batch by batch until it is empty, then removes
    /// it (under the lock, so a submission either lands in a batch of this
    /// task or starts the next task).
    async fn drain(&self, user: &str) {
        loop {
            let batch = {
                let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(queue) = queues.get_mut(user) else {
                    return;
                };
                let batch = self.take(queue);
                if batch.is_empty() {
                    queues.remove(user);
                    return;
                }
                batch
            };
            let notifications: Vec<&EncodedNotification> =
                batch.iter().map(|w| &w.notification).collect();
            let result = self.sink.store(user, &notifications).await;
            for (waiting, index) in batch.into_iter().zip(0u16..) {
                let outcome = result.clone().map(|seq| LogPos { seq, index });
                // A submitter that stopped waiting: nothing to tell.
                let _ = waiting.reply.send(outcome);
            }
        }
    }

    /// The front of `queue` that fits one message (at least one).
    fn take(&self, queue: &mut Queue) -> Vec<Waiting> {
        let mut batch = Vec::new();
        let mut bytes = BATCH_HEADER;
        let per_message = self.limits.per_message.clamp(1, usize::from(u16::MAX));
        while let Some(next) = queue.waiting.front() {
            let size = next.notification.payload().len();
            let grown = bytes + ENTRY_HEADER + size;
            if batch.len() == per_message
                || (!batch.is_empty() && grown > self.limits.message_bytes)
            {
                break;
            }
            bytes = grown;
            queue.bytes -= size;
            batch.extend(queue.waiting.pop_front());
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;
    use tokio::sync::Semaphore;

    use super::*;

    /// Records each stored message; stores only when the test lets it.
    struct Fake {
        gate: Arc<Semaphore>,
        stored: Stored,
        seq: AtomicU64,
        /// Stores started (waiting at the gate or done).
        started: Arc<AtomicU64>,
        fail: bool,
    }

    impl Sink for Fake {
        async fn store(
            &self,
            user: &str,
            batch: &[&EncodedNotification],
        ) -> Result<LogSeq, PublishError> {
            self.started.fetch_add(1, Ordering::SeqCst);
            self.gate.acquire().await.expect("open").forget();
            if self.fail {
                return Err(PublishError::BusUnavailable);
            }
            let mut stored = self.stored.lock().unwrap();
            stored.push((user.into(), batch.iter().map(|&n| n.clone()).collect()));
            Ok(LogSeq(self.seq.fetch_add(1, Ordering::SeqCst) + 1))
        }
    }

    fn note(n: u8) -> EncodedNotification {
        EncodedNotification::from_payload(3, Bytes::from(vec![n; 10])).unwrap()
    }

    type Stored = Arc<Mutex<Vec<(String, Vec<EncodedNotification>)>>>;

    fn batcher(limits: Limits, fail: bool) -> (Arc<Batcher<Fake>>, Arc<Semaphore>, Stored) {
        let (b, gate, stored, _) = batcher_counting(limits, fail);
        (b, gate, stored)
    }

    fn batcher_counting(
        limits: Limits,
        fail: bool,
    ) -> (Arc<Batcher<Fake>>, Arc<Semaphore>, Stored, Arc<AtomicU64>) {
        let gate = Arc::new(Semaphore::new(0));
        let stored = Stored::default();
        let started = Arc::new(AtomicU64::new(0));
        let fake = Fake {
            gate: Arc::clone(&gate),
            stored: Arc::clone(&stored),
            seq: AtomicU64::new(0),
            started: Arc::clone(&started),
            fail,
        };
        let b = Batcher::new(fake, limits, Handle::current());
        (b, gate, stored, started)
    }

    /// Lets the spawned tasks run until they wait.
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    fn pos(seq: u64, index: u16) -> LogPos {
        LogPos {
            seq: LogSeq(seq),
            index,
        }
    }

    #[tokio::test]
    async fn concurrent_submitters_of_one_user_share_one_message_each_at_its_index() {
        let (b, gate, stored, started) = batcher_counting(Limits::default(), false);
        let first = tokio::spawn({
            let b = Arc::clone(&b);
            async move { b.submit("alice", &note(0)).await }
        });
        settle().await;
        // The first is in flight; these queue behind it.
        let mut later = Vec::new();
        for n in 1..=5 {
            let b = Arc::clone(&b);
            later.push(tokio::spawn(
                async move { b.submit("alice", &note(n)).await },
            ));
            settle().await;
        }
        // One message of the user at a time: the first.
        assert_eq!(started.load(Ordering::SeqCst), 1);
        assert_eq!(b.queued(), 5, "the five wait; the first is being stored");
        gate.add_permits(2);
        assert_eq!(first.await.unwrap(), Ok(pos(1, 0)));
        for (i, task) in later.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Ok(pos(2, i as u16)));
        }
        let stored = stored.lock().unwrap();
        let sizes: Vec<usize> = stored.iter().map(|(_, batch)| batch.len()).collect();
        assert_eq!(sizes, [1, 5], "one message alone, then one for the five");
        let order: Vec<u8> = stored[1].1.iter().map(|n| n.payload()[0]).collect();
        assert_eq!(order, [1, 2, 3, 4, 5], "in submission order");
        assert!(b.queues.lock().unwrap().is_empty(), "the queue is gone");
        assert_eq!(b.queued(), 0);
    }

    #[tokio::test]
    async fn users_do_not_wait_for_each_other() {
        let (b, gate, stored, started) = batcher_counting(Limits::default(), false);
        let mut tasks = Vec::new();
        for user in ["alice", "bob"] {
            let b = Arc::clone(&b);
            tasks.push(tokio::spawn(async move { b.submit(user, &note(1)).await }));
        }
        settle().await;
        // Both users' messages are in flight at once, neither stored yet.
        assert_eq!(started.load(Ordering::SeqCst), 2);
        gate.add_permits(2);
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(stored.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn batches_are_bounded_by_count_and_bytes_and_the_queue_refuses_clearly() {
        let limits = Limits {
            per_message: 2,
            message_bytes: BATCH_HEADER + 3 * (ENTRY_HEADER + 10) - 1,
            queued: 2,
            queued_bytes: 1_000,
        };
        let (b, gate, stored) = batcher(limits, false);
        let mut tasks = Vec::new();
        for n in 0..3 {
            let b = Arc::clone(&b);
            tasks.push(tokio::spawn(async move { b.submit("u", &note(n)).await }));
            settle().await;
        }
        // One in flight, two queued: the fourth is refused.
        let refused = b.submit("u", &note(9)).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "not accepted: 2 notifications (20 bytes) of this user are already waiting \
             for the cluster bus; try again later"
        );
        gate.add_permits(10);
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let sizes: Vec<usize> = stored
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.len())
            .collect();
        assert_eq!(sizes, [1, 2], "at most two per message");

        // The byte bound: two 10-byte payloads fit, a third would not.
        let limits = Limits {
            per_message: 100,
            message_bytes: BATCH_HEADER + 2 * (ENTRY_HEADER + 10),
            ..Limits::default()
        };
        let (b, gate, stored) = batcher(limits, false);
        let mut tasks = Vec::new();
        for n in 0..4 {
            let b = Arc::clone(&b);
            tasks.push(tokio::spawn(async move { b.submit("u", &note(n)).await }));
            settle().await;
        }
        gate.add_permits(10);
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let sizes: Vec<usize> = stored
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.len())
            .collect();
        assert_eq!(sizes, [1, 2, 1]);
    }

    #[tokio::test]
    async fn a_failed_message_fails_every_submitter_in_it() {
        let (b, gate, _) = batcher(Limits::default(), true);
        let mut tasks = Vec::new();
        for n in 0..3 {
            let b = Arc::clone(&b);
            tasks.push(tokio::spawn(async move { b.submit("u", &note(n)).await }));
            settle().await;
        }
        gate.add_permits(10);
        for task in tasks {
            assert_eq!(task.await.unwrap(), Err(PublishError::BusUnavailable));
        }
    }
}

//! An ordered read of one subject of a stream, from a given seq.
//!
//! No JetStream consumer: on Debian's nats-server 2.9 a new consumer may be
//! placed on a dead node after a node loss and never answer. Instead each
//! stream *republishes* every stored message to a tail subject (headers
//! `Nats-Sequence` and `Nats-Last-Sequence`); a live message there wakes
//! the reader, which fetches what it has not read (the new message, a
//! gap, the backlog from the start seq) with a direct get, which every
//! replica answers. The tail's content is never used: anyone who may
//! publish on the bus can publish on it.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::Subscriber;
use async_nats::jetstream::stream::{self, DirectGetErrorKind};
use bytes::Bytes;
use futures_lite::StreamExt as _;
use futures_lite::future::poll_once;
use tokio::time::Instant;

use crate::bounded::Link;
use crate::error::BusError;

/// While caught up and idle, the reader asks the stream this often whether
/// it missed something: a live message lost in a reconnect, or a tail
/// message nats-server did not republish to a subscription it had only
/// just taken (seen on 2.9.10). Counted from the last ask, whatever the
/// callers' waits: a caller that always waits less than this must not
/// keep the reader from asking.
const POLL: Duration = Duration::from_secs(1);

/// One message read, in stream order.
pub(crate) struct Item {
    pub(crate) seq: u64,
    pub(crate) headers: Option<HeaderMap>,
    pub(crate) payload: Bytes,
}

pub(crate) struct OrderedRead {
    stream: stream::Stream,
    subject: String,
    live: Subscriber,
    next_seq: u64,
    /// No message at `next_seq` when last asked.
    caught_up: bool,
    /// When the stream was last asked for `next_seq`.
    asked_at: Instant,
    link: Link,
    bound: Duration,
    operation: &'static str,
}

impl OrderedRead {
    /// Starts reading `subject` at stream seq `from` (1 = the beginning);
    /// `tail` is where the stream republishes `subject`.
    pub(crate) async fn start(
        stream: &stream::Stream,
        link: &Link,
        subject: String,
        tail: String,
        from: u64,
        bound: Duration,
        operation: &'static str,
    ) -> Result<Self, BusError> {
        // Subscribed before the first fetch, so nothing stored in between
        // goes unseen.
        let live = link
            .within(operation, bound, link.client().subscribe(tail))
            .await?
            .map_err(|err| link.failed(operation, &err, None))?;
        Ok(Self {
            stream: stream.clone(),
            subject,
            live,
            next_seq: from.max(1),
            caught_up: false,
            asked_at: Instant::now(),
            link: link.clone(),
            bound,
            operation,
        })
    }

    /// The next message, or `None` when nothing arrived within `wait`.
    pub(crate) async fn next(&mut self, wait: Duration) -> Result<Option<Item>, BusError> {
        let deadline = Instant::now() + wait;
        self.take_wake_ups().await?;
        loop {
            if self.caught_up && self.asked_at.elapsed() >= POLL {
                self.caught_up = false;
            }
            if !self.caught_up {
                match self.fetch().await? {
                    Some(item) => return Ok(Some(item)),
                    None => self.caught_up = true,
                }
            }
            let until = deadline.min(self.asked_at + POLL);
            match tokio::time::timeout_at(until, self.live.next()).await {
                Ok(Some(message)) => {
                    // Only a wake-up: the tail is a plain subject, and
                    // whoever may publish on the bus can publish there
                    // too, with any seq in its headers. Taken as it came,
                    // a forged message would be delivered and move the
                    // reader past every genuine one before its seq, so
                    // what is read always comes from the stream. A reader
                    // that is behind fetches anyway; one that is caught up
                    // pays one direct get per message.
                    if !self.seen(&message) {
                        self.caught_up = false;
                    }
                }
                Ok(None) => {
                    return Err(self
                        .link
                        .failed(self.operation, &"the subscription ended", None));
                }
                Err(_) if Instant::now() >= deadline => return Ok(None),
                Err(_) => self.caught_up = false,
            }
        }
    }

    /// Takes every wake-up that has already arrived, without waiting. A
    /// reader that is behind fetches without looking at the tail, and the
    /// tail's messages would wait in the subscription meanwhile, each with
    /// the stored message's payload and the NATS read buffer it is a slice
    /// of: a report reader behind by a few seconds held 80 MiB that way
    /// (issue 19). Taken here, at most the wake-ups of one call wait.
    async fn take_wake_ups(&mut self) -> Result<(), BusError> {
        while let Some(message) = poll_once(self.live.next()).await {
            let Some(message) = message else {
                return Err(self
                    .link
                    .failed(self.operation, &"the subscription ended", None));
            };
            if !self.seen(&message) {
                self.caught_up = false;
            }
        }
        Ok(())
    }

    /// Whether the tail's `message` claims a seq this reader has passed.
    fn seen(&self, message: &async_nats::Message) -> bool {
        claimed_seq(message.headers.as_ref()).is_some_and(|seq| seq < self.next_seq)
    }

    /// The first message of the subject at or after `next_seq`, if any.
    async fn fetch(&mut self) -> Result<Option<Item>, BusError> {
        self.asked_at = Instant::now();
        let item = direct_next(
            &self.stream,
            &self.link,
            &self.subject,
            self.next_seq,
            self.bound,
            self.operation,
        )
        .await?;
        if let Some(item) = &item {
            self.next_seq = item.seq + 1;
        }
        Ok(item)
    }
}

/// The first message of `subject` at or after stream seq `seq`, if any,
/// read with a direct get (which every replica answers) within `bound`.
pub(crate) async fn direct_next(
    stream: &stream::Stream,
    link: &Link,
    subject: &str,
    seq: u64,
    bound: Duration,
    operation: &'static str,
) -> Result<Option<Item>, BusError> {
    let got = link
        .within(
            operation,
            bound,
            stream.direct_get_next_for_subject(subject, Some(seq)),
        )
        .await?;
    match got {
        Ok(message) => Ok(Some(Item {
            seq: message.sequence,
            headers: Some(message.headers),
            payload: message.payload,
        })),
        Err(err) if err.kind() == DirectGetErrorKind::NotFound => Ok(None),
        Err(err) => {
            let timed_out = err.kind() == DirectGetErrorKind::TimedOut;
            Err(link.failed(operation, &err, timed_out.then_some(bound)))
        }
    }
}

/// The `Nats-Sequence` a republished message claims.
fn claimed_seq(headers: Option<&HeaderMap>) -> Option<u64> {
    headers?.get("Nats-Sequence")?.as_str().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{bus_on, one_node};

    /// A reader whose tail never wakes it (here: a tail nothing is
    /// republished to; on nats-server 2.9.10 a republish to a subscription
    /// taken just before can be lost the same way) still finds a message
    /// within about `POLL`, even when every call waits less than `POLL`.
    /// The session reader waits a tenth of a short age limit (0.8 s for
    /// 8 s): its reader used to ask only when a call's own wait ran past
    /// `POLL`, so it never asked again and the message aged out unread.
    #[test]
    fn short_waits_without_wake_ups_still_poll_the_stream() {
        let Some((cluster, runtime)) =
            one_node("short_waits_without_wake_ups_still_poll_the_stream")
        else {
            return;
        };
        runtime.block_on(async {
            let bus = bus_on(&cluster, |_| {}).await;
            let inner = &bus.inner;
            let subject = inner.names.log_subject("alice").expect("a user's subject");
            let wait = Duration::from_millis(300);
            let mut read = OrderedRead::start(
                &inner.log,
                &inner.link,
                subject.clone(),
                "faxnotify-test.no-tail".to_owned(),
                1,
                Duration::from_secs(5),
                "a test read",
            )
            .await
            .expect("the read starts");
            assert!(
                read.next(wait).await.expect("read").is_none(),
                "nothing yet"
            );

            let stored = inner
                .js
                .publish(subject, Bytes::from_static(b"unparsed"))
                .await
                .expect("published")
                .await
                .expect("stored")
                .sequence;
            // POLL is 1 s: 10 calls of 0.3 s cover it three times over.
            let mut found = None;
            for _ in 0..10 {
                if let Some(item) = read.next(wait).await.expect("read") {
                    found = Some(item.seq);
                    break;
                }
            }
            assert_eq!(found, Some(stored), "the stored message was never read");
        });
    }
}

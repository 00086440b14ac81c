//! Bounding every call and naming what failed.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use async_nats::Client;
use async_nats::connection::State;
use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use futures_lite::{Stream, StreamExt as _};

use crate::error::BusError;

/// The client connection, for telling "unreachable" from "no answer".
#[derive(Clone, Debug)]
pub(crate) struct Link {
    client: Client,
    /// The configured URLs, for messages.
    urls: String,
}

impl Link {
    pub(crate) fn new(client: Client, urls: &[String]) -> Self {
        Self {
            client,
            urls: urls.join(", "),
        }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `fut` for at most `bound`.
    pub(crate) async fn within<F: Future>(
        &self,
        operation: &'static str,
        bound: Duration,
        fut: F,
    ) -> Result<F::Output, BusError> {
        tokio::time::timeout(bound, fut)
            .await
            .map_err(|_| self.failed(operation, &"no answer", Some(bound)))
    }

    /// Drains `items`, allowing at most `bound` for each of them, and
    /// hands each to `each`: for a listing that arrives in pages, each
    /// page a request of its own (nats-server sends a stream's subjects
    /// 100 000 to a page). Its whole time grows with what is listed; one
    /// page's does not. A bound on the whole would fail every listing once
    /// the bucket outgrew it, and go on failing at that size; a bound on
    /// each step fails only a bus that stops answering.
    pub(crate) async fn drain_within<T, E: Display>(
        &self,
        operation: &'static str,
        bound: Duration,
        items: impl Stream<Item = Result<T, E>>,
        each: impl FnMut(T),
    ) -> Result<(), BusError> {
        match drain_each_within(bound, items, each).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(self.failed(operation, &err, None)),
            Err(Stalled) => Err(self.failed(operation, &"no answer", Some(bound))),
        }
    }

    /// Publishes `message` to `subject` and waits, at most `bound` in
    /// all, for JetStream's ack (the message stored on a quorum).
    pub(crate) async fn publish_acked(
        &self,
        js: &jetstream::Context,
        operation: &'static str,
        bound: Duration,
        subject: String,
        message: PublishMessage,
    ) -> Result<PublishAck, BusError> {
        self.within(operation, bound, async {
            js.send_publish(subject, message).await?.await
        })
        .await?
        .map_err(|err| {
            let timed_out = matches!(err.kind(), PublishErrorKind::TimedOut);
            self.failed(
                operation,
                &publish_failure(&err),
                timed_out.then_some(bound),
            )
        })
    }

    /// The error for a failed call: unreachable when the client has no
    /// connection (whatever the call's own error says), timed out when the
    /// bound ran out, refused otherwise.
    pub(crate) fn failed(
        &self,
        operation: &'static str,
        err: &dyn Display,
        timed_out_after: Option<Duration>,
    ) -> BusError {
        if self.client.connection_state() != State::Connected {
            return BusError::Unreachable {
                detail: format!("no connection to {} ({operation}: {err})", self.urls),
            };
        }
        match timed_out_after {
            Some(bound) => BusError::TimedOut { operation, bound },
            None => BusError::Refused {
                operation,
                detail: err.to_string(),
            },
        }
    }
}

/// A failed publish in words: JetStream's "no stream found for given
/// subject" is its answer when no node serves the stream *now* (no
/// responders), which after the streams were set up means a lost node and
/// leaders still being elected, not a stream that was never made.
fn publish_failure(err: &jetstream::context::PublishError) -> String {
    match err.kind() {
        PublishErrorKind::StreamNotFound => {
            "no NATS node answers for the cluster's stream right now \
            (after the loss of a node, JetStream takes a few seconds to elect new leaders; if it \
            lasts, check the NATS cluster and its JetStream streams); try again"
                .to_owned()
        }
        _ => err.to_string(),
    }
}

/// A stream gave nothing, not even its end, within the bound.
#[derive(Debug, PartialEq, Eq)]
struct Stalled;

/// Hands every item of `items` to `each`, allowing at most `bound` for
/// each step; the stream's first error ends it.
async fn drain_each_within<T, E>(
    bound: Duration,
    items: impl Stream<Item = Result<T, E>>,
    mut each: impl FnMut(T),
) -> Result<Result<(), E>, Stalled> {
    let mut items = std::pin::pin!(items);
    loop {
        match tokio::time::timeout(bound, items.next()).await {
            Err(_) => return Err(Stalled),
            Ok(None) => return Ok(Ok(())),
            Ok(Some(Err(err))) => return Ok(Err(err)),
            Ok(Some(Ok(item))) => each(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items that come `gap` apart, `count` of them, on tokio's clock.
    fn paced(count: u32, gap: Duration) -> impl Stream<Item = Result<u32, String>> {
        futures_lite::stream::unfold(0, move |n| async move {
            if n == count {
                return None;
            }
            tokio::time::sleep(gap).await;
            Some((Ok(n), n + 1))
        })
    }

    fn paused() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime")
    }

    #[test]
    fn no_responders_to_a_publish_reads_as_a_node_lost_not_a_missing_stream() {
        let none = jetstream::context::PublishError::new(PublishErrorKind::StreamNotFound);
        let words = publish_failure(&none);
        assert!(
            words.starts_with("no NATS node answers for the cluster's stream right now")
                && words.contains("elect new leaders")
                && !words.contains("no stream found"),
            "{words}"
        );
        let other = jetstream::context::PublishError::new(PublishErrorKind::MaxPayloadExceeded);
        assert_eq!(publish_failure(&other), "max payload size exceeded");
    }

    #[test]
    fn a_long_listing_that_keeps_coming_is_not_cut_off() {
        // 20 pages, each 0.9 of the bound: 18 bounds in all.
        let bound = Duration::from_secs(5);
        let mut seen = Vec::new();
        let done = paused().block_on(drain_each_within(bound, paced(20, bound * 9 / 10), |n| {
            seen.push(n)
        }));
        assert_eq!(done, Ok(Ok(())));
        assert_eq!(seen, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn a_listing_that_stops_answering_fails_after_one_bound() {
        let bound = Duration::from_secs(5);
        let runtime = paused();
        let started = runtime.block_on(async { tokio::time::Instant::now() });
        let items = paced(3, Duration::from_millis(10)).chain(futures_lite::stream::pending());
        let mut seen = 0;
        let done = runtime.block_on(drain_each_within(bound, items, |_| seen += 1));
        assert_eq!(done, Err(Stalled));
        assert_eq!(seen, 3);
        let waited = runtime.block_on(async move { started.elapsed() });
        assert!(
            waited >= bound && waited < bound + Duration::from_secs(1),
            "{waited:?}"
        );
    }

    #[test]
    fn the_first_error_ends_the_listing() {
        let items = futures_lite::stream::iter([Ok(1), Err("refused".to_owned()), Ok(3)]);
        let mut seen = Vec::new();
        let done = paused().block_on(drain_each_within(Duration::from_secs(1), items, |n| {
            seen.push(n)
        }));
        assert_eq!(done, Ok(Err("refused".to_owned())));
        assert_eq!(seen, [1]);
    }
}

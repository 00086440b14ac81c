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
            self.failed(operation, &err, timed_out.then_some(bound))
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

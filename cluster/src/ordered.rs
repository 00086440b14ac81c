//! An ordered read of one subject of a stream, from a given seq.

use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::{self, stream};
use futures_lite::StreamExt as _;

use crate::bounded::Link;
use crate::error::BusError;

/// JetStream's ordered consumer on one subject: in stream order, no gaps
/// and no repeats (the client recreates the consumer after a lost message
/// or a lost server, from where it was).
pub(crate) struct OrderedRead {
    messages: Ordered,
    link: Link,
    operation: &'static str,
}

impl OrderedRead {
    /// Starts reading `subject` at stream seq `from` (1 = the beginning).
    pub(crate) async fn start(
        stream: &stream::Stream,
        link: &Link,
        subject: String,
        from: u64,
        bound: Duration,
        operation: &'static str,
    ) -> Result<Self, BusError> {
        let config = OrderedConfig {
            filter_subject: subject,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: from.max(1),
            },
            ..Default::default()
        };
        let messages = link
            .within(operation, bound, async {
                stream
                    .create_consumer(config)
                    .await?
                    .messages()
                    .await
                    .map_err(Into::into)
            })
            .await?
            .map_err(|err: async_nats::Error| link.failed(operation, &err, None))?;
        Ok(Self {
            messages,
            link: link.clone(),
            operation,
        })
    }

    /// The next message and its stream seq, or `None` when nothing arrived
    /// within `wait`. After an error the read is over: start a new one from
    /// the seq after the last message seen.
    pub(crate) async fn next(
        &mut self,
        wait: Duration,
    ) -> Result<Option<(u64, jetstream::Message)>, BusError> {
        let Ok(item) = tokio::time::timeout(wait, self.messages.next()).await else {
            return Ok(None);
        };
        let message = match item {
            Some(Ok(message)) => message,
            Some(Err(err)) => return Err(self.link.failed(self.operation, &err, None)),
            None => {
                return Err(self
                    .link
                    .failed(self.operation, &"the consumer ended", None));
            }
        };
        let seq = message
            .info()
            .map_err(|err| self.link.failed(self.operation, &err, None))?
            .stream_sequence;
        Ok(Some((seq, message)))
    }
}

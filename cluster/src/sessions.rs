//! Session records in the bucket: create, load, compare-and-set.
//!
//! A write names the revision it replaces twice: as JetStream's expected
//! last subject sequence, and in its de-duplication id `<key>@<revision>`.
//! The first alone is not enough on nats-server before 2.9.21 (Debian's is
//! 2.9.10): a clustered stream checks it against what is already applied,
//! so two writes racing from the same revision can both be stored
//! (nats-io/nats-server#4320). The leader also tracks the ids of writes in
//! flight, so of writes sharing `<key>@<revision>` exactly one is stored
//! and the others are answered "duplicate": they lost.

use std::sync::atomic::Ordering;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::LastRawMessageErrorKind;

use crate::connect::Bus;
use crate::error::{BusError, SessionError};
use crate::ids::Revision;
use crate::record::SessionRecord;
use crate::subjects::session_key;

const CREATE: &str = "creating a session record";
const LOAD: &str = "loading a session record";
const UPDATE: &str = "updating a session record";

impl Bus {
    /// Stores a new session's record; [`SessionError::Exists`] when the id
    /// is taken (pick another id).
    ///
    /// The record's index entry is written first ([`Bus::index_session`]),
    /// so that every record has one for [`Bus::sessions_of`] to find; an
    /// entry left without its record (the id was taken, or the create
    /// failed) only costs that lookup a read.
    pub async fn create_session(&self, record: &SessionRecord) -> Result<Revision, SessionError> {
        self.index_session(record).await?;
        self.write_session(record, 0, CREATE)
            .await?
            .ok_or(SessionError::Exists {
                session: record.session,
            })
    }

    /// Stores a new session's record as a server of the previous version
    /// did: without its index entry. For tests of a rolling upgrade
    /// (`index_upgrade.rs`); a server never does this.
    #[cfg(feature = "harness")]
    pub async fn create_session_as_previous_version(
        &self,
        record: &SessionRecord,
    ) -> Result<Revision, SessionError> {
        self.write_session(record, 0, CREATE)
            .await?
            .ok_or(SessionError::Exists {
                session: record.session,
            })
    }

    /// The session's record and its revision, or `None` when it has none.
    /// A record that fails to open (changed at rest, another cluster's
    /// secret) is an error, never a record.
    ///
    /// Read from the bucket stream's leader, not from any replica: a
    /// replica that lags would report a record created a moment ago as
    /// absent, and a resume would be refused for nothing.
    pub async fn load_session(
        &self,
        session: u64,
    ) -> Result<Option<(SessionRecord, Revision)>, SessionError> {
        self.inner.session_reads.fetch_add(1, Ordering::Relaxed);
        let Some((sealed, revision)) = self.load_key(&session_key(session), LOAD).await? else {
            return Ok(None);
        };
        let record = SessionRecord::open(&self.inner.secret, session, &sealed)
            .map_err(|error| SessionError::Record { session, error })?;
        Ok(Some((record, revision)))
    }

    /// The value under `key` of the sessions bucket and its revision, or
    /// `None` when it has none (never written, deleted, purged). Read from
    /// the stream's leader (see [`Bus::load_session`]).
    pub(crate) async fn load_key(
        &self,
        key: &str,
        operation: &'static str,
    ) -> Result<Option<(bytes::Bytes, Revision)>, BusError> {
        let inner = &self.inner;
        let bound = inner.config.timeouts.operation;
        let subject = format!("$KV.{}.{key}", inner.names.sessions_bucket);
        let got = inner
            .link
            .within(
                operation,
                bound,
                inner.sessions.get_last_raw_message_by_subject(&subject),
            )
            .await?;
        let message = match got {
            Ok(message) => message,
            Err(err) if err.kind() == LastRawMessageErrorKind::NoMessageFound => return Ok(None),
            Err(err) => return Err(inner.link.failed(operation, &err, None)),
        };
        // A delete or purge marker: no value.
        if message.headers.get("KV-Operation").is_some() {
            return Ok(None);
        }
        Ok(Some((message.payload, Revision(message.sequence))))
    }

    /// Replaces the record if it is still at `expected` (the revision it was
    /// loaded or last written at) and returns the new revision. Of servers
    /// racing from the same revision exactly one succeeds; the others get
    /// [`SessionError::Lost`]. After an error other than `Lost` the outcome
    /// is unknown: load the record again to see who owns the session.
    pub async fn update_session(
        &self,
        record: &SessionRecord,
        expected: Revision,
    ) -> Result<Revision, SessionError> {
        self.write_session(record, expected.0, UPDATE)
            .await?
            .ok_or(SessionError::Lost {
                session: record.session,
            })
    }

    /// Writes `record` over revision `expected` (0: the key must not
    /// exist); `None` when another write got there first.
    async fn write_session(
        &self,
        record: &SessionRecord,
        expected: u64,
        operation: &'static str,
    ) -> Result<Option<Revision>, SessionError> {
        let inner = &self.inner;
        let sealed = record
            .seal(&inner.secret)
            .map_err(|error| SessionError::Record {
                session: record.session,
                error,
            })?;
        self.write_key(&session_key(record.session), sealed, expected, operation)
            .await
            .map_err(SessionError::from)
    }

    /// Writes `sealed` under `key` of the sessions bucket over revision
    /// `expected` (0: the key must not exist), as the module docs say;
    /// `None` when another write got there first.
    pub(crate) async fn write_key(
        &self,
        key: &str,
        sealed: Vec<u8>,
        expected: u64,
        operation: &'static str,
    ) -> Result<Option<Revision>, BusError> {
        let inner = &self.inner;
        let subject = format!("$KV.{}.{key}", inner.names.sessions_bucket);
        let message = PublishMessage::build()
            .payload(sealed.into())
            .expected_last_subject_sequence(expected)
            .message_id(format!("{key}@{expected}"));
        let bound = inner.config.timeouts.operation;
        let result = inner
            .link
            .within(operation, bound, async {
                inner.js.send_publish(subject, message).await?.await
            })
            .await?;
        match result {
            // Same id seen before: a rival's write from the same revision
            // (each call seals afresh, so never an echo of our own).
            Ok(ack) if ack.duplicate => Ok(None),
            Ok(ack) => Ok(Some(Revision(ack.sequence))),
            Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => Ok(None),
            Err(err) => {
                let timed_out = err.kind() == PublishErrorKind::TimedOut;
                Err(inner
                    .link
                    .failed(operation, &err, timed_out.then_some(bound)))
            }
        }
    }
}

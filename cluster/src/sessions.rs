//! Session records in the bucket: create, load, compare-and-set.

use async_nats::jetstream::kv::{CreateErrorKind, Operation, UpdateErrorKind};

use crate::connect::Bus;
use crate::error::SessionError;
use crate::ids::Revision;
use crate::record::SessionRecord;
use crate::subjects::session_key;

const CREATE: &str = "creating a session record";
const LOAD: &str = "loading a session record";
const UPDATE: &str = "updating a session record";

impl Bus {
    /// Stores a new session's record; [`SessionError::Exists`] when the id
    /// is taken (pick another id).
    pub async fn create_session(&self, record: &SessionRecord) -> Result<Revision, SessionError> {
        let inner = &self.inner;
        let sealed = record
            .seal(&inner.secret)
            .map_err(|error| SessionError::Record {
                session: record.session,
                error,
            })?;
        let bound = inner.config.timeouts.operation;
        let key = session_key(record.session);
        let result = inner
            .link
            .within(CREATE, bound, inner.sessions.create(&key, sealed.into()))
            .await?;
        match result {
            Ok(revision) => Ok(Revision(revision)),
            Err(err) if err.kind() == CreateErrorKind::AlreadyExists => Err(SessionError::Exists {
                session: record.session,
            }),
            Err(err) => Err(inner.link.failed(CREATE, &err, None).into()),
        }
    }

    /// The session's record and its revision, or `None` when it has none.
    /// A record that fails to open (changed at rest, another cluster's
    /// secret) is an error, never a record.
    pub async fn load_session(
        &self,
        session: u64,
    ) -> Result<Option<(SessionRecord, Revision)>, SessionError> {
        let inner = &self.inner;
        let bound = inner.config.timeouts.operation;
        let entry = inner
            .link
            .within(LOAD, bound, inner.sessions.entry(session_key(session)))
            .await?
            .map_err(|err| inner.link.failed(LOAD, &err, None))?;
        let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else {
            return Ok(None);
        };
        let record = SessionRecord::open(&inner.secret, session, &entry.value)
            .map_err(|error| SessionError::Record { session, error })?;
        Ok(Some((record, Revision(entry.revision))))
    }

    /// Replaces the record if it is still at `expected` (the revision it was
    /// loaded or last written at) and returns the new revision. Of servers
    /// racing from the same revision exactly one succeeds; the others get
    /// [`SessionError::Lost`].
    pub async fn update_session(
        &self,
        record: &SessionRecord,
        expected: Revision,
    ) -> Result<Revision, SessionError> {
        let inner = &self.inner;
        let sealed = record
            .seal(&inner.secret)
            .map_err(|error| SessionError::Record {
                session: record.session,
                error,
            })?;
        let bound = inner.config.timeouts.operation;
        let key = session_key(record.session);
        let result = inner
            .link
            .within(
                UPDATE,
                bound,
                inner.sessions.update(&key, sealed.into(), expected.0),
            )
            .await?;
        match result {
            Ok(revision) => Ok(Revision(revision)),
            Err(err) if err.kind() == UpdateErrorKind::WrongLastRevision => {
                Err(SessionError::Lost {
                    session: record.session,
                })
            }
            Err(err) => {
                let timed_out = err.kind() == UpdateErrorKind::TimedOut;
                Err(inner
                    .link
                    .failed(UPDATE, &err, timed_out.then_some(bound))
                    .into())
            }
        }
    }
}

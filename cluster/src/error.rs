//! The errors of the bus's calls, worded for the person who reads them.

use std::time::Duration;

use crate::config::ConfigError;
use crate::ids::LogSeq;
use crate::record::RecordError;
use crate::subjects::UserError;

/// A call to the bus that did not happen, or whose outcome is unknown.
///
/// For a publish, every variant means *not accepted*: the notification is
/// not known to be durable. (It may still have been stored, e.g. when the
/// ack was lost; a retry with the same [`PublishId`](crate::PublishId) is
/// then stored once.)
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// No NATS server of the cluster could be reached.
    #[error("the cluster bus is unreachable: {detail}")]
    Unreachable {
        /// Which servers were tried and what failed.
        detail: String,
    },
    /// Connected, but no answer came within the bound (e.g. JetStream has no
    /// quorum, or the servers stopped answering).
    #[error("the cluster bus did not answer {operation} within {} ms", bound.as_millis())]
    TimedOut {
        /// What was asked, e.g. "the publish of a notification".
        operation: &'static str,
        /// The bound that ran out.
        bound: Duration,
    },
    /// The bus answered with a refusal.
    #[error("the cluster bus refused {operation}: {detail}")]
    Refused {
        /// What was asked.
        operation: &'static str,
        /// The server's reason.
        detail: String,
    },
    /// A stream or the bucket exists with settings this version cannot use.
    #[error("the cluster's {asset} exists with other settings ({detail}); fix or remove it")]
    Misconfigured {
        /// The stream or bucket name.
        asset: String,
        /// Which setting differs.
        detail: String,
    },
    /// The configuration given to [`Bus::connect`](crate::Bus::connect).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A user name that has no subject on the bus.
    #[error(transparent)]
    User(#[from] UserError),
}

/// Why a session record could not be created, loaded or changed.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// `create` found a record under that session id already.
    #[error("session {session:016x} already has a record in the cluster")]
    Exists {
        /// The session id.
        session: u64,
    },
    /// The record changed since it was read: another server won the
    /// compare-and-set (or the record was removed).
    #[error("session {session:016x} was changed by another server first")]
    Lost {
        /// The session id.
        session: u64,
    },
    /// The record cannot be sealed or opened.
    #[error("session {session:016x}: {error}")]
    Record {
        /// The session id.
        session: u64,
        /// What is wrong with it.
        error: RecordError,
    },
    /// The bus did not carry out the call.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Why the log reader produced no notification.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A message in the user's log that is no notification (empty, or over
    /// the NOTIFY payload limit), e.g. from a faulty fax engine. Reading
    /// goes on with the next message.
    #[error("log message {log_seq} is not a notification: {reason}")]
    Malformed {
        /// Where it is in the log.
        log_seq: LogSeq,
        /// What is wrong with it.
        reason: String,
    },
    /// The bus did not deliver.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Why a report could not be published or read.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A message on the reports subject that is no report. Reading goes on
    /// with the next one.
    #[error("a report on the bus does not parse: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: String,
    },
    /// The bus did not carry out the call.
    #[error(transparent)]
    Bus(#[from] BusError),
}

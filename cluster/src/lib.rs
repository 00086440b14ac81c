//! Cluster mode for faxnotify servers: the shared notification log, the
//! session records and the delivery reports, on NATS JetStream.
//!
//! Several faxnotify servers form one service by sharing three JetStream
//! assets (names derived from a prefix, `faxnotify` by default; see
//! [`BusConfig`]):
//!
//! - the **log** stream `FAXNOTIFY_LOG`, subjects `faxnotify.n.<token(user)>`
//!   ([`user_token`]): one message per notification, payload = the NOTIFY
//!   kind byte followed by the NOTIFY payload of docs/protocol.md §8, or
//!   one message per batch of notifications (kind byte 0, then the
//!   entries: docs/protocol.md [D-17]); a notification's place is its
//!   [`LogPos`] (message seq, index in the message). A notification is
//!   *accepted* once JetStream acknowledged it, i.e. it is stored on a
//!   quorum of the stream's replicas ([`Bus::publish`],
//!   [`Bus::publish_batch`]; [`ClusterNode::publish`] batches a user's
//!   concurrent submissions). A fax engine may publish there directly with
//!   the same subject and payload.
//! - the **sessions** key-value bucket `FAXNOTIFY_SESSIONS`: one
//!   [`SessionRecord`] per session, sealed with the cluster secret
//!   ([`ClusterSecret`]), changed by compare-and-set so that exactly one
//!   server wins a resume race ([`Bus::update_session`]); and per session
//!   an index entry under a keyed hash of its user, so that a user's
//!   sessions are found without reading everyone's ([`Bus::sessions_of`];
//!   servers of the previous version write no entries, so one server of
//!   the cluster, the holder of a lease in the bucket's sweep record,
//!   sweeps it for records without one ([`Bus::sweep_turn`],
//!   [`Bus::backfill_index`]), and lookups list the whole bucket while the
//!   record says such servers may run).
//! - the **reports** stream `FAXNOTIFY_REPORTS`, subjects
//!   `faxnotify.r.<origin server id>`: delivered / undelivered [`Report`]s
//!   for the server that accepted the notification ([`Bus::publish_report`],
//!   [`Bus::read_reports`]).
//!
//! The bus knows nothing of faxnotify's sockets or of the server core: it
//! stores and fetches. [`ClusterNode`] is the glue: a faxnotify-tokio
//! server whose core runs in cluster mode [D-17], fed from the bus. Every call is bounded by [`Timeouts`] and fails with a
//! typed error a person can read ("the cluster bus is unreachable: …").
//!
//! With the `harness` feature, [`harness`] starts a real `nats-server`
//! JetStream cluster on loopback for tests and examples; with `fuzzing`,
//! `fuzzing` holds the harness of the `cluster` fuzz target (what arrives
//! from the bus: log messages, sealed records, reports).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bounded;
mod config;
mod connect;
mod error;
mod ids;
mod index_upgrade;
mod log_entry;
mod log_format;
mod log_state;
mod node;
mod ordered;
mod publish;
mod reader;
mod record;
mod record_codec;
mod report;
mod report_batch;
mod report_codec;
mod reports;
mod seal;
mod secret;
mod session_index;
mod sessions;
mod setup;
mod stray;
mod subjects;
mod sweep_record;
mod sweeper;
#[cfg(test)]
mod test_support;

/// Counts allocations, so that unit tests can say what a path allocates
/// (`faxnotify_testkit::alloc::allocations_during`, per thread).
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: faxnotify_testkit::alloc::Counting = faxnotify_testkit::alloc::Counting;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
#[cfg(feature = "harness")]
pub mod harness;

pub use config::{BusConfig, ConfigError, Timeouts};
pub use connect::Bus;
pub use error::{BusError, ReadError, ReportError, SessionError};
pub use ids::{LogPos, LogSeq, PublishId, Revision, ServerId};
pub use index_upgrade::{Backfill, PREVIOUS_VERSION_HOLD};
pub use log_entry::LogEntry;
pub use log_state::LogBounds;
pub use node::{
    ClusterNode, Footprint, MIN_OWNER_LEASE, NodeEvent, NodeEvents, NodeTimings, PublishError,
    TimingsError,
};
pub use reader::UserLog;
pub use record::{RecordError, SessionRecord};
pub use report::{Outcome, Report};
pub use reports::ReportReader;
pub use secret::{ClusterSecret, SecretError};
pub use stray::{STRAY_EXAMPLES, StrayReport, StraySubject};
pub use subjects::{UserError, user_token};
pub use sweeper::{SweepTurn, VIEW_FRESH};

/// The README's example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

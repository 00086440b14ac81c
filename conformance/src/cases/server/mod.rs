//! Cases against a server under test, one file per section.

use crate::case::Case;

mod auth;
mod callback;
mod control;
mod framing;
mod notifications;
mod tls;

/// Every section's cases.
pub(crate) const ALL: &[&[Case]] = &[
    framing::CASES,
    auth::CASES,
    control::CASES,
    callback::CASES,
    notifications::CASES,
    tls::CASES,
];

//! The log's age limit, seen from a session's reader. The log removes
//! entries older than its age limit (`BusConfig::log_max_age`); a reader
//! must never read past one it lost that way as if nothing were missing.
//!
//! - Before trusting an entry read (or the absence of one), a reader checks
//!   its position: a position the [`LogClock`] knows to be younger than
//!   the limit cannot have lost anything; an older one asks the log for its
//!   first seq, and a first seq beyond the position means entries after it
//!   may be gone: the session is ended, so that its client starts a new one
//!   knowing it may have missed notifications [C-10], instead of reading on
//!   with contiguous seqs over a hole.
//! - So that an idle session's position does not age, a reader that found
//!   nothing for a while moves it to the log's last seq, which the renewal
//!   persists: a resume elsewhere starts from there too.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::log_clock::{Age, LogClock};
use crate::connect::Bus;
use crate::error::{BusError, ReadError};
use crate::ids::{LogPos, LogSeq};

/// The clock's allowance for the bus's clock running ahead of this
/// server's, as a fraction of the age limit.
const MARGIN_DIVISOR: u32 = 10;
/// How often, as a fraction of the age limit, an idle reader moves its
/// position up: well within the limit less the margin.
const ADVANCE_DIVISOR: u32 = 10;
/// The longest an idle reader waits before moving its position up.
const ADVANCE_AT_MOST: Duration = Duration::from_secs(3600);

/// Shared by a node's readers and its probe; cheap to clone.
#[derive(Clone, Debug)]
pub(super) struct Retention {
    /// `None`: the log has no age limit, nothing is ever removed.
    inner: Option<Arc<Shared>>,
}

#[derive(Debug)]
struct Shared {
    clock: Mutex<LogClock>,
    margin: Duration,
    advance_every: Duration,
}

/// What a reader's position is worth.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Position {
    /// Nothing from it on was removed.
    Whole,
    /// Entries from it on were removed by the age limit: some of the
    /// session's may be among them.
    Lost {
        /// The log's first seq now.
        first: LogSeq,
    },
}

impl Retention {
    /// For a log whose entries live `max_age` (`None`: for ever).
    pub(super) fn new(max_age: Option<Duration>) -> Self {
        Self {
            inner: max_age.map(|max_age| {
                Arc::new(Shared {
                    clock: Mutex::new(LogClock::new(max_age)),
                    margin: max_age / MARGIN_DIVISOR,
                    advance_every: (max_age / ADVANCE_DIVISOR).min(ADVANCE_AT_MOST),
                })
            }),
        }
    }

    /// A probe that started at `started` saw `last` as the log's last seq.
    pub(super) fn record(&self, started: Instant, last: LogSeq) {
        if let Some(shared) = &self.inner {
            lock(&shared.clock).record(started, last.0);
        }
    }

    /// How long an idle reader waits before [`Retention::advance`].
    pub(super) fn advance_every(&self) -> Option<Duration> {
        self.inner.as_ref().map(|s| s.advance_every)
    }

    /// Whether the log still holds everything from `from` on; asks the log
    /// only when the clock cannot tell.
    pub(super) async fn check(&self, bus: &Bus, from: LogSeq) -> Result<Position, BusError> {
        let Some(shared) = &self.inner else {
            return Ok(Position::Whole);
        };
        let age = lock(&shared.clock).age(from.0, Instant::now(), shared.margin);
        if age == Age::Young {
            return Ok(Position::Whole);
        }
        // Removal by age takes the oldest entries first: a first seq at or
        // before the position means nothing from it on is gone (yet; any
        // entry read after this was there when asked).
        let bounds = bus.log_bounds().await?;
        Ok(if bounds.first > from {
            Position::Lost {
                first: bounds.first,
            }
        } else {
            Position::Whole
        })
    }

    /// For an idle reader at `from`: the message seq it can move to, if
    /// the log holds nothing of `user`'s from `from` to its last seq;
    /// `None` when it holds something (read it) or has nothing new. A
    /// position the age limit overtook is an error to end the session on.
    pub(super) async fn advance(
        &self,
        bus: &Bus,
        user: &str,
        from: LogPos,
    ) -> Result<Option<LogSeq>, Advance> {
        if self.inner.is_none() {
            return Ok(None);
        }
        // The last seq before the search, so that "nothing up to it" holds
        // for whatever the search does not find.
        let last = bus.log_bounds().await?.last;
        let mut at = from;
        let found = loop {
            if last < at.seq {
                break None;
            }
            match bus.stored_user_entries(user, at).await {
                // The rest of a message already read: look after it.
                Ok(Some(entries)) if entries.is_empty() => {
                    at = LogPos::start_of(LogSeq(at.seq.0 + 1));
                }
                Ok(found) => break found.map(|_| ()),
                Err(ReadError::Malformed { .. }) => break Some(()),
                Err(ReadError::Bus(err)) => return Err(err.into()),
            }
        };
        // The position checked after the search, as a read is: a search
        // that found nothing because the age limit removed it meanwhile is
        // a loss, not an empty log.
        if let Position::Lost { first } = self.check(bus, from.seq).await? {
            return Err(Advance::Lost { first });
        }
        Ok(match found {
            None if last >= from.seq => Some(LogSeq(last.0 + 1)),
            _ => None,
        })
    }
}

/// Why an idle reader could not move its position.
#[derive(Debug)]
pub(super) enum Advance {
    /// Its position was lost to the age limit.
    Lost {
        /// The log's first seq now.
        first: LogSeq,
    },
    /// The bus did not answer; try again later.
    Bus(BusError),
}

impl From<BusError> for Advance {
    fn from(err: BusError) -> Self {
        Self::Bus(err)
    }
}

fn lock(clock: &Mutex<LogClock>) -> std::sync::MutexGuard<'_, LogClock> {
    clock.lock().unwrap_or_else(PoisonError::into_inner)
}

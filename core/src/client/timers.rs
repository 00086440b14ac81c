//! Deadlines: reconnect backoff, handshake timeouts, keepalive [C-5] [D-4].

use std::time::{Duration, Instant};

use crate::rng::CoreRng;

use super::config::Backoff;

/// The jittered delay before retry number `attempt` (1-based).
pub(crate) fn backoff_delay(rng: &mut CoreRng, backoff: &Backoff, attempt: u32) -> Duration {
    // Clamped so that the jitter arithmetic cannot overflow (2^40 ms is 34 years).
    let base = u64::try_from(backoff.base_delay(attempt).as_millis())
        .unwrap_or(u64::MAX)
        .min(1 << 40);
    Duration::from_millis(rng.jitter_ms(base, u64::from(backoff.jitter_percent)))
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A session's keepalive periods.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lease {
    /// The lease: silence this long means the peer is gone [C-5].
    pub(crate) lease: Duration,
    /// PING after this long without sending on control [C-5] [D-4].
    pub(crate) ping_after: Duration,
}

impl Lease {
    pub(crate) fn from_ms(lease_ms: u32) -> Self {
        Self {
            lease: Duration::from_millis(u64::from(lease_ms)),
            ping_after: Duration::from_millis(u64::from(lease_ms / 3)),
        }
    }
}

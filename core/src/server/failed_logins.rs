//! The failed-login limiter [A-5] [D-15], keyed so that an honest user
//! behind a shared address (a NAT, a Terminal Server) survives the others'
//! wrong passwords: every (address, user name) pair has its own bucket, and
//! the address as a whole has a higher ceiling that bounds guessing across
//! names.
//!
//! Each bucket is a generic cell-rate algorithm: every failure pushes its
//! "theoretical arrival time" one `interval` further (from now at the
//! earliest); the bucket is shut while that lies more than
//! `window - interval` ahead, i.e. after `max` failures in quick succession,
//! and one failure is forgiven every `interval`. One `Instant` per bucket,
//! no history.
//!
//! Names are bucketed whether the user exists or not, under a keyed hash of
//! the name as sent, so the limiter behaves the same for both and a
//! 4 KiB name costs no more than a short one. An address keeps at most
//! `max_failures_per_address` name buckets: every failure also counts against
//! the address's ceiling, so more names than that cannot fail from it in a
//! window anyway, and a full set gives up the bucket that would be forgiven
//! first — cycling names cannot grow the table.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::config::LoginLimiterConfig;

/// One bucket's rule: `max` failures in a burst, one forgiven per `interval`.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    interval: Duration,
    window: Duration,
}

impl Gcra {
    fn new(max: u32, window: Duration) -> Self {
        Self {
            interval: window / max.max(1),
            window,
        }
    }

    /// Whether a bucket in this state takes one more attempt now.
    fn allows(&self, until: Option<Instant>, now: Instant) -> bool {
        until.is_none_or(|t| t.saturating_duration_since(now) + self.interval <= self.window)
    }

    /// The state after one more failure at `now`.
    fn record(&self, until: Option<Instant>, now: Instant) -> Instant {
        until.map_or(now, |t| t.max(now)) + self.interval
    }
}

/// A user name as the limiter knows it: a keyed hash, so that names cannot
/// be chosen to collide and a long name costs 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameKey(u64);

/// The failed logins recorded against one address.
#[derive(Debug, Default)]
pub(crate) struct FailedLogins {
    /// The address's ceiling (its bucket's theoretical arrival time).
    address: Option<Instant>,
    /// One bucket per user name that failed here recently.
    names: Vec<(NameKey, Instant)>,
}

impl FailedLogins {
    /// When everything recorded here has been forgiven.
    pub(crate) fn forgotten_at(&self) -> Option<Instant> {
        self.names.iter().map(|(_, t)| *t).chain(self.address).max()
    }

    /// Drops what has been forgiven by `now`; `true` when nothing is left.
    pub(crate) fn prune(&mut self, now: Instant) -> bool {
        self.names.retain(|(_, t)| *t > now);
        if self.address.is_some_and(|t| t <= now) {
            self.address = None;
        }
        self.names.is_empty() && self.address.is_none()
    }

    /// Name buckets held (for tests of the bound).
    #[cfg(test)]
    fn name_buckets(&self) -> usize {
        self.names.len()
    }
}

/// The limiter's rules and the key of its name hash.
#[derive(Clone)]
pub(crate) struct LoginLimiter {
    per_name: Gcra,
    per_address: Gcra,
    max_names: usize,
    hash_key: [u8; 32],
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("per_name", &self.per_name)
            .field("per_address", &self.per_address)
            .field("max_names", &self.max_names)
            .finish_non_exhaustive()
    }
}

impl LoginLimiter {
    /// `secret` keys the name hash; it never leaves the server.
    pub(crate) fn new(config: &LoginLimiterConfig, secret: &[u8; 32]) -> Self {
        let hash_key = Sha256::new()
            .chain_update(b"faxnotify failed-login name key")
            .chain_update(secret)
            .finalize()
            .into();
        Self {
            per_name: Gcra::new(config.max_failures, config.window),
            per_address: Gcra::new(config.max_failures_per_address, config.window),
            max_names: usize::try_from(config.max_failures_per_address.max(1))
                .unwrap_or(usize::MAX),
            hash_key,
        }
    }

    /// The bucket key of a user name as sent in LOGIN.
    pub(crate) fn name_key(&self, user: &str) -> NameKey {
        let digest = Sha256::new()
            .chain_update(self.hash_key)
            .chain_update(user.as_bytes())
            .finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        NameKey(u64::from_le_bytes(first))
    }

    /// Whether the address may open a connection (its ceiling is open).
    pub(crate) fn allows_address(&self, failed: Option<&FailedLogins>, now: Instant) -> bool {
        self.per_address.allows(failed.and_then(|f| f.address), now)
    }

    /// Whether this name may try to log in from the address.
    pub(crate) fn allows_name(
        &self,
        failed: Option<&FailedLogins>,
        name: NameKey,
        now: Instant,
    ) -> bool {
        let until = failed.and_then(|f| f.names.iter().find(|(n, _)| *n == name).map(|e| e.1));
        self.allows_address(failed, now) && self.per_name.allows(until, now)
    }

    /// Records a failed login of `name` from the address.
    pub(crate) fn record(&self, failed: &mut FailedLogins, name: NameKey, now: Instant) {
        failed.address = Some(self.per_address.record(failed.address, now));
        if let Some(entry) = failed.names.iter_mut().find(|(n, _)| *n == name) {
            entry.1 = self.per_name.record(Some(entry.1), now);
            return;
        }
        let until = self.per_name.record(None, now);
        if failed.names.len() >= self.max_names {
            failed.names.retain(|(_, t)| *t > now);
        }
        if failed.names.len() >= self.max_names {
            // Give up the bucket that would be forgiven first.
            if let Some(first) = failed
                .names
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(i, _)| i)
            {
                failed.names.swap_remove(first);
            }
        }
        failed.names.push((name, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_failures: u32, per_address: u32, window_s: u64) -> LoginLimiter {
        let config = LoginLimiterConfig {
            max_failures,
            max_failures_per_address: per_address,
            window: Duration::from_secs(window_s),
        };
        LoginLimiter::new(&config, &[1; 32])
    }

    #[test]
    fn a_name_gets_a_burst_then_one_attempt_per_interval() {
        let l = limiter(5, 20, 60); // 12 s per failure forgiven
        let alice = l.name_key("alice");
        let t0 = Instant::now();
        let mut f = FailedLogins::default();
        for i in 0..5 {
            assert!(l.allows_name(Some(&f), alice, t0), "attempt {i}");
            l.record(&mut f, alice, t0);
        }
        assert!(!l.allows_name(Some(&f), alice, t0));
        assert!(!l.allows_name(Some(&f), alice, t0 + Duration::from_secs(11)));
        let t12 = t0 + Duration::from_secs(12);
        assert!(l.allows_name(Some(&f), alice, t12));
        l.record(&mut f, alice, t12);
        assert!(
            !l.allows_name(Some(&f), alice, t12),
            "one forgiven, one used"
        );
    }

    #[test]
    fn one_names_failures_leave_other_names_alone() {
        let l = limiter(5, 20, 60);
        let (alice, bob) = (l.name_key("alice"), l.name_key("bob"));
        let t0 = Instant::now();
        let mut f = FailedLogins::default();
        for _ in 0..5 {
            l.record(&mut f, bob, t0);
        }
        assert!(!l.allows_name(Some(&f), bob, t0));
        assert!(l.allows_name(Some(&f), alice, t0));
        assert!(l.allows_address(Some(&f), t0));
    }

    #[test]
    fn the_address_ceiling_bounds_guessing_across_names() {
        let l = limiter(5, 20, 60); // the address: 3 s per failure forgiven
        let t0 = Instant::now();
        let mut f = FailedLogins::default();
        for i in 0..20 {
            let name = l.name_key(&format!("user{i}"));
            assert!(l.allows_name(Some(&f), name, t0), "{i}");
            l.record(&mut f, name, t0);
        }
        assert!(!l.allows_address(Some(&f), t0));
        assert!(!l.allows_name(Some(&f), l.name_key("alice"), t0));
        assert!(l.allows_address(Some(&f), t0 + Duration::from_secs(3)));
    }

    #[test]
    fn spaced_failures_never_shut_a_name() {
        let l = limiter(3, 20, 30); // 10 s per name
        let name = l.name_key("alice");
        let t0 = Instant::now();
        let mut f = FailedLogins::default();
        for i in 0..100u64 {
            let now = t0 + Duration::from_secs(10 * i);
            assert!(l.allows_name(Some(&f), name, now), "failure {i}");
            l.record(&mut f, name, now);
        }
    }

    #[test]
    fn cycling_names_keeps_the_buckets_bounded() {
        let l = limiter(5, 20, 60);
        let t0 = Instant::now();
        let mut f = FailedLogins::default();
        // Far more names than the ceiling lets through, recorded anyway
        // (as connections opened before the ceiling shut would).
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_millis(i);
            l.record(&mut f, l.name_key(&format!("user{i}")), now);
            assert!(f.name_buckets() <= 20, "{} buckets", f.name_buckets());
        }
        // Everything is forgotten once forgiven.
        let end = f.forgotten_at().unwrap();
        assert!(!f.prune(end - Duration::from_millis(1)));
        assert!(f.prune(end));
    }

    #[test]
    fn names_hash_by_key_and_name() {
        let a = limiter(5, 20, 60);
        let b = LoginLimiter::new(&LoginLimiterConfig::default(), &[2; 32]);
        assert_eq!(a.name_key("alice"), a.name_key("alice"));
        assert_ne!(a.name_key("alice"), a.name_key("Alice"));
        assert_ne!(a.name_key("alice"), b.name_key("alice"));
    }
}

//! What a server needs to know to join the cluster's bus.

use std::time::Duration;

/// How long each kind of call to the bus may take before it fails.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Timeouts {
    /// Connecting to the first reachable NATS server, and creating or
    /// checking the streams and the bucket.
    pub connect: Duration,
    /// One publish (until JetStream's ack), one key-value read or write,
    /// one consumer creation; in a listing of the sessions bucket, each
    /// page (100 000 keys), not the whole listing, which grows with the
    /// cluster.
    pub operation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            // Well under a client's resume backoff budget, and long enough
            // for a JetStream leader election after a node dies (~2 s).
            operation: Duration::from_secs(5),
        }
    }
}

/// The bus's addresses, names and limits.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BusConfig {
    /// NATS server URLs (`nats://HOST:PORT`); the client tries them in turn
    /// and reconnects to any of them (and to servers they announce).
    pub urls: Vec<String>,
    /// Subject prefix and stream name stem: `faxnotify` gives subjects
    /// `faxnotify.n.…`, `faxnotify.r.…` and streams `FAXNOTIFY_LOG`,
    /// `FAXNOTIFY_REPORTS`, bucket `FAXNOTIFY_SESSIONS`. Lowercase ASCII
    /// letters, digits, `-` and `_`; one cluster per prefix and account.
    pub prefix: String,
    /// Copies JetStream keeps of each stream and of the bucket: 3 survives
    /// the loss of one NATS node; 1 only for single-node tests.
    pub replicas: usize,
    /// Bounds on every call.
    pub timeouts: Timeouts,
    /// The log's size limit in bytes; once full, new notifications are
    /// refused (discard policy `new`), never old ones dropped.
    pub log_max_bytes: i64,
    /// The most notifications the log holds for one user (refused beyond).
    pub log_max_per_user: i64,
    /// How long the log keeps a notification. Without an age limit the log
    /// only grows, and once full refuses every notification; with one, a
    /// session whose reader falls further behind than this (a client that
    /// acknowledges nothing for days, a detached session resumed after
    /// that long) is ended, so its client starts a new session knowing it
    /// may have missed some ([C-10]), rather than losing them silently.
    pub log_max_age: Duration,
    /// How long JetStream remembers a publish id to store a retry once.
    pub duplicate_window: Duration,
    /// How long a report waits in the reports stream for its origin.
    pub reports_max_age: Duration,
}

impl BusConfig {
    /// The defaults for `urls`: prefix `faxnotify`, 3 replicas, a 1 GiB log
    /// with at most 100 000 notifications per user, each kept 7 days,
    /// reports kept an hour.
    pub fn new(urls: Vec<String>) -> Self {
        Self {
            urls,
            prefix: "faxnotify".into(),
            replicas: 3,
            timeouts: Timeouts::default(),
            log_max_bytes: 1 << 30,
            log_max_per_user: 100_000,
            log_max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            reports_max_age: Duration::from_secs(3600),
        }
    }

    /// Checks what a NATS server would otherwise refuse later, less clearly.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.urls.is_empty() {
            return Err(ConfigError::NoUrls);
        }
        for url in &self.urls {
            url.parse::<async_nats::ServerAddr>()
                .map_err(|err| ConfigError::BadUrl {
                    url: url.clone(),
                    reason: err.to_string(),
                })?;
        }
        let prefix_ok = !self.prefix.is_empty()
            && self.prefix.len() <= 32
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !prefix_ok {
            return Err(ConfigError::BadPrefix(self.prefix.clone()));
        }
        // JetStream allows 1 to 5 replicas.
        if !(1..=5).contains(&self.replicas) {
            return Err(ConfigError::BadReplicas(self.replicas));
        }
        if self.timeouts.connect.is_zero() || self.timeouts.operation.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        // JetStream refuses a duplicate window longer than the age limit.
        if self.log_max_age.is_zero() || self.log_max_age < self.duplicate_window {
            return Err(ConfigError::LogMaxAge {
                max_age: self.log_max_age,
                duplicate_window: self.duplicate_window,
            });
        }
        Ok(())
    }

    /// The name stem of the streams and the bucket (`FAXNOTIFY`).
    pub(crate) fn stem(&self) -> String {
        self.prefix.to_ascii_uppercase()
    }
}

/// Why a [`BusConfig`] cannot be used.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No NATS URL at all.
    #[error("no NATS server address given (expected nats://HOST:PORT[,…])")]
    NoUrls,
    /// A URL that does not parse.
    #[error("{url:?} is not a NATS server address: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A prefix that is not one subject token.
    #[error(
        "{0:?} cannot be the cluster prefix: use 1 to 32 lowercase letters, digits, '-' or '_'"
    )]
    BadPrefix(String),
    /// A replica count JetStream refuses.
    #[error("{0} replicas: JetStream keeps 1 to 5 copies (3 survives the loss of one node)")]
    BadReplicas(usize),
    /// A zero bound, which would fail every call.
    #[error("a zero timeout would fail every call to the bus")]
    ZeroTimeout,
    /// A log age limit of zero, or shorter than the duplicate window.
    #[error(
        "the log's age limit ({}s) must be at least the publish duplicate window ({}s)",
        max_age.as_secs_f64(),
        duplicate_window.as_secs_f64()
    )]
    LogMaxAge {
        /// The age limit given.
        max_age: Duration,
        /// The duplicate window it must cover.
        duplicate_window: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_settings_are_named() {
        let config = BusConfig::new(vec!["nats://127.0.0.1:4222".into()]);
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.stem(), "FAXNOTIFY");

        let none = BusConfig::new(vec![]);
        assert_eq!(none.validate(), Err(ConfigError::NoUrls));

        let mut dotted = config.clone();
        dotted.prefix = "fax.notify".into();
        let err = dotted.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("\"fax.notify\" cannot be the cluster prefix")
        );

        let mut many = config.clone();
        many.replicas = 7;
        assert_eq!(many.validate(), Err(ConfigError::BadReplicas(7)));

        let mut young = config.clone();
        young.log_max_age = Duration::from_secs(60);
        assert_eq!(
            young.validate().unwrap_err().to_string(),
            "the log's age limit (60s) must be at least the publish duplicate window (120s)"
        );

        let mut bad_url = config;
        bad_url.urls.push("nats://[::1".into());
        assert!(matches!(
            bad_url.validate(),
            Err(ConfigError::BadUrl { .. })
        ));
    }
}

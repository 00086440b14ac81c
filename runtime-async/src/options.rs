//! Runtime options shared by [`Server`](crate::Server) and [`Client`](crate::Client):
//! where the background tasks run, the seed, and the I/O bounds.

use std::time::Duration;

/// Options of the runtime (the protocol's own settings are in the core's
/// `ServerConfig` / `ClientConfig`).
///
/// The I/O bounds keep memory per connection bounded whatever a peer does
/// (see the [crate documentation](crate#backpressure)).
///
/// ```
/// use std::time::Duration;
/// use faxnotify_smol::Options;
///
/// let mut options = Options::default();
/// options.seed = Some([7; 32]); // reproducible nonces, for tests only
/// options.close_timeout = Duration::from_secs(1);
/// assert!(options.validate().is_ok());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options<R> {
    /// Seed of the core's random numbers (session ids, nonces, jitter).
    /// `None` (the default): 32 bytes from the operating system's CSPRNG.
    /// Fixed seeds are for tests only: they make nonces predictable.
    pub seed: Option<[u8; 32]>,
    /// Where background tasks run: a [`Runtime`](crate::Runtime) value,
    /// such as faxnotify-smol's `TaskRunner` or faxnotify-tokio's.
    pub runner: R,
    /// Events kept for the application before the instance stops reading
    /// from the network until the application catches up. Default 1 024.
    pub event_capacity: usize,
    /// Bytes read from a socket at a time. Default 16 KiB.
    pub read_chunk: usize,
    /// Read messages waiting for the driver, from all connections together;
    /// when the queue is full every connection waits. Default 256.
    pub input_queue: usize,
    /// A connection is not read from while this many bytes wait to be
    /// written to it (a peer that sends but does not read). Default 64 KiB.
    pub pause_reading_above: usize,
    /// A connection whose unwritten bytes exceed this is considered dead and
    /// closed. It must exceed what the core can legitimately queue toward one
    /// peer: the server's window of NOTIFYs in flight (default 64 frames of
    /// at most 64 KiB, about 4.2 MiB). Default 8 MiB.
    pub max_write_backlog: usize,
    /// How long a closed connection may take to flush what was written
    /// before the close and to see the peer close in turn; then it is
    /// dropped. Default 2 s. A connection the core closes
    /// [promptly](faxnotify_core::io::CloseKind::Prompt) (on the server:
    /// one that never got a session; on the client: a callback that never
    /// authenticated) waits only for its writes.
    pub close_timeout: Duration,
    /// Notifications a server's application may have posted
    /// ([`Server::post`](crate::Server::post)) that the driver has not taken
    /// yet; a post beyond that is refused with
    /// [`PostError::Full`](crate::PostError::Full). Default 65 536. The
    /// client ignores it.
    pub post_capacity: usize,
    /// Test hook: bind the client's callback listener (so its port is chosen
    /// and advertised) but close it at once, as if a firewall blocked it;
    /// [`Client::resume_listener`](crate::Client::resume_listener) opens it.
    #[cfg(feature = "test-hooks")]
    pub suspend_listener_at_start: bool,
}

impl<R: Default> Default for Options<R> {
    fn default() -> Self {
        Self {
            seed: None,
            runner: R::default(),
            event_capacity: 1_024,
            read_chunk: 16 * 1024,
            input_queue: 256,
            pause_reading_above: 64 * 1024,
            max_write_backlog: 8 * 1024 * 1024,
            close_timeout: Duration::from_secs(2),
            post_capacity: 65_536,
            #[cfg(feature = "test-hooks")]
            suspend_listener_at_start: false,
        }
    }
}

/// Why [`Options`] are refused.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A size that must not be zero.
    #[error("{field} must not be zero")]
    Zero {
        /// Which option.
        field: &'static str,
    },
    /// `max_write_backlog` does not exceed `pause_reading_above`, so a
    /// connection would be closed before its reads pause.
    #[error(
        "max_write_backlog ({max}) must exceed pause_reading_above ({pause}) so that reading \
         pauses before a connection is dropped"
    )]
    BacklogBelowPause {
        /// `max_write_backlog`.
        max: usize,
        /// `pause_reading_above`.
        pause: usize,
    },
}

impl<R> Options<R> {
    /// Checks the options.
    pub fn validate(&self) -> Result<(), OptionsError> {
        for (value, field) in [
            (self.event_capacity, "event_capacity"),
            (self.read_chunk, "read_chunk"),
            (self.input_queue, "input_queue"),
            (self.pause_reading_above, "pause_reading_above"),
            (self.post_capacity, "post_capacity"),
        ] {
            if value == 0 {
                return Err(OptionsError::Zero { field });
            }
        }
        if self.close_timeout.is_zero() {
            return Err(OptionsError::Zero {
                field: "close_timeout",
            });
        }
        if self.max_write_backlog <= self.pause_reading_above {
            return Err(OptionsError::BacklogBelowPause {
                max: self.max_write_backlog,
                pause: self.pause_reading_above,
            });
        }
        Ok(())
    }

    /// The seed to use: the configured one, or fresh bytes from the OS.
    pub(crate) fn resolve_seed(&self) -> Result<[u8; 32], getrandom::Error> {
        match self.seed {
            Some(seed) => Ok(seed),
            None => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed)?;
                Ok(seed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Options = super::Options<()>;

    #[test]
    fn defaults_are_valid_and_bounded() {
        let o = Options::default();
        assert_eq!(o.validate(), Ok(()));
        // The hard cap must leave room for a full default window of maximal NOTIFYs.
        assert!(o.max_write_backlog > 64 * (4 + 65_535));
    }

    #[test]
    fn refuses_useless_bounds() {
        let mut o = Options {
            read_chunk: 0,
            ..Options::default()
        };
        assert_eq!(
            o.validate(),
            Err(OptionsError::Zero {
                field: "read_chunk"
            })
        );
        o.read_chunk = 1;
        o.max_write_backlog = o.pause_reading_above;
        assert!(matches!(
            o.validate(),
            Err(OptionsError::BacklogBelowPause { .. })
        ));
    }

    #[test]
    fn seeds_come_from_the_os_unless_fixed() {
        let fixed = Options {
            seed: Some([3; 32]),
            ..Options::default()
        };
        assert_eq!(fixed.resolve_seed().ok(), Some([3; 32]));
        let os = Options::default();
        let (a, b) = (os.resolve_seed().ok(), os.resolve_seed().ok());
        assert!(a.is_some());
        assert_ne!(a, b, "two OS seeds should differ");
    }
}

//! Knobs of the event loop itself (the protocol's own limits live in the
//! core's `ServerConfig` / `ClientConfig`).

use std::time::Duration;

/// How the event loop buffers, reads and closes. The defaults suit both
/// the server and the client; see the [crate documentation](crate#backpressure)
/// for how these bound memory.
///
/// ```
/// use faxnotify_mio::LoopOptions;
///
/// let mut options = LoopOptions::default();
/// options.max_output_backlog = 128 * 1024;
/// assert!(options.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopOptions {
    /// Bytes waiting to be written to one connection above which the loop
    /// stops reading from that connection (default 256 KiB). A peer that
    /// does not read therefore cannot make the loop buffer replies without
    /// bound: see [Backpressure](crate#backpressure).
    pub max_output_backlog: usize,
    /// Bytes read from one connection per turn of the loop before the
    /// other connections get their turn (default 256 KiB; reads are done in
    /// 64 KiB chunks).
    pub read_budget: usize,
    /// Events buffered for the application (default 1 024). When the
    /// application does not take them, the loop stops reading from the
    /// network until it does; nothing is dropped. See
    /// [Events](crate#events-and-a-slow-application).
    pub event_capacity: usize,
    /// How long a connection the core closed may take to write what was
    /// queued for it and to see the peer's FIN (default 5 s). After that
    /// it is dropped. A connection the core closes
    /// [promptly](faxnotify_core::io::CloseKind::Prompt) (on the server:
    /// one that never got a session; on the client: a callback that never
    /// authenticated) waits only for its writes.
    pub close_linger: Duration,
    /// How long a graceful shutdown (server `shutdown`, client logout)
    /// waits for the last bytes to be written before the loop exits
    /// anyway (default 5 s).
    pub shutdown_grace: Duration,
    /// Notifications a server's application may have posted
    /// ([`ServerHandle::post`](crate::ServerHandle::post)) that the loop
    /// has not taken yet (default 65 536). A post beyond that is refused
    /// with [`PostError::Full`](faxnotify_runtime::PostError::Full). The
    /// client ignores it.
    pub post_capacity: usize,
}

impl Default for LoopOptions {
    fn default() -> Self {
        Self {
            max_output_backlog: 256 * 1024,
            read_budget: 256 * 1024,
            event_capacity: 1024,
            close_linger: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(5),
            post_capacity: 65_536,
        }
    }
}

/// A [`LoopOptions`] value that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A field that must not be zero.
    #[error("loop option {name} must not be zero")]
    Zero {
        /// The field.
        name: &'static str,
    },
}

impl LoopOptions {
    /// Checks that no limit is zero.
    pub fn validate(&self) -> Result<(), OptionsError> {
        let zero = [
            ("max_output_backlog", self.max_output_backlog == 0),
            ("read_budget", self.read_budget == 0),
            ("event_capacity", self.event_capacity == 0),
            ("close_linger", self.close_linger.is_zero()),
            ("shutdown_grace", self.shutdown_grace.is_zero()),
            ("post_capacity", self.post_capacity == 0),
        ];
        match zero.iter().find(|(_, z)| *z) {
            Some((name, _)) => Err(OptionsError::Zero { name }),
            None => Ok(()),
        }
    }
}

//! Counters of the event loop, for operators and tests.

/// A snapshot of an event loop, from `ServerHandle::stats` or
/// `ClientHandle::stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoopStats {
    /// Open listeners.
    pub listeners: usize,
    /// Connections: open, dialling, or closing (writing their last bytes).
    pub connections: usize,
    /// Bytes queued for writing over all connections.
    pub buffered_bytes: usize,
    /// The largest output backlog one connection has had since the loop
    /// started. Bounded as the [crate documentation](crate#backpressure) explains.
    pub peak_backlog: usize,
    /// Connections with bytes to read that the loop does not read for now
    /// (their output backlog is over the limit, or the application's events
    /// back up).
    pub paused_reads: usize,
    /// Events waiting for room in the application's channel.
    pub pending_events: usize,
    /// How often `poll` returned: an idle loop's count stays still.
    pub wakeups: u64,
}

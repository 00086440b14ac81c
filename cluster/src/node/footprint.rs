//! What a node holds at one moment: the sizes of its tables and queues.
//! Every one of them is bounded by the load in flight (sessions held,
//! notifications not yet acknowledged, reports not yet stored), never by
//! how long the node ran: after the clients acknowledged everything and the
//! bus stored everything, only the held sessions remain. Operators read it
//! for metrics; tests check that nothing outlives what it was kept for.

/// The sizes of a node's tables and queues ([`ClusterNode::footprint`](super::ClusterNode::footprint)).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct Footprint {
    /// Sessions held here.
    pub held_sessions: usize,
    /// Records taken for claims whose session is not open yet.
    pub claims_pending: usize,
    /// Notifications handed to held sessions and not yet acknowledged
    /// (kept for their reports: position and origin each).
    pub numbered: usize,
    /// Readers of the log (one per user with a session held here).
    pub readers: usize,
    /// Reports waiting for the bus (all origins).
    pub reports_queued: usize,
    /// Bus writes running or finished and not yet collected.
    pub bus_writes: usize,
    /// Notifications submitted with
    /// [`ClusterNode::publish`](super::ClusterNode::publish) waiting for
    /// their log message to be stored.
    pub publishes_queued: usize,
}

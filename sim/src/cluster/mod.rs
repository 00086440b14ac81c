//! The cluster simulator [D-17]: two or three server cores in cluster mode
//! share a model of the bus (an ordered log per user and a key-value store
//! with compare-and-set, [`bus`]), client cores reach whichever server is
//! up, and a seeded schedule kills servers, restarts them gracefully,
//! freezes them (SIGSTOP: no step, no timer, what arrives for them and
//! their bus answers wait, often past their owner lease, while the others
//! take their sessions over; on waking they handle their late timers,
//! their glue's tick and what waited in an order drawn from the seed), cuts
//! them off the bus, slows the bus down (so claims time out and take-overs
//! race), loses half of a node's bus answers for a while though their
//! operations take effect (a record created or taken over, a renewal, a
//! publish whose ack and retry's ack are lost: stored once, by its
//! de-duplication id) and resets connections.
//!
//! Notifications are accepted one or several per log message, as a
//! node's batcher writes them; a notification's place is (message, index
//! in the message), and records persist that position with the seq.
//!
//! Checked as it runs: a client never loses its session (no
//! "notifications may have been missed", no new session); every seq it is
//! handed is the next one and carries exactly the log entry the session's
//! numbering gives it; no session is held by two servers at once, and a
//! held session's record names its holder as owner (a server that loses the
//! bus gives its sessions up before its lease could pass to another) —
//! among servers that run: a frozen one is judged when it wakes, and one
//! that woke holding a session whose lease ran out meanwhile must release
//! it at its glue's next tick and never read the log into it (a node reads
//! the log only into sessions it owns on a running lease); no session ends
//! or reports anything undelivered, except that a woken server may end a
//! session that moved on to another while it slept, reporting nothing; a restored session's
//! persisted position names the same notification as its persisted seq
//! (so a resume in the middle of a message neither repeats nor skips). At the end, after the
//! faults heal: every client was handed every notification accepted for its
//! user since its session started, exactly once, in order; then every
//! client logs out and nothing is left — no session, no record.

mod bus;
mod node;
mod scenario;
mod world;

pub use scenario::{Action, ClusterScenario, Step};
pub use world::{ClusterConfig, ClusterReport, ClusterViolation};

/// Runs one cluster scenario.
pub fn run(
    config: &ClusterConfig,
    scenario: &ClusterScenario,
) -> Result<ClusterReport, ClusterViolation> {
    world::World::new(config.seed, scenario).run(config, scenario)
}

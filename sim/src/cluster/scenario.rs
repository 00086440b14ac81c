//! What happens in a cluster run: notifications and faults on a schedule
//! drawn from the seed.

use std::time::Duration;

use crate::rng::SimRng;

/// One scheduled thing.
#[derive(Clone, Debug)]
pub enum Action {
    /// Notifications for `user{user}` are submitted through some server.
    Notify {
        /// The user's index.
        user: usize,
        /// How many, one after another.
        count: usize,
    },
    /// The node's process dies (kill -9), and starts again later.
    Crash {
        /// The node.
        node: usize,
        /// How long it stays down.
        down_for: Duration,
    },
    /// The node shuts down gracefully (an upgrade), and starts again later.
    Restart {
        /// The node.
        node: usize,
        /// How long it stays down.
        down_for: Duration,
    },
    /// The node starts (after a crash or restart).
    Start {
        /// The node.
        node: usize,
    },
    /// The node cannot reach the bus for a while (a partition).
    BusLoss {
        /// The node.
        node: usize,
        /// For how long.
        for_: Duration,
    },
    /// The node reaches the bus again.
    BusBack {
        /// The node.
        node: usize,
    },
    /// The node's bus answers take seconds (claims time out, races).
    SlowBus {
        /// The node.
        node: usize,
        /// For how long.
        for_: Duration,
    },
    /// The node's bus answers are fast again.
    FastBus {
        /// The node.
        node: usize,
    },
    /// The node's process is stopped (SIGSTOP, a stalled VM): it takes no
    /// step, and what arrives for it waits, while the others go on.
    Freeze {
        /// The node.
        node: usize,
        /// For how long (often past its owner lease).
        for_: Duration,
    },
    /// The node runs again (SIGCONT) after its `freeze`-th freeze.
    Thaw {
        /// The node.
        node: usize,
        /// Which freeze of the node this ends.
        freeze: u64,
    },
    /// Half the node's bus answers are lost on the way back, though their
    /// operations take effect (a publish stored, a record written).
    LoseReplies {
        /// The node.
        node: usize,
        /// For how long.
        for_: Duration,
    },
    /// The node's bus answers arrive again.
    RepliesBack {
        /// The node.
        node: usize,
    },
    /// The client's newest connection is reset.
    Reset {
        /// The client.
        client: usize,
    },
}

/// A scheduled action.
#[derive(Clone, Debug)]
pub struct Step {
    /// When.
    pub at: Duration,
    /// What.
    pub action: Action,
}

/// A cluster run's shape and schedule.
#[derive(Clone, Debug)]
pub struct ClusterScenario {
    /// Server nodes (2 or 3).
    pub nodes: usize,
    /// Client cores.
    pub clients: usize,
    /// Users (clients share them: a user may have several sessions).
    pub users: usize,
    /// How long the schedule runs.
    pub length: Duration,
    /// The schedule, in time order.
    pub steps: Vec<Step>,
}

impl ClusterScenario {
    /// A random scenario: 2–3 nodes, a few clients, notifications all along
    /// and `faults` faults.
    pub fn random(rng: &mut SimRng, faults: usize) -> Self {
        let nodes = rng.range(2, 3) as usize;
        let clients = rng.range(2, 6) as usize;
        let users = rng.range(1, clients as u64) as usize;
        let length = Duration::from_secs(rng.range(40, 90));
        let mut steps = Vec::new();
        let ms = |rng: &mut SimRng, lo: u64, hi: u64| Duration::from_millis(rng.range(lo, hi));
        let notifications = rng.range(30, 150);
        for _ in 0..notifications {
            let at = ms(rng, 500, length.as_millis() as u64);
            let user = rng.below(users as u64) as usize;
            // Mostly one; sometimes a burst that outruns the persisted
            // acknowledgements, so a failover redelivers [D-17].
            let count = if rng.chance(15) {
                rng.range(4, 20) as usize
            } else {
                1
            };
            steps.push(Step {
                at,
                action: Action::Notify { user, count },
            });
        }
        for _ in 0..faults {
            let at = ms(rng, 2_000, length.as_millis() as u64);
            let node = rng.below(nodes as u64) as usize;
            let action = match rng.below(13) {
                0..=2 => Action::Crash {
                    node,
                    down_for: ms(rng, 1_000, 15_000),
                },
                3 => Action::Restart {
                    node,
                    down_for: ms(rng, 500, 10_000),
                },
                4 | 5 => Action::BusLoss {
                    node,
                    for_: ms(rng, 500, 12_000),
                },
                6 => Action::SlowBus {
                    node,
                    for_: ms(rng, 5_000, 20_000),
                },
                // Mostly past the owner lease (4 s) and the clients' lease
                // (12 s, after which they move on); sometimes past the
                // session's lease and grace, so that the woken node ends it.
                10 | 11 => Action::Freeze {
                    node,
                    for_: if rng.chance(15) {
                        ms(rng, 40_000, 60_000)
                    } else {
                        ms(rng, 500, 25_000)
                    },
                },
                12 => Action::LoseReplies {
                    node,
                    for_: ms(rng, 2_000, 15_000),
                },
                _ => Action::Reset {
                    client: rng.below(clients as u64) as usize,
                },
            };
            steps.push(Step { at, action });
        }
        steps.sort_by_key(|s| s.at);
        Self {
            nodes,
            clients,
            users,
            length,
            steps,
        }
    }
}

//! The index sweeper of a cluster of running nodes (`ClusterNode`, each
//! taking its turns as in production) on a real 3-node JetStream cluster:
//! one node sweeps the sessions bucket for all, and when it stops another
//! takes over once its lease ran out.

mod common;

use std::time::{Duration, Instant};

use common::{bus, run};
use faxnotify_cluster::{Bus, ClusterNode, NodeEvents, NodeTimings};
use faxnotify_core::server::{MemoryUserStore, ServerConfig};

/// The sweeper's lease: a node takes a turn every quarter of it.
const LEASE: Duration = Duration::from_secs(2);
/// How long a test waits for what a few leases should bring.
const PATIENCE: Duration = Duration::from_secs(30);

async fn node(bus: Bus) -> (ClusterNode, NodeEvents) {
    let mut timings = NodeTimings::default();
    timings.index_sweeper_lease = LEASE;
    // A sweep at every turn of the sweeper: many within the test.
    timings.index_sweep_every = Duration::ZERO;
    ClusterNode::start(
        "127.0.0.1:0".parse().expect("an address"),
        ServerConfig::new([7; 32]),
        MemoryUserStore::new(),
        bus,
        timings,
        faxnotify_tokio::Options::default(),
    )
    .await
    .unwrap_or_else(|err| panic!("cannot start a node: {err}"))
}

/// Polls `done` (every quarter lease) until it holds, or fails saying
/// `what` did not happen.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "{what} within {PATIENCE:?}");
        tokio::time::sleep(LEASE / 4).await;
    }
}

#[test]
fn one_node_sweeps_and_another_takes_over_when_it_stops() {
    run(
        "one_node_sweeps_and_another_takes_over_when_it_stops",
        3,
        |cluster| async move {
            let buses = [
                bus(&cluster, 1).await,
                bus(&cluster, 2).await,
                bus(&cluster, 3).await,
            ];
            let mut nodes = Vec::new();
            for bus in &buses {
                nodes.push(node(bus.clone()).await);
            }
            let listings = || buses.iter().map(Bus::session_listings).collect::<Vec<_>>();
            until("three sweeps", || listings().iter().sum::<u64>() >= 3).await;
            // Each node sweeping on its own made a listing each; here one
            // node made them all.
            let seen = listings();
            let sweepers: Vec<usize> = (0..3).filter(|&i| seen[i] > 0).collect();
            let [sweeper] = sweepers[..] else {
                panic!("one sweeper, not {sweepers:?}: listings {seen:?}");
            };

            // The sweeper stops (its events end once it has).
            let (stopped, mut events) = nodes.swap_remove(sweeper);
            stopped.shutdown().await;
            while events.next().await.is_some() {}
            let before = listings();
            until("another node's sweep", || {
                let now = listings();
                (0..3).any(|i| i != sweeper && now[i] > before[i])
            })
            .await;
            until("its second sweep", || {
                let now = listings();
                (0..3).any(|i| i != sweeper && now[i] >= before[i] + 2)
            })
            .await;
            let now = listings();
            let successors: Vec<usize> = (0..3)
                .filter(|&i| i != sweeper && now[i] > before[i])
                .collect();
            assert_eq!(successors.len(), 1, "listings {before:?} -> {now:?}");
            for (node, _) in &nodes {
                node.shutdown().await;
            }
        },
    );
}

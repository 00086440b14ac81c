//! What the cluster tests share: a bounded run on a fresh NATS cluster.

#![allow(dead_code)] // each test binary uses part of it

use std::future::Future;
use std::time::Duration;

use faxnotify_cluster::harness::{NatsCluster, skip_unless_available};
use faxnotify_cluster::{Bus, BusConfig, ClusterSecret, ServerId, Timeouts};
use faxnotify_core::wire::{EncodedNotification, Notification};

/// No test may take longer than this; one that hangs fails saying so (and
/// its cluster is killed as the panic unwinds).
pub const TEST_BUDGET: Duration = Duration::from_secs(120);
/// The bound of one bus call in these tests.
pub const OPERATION: Duration = Duration::from_secs(3);

/// Runs `body` against a fresh `size`-node cluster, or says it was skipped.
pub fn run<F, Fut>(test: &str, size: usize, body: F)
where
    F: FnOnce(NatsCluster) -> Fut,
    Fut: Future<Output = ()>,
{
    if skip_unless_available(test) {
        return;
    }
    let cluster = NatsCluster::start(size).unwrap_or_else(|err| panic!("{err}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        if tokio::time::timeout(TEST_BUDGET, body(cluster))
            .await
            .is_err()
        {
            panic!("{test} did not finish within {} s", TEST_BUDGET.as_secs());
        }
    });
}

/// The bus settings for `cluster`, with replicas = its size.
pub fn config(cluster: &NatsCluster) -> BusConfig {
    let mut config = BusConfig::new(cluster.urls());
    config.replicas = cluster.size();
    // JetStream reserves a stream's max_bytes on each replica's disk budget.
    config.log_max_bytes = 64 << 20;
    config.timeouts = Timeouts {
        connect: Duration::from_secs(20),
        operation: OPERATION,
    };
    config
}

/// One faxnotify server's connection, with origin `origin`.
pub async fn bus(cluster: &NatsCluster, origin: u64) -> Bus {
    connect(config(cluster), origin, &secret()).await
}

pub async fn connect(config: BusConfig, origin: u64, secret: &ClusterSecret) -> Bus {
    Bus::connect(config, ServerId(origin), secret.clone())
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the bus: {err}"))
}

/// The cluster secret the tests' servers share.
pub fn secret() -> ClusterSecret {
    ClusterSecret::from_bytes(&[0x5a; 32])
}

/// A server message numbered `n`.
pub fn note(n: usize) -> EncodedNotification {
    EncodedNotification::encode(&Notification::server_message(format!("note {n}")))
        .expect("a short server message encodes")
}

//! What the crate's own tests on a real NATS node share.

use crate::harness::{NatsCluster, skip_unless_available};
use crate::{Bus, BusConfig, ClusterSecret, ServerId};

/// A one-node NATS cluster and a current-thread tokio runtime for `test`,
/// or `None` (and the skip message) when nats-server is absent; under
/// `FAXNOTIFY_NATS_TEST=require` that fails. On one thread, a task the
/// test spawns runs only once the test awaits.
pub(crate) fn one_node(test: &str) -> Option<(NatsCluster, tokio::runtime::Runtime)> {
    if skip_unless_available(test) {
        return None;
    }
    let cluster = NatsCluster::start(1).unwrap_or_else(|err| panic!("{err}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    Some((cluster, runtime))
}

/// A bus on `cluster` with one replica per stream, as server 0x0a with a
/// fixed test secret; `adjust` changes the rest of the configuration.
pub(crate) async fn bus_on(cluster: &NatsCluster, adjust: impl FnOnce(&mut BusConfig)) -> Bus {
    let mut config = BusConfig::new(cluster.urls());
    config.replicas = 1;
    adjust(&mut config);
    Bus::connect(config, ServerId(0x0a), ClusterSecret::from_bytes(&[7; 32]))
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the bus: {err}"))
}

//! The node's sweeps of the sessions bucket (`index_upgrade.rs`): at start
//! and every [`NodeTimings::index_sweep_every`](super::NodeTimings), so that
//! sessions opened by servers of the previous version during a rolling
//! upgrade get their index entries and `notify --wait` counts them.

use std::time::Duration;

use crate::connect::Bus;

/// How soon a sweep that failed (no bus) is tried again, at most: until
/// one succeeds, this node's lookups list the whole bucket.
const RETRY: Duration = Duration::from_secs(10);

/// Sweeps until the task is aborted (when the node stops).
pub(super) async fn run(bus: Bus, every: Duration) {
    loop {
        let wait = match bus.backfill_index().await {
            Ok(done) => {
                if done.indexed > 0 {
                    tracing::info!(
                        indexed = done.indexed,
                        "indexed sessions opened by servers of the previous version"
                    );
                }
                every
            }
            Err(err) => {
                tracing::debug!(%err, "the session index sweep failed; trying again");
                every.min(RETRY)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

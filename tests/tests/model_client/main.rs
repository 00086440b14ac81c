//! Model-based test of the client (`proptest-state-machine`): random
//! sequences of server, network, clock and application steps run against
//! the real [`Client`](faxnotify_core::client::Client) and against a plain
//! reference model of the client's rules; after every step the two must
//! agree on every output in order (connections opened and closed, every
//! frame the client sends, every event for the application), on the state a
//! user interface shows, on the session and on the last delivered seq.
//!
//! Layout as in firezone's connlib tests: `transition` (the steps),
//! `strategies` (which steps to try from a state), `reference` (the model)
//! and `sut` (the real client, with the test as its server and adapter).
//!
//! `PROPTEST_CASES=N` runs more cases (256 by default); `MODEL_TRACE=1`
//! prints every step as it runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reference;
mod strategies;
mod sut;
mod transition;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use proptest_state_machine::prop_state_machine;
use sut::ClientSut;

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        max_shrink_iters: 1024,
        // The strategies generate only valid steps: a rejected one is a bug.
        max_local_rejects: 0,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model_client.txt"
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn client_agrees_with_its_model(sequential 1..80 => ClientSut);
}

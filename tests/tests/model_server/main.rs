//! Model-based test of the server (`proptest-state-machine`): random
//! sequences of client, network, clock and application steps run against
//! the real [`Server`](faxnotify_core::server::Server) and against a plain
//! reference model of the protocol's session and delivery rules; after
//! every step the two must agree on every event the application sees, every
//! NOTIFY sent on every path, the login outcome, the notify report, each
//! session's state (attached, path, CALLBACK_STATUS, queue, window) and the
//! pending dials.
//!
//! Layout as in firezone's connlib tests: `transition` (the steps),
//! `strategies` (which steps to try from a state), `reference` (the model)
//! and `sut` (the real server and its scripted clients).
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
use sut::ServerSut;

prop_state_machine! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        max_shrink_iters: 256,
        // The strategies generate only valid steps: a rejected one is a bug.
        max_local_rejects: 0,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model_server.txt"
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn server_agrees_with_its_model(sequential 1..80 => ServerSut);
}

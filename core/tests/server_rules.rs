//! Transcript tests of the server state machine, one module per area of the
//! spec. Each test drives the server with scripted clients in virtual time,
//! asserts the rule it names, and snapshots the whole exchange.

// Helpers are `pub` for the modules of this test crate, which is all `pub` can reach here.
#![allow(unreachable_pub)]
// Helpers outside #[test] functions panic on purpose when a script goes wrong.
#![allow(clippy::unwrap_used)]

mod support;

#[path = "server_rules/harness.rs"]
mod harness;

#[path = "server_rules/adapter.rs"]
mod adapter;
#[path = "server_rules/callback.rs"]
mod callback;
#[path = "server_rules/control.rs"]
mod control;
#[path = "server_rules/delivery.rs"]
mod delivery;
#[path = "server_rules/login.rs"]
mod login;
#[path = "server_rules/robustness.rs"]
mod robustness;
#[path = "server_rules/shared_address.rs"]
mod shared_address;

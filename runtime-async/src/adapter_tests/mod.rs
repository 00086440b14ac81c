//! The checks every adapter passes; run them from your adapter's tests with
//! one macro line.
//!
//! An adapter (a [`Runtime`] implementation and the handles named for it)
//! is only as good as what runs on it: delivery in order and exactly once,
//! backpressure on real sockets, a driver that sleeps when idle or paused
//! (a timer that stays ready once fired must not make it spin), shutdowns
//! that answer every request, a dying callback listener, a restarted or
//! crashed server, listen policies, the callback listener's address, IPv4,
//! IPv6 and dual stack, TLS. This
//! module holds those tests once, written against a small [`Harness`]
//! trait, so faxnotify-smol, faxnotify-tokio and your own adapter run the
//! same ones. It is compiled with the `adapter-tests` feature (which also
//! turns on the `test-hooks` feature its fault tests need); enable it in
//! your adapter's `[dev-dependencies]` only:
//!
//! ```toml
//! [dev-dependencies]
//! faxnotify-async = { version = "0.1", features = ["adapter-tests"] }
//! ```
//!
//! Then one test file, say `tests/adapter.rs`, implements [`Harness`] and
//! expands [`adapter_tests!`](crate::adapter_tests!) into one `#[test]`
//! per check, grouped in modules named after the files below (`delivery`,
//! `backpressure`, `idle`, `shutdown`, `faults`, `listening`, `ip_families`, `tls`):
//!
//! ```no_run
//! use std::future::Future;
//! use faxnotify_smol::TaskRunner;
//!
//! /// Each test blocks on async-io; every instance runs on its own thread.
//! struct SmolHarness;
//!
//! impl faxnotify_async::adapter_tests::Harness for SmolHarness {
//!     type Rt = TaskRunner;
//!
//!     fn new() -> Self {
//!         SmolHarness
//!     }
//!
//!     fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
//!         async_io::block_on(f)
//!     }
//!
//!     fn runner(&self) -> TaskRunner {
//!         TaskRunner::DedicatedThread
//!     }
//! }
//!
//! faxnotify_async::adapter_tests!(SmolHarness);
//! # fn main() {}
//! ```
//!
//! Every check is also a plain generic function (such as
//! [`delivery::many_notifications_arrive_in_order_exactly_once`]), so a test
//! of something only your runtime has (another flavour of executor, say)
//! can run one of them with a second harness. [`support`] has the helpers
//! the checks use (users, configurations, waiting for events with generous
//! timeouts, ports held for a test) for your runtime-specific tests.
//!
//! The suite uses nothing of a runtime but the [`Runtime`] trait: its
//! timeouts are [`Runtime::timer`]s, awaited inside [`Harness::block_on`].
//! It never sleeps to win a race (it waits for events, bounded by
//! [`support::WAIT`]) and never binds a port it has released: a port bound
//! again is held by [`support::reserve_ports`] for the whole test.

use std::future::Future;

use crate::Runtime;

pub mod backpressure;
pub mod delivery;
pub mod faults;
pub mod footprint;
pub mod idle;
pub mod ip_families;
pub mod listening;
pub mod shutdown;
pub mod support;
pub mod tls;

/// What the suite needs to know about an adapter: its [`Runtime`], how a
/// test blocks on a future, and where the instances' tasks go.
///
/// One value is made per test ([`Harness::new`]) and lives until the test
/// ends, so it may own the runtime the test runs on (faxnotify-tokio's
/// harness owns a tokio runtime): a test may call [`Harness::block_on`]
/// several times with the same server running in between, and does blocking
/// socket work of its own between those calls.
pub trait Harness: Sized {
    /// The adapter's runtime.
    type Rt: Runtime;

    /// A fresh harness for one test.
    fn new() -> Self;

    /// Runs `f` to completion on the calling thread, inside the runtime:
    /// [`Runtime::timer`] must work in `f`, and the instances started with
    /// [`Harness::runner`] must make progress while `f` waits for them.
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T;

    /// The runner of every instance the test starts ([`crate::Options::runner`]).
    fn runner(&self) -> Self::Rt;
}

/// Expands to one `#[test]` per check of the suite, run with the given
/// [`Harness`](crate::adapter_tests::Harness) type, grouped in one module
/// per file of [`adapter_tests`](mod@crate::adapter_tests) (`delivery`,
/// `backpressure`, `idle`, `shutdown`, `faults`, `listening`, `ip_families`, `tls`).
///
/// Call it once at the top level of a test file, where the harness type is
/// in scope: `faxnotify_async::adapter_tests!(MyHarness);`.
#[macro_export]
macro_rules! adapter_tests {
    ($harness:ty) => {
        $crate::__adapter_test_group!(
            $harness,
            delivery,
            [
                a_notification_arrives_once_and_logout_ends_the_session,
                many_notifications_arrive_in_order_exactly_once,
                events_taken_in_batches_are_every_event_in_order,
                twenty_clients_broadcast_and_per_user_targeting,
                dropping_every_server_handle_shuts_the_server_down,
                a_batch_gets_one_report_per_notification_and_arrives_in_order,
                posts_arrive_in_order_and_refusals_add_up_in_the_report,
                a_client_without_a_listener_gets_its_notifications_over_the_backchannel,
            ]
        );
        $crate::__adapter_test_group!(
            $harness,
            backpressure,
            [
                a_client_app_that_stops_reading_holds_the_server_within_its_window_and_queue,
                a_peer_that_floods_without_reading_is_paused_alone,
                a_server_app_that_stops_reading_pauses_intake_and_the_driver_sleeps,
            ]
        );
        $crate::__adapter_test_group!(
            $harness,
            idle,
            [a_server_sleeps_once_its_last_client_has_left]
        );
        $crate::__adapter_test_group!(
            $harness,
            shutdown,
            [
                requests_made_while_connections_close_are_answered,
                shutdown_ends_the_client_session_then_the_events,
                a_killed_server_drops_everything_at_once,
            ]
        );
        $crate::__adapter_test_group!(
            $harness,
            faults,
            [
                killing_the_callback_listener_mid_stream_loses_and_repeats_nothing,
                a_restarted_server_means_a_lost_session_and_a_new_login,
                a_wrong_password_stops_the_client,
                an_unreachable_callback_without_backchannel_queues_until_the_port_opens,
                an_unreachable_callback_with_backchannel_delivers_on_control_then_moves_back,
                a_server_that_is_not_there_is_retried_until_it_is,
                a_crashed_server_means_a_lost_connection_then_a_refused_resume,
            ]
        );
        $crate::__adapter_test_group!(
            $harness,
            listening,
            [
                a_loopback_server_gets_a_loopback_listener,
                the_listener_binds_the_address_the_server_is_reached_from,
                a_fixed_port_held_on_any_address_refuses_a_second_instance,
                a_second_instance_on_a_fixed_port_fails_and_the_first_keeps_receiving,
                a_range_of_three_ports_runs_three_instances_and_refuses_the_fourth,
                a_server_cannot_bind_a_port_that_is_listening,
            ]
        );
        $crate::__adapter_test_group!(
            $harness,
            ip_families,
            [
                a_dual_stack_server_dials_ipv4_clients_back_over_ipv4,
                ipv6_loopback_end_to_end,
            ]
        );
        $crate::__adapter_test_group!(
            $harness,
            tls,
            [
                a_replaced_identity_serves_new_clients_and_old_sessions_go_on,
                a_plain_server_refuses_a_certificate,
            ]
        );
    };
}

/// One module of [`adapter_tests!`]: a `#[test]` per listed check of
/// `adapter_tests::$group`. Not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __adapter_test_group {
    ($harness:ty, $group:ident, [$($name:ident),* $(,)?]) => {
        mod $group {
            // The harness type is named where the macro was called.
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    $crate::adapter_tests::$group::$name::<$harness>();
                }
            )*
        }
    };
}

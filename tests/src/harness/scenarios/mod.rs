//! The scenarios of issue 5. Each takes the runtime of the server and the
//! runtime of the clients (the same one, or two for cross-runtime tests).

mod callback;
mod handler;
mod many_clients;
mod ports;
mod restart;
mod stack;

pub use callback::{listener_killed_mid_stream, unreachable_callback, wrong_password};
pub use handler::{handler_post_to_a_full_queue_is_refused, handler_runs_a_closed_loop};
pub use many_clients::twenty_clients_on_one_host;
pub use ports::{fixed_port_in_use, range_of_three_with_four_clients};
pub use restart::server_restart;
pub use stack::{dual_stack_server_with_ipv4_clients, ipv6_loopback};

use faxnotify_core::wire::Notification;

use super::{ClientProbe, ClientSetup, Runtime, ServerProbe, ServerSetup};

/// Starts a server or panics.
pub fn start_server(rt: &dyn Runtime, setup: ServerSetup) -> ServerProbe {
    let server = rt
        .start_server(setup)
        .unwrap_or_else(|e| panic!("{}: the server does not start: {e}", rt.name()));
    ServerProbe::new(server)
}

/// Starts a client or panics.
pub fn start_client(rt: &dyn Runtime, name: &str, setup: ClientSetup) -> ClientProbe {
    let client = rt
        .start_client(setup)
        .unwrap_or_else(|e| panic!("{}: client {name} does not start: {e:?}", rt.name()));
    ClientProbe::new(format!("{} client {name}", rt.name()), client)
}

/// Checks that `probe` received exactly the server messages `texts`, each
/// once, in this order, with consecutive seqs starting at `first_seq`.
pub fn assert_delivered(probe: &ClientProbe, first_seq: u64, texts: &[String]) {
    let got = probe.notifications();
    let want: Vec<(u64, Notification)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                first_seq + i as u64,
                Notification::server_message(t.clone()),
            )
        })
        .collect();
    assert!(
        got == want,
        "{}: expected exactly {} notifications {}..={} in order, got {} ({:?}..); events:\n{}",
        probe.name,
        want.len(),
        first_seq,
        first_seq + want.len() as u64 - 1,
        got.len(),
        got.iter().map(|(s, _)| *s).take(8).collect::<Vec<_>>(),
        probe.dump()
    );
}

/// `prefix-1`, `prefix-2`, ... `prefix-n`.
pub fn numbered(prefix: &str, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

//! The runtime scenarios of issue 5 against `faxnotify-smol`: real sockets
//! on loopback, server and clients both on smol.

use faxnotify_tests::harness::scenarios;
use faxnotify_tests::harness::smol::SmolRuntime;

const SMOL: SmolRuntime = SmolRuntime;

#[test]
fn twenty_clients_on_one_host() {
    scenarios::twenty_clients_on_one_host(&SMOL, &SMOL);
}

#[test]
fn fixed_port_in_use() {
    scenarios::fixed_port_in_use(&SMOL, &SMOL);
}

#[test]
fn range_of_three_with_four_clients() {
    scenarios::range_of_three_with_four_clients(&SMOL, &SMOL);
}

#[test]
fn listener_killed_mid_stream_without_backchannel() {
    scenarios::listener_killed_mid_stream(&SMOL, &SMOL, false);
}

#[test]
fn listener_killed_mid_stream_with_backchannel() {
    scenarios::listener_killed_mid_stream(&SMOL, &SMOL, true);
}

#[test]
fn server_restart_graceful() {
    scenarios::server_restart(&SMOL, &SMOL, true);
}

#[test]
fn server_restart_crash() {
    scenarios::server_restart(&SMOL, &SMOL, false);
}

#[test]
fn wrong_password() {
    scenarios::wrong_password(&SMOL, &SMOL);
}

#[test]
fn unreachable_callback_without_backchannel() {
    scenarios::unreachable_callback(&SMOL, &SMOL, false);
}

#[test]
fn unreachable_callback_with_backchannel() {
    scenarios::unreachable_callback(&SMOL, &SMOL, true);
}

#[test]
fn dual_stack_server_with_ipv4_clients() {
    scenarios::dual_stack_server_with_ipv4_clients(&SMOL, &SMOL);
}

#[test]
fn ipv6_loopback() {
    scenarios::ipv6_loopback(&SMOL, &SMOL);
}

#[test]
fn handler_runs_a_closed_loop() {
    scenarios::handler_runs_a_closed_loop(&SMOL);
}

#[test]
fn handler_post_to_a_full_queue_is_refused() {
    scenarios::handler_post_to_a_full_queue_is_refused(&SMOL);
}

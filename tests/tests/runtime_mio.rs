//! The runtime scenarios of issue 5 against `faxnotify-mio`: real sockets
//! on loopback, server and clients both on mio.

use faxnotify_tests::harness::mio::MioRuntime;
use faxnotify_tests::harness::scenarios;

const MIO: MioRuntime = MioRuntime;

#[test]
fn twenty_clients_on_one_host() {
    scenarios::twenty_clients_on_one_host(&MIO, &MIO);
}

#[test]
fn fixed_port_in_use() {
    scenarios::fixed_port_in_use(&MIO, &MIO);
}

#[test]
fn range_of_three_with_four_clients() {
    scenarios::range_of_three_with_four_clients(&MIO, &MIO);
}

#[test]
fn listener_killed_mid_stream_without_backchannel() {
    scenarios::listener_killed_mid_stream(&MIO, &MIO, false);
}

#[test]
fn listener_killed_mid_stream_with_backchannel() {
    scenarios::listener_killed_mid_stream(&MIO, &MIO, true);
}

#[test]
fn server_restart_graceful() {
    scenarios::server_restart(&MIO, &MIO, true);
}

#[test]
fn server_restart_crash() {
    scenarios::server_restart(&MIO, &MIO, false);
}

#[test]
fn wrong_password() {
    scenarios::wrong_password(&MIO, &MIO);
}

#[test]
fn unreachable_callback_without_backchannel() {
    scenarios::unreachable_callback(&MIO, &MIO, false);
}

#[test]
fn unreachable_callback_with_backchannel() {
    scenarios::unreachable_callback(&MIO, &MIO, true);
}

#[test]
fn dual_stack_server_with_ipv4_clients() {
    scenarios::dual_stack_server_with_ipv4_clients(&MIO, &MIO);
}

#[test]
fn ipv6_loopback() {
    scenarios::ipv6_loopback(&MIO, &MIO);
}

#[test]
fn handler_runs_a_closed_loop() {
    scenarios::handler_runs_a_closed_loop(&MIO);
}

#[test]
fn handler_post_to_a_full_queue_is_refused() {
    scenarios::handler_post_to_a_full_queue_is_refused(&MIO);
}

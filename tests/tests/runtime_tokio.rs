//! The runtime scenarios of issue 5 against `faxnotify-tokio`: real sockets
//! on loopback, server and clients both on tokio, once on a multi-thread
//! runtime (`#[tokio::main]`'s kind) and once on a current-thread runtime.

use faxnotify_tests::harness::scenarios;
use faxnotify_tests::harness::tokio::TokioRuntime;

/// Each scenario on both flavours: `multi_thread::name` and
/// `current_thread::name`.
macro_rules! on_both_flavours {
    ($($name:ident => |$rt:ident| $body:expr;)+) => {
        mod multi_thread {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let $rt = &TokioRuntime::MULTI_THREAD;
                    $body
                }
            )+
        }
        mod current_thread {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let $rt = &TokioRuntime::CURRENT_THREAD;
                    $body
                }
            )+
        }
    };
}

on_both_flavours! {
    twenty_clients_on_one_host => |t| scenarios::twenty_clients_on_one_host(t, t);
    fixed_port_in_use => |t| scenarios::fixed_port_in_use(t, t);
    range_of_three_with_four_clients => |t| scenarios::range_of_three_with_four_clients(t, t);
    listener_killed_mid_stream_without_backchannel =>
        |t| scenarios::listener_killed_mid_stream(t, t, false);
    listener_killed_mid_stream_with_backchannel =>
        |t| scenarios::listener_killed_mid_stream(t, t, true);
    server_restart_graceful => |t| scenarios::server_restart(t, t, true);
    server_restart_crash => |t| scenarios::server_restart(t, t, false);
    wrong_password => |t| scenarios::wrong_password(t, t);
    unreachable_callback_without_backchannel => |t| scenarios::unreachable_callback(t, t, false);
    unreachable_callback_with_backchannel => |t| scenarios::unreachable_callback(t, t, true);
    dual_stack_server_with_ipv4_clients => |t| scenarios::dual_stack_server_with_ipv4_clients(t, t);
    ipv6_loopback => |t| scenarios::ipv6_loopback(t, t);
    handler_runs_a_closed_loop => |t| scenarios::handler_runs_a_closed_loop(t);
    handler_post_to_a_full_queue_is_refused =>
        |t| scenarios::handler_post_to_a_full_queue_is_refused(t);
}

//! Cross-runtime scenarios: a server of each runtime with clients of each
//! other runtime (mio, smol, tokio: the six pairs of different runtimes;
//! the three same-runtime pairs are `runtime_<name>.rs`), in the same test
//! run, on real sockets.

use faxnotify_tests::harness::mio::MioRuntime;
use faxnotify_tests::harness::scenarios;
use faxnotify_tests::harness::smol::SmolRuntime;
use faxnotify_tests::harness::tokio::TokioRuntime;

const MIO: MioRuntime = MioRuntime;
const SMOL: SmolRuntime = SmolRuntime;
const TOKIO: TokioRuntime = TokioRuntime::MULTI_THREAD;

/// Each scenario once per pair: `mio_server_smol_clients::name`,
/// `smol_server_tokio_clients::name`, ...
macro_rules! every_pair {
    ($($name:ident => |$server:ident, $clients:ident| $body:expr;)+) => {
        every_pair!(@pair mio_server_smol_clients, MIO, SMOL; $($name => |$server, $clients| $body;)+);
        every_pair!(@pair mio_server_tokio_clients, MIO, TOKIO; $($name => |$server, $clients| $body;)+);
        every_pair!(@pair smol_server_mio_clients, SMOL, MIO; $($name => |$server, $clients| $body;)+);
        every_pair!(@pair smol_server_tokio_clients, SMOL, TOKIO; $($name => |$server, $clients| $body;)+);
        every_pair!(@pair tokio_server_mio_clients, TOKIO, MIO; $($name => |$server, $clients| $body;)+);
        every_pair!(@pair tokio_server_smol_clients, TOKIO, SMOL; $($name => |$server, $clients| $body;)+);
    };
    (@pair $module:ident, $s:expr, $c:expr; $($name:ident => |$server:ident, $clients:ident| $body:expr;)+) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let ($server, $clients) = (&$s, &$c);
                    $body
                }
            )+
        }
    };
}

every_pair! {
    twenty_clients_on_one_host => |s, c| scenarios::twenty_clients_on_one_host(s, c);
    fixed_port_in_use => |s, c| scenarios::fixed_port_in_use(s, c);
    range_of_three_with_four_clients => |s, c| scenarios::range_of_three_with_four_clients(s, c);
    listener_killed_mid_stream_without_backchannel =>
        |s, c| scenarios::listener_killed_mid_stream(s, c, false);
    listener_killed_mid_stream_with_backchannel =>
        |s, c| scenarios::listener_killed_mid_stream(s, c, true);
    server_restart_graceful => |s, c| scenarios::server_restart(s, c, true);
    server_restart_crash => |s, c| scenarios::server_restart(s, c, false);
    wrong_password => |s, c| scenarios::wrong_password(s, c);
    unreachable_callback_without_backchannel => |s, c| scenarios::unreachable_callback(s, c, false);
    unreachable_callback_with_backchannel => |s, c| scenarios::unreachable_callback(s, c, true);
    dual_stack_server_with_ipv4_clients => |s, c| scenarios::dual_stack_server_with_ipv4_clients(s, c);
    ipv6_loopback => |s, c| scenarios::ipv6_loopback(s, c);
}

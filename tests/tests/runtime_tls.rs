//! The runtime scenarios of issue 5 over TLS 1.3 (protocol.md section 12):
//! every scenario with every control and callback connection in TLS, on mio,
//! on smol, on tokio, and across runtimes (a mio server with smol clients, a
//! tokio server with mio clients). Certificates come from a test CA
//! (`harness::tls`); clients verify the name `localhost`.

use faxnotify_tests::harness::mio::MioRuntime;
use faxnotify_tests::harness::scenarios;
use faxnotify_tests::harness::smol::SmolRuntime;
use faxnotify_tests::harness::tokio::TokioRuntime;
use faxnotify_tests::harness::with_tls;

const MIO: MioRuntime = MioRuntime;
const SMOL: SmolRuntime = SmolRuntime;
const TOKIO: TokioRuntime = TokioRuntime::MULTI_THREAD;

/// Each scenario on mio, on smol, on tokio, with a mio server and smol
/// clients, and with a tokio server and mio clients.
macro_rules! over_tls {
    ($($name:ident => |$server:ident, $clients:ident| $body:expr;)+) => {
        mod mio {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let ($server, $clients) = (&MIO, &MIO);
                    with_tls(|| $body)
                }
            )+
        }
        mod smol {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let ($server, $clients) = (&SMOL, &SMOL);
                    with_tls(|| $body)
                }
            )+
        }
        mod tokio {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let ($server, $clients) = (&TOKIO, &TOKIO);
                    with_tls(|| $body)
                }
            )+
        }
        mod mio_server_smol_clients {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let ($server, $clients) = (&MIO, &SMOL);
                    with_tls(|| $body)
                }
            )+
        }
        mod tokio_server_mio_clients {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let ($server, $clients) = (&TOKIO, &MIO);
                    with_tls(|| $body)
                }
            )+
        }
    };
}

over_tls! {
    twenty_clients_on_one_host => |s, c| scenarios::twenty_clients_on_one_host(s, c);
    fixed_port_in_use => |s, c| scenarios::fixed_port_in_use(s, c);
    range_of_three_with_four_clients => |s, c| scenarios::range_of_three_with_four_clients(s, c);
    listener_killed_mid_stream_without_backchannel => |s, c| scenarios::listener_killed_mid_stream(s, c, false);
    listener_killed_mid_stream_with_backchannel => |s, c| scenarios::listener_killed_mid_stream(s, c, true);
    server_restart_graceful => |s, c| scenarios::server_restart(s, c, true);
    server_restart_crash => |s, c| scenarios::server_restart(s, c, false);
    wrong_password => |s, c| scenarios::wrong_password(s, c);
    unreachable_callback_without_backchannel => |s, c| scenarios::unreachable_callback(s, c, false);
    unreachable_callback_with_backchannel => |s, c| scenarios::unreachable_callback(s, c, true);
    dual_stack_server_with_ipv4_clients => |s, c| scenarios::dual_stack_server_with_ipv4_clients(s, c);
    ipv6_loopback => |s, c| scenarios::ipv6_loopback(s, c);
}

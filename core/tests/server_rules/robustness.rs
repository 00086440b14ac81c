//! Random scripts against the server: whatever peers and the adapter do,
//! nothing panics, every output respects the adapter contract (checked by
//! the harness: no Transmit after Close, no double Close), and once every
//! peer falls silent the server forgets everything: no session, no
//! connection, no address entry, no timer. That last property is the leak
//! check: nothing a peer does can make the server hold memory forever.

use std::time::Duration;

use faxnotify_core::server::{ConnectError, Input, InputError, Target};
use faxnotify_core::wire::{
    Advertise, Caps, CbReady, ErrorCode, Frame, Login, Notification, PolicyKind,
};
use proptest::prelude::*;

use crate::harness::*;

#[derive(Clone, Debug)]
enum Action {
    Accept(u8),
    Login(u8, bool),
    Bytes(u8, Vec<u8>),
    Frame(u8, u8, u64),
    Advance(u32),
    Notify,
    Dial(u8, u8),
    Close(u8),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => any::<u8>().prop_map(Action::Accept),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(ip, resume)| Action::Login(ip, resume)),
        2 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..48))
            .prop_map(|(c, b)| Action::Bytes(c, b)),
        4 => (any::<u8>(), 0u8..14, any::<u64>()).prop_map(|(c, f, n)| Action::Frame(c, f, n)),
        3 => (0u32..40_000).prop_map(Action::Advance),
        2 => Just(Action::Notify),
        3 => (any::<u8>(), 0u8..3).prop_map(|(d, o)| Action::Dial(d, o)),
        1 => any::<u8>().prop_map(Action::Close),
    ]
}

/// A plausible frame for a client to send, chosen by `which`.
fn frame(which: u8, n: u64) -> Frame<'static> {
    match which {
        0 => Frame::Login(Login {
            version: 1 + (n % 2) as u16,
            user: if n.is_multiple_of(3) {
                "alice"
            } else {
                "mallory"
            }
            .into(),
            client_nonce: [n as u8; 32],
            caps: Caps::from_bits(n as u32),
            resume_session: n % 5,
        }),
        1 => Frame::LoginProof {
            proof: [n as u8; 32],
        },
        2 => Frame::Advertise(Advertise {
            port: [0, 80, 6003, 6004][(n % 4) as usize],
            policy: [PolicyKind::Dynamic, PolicyKind::Range, PolicyKind::Fixed][(n % 3) as usize],
            range_lo: [0, 6000][(n % 2) as usize],
            range_hi: [0, 6010][(n / 2 % 2) as usize],
        }),
        3 => Frame::Ping { nonce: n },
        4 => Frame::Pong { nonce: n },
        5 => Frame::Logout,
        6 => Frame::Ack { seq: n % 8 },
        7 => Frame::CbChallenge {
            client_nonce: [n as u8; 32],
        },
        8 => Frame::CbReady(CbReady {
            last_seq: n % 4,
            proof: [n as u8; 32],
        }),
        9 => Frame::error(ErrorCode::Malformed, "random"),
        10 => Frame::Bye {
            reason: faxnotify_core::wire::ByeReason::Logout,
        },
        11 => Frame::Notify(faxnotify_core::wire::Notify {
            seq: n,
            kind: 3,
            payload: vec![0, 0].into(),
        }),
        12 => Frame::AdvertiseOk {
            callback: addr("192.0.2.1:6003"),
        },
        _ => Frame::Ack { seq: n },
    }
}

fn run(actions: Vec<Action>) {
    let mut h = Harness::with(|c| {
        c.max_unauthenticated_per_ip = 3;
        c.max_sessions_per_ip = 4;
    });
    h.log_client_frames = false;
    let mut conns = Vec::new();
    let mut clients: Vec<Client> = Vec::new();
    let mut dials = Vec::new();
    let pick = |list: &[faxnotify_core::ConnId], i: u8| {
        (!list.is_empty()).then(|| list[usize::from(i) % list.len()])
    };
    for action in actions {
        match action {
            Action::Accept(ip) => {
                conns.push(h.accept(&format!("192.0.2.{}:{}", ip % 4, 1000 + conns.len())))
            }
            Action::Login(ip, resume) => {
                let resume = if resume {
                    clients.last().map_or(0, |c| c.session.get())
                } else {
                    0
                };
                let peer = format!("[::ffff:192.0.2.{}]:{}", ip % 4, 2000 + conns.len());
                match h.try_login(&peer, "alice", ALICE_PW, resume, Caps::BACKCHANNEL) {
                    Ok(client) => {
                        conns.push(client.conn);
                        let port = [0, 6003, 6004][usize::from(ip) % 3];
                        h.advertise(&client, port);
                        clients.push(client);
                    }
                    Err((conn, _)) => conns.push(conn),
                }
            }
            Action::Bytes(c, bytes) => {
                if let Some(conn) = pick(&conns, c) {
                    h.send_bytes(conn, &bytes, "random bytes");
                }
            }
            Action::Frame(c, which, n) => {
                let all: Vec<_> = conns.iter().chain(&dials).copied().collect();
                if let Some(conn) = pick(&all, c) {
                    // Bytes on a dial not reported connected are the adapter's mistake.
                    match h.try_send(conn, &frame(which, n)) {
                        Ok(()) | Err(InputError::NotConnected(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            Action::Advance(ms) => h.advance(Duration::from_millis(u64::from(ms))),
            Action::Notify => {
                h.server
                    .notify(h.now, Target::All, &Notification::server_message("n"))
                    .unwrap();
                h.drain();
            }
            Action::Dial(d, outcome) => {
                dials.extend(h.take_dials().into_iter().map(|(c, _)| c));
                if let Some(conn) = pick(&dials, d)
                    && !h.is_closed(conn)
                {
                    match outcome {
                        0 => {
                            // Connected twice is adapter misuse: an Err, never a panic.
                            let _ = h.server.handle_input(h.now, Input::Connected { conn });
                            h.drain();
                        }
                        1 => {
                            let _ = h.server.handle_input(
                                h.now,
                                Input::ConnectFailed {
                                    conn,
                                    error: ConnectError::Refused,
                                },
                            );
                            h.drain();
                        }
                        _ => {
                            // Run the real handshake when the session still exists.
                            if let Some(client) = clients
                                .iter()
                                .find(|c| h.server.session(c.session).is_some())
                                .cloned()
                            {
                                let _ = h.server.handle_input(h.now, Input::Connected { conn });
                                h.drain();
                                let cb = CallbackConn {
                                    conn,
                                    client_nonce: [1; 32],
                                    server_nonce: [0; 32],
                                };
                                h.send(
                                    conn,
                                    &Frame::CbChallenge {
                                        client_nonce: cb.client_nonce,
                                    },
                                );
                                let hello = h.recv(conn);
                                if let Some(Frame::CbHello(hello)) = hello.first() {
                                    let cb = CallbackConn {
                                        server_nonce: hello.server_nonce,
                                        ..cb
                                    };
                                    h.cb_ready(&client, &cb, 0);
                                }
                            }
                        }
                    }
                }
            }
            Action::Close(c) => {
                let all: Vec<_> = conns.iter().chain(&dials).copied().collect();
                if let Some(conn) = pick(&all, c) {
                    let _ = h.server.handle_input(h.now, Input::Closed { conn });
                    h.drain();
                }
            }
        }
    }
    // Everyone falls silent: within a few leases and backoffs, nothing is left.
    for _ in 0..20 {
        h.advance(Duration::from_secs(60));
    }
    assert_eq!(h.server.session_count(), 0);
    assert_eq!(h.server.connection_count(), 0);
    assert_eq!(h.server.poll_timeout(), None, "{:?}", h.server);
    let debug = format!("{:?}", h.server);
    assert!(debug.contains("addresses: 0"), "{debug}");
    assert!(h.server.is_idle());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_scripts_never_panic_and_leave_nothing_behind(
        actions in proptest::collection::vec(action(), 1..40)
    ) {
        run(actions);
    }
}

//! Driving the sans-IO cores from a runtime of your own.
//!
//! A runtime owns the sockets, the clock and the timers; the cores own the
//! protocol. This example's "runtime" is an in-memory network and a manual
//! clock, so that the whole exchange fits in one function: a client logs in
//! to a server, advertises its callback port, the server dials back, a
//! notification is delivered and acknowledged, and the client logs out.
//! Both cores speak one vocabulary (`faxnotify_core::io`: `Input`,
//! `Output<Event>`), so one adapter loop serves either side.
//! A real adapter does the same with TCP sockets (see `faxnotify-mio`, and
//! `faxnotify-async`, the driver under `faxnotify-smol` and `faxnotify-tokio`):
//!
//! | core output | what the adapter does | what it feeds back |
//! |---|---|---|
//! | `Listen { addr }` (client) | bind a listener | `Input::Bound` / `Input::BindFailed` |
//! | `Connect { conn, addr }` | dial `addr` | `Input::Connected` / `Input::ConnectFailed` |
//! | `Transmit { conn, data }` | write `data`, then `recycle(data)` | (bytes read later: `Input::Received`) |
//! | `Close { conn, kind }` | close after writing; `Graceful`: wait for the peer's FIN, `Prompt`: don't | (peer closes: `Input::Closed`) |
//! | `Event(e)` | hand to the application | |
//! | a connection accepted | | `handle_accept(now, peer)` |
//! | `poll_timeout()` passed | | `handle_timeout(now)` |
//!
//! The loop is written out here on purpose, for integrators to read; the
//! workspace's tests drive the cores with the same logic from
//! `faxnotify-testkit`'s `Net`.
//!
//! Run it with `cargo run -p faxnotify-core --example own_runtime`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use faxnotify_core::ConnId;
use faxnotify_core::client::{self, Client, ClientConfig, ListenPolicy, NetworkSettings};
use faxnotify_core::io::ConnectError;
use faxnotify_core::server::{self, MemoryUserStore, Server, ServerConfig, Target};
use faxnotify_core::wire::{CallbackState, Notification, Role};

/// Which side a connection handle belongs to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum End {
    Client(ConnId),
    Server(ConnId),
}

/// The in-memory network: both ends of every connection.
#[derive(Default)]
struct Wires {
    peer: HashMap<End, End>,
}

impl Wires {
    fn connect(&mut self, a: End, b: End) {
        self.peer.insert(a, b);
        self.peer.insert(b, a);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server_addr: SocketAddr = "192.0.2.1:4580".parse()?;
    let client_ip = "192.0.2.10";
    let mut now = Instant::now();

    let mut users = MemoryUserStore::new();
    users.add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)?;
    // Seeds: fixed here for a reproducible run; 32 bytes from the OS in production.
    let mut server = Server::new(ServerConfig::new([1; 32]), Box::new(users), [2; 32])?;
    let config = ClientConfig::new(
        server_addr,
        "alice",
        "correct horse",
        NetworkSettings::new(ListenPolicy::Range { lo: 6000, hi: 6010 }),
    );
    let mut client = Client::new(config, [3; 32], now)?;

    let mut wires = Wires::default();
    let mut listening: Option<u16> = None;
    let mut notified = false;

    for _turn in 0..10_000 {
        if client.is_finished() {
            println!("done: the client logged out");
            return Ok(());
        }
        // 1. Drain both cores' outputs until neither has anything left
        //    (an output of one is often an input of the other).
        let mut busy = true;
        while busy {
            busy = false;
            while let Some(output) = client.poll_output() {
                busy = true;
                match output {
                    client::Output::Listen { addr } => {
                        // Bind; here every port is free.
                        listening = Some(addr.port());
                        client.handle_input(now, client::Input::Bound { local: addr })?;
                    }
                    client::Output::StopListening => listening = None,
                    client::Output::Connect { conn, addr } => {
                        assert_eq!(addr, server_addr);
                        // The server accepts the control connection...
                        let peer = format!("{client_ip}:50000").parse()?;
                        let accepted = server.handle_accept(now, peer);
                        wires.connect(End::Client(conn), End::Server(accepted));
                        // ... and the dial has succeeded.
                        client.handle_input(now, client::Input::Connected { conn })?;
                    }
                    client::Output::Transmit { conn, data } => {
                        if let Some(End::Server(peer)) = wires.peer.get(&End::Client(conn)) {
                            let input = server::Input::Received {
                                conn: *peer,
                                data: &data,
                            };
                            server.handle_input(now, input)?;
                        }
                        client.recycle(data);
                    }
                    client::Output::Close { conn, .. } => {
                        if let Some(End::Server(peer)) = wires.peer.remove(&End::Client(conn)) {
                            wires.peer.remove(&End::Server(peer));
                            server.handle_input(now, server::Input::Closed { conn: peer })?;
                        }
                    }
                    client::Output::Event(event) => {
                        println!("client: {event:?}");
                        if let client::Event::CallbackStatus {
                            state: CallbackState::Reachable,
                            ..
                        } = event
                            && !notified
                        {
                            // The application (a fax engine) reports a fax.
                            notified = true;
                            let report = server.notify(
                                now,
                                Target::All,
                                &Notification::server_message("fax for alice"),
                            )?;
                            println!("server: queued {:?}", report.accepted);
                        }
                        if let client::Event::Notification { .. } = event {
                            client.logout(now)?;
                        }
                    }
                    other => println!("client: unhandled {other:?}"),
                }
            }
            while let Some(output) = server.poll_output() {
                busy = true;
                match output {
                    server::Output::Connect { conn, addr } => {
                        // The server dials the client's callback port [C-1].
                        if Some(addr.port()) == listening {
                            let accepted = client.handle_accept(now, server_addr);
                            wires.connect(End::Server(conn), End::Client(accepted));
                            server.handle_input(now, server::Input::Connected { conn })?;
                        } else {
                            let error = ConnectError::Refused;
                            server
                                .handle_input(now, server::Input::ConnectFailed { conn, error })?;
                        }
                    }
                    server::Output::Transmit { conn, data } => {
                        if let Some(End::Client(peer)) = wires.peer.get(&End::Server(conn)) {
                            let input = client::Input::Received {
                                conn: *peer,
                                data: &data,
                            };
                            client.handle_input(now, input)?;
                        }
                        server.recycle(data);
                    }
                    // In memory there is no peer to wait for: both kinds
                    // close the wire at once.
                    server::Output::Close { conn, .. } => {
                        if let Some(End::Client(peer)) = wires.peer.remove(&End::Server(conn)) {
                            wires.peer.remove(&End::Client(peer));
                            client.handle_input(now, client::Input::Closed { conn: peer })?;
                        }
                    }
                    server::Output::Event(event) => println!("server: {event}"),
                    other => println!("server: unhandled {other:?}"),
                }
            }
        }
        if client.is_finished() {
            continue;
        }
        // 2. Nothing to do until the next deadline: "sleep" until then
        //    (a real runtime also wakes up for I/O) and run the timers.
        let next = [client.poll_timeout(), server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .ok_or("nothing left to wait for")?;
        now = now.max(next);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    Err("the exchange did not finish".into())
}

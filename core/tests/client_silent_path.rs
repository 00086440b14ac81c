//! A control connection whose path dies without a word — a dropped route,
//! a firewall or NAT that lost its state: no close, no reset, nothing
//! arrives either way — while new connections get through. Both sides time
//! the same lease from the last PING that got through, so a client that
//! waited for a whole lease of silence reconnected just after the server
//! had ended the session: "notifications may have been missed", and the
//! queue reported undelivered. [D-18]: the client gives up on its
//! unanswered PING after a third of the lease and resumes the session
//! while the server still holds it.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use faxnotify_core::client::{
    self, Client, ClientConfig, DisconnectReason, ListenPolicy, NetworkSettings,
};
use faxnotify_core::server::{self, CloseReason, MemoryUserStore, Server, ServerConfig, Target};
use faxnotify_core::wire::{Notification, Role};
use faxnotify_testkit::{Middlebox, Net, Path, Relayed, SERVER_ADDR};

/// Passes bytes both ways until `dead` is set, then drops them all.
struct SilentPath {
    dead: Rc<Cell<bool>>,
}

impl Middlebox for SilentPath {
    fn client_sent(&mut self, data: &[u8]) -> Relayed {
        Relayed {
            to_server: if self.dead.get() {
                Vec::new()
            } else {
                data.to_vec()
            },
            ..Relayed::default()
        }
    }

    fn server_sent(&mut self, data: &[u8]) -> Relayed {
        Relayed {
            to_client: if self.dead.get() {
                Vec::new()
            } else {
                data.to_vec()
            },
            ..Relayed::default()
        }
    }
}

fn net(lease: Duration) -> Net {
    let now = Instant::now();
    let mut users = MemoryUserStore::new();
    users
        .add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)
        .unwrap();
    let mut config = ServerConfig::new([9; 32]);
    config.lease = lease;
    let server = Server::new(config, Box::new(users), [2; 32]).unwrap();
    let client = ClientConfig::new(
        SERVER_ADDR,
        "alice",
        "correct horse",
        NetworkSettings::new(ListenPolicy::Fixed { port: 6000 }),
    );
    Net::pair(Client::new(client, [3; 32], now).unwrap(), server, now)
}

fn notify(net: &mut Net, text: &str) {
    let report = net
        .server
        .notify(net.now, Target::All, &Notification::server_message(text))
        .unwrap();
    assert_eq!(report.accepted.len(), 1, "{report:?}");
}

#[test]
fn a_control_path_that_dies_silently_is_left_in_time_to_resume() {
    let lease = Duration::from_secs(30);
    let mut net = net(lease);
    let dead = Rc::new(Cell::new(false));
    let first_control = Rc::new(Cell::new(true));
    {
        let dead = Rc::clone(&dead);
        // Only the first control connection's path dies; a new one gets a
        // path of its own (a new NAT mapping, another route).
        net.middlebox_for = Some(Box::new(move |path| {
            (path == Path::Control && first_control.replace(false)).then(|| {
                Box::new(SilentPath {
                    dead: Rc::clone(&dead),
                }) as Box<dyn Middlebox>
            })
        }));
    }
    net.run_for(Duration::from_secs(2));
    notify(&mut net, "before");
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.client().notified_seqs(), vec![1]);

    dead.set(true);
    // Accepted while the control path is dead; the callback still works.
    notify(&mut net, "during");
    net.run_for(lease + Duration::from_secs(10));
    notify(&mut net, "after");
    net.run_for(Duration::from_secs(2));

    let client_log: Vec<String> = net.client().events.iter().map(|e| e.to_string()).collect();
    let lost = net.client().events.iter().find_map(|e| match e {
        client::Event::ConnectionLost { reason, .. } => Some(*reason),
        _ => None,
    });
    assert_eq!(
        lost,
        Some(DisconnectReason::ServerSilent),
        "{client_log:#?}"
    );
    assert!(
        net.client()
            .events
            .iter()
            .any(|e| matches!(e, client::Event::LoggedIn { resumed: true, .. })),
        "the session resumed: {client_log:#?}"
    );
    assert!(
        !net.client()
            .events
            .iter()
            .any(|e| matches!(e, client::Event::NotificationsMayHaveBeenMissed { .. })),
        "{client_log:#?}"
    );
    assert_eq!(
        net.client().notified_seqs(),
        vec![1, 2, 3],
        "{client_log:#?}"
    );
    let server_log: Vec<String> = net.server.events.iter().map(|e| e.to_string()).collect();
    assert!(
        !net.server.events.iter().any(|e| matches!(
            e,
            server::Event::SessionClosed {
                reason: CloseReason::LeaseExpired,
                ..
            } | server::Event::Undelivered { .. }
        )),
        "{server_log:#?}"
    );
}

//! Many client instances on one host.

use std::collections::HashSet;

use faxnotify_core::client::ListenPolicy;
use faxnotify_core::server::{DeliveryPath, Target};
use faxnotify_core::wire::Notification;

use super::{assert_delivered, start_client, start_server};
use crate::harness::{ClientSetup, Runtime, ServerSetup, test_users};

const CLIENTS: usize = 20;
const USERS: usize = 12;

/// 20 clients with `dynamic` on one host, logged in as 12 users (users
/// u0..u7 have two instances each, u8..u11 one): a broadcast reaches every
/// instance exactly once, and a per-user notification reaches exactly that
/// user's instances.
pub fn twenty_clients_on_one_host(server_rt: &dyn Runtime, client_rt: &dyn Runtime) {
    let names: Vec<String> = (0..USERS).map(|i| format!("u{i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut server = start_server(server_rt, ServerSetup::new(test_users(&name_refs)));

    let mut clients = Vec::new();
    for k in 0..CLIENTS {
        let user = &names[k % USERS];
        let mut seed = [0u8; 32];
        seed[0] = k as u8;
        let setup = ClientSetup::new(server.addr(), user, ListenPolicy::Dynamic).seed(seed);
        clients.push((
            user.clone(),
            start_client(client_rt, &format!("#{k} ({user})"), setup),
        ));
    }
    let ports: HashSet<u16> = clients
        .iter()
        .map(|(_, c)| c.callback_addr().port())
        .collect();
    assert_eq!(
        ports.len(),
        CLIENTS,
        "every instance has its own callback port"
    );

    let mut sessions = HashSet::new();
    for (_, client) in &mut clients {
        let (session, resumed) = client.wait_logged_in();
        assert!(!resumed);
        sessions.insert(session);
    }
    assert_eq!(sessions.len(), CLIENTS, "one session per instance");
    server.wait_sessions("20 sessions", |s| s.len() == CLIENTS);

    let report = server.broadcast("to everyone");
    assert_eq!(report.accepted.len(), CLIENTS, "{report:?}");
    assert!(report.all_accepted());
    for user in ["u3", "u9"] {
        let report = server.notify(
            Target::user(user).expect("valid name"),
            &Notification::server_message(format!("for {user}")),
        );
        let expected = if user == "u3" { 2 } else { 1 };
        assert_eq!(report.accepted.len(), expected, "{user}: {report:?}");
    }
    // Delivery is in order per session, so once the last broadcast is in,
    // anything else meant for a client has arrived too.
    server.broadcast("last");
    for (user, client) in &mut clients {
        client.wait_message("last");
        let mut expected = vec!["to everyone".to_owned()];
        if user == "u3" || user == "u9" {
            expected.push(format!("for {user}"));
        }
        expected.push("last".to_owned());
        assert_delivered(client, 1, &expected);
    }
    // Delivery used the callbacks, each to its own endpoint.
    server.wait_sessions("all on their callbacks, all acknowledged", |s| {
        s.iter()
            .all(|i| matches!(i.path, DeliveryPath::Callback(_)) && i.queue_depth == 0)
    });
    let endpoints: HashSet<_> = server
        .sessions()
        .iter()
        .filter_map(|s| s.callback)
        .collect();
    assert_eq!(endpoints.len(), CLIENTS);

    for (_, client) in &mut clients {
        assert!(client.logout(), "{}: logout confirmed", client.name);
    }
    server.wait_sessions("no sessions", |s| s.is_empty());
    server.shutdown();
}

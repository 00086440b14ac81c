//! One reader of a user's log per server, shared by the user's sessions
//! there (issue 19): sessions of one user on one server at different
//! positions and seqs each get what is theirs, in order, numbered from
//! where each started [D-17] [B-2].

mod cluster_support;
mod common;

use cluster_support::{nats, secret, server};
use common::{Stream, add_users, faxnotify, json, start_json_client};

const PASSWORD: &str = "correct horse battery";

fn notification_texts(client: &mut common::Running, n: usize) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        let line = client.wait_line(Stream::Out, "a notification", |l| {
            json(l).is_some_and(|v| v["event"] == "notification")
        });
        let v = json(&line).expect("json");
        let text = v["fields"]["text"].as_str().unwrap_or_default().to_owned();
        got.push((v["seq"].as_u64().expect("seq"), text));
    }
    got
}

fn notify(admin: &std::path::Path, text: &str) {
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(admin)
        .args(["--wait", "30s", "--user", "alice", "message", text])
        .assert()
        .code(0);
}

#[test]
fn sessions_of_one_user_on_one_server_each_get_theirs_from_their_own_position() {
    let Some(nats) =
        nats("sessions_of_one_user_on_one_server_each_get_theirs_from_their_own_position")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let secret = secret(dir.path());
    let a = server(dir.path(), "a", &users, &nats, &secret, &[]);
    let first_dir = dir.path().join("first");
    std::fs::create_dir_all(&first_dir).unwrap();
    let mut first = start_json_client(&first_dir, "tokio", a.addr, "alice", PASSWORD);
    notify(&a.admin, "one");
    notify(&a.admin, "two");
    assert_eq!(
        notification_texts(&mut first, 2),
        [(1, "one".to_owned()), (2, "two".to_owned())]
    );

    // A second session of alice on the same server starts after the log's
    // end: the shared reader serves it from there, with its own seqs.
    let second_dir = dir.path().join("second");
    std::fs::create_dir_all(&second_dir).unwrap();
    let mut second = start_json_client(&second_dir, "tokio", a.addr, "alice", PASSWORD);
    notify(&a.admin, "three");
    notify(&a.admin, "four");
    assert_eq!(
        notification_texts(&mut first, 2),
        [(3, "three".to_owned()), (4, "four".to_owned())]
    );
    assert_eq!(
        notification_texts(&mut second, 2),
        [(1, "three".to_owned()), (2, "four".to_owned())]
    );
}

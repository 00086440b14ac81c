//! One reader of a user's log per server, shared by the user's sessions
//! there (issue 19): sessions of one user on one server at different
//! positions and seqs each get what is theirs, in order, numbered from
//! where each started [D-17] [B-2].

mod cluster_support;
mod common;

use std::sync::Barrier;

use cluster_support::raw::{self, Answer, resume};
use cluster_support::{
    Admin, Bed, assert_exactly, nats, next_notifications, numbered, wait_for_text,
};
use common::{WAIT, faxnotify, start_json_client};
use faxnotify_conformance::peer::conn::Got;
use faxnotify_conformance::peer::session::{Callback, message_text};
use faxnotify_core::wire::Frame;

const PASSWORD: &str = "correct horse battery";

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
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let dir = &bed.dir;
    let a = bed.server("a", &nats, &[]);
    let first_dir = dir.path().join("first");
    std::fs::create_dir_all(&first_dir).unwrap();
    let mut first = start_json_client(&first_dir, "tokio", a.addr, "alice", PASSWORD);
    notify(&a.admin, "one");
    notify(&a.admin, "two");
    assert_eq!(
        next_notifications(&mut first, 2),
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
        next_notifications(&mut first, 2),
        [(3, "three".to_owned()), (4, "four".to_owned())]
    );
    assert_eq!(
        next_notifications(&mut second, 2),
        [(1, "three".to_owned()), (2, "four".to_owned())]
    );
}

/// The other side of sharing one reader: a session whose queue is full
/// keeps the rest of its message and stops holding the reader, which goes
/// on for the user's other session; once acknowledgements free room, the
/// first session takes that rest and the reader reads again from its
/// position, behind where the reader had got to. Each session gets every
/// notification once, in order, with contiguous seqs.
#[test]
fn a_session_left_behind_by_a_full_queue_reads_again_from_its_own_position() {
    let Some(nats) = nats("a_session_left_behind_by_a_full_queue_reads_again") else {
        return;
    };
    const TOTAL: usize = 6;
    let bed = Bed::new(&[("alice", PASSWORD)]);
    let dir = &bed.dir;
    let a = bed.server("a", &nats, &["--queue-limit", "2"]);
    let fast_dir = dir.path().join("fast");
    std::fs::create_dir_all(&fast_dir).unwrap();
    let mut fast = start_json_client(&fast_dir, "tokio", a.addr, "alice", PASSWORD);
    let texts: Vec<String> = (1..=TOTAL).map(|i| format!("n{i}")).collect();

    // The slow session: logged in at the protocol level, it takes two
    // NOTIFYs without acknowledging them, so its queue (limit 2) is full.
    let (answer, slow_got) = resume(
        a.addr,
        "alice",
        PASSWORD,
        0,
        9,
        &Barrier::new(1),
        |mut session| {
            let mut callback = raw::callback(&mut session, 0);
            let mut admin = Admin::connect(&a.admin);
            for text in &texts {
                assert_eq!(admin.notify("alice", text)["ok"], true, "{text} accepted");
            }
            // The other session gets everything while this one holds back:
            // the reader went on without it.
            wait_for_text(&mut fast, &texts[TOTAL - 1]);
            let mut got = Vec::new();
            got.push(next(&mut callback));
            got.push(next(&mut callback));
            // Room for the rest: the reader serves this session again from
            // its own position, behind where it read for the other.
            let _ = callback.conn.send(&Frame::Ack { seq: got[1].0 });
            while got.len() < TOTAL {
                let (seq, text) = next(&mut callback);
                let _ = callback.conn.send(&Frame::Ack { seq });
                got.push((seq, text));
            }
            got
        },
    );
    assert!(matches!(answer, Answer::LoggedIn(_)), "{answer:?}");
    assert_eq!(
        slow_got.expect("logged in"),
        numbered(&texts),
        "the slow session, server:\n{}",
        a.process.dump()
    );
    assert_exactly(&fast, &texts);
}

/// The next NOTIFY on the callback connection: (seq, text).
fn next(callback: &mut Callback) -> (u64, String) {
    match callback.conn.next_relevant(WAIT) {
        Got::Frame(Frame::Notify(n)) => (n.seq, message_text(&n).unwrap_or_default()),
        other => panic!("no NOTIFY: {other:?}"),
    }
}

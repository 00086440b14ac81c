//! The script hooks of contrib/hylafax (`FaxDispatch`, `FaxNotify`), sourced
//! by `sh` the way HylaFAX's faxrcvd and notify source them, with the
//! variables those scripts set: the notifications reach a real client.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Running, Stream, TestServer, add_users, bin, json, start_json_client};

const PASSWORD: &str = "correct horse battery";

fn hook(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../contrib/hylafax")
        .join(name)
}

/// Sources `hook` in `sh` with `vars` set, as HylaFAX's scripts do.
fn source<V: AsRef<OsStr>>(hook: &Path, admin: &Path, vars: &[(&str, V)]) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(". '{}'", hook.display()))
        .env("FAXNOTIFY", bin())
        .env("FAXNOTIFY_ADMIN_SOCKET", admin)
        .envs(vars.iter().map(|(k, v)| (k, v.as_ref())))
        .status()
        .expect("sh runs");
    assert!(status.success(), "{} failed", hook.display());
}

fn client(dir: &Path, server: &TestServer, user: &str) -> Running {
    start_json_client(dir, "smol", server.addr, user, PASSWORD)
}

fn next_notification(client: &mut Running) -> serde_json::Value {
    let line = client.wait_line(Stream::Out, "a notification", |l| {
        json(l).is_some_and(|v| v["event"] == "notification")
    });
    json(&line).expect("JSON")
}

#[test]
fn fax_dispatch_and_fax_notify_reach_the_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD), ("bob", PASSWORD)]);
    let server = TestServer::start("smol", &users, dir.path(), &[]);
    let mut alice = client(dir.path(), &server, "alice");
    let mut bob = client(dir.path(), &server, "bob");

    // faxrcvd: a 2-page fax to 5550001 (routed to bob in the snippet).
    source(
        &hook("FaxDispatch"),
        &server.admin,
        &[
            ("FILE", "recvq/fax000000001.tif"),
            ("DEVICE", "ttyIAX1"),
            ("COMMID", "000000002"),
            ("MSG", ""),
            ("CALLID1", "5550000"),
            ("CALLID2", "Modem 0"),
            ("CALLID4", "5550001"),
            ("PAGES", "2"),
            ("SENDER", "IAXmodem"),
        ],
    );
    let fax = next_notification(&mut bob);
    assert_eq!(fax["kind"], 1);
    assert_eq!(fax["fields"]["job"], 2);
    assert_eq!(fax["fields"]["from"], "5550000");
    assert_eq!(fax["fields"]["to"], "5550001");
    assert_eq!(fax["fields"]["pages"], 2);

    // notify: root's job failed, then one is retried (root is alice's).
    let job = |why: &str, extra: &[(&'static str, &'static str)]| {
        let mut vars = vec![
            ("WHY", why.to_owned()),
            ("jobid", "7".to_owned()),
            ("owner", "root".to_owned()),
            ("npages", "0".to_owned()),
            ("totpages", "2".to_owned()),
            ("status", "No carrier detected".to_owned()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        source(&hook("FaxNotify"), &server.admin, &vars);
    };
    job("requeued", &[("NEXT", "03:10")]);
    job("failed", &[]);
    let retry = next_notification(&mut alice);
    assert_eq!(retry["kind"], 2);
    assert_eq!(retry["fields"]["state"], 5);
    assert_eq!(
        retry["fields"]["detail"],
        "next try at 03:10: No carrier detected"
    );
    let failed = next_notification(&mut alice);
    assert_eq!(failed["fields"]["state"], 4);
    assert_eq!(failed["fields"]["job"], 7);
    assert_eq!(failed["fields"]["pages"], 2);
    assert_eq!(failed["fields"]["detail"], "No carrier detected");

    // Nothing reached the wrong user.
    assert!(
        !alice.dump().contains("\"kind\":1"),
        "alice got the fax: {}",
        alice.dump()
    );
    assert!(
        !bob.dump().contains("\"kind\":2"),
        "bob got alice's job: {}",
        bob.dump()
    );
}

#[test]
fn caller_ids_and_statuses_as_the_line_gives_them_still_reach_the_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD), ("bob", PASSWORD)]);
    let server = TestServer::start("mio", &users, dir.path(), &[]);
    let mut alice = client(dir.path(), &server, "alice");
    let mut bob = client(dir.path(), &server, "bob");

    // The calling fax machine chooses its TSI: one that starts with a dash
    // (no caller id, so SENDER is the sender), and one in Latin-1 (not
    // UTF-8), as caller names from the telephone network often are.
    let senders: [&[u8]; 2] = [b"--pages 99", b"M\xfcller GmbH"];
    for (commid, sender) in senders.into_iter().enumerate() {
        let commid = (commid + 10).to_string();
        source(
            &hook("FaxDispatch"),
            &server.admin,
            &[
                ("FILE", OsStr::new("recvq/fax000000010.tif")),
                ("COMMID", OsStr::new(&commid)),
                ("SENDER", OsStr::from_bytes(sender)),
                ("CALLID4", OsStr::new("5550001")),
                ("PAGES", OsStr::new("1")),
            ],
        );
    }
    let dashed = next_notification(&mut bob);
    assert_eq!(dashed["fields"]["job"], 10);
    assert_eq!(dashed["fields"]["from"], "--pages 99");
    assert_eq!(dashed["fields"]["pages"], 1);
    let latin1 = next_notification(&mut bob);
    assert_eq!(latin1["fields"]["job"], 11);
    assert_eq!(latin1["fields"]["from"], "M\u{fffd}ller GmbH");

    // HylaFAX's status text is free text too.
    source(
        &hook("FaxNotify"),
        &server.admin,
        &[
            ("WHY", "failed"),
            ("jobid", "8"),
            ("owner", "root"),
            ("npages", "0"),
            ("totpages", "1"),
            ("status", "-- no answer --"),
        ],
    );
    let failed = next_notification(&mut alice);
    assert_eq!(failed["fields"]["job"], 8);
    assert_eq!(failed["fields"]["detail"], "-- no answer --");
}

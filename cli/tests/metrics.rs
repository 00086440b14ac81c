//! `faxnotify server --metrics ADDR`: Prometheus metrics over HTTP that
//! count what really happened (a failed and a good login, a notification
//! queued, delivered and timed), named and typed by Prometheus's
//! conventions; a taken metrics address stops the server from starting.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};

use common::{Running, Stream, TestServer, WAIT, add_users, faxnotify, http_get, json, write_file};
use predicates::prelude::*;
use predicates::str::contains;

const PASSWORD: &str = "correct horse battery";
/// Connections the metrics responder serves at once (docs/architecture.md,
/// "Metrics").
const MAX_CONNECTIONS: usize = 8;

/// One metric family of the text format.
#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    kind: Option<String>,
}

/// Parses the Prometheus text format (0.0.4): the families' HELP and TYPE,
/// and every sample as `name{labels}` → value. Checks the conventions on
/// the way: a HELP and a TYPE before each family's samples, the
/// `faxnotify_` prefix, `_total` counters, histogram series.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            families.entry(name.to_owned()).or_default().help = Some(help.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            let family = families
                .get_mut(name)
                .unwrap_or_else(|| panic!("TYPE before HELP: {line}"));
            family.kind = Some(kind.to_owned());
        } else if line.starts_with('#') {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let name = series.split('{').next().unwrap();
            let family = families
                .iter()
                .filter(|(f, _)| name == f.as_str() || name.starts_with(&format!("{f}_")))
                .max_by_key(|(f, _)| f.len())
                .map(|(f, family)| (f.clone(), family))
                .unwrap_or_else(|| panic!("a sample of no family: {line}"));
            let kind = family
                .1
                .kind
                .as_deref()
                .unwrap_or_else(|| panic!("no TYPE for {line}"));
            match kind {
                "counter" | "gauge" => assert_eq!(name, family.0, "{line}"),
                "histogram" => {
                    let suffix = &name[family.0.len()..];
                    assert!(["_bucket", "_sum", "_count"].contains(&suffix), "{line}");
                    if suffix == "_bucket" {
                        assert!(series.contains("le=\""), "{line}");
                    }
                }
                other => panic!("unexpected type {other}: {line}"),
            }
            samples.insert(
                series.to_owned(),
                value.parse::<f64>().unwrap_or_else(|_| panic!("{line}")),
            );
        }
    }
    for (name, family) in &families {
        assert!(name.starts_with("faxnotify_"), "{name}");
        assert!(
            name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name}"
        );
        assert!(
            family.help.as_deref().is_some_and(|h| !h.is_empty()),
            "{name} has no HELP"
        );
        match family.kind.as_deref() {
            Some("counter") => assert!(name.ends_with("_total"), "counter {name}"),
            Some("gauge") => assert!(!name.ends_with("_total"), "gauge {name}"),
            Some("histogram") => {
                assert!(name.ends_with("_seconds"), "histogram {name} in base units");
                assert!(
                    samples.contains_key(&format!("{name}_bucket{{le=\"+Inf\"}}")),
                    "{name}"
                );
            }
            other => panic!("{name}: type {other:?}"),
        }
    }
    let names: BTreeSet<&str> = families.keys().map(String::as_str).collect();
    for expected in [
        "faxnotify_sessions",
        "faxnotify_queued_notifications",
        "faxnotify_notifications_accepted_total",
        "faxnotify_notifications_delivered_total",
        "faxnotify_notifications_undelivered_total",
        "faxnotify_notifications_refused_total",
        "faxnotify_delivery_latency_seconds",
        "faxnotify_logins_total",
        "faxnotify_connections_refused_total",
    ] {
        assert!(names.contains(expected), "{expected} missing from:\n{text}");
    }
    samples
}

fn client_args(
    runtime: &str,
    password: &std::path::Path,
    settings: &std::path::Path,
) -> Vec<String> {
    vec![
        "client".into(),
        "--runtime".into(),
        runtime.into(),
        "--user".into(),
        "alice".into(),
        "--password-file".into(),
        password.display().to_string(),
        "--settings".into(),
        settings.display().to_string(),
        "--json".into(),
    ]
}

#[test]
fn metrics_count_logins_and_a_notification_from_queue_to_acknowledgement() {
    for runtime in common::RUNTIMES {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.toml");
        add_users(&users, &[("alice", PASSWORD)]);
        let mut server =
            TestServer::start(runtime, &users, dir.path(), &["--metrics", "127.0.0.1:0"]);
        let metrics = server.metrics_addr();

        let (status, headers, body) = http_get(metrics, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            headers.contains("Content-Type: text/plain; version=0.0.4"),
            "{headers}"
        );
        let before = parse(&body);
        assert_eq!(
            before["faxnotify_notifications_accepted_total"], 0.0,
            "{body}"
        );
        assert_eq!(before["faxnotify_queued_notifications"], 0.0, "{body}");
        assert_eq!(http_get(metrics, "/").0, "HTTP/1.1 404 Not Found");

        let settings = dir.path().join("client.toml");
        faxnotify()
            .args(["settings", "set", "--settings"])
            .arg(&settings)
            .args(["--port", "dynamic", "--server", &server.addr.to_string()])
            .assert()
            .success();
        // A wrong password first: one failed login.
        let wrong = write_file(dir.path(), "wrong", "not the password\n");
        faxnotify()
            .args(client_args(runtime, &wrong, &settings))
            .assert()
            .code(3);
        let password = write_file(dir.path(), "pw", &format!("{PASSWORD}\n"));
        let mut client = Running::start(&client_args(runtime, &password, &settings));
        client.wait_line(Stream::Out, "reachable", |l| {
            json(l).is_some_and(|v| v["event"] == "status" && v["state"] == "reachable")
        });
        faxnotify()
            .arg("notify")
            .arg("--admin-socket")
            .arg(&server.admin)
            .args(["--wait", "--user", "alice", "message", "metrics test"])
            .assert()
            .code(0)
            .stdout(contains("delivered: seq 1"));

        let (_, _, body) = http_get(metrics, "/metrics");
        let after = parse(&body);
        let value = |series: &str| {
            *after
                .get(series)
                .unwrap_or_else(|| panic!("{runtime}: no {series} in:\n{body}"))
        };
        assert_eq!(
            value("faxnotify_notifications_accepted_total"),
            1.0,
            "{body}"
        );
        assert_eq!(
            value("faxnotify_notifications_delivered_total"),
            1.0,
            "{body}"
        );
        assert_eq!(
            value("faxnotify_notifications_undelivered_total"),
            0.0,
            "{body}"
        );
        assert_eq!(
            value("faxnotify_logins_total{result=\"ok\"}"),
            1.0,
            "{body}"
        );
        assert_eq!(
            value("faxnotify_logins_total{result=\"failed\"}"),
            1.0,
            "{body}"
        );
        assert_eq!(
            value("faxnotify_delivery_latency_seconds_count"),
            1.0,
            "{body}"
        );
        let latency = value("faxnotify_delivery_latency_seconds_sum");
        assert!(latency > 0.0 && latency < WAIT.as_secs_f64(), "{body}");
        assert_eq!(
            value("faxnotify_sessions{path=\"callback\",callback_state=\"reachable\"}"),
            1.0,
            "{body}"
        );
        assert_eq!(value("faxnotify_queued_notifications"), 0.0, "{body}");

        server.stop_cleanly();
    }
}

#[test]
fn a_taken_metrics_address_is_a_port_conflict_before_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    // Held for the whole test: nobody else can take it meanwhile.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .args(["--metrics", &addr])
        .assert()
        .code(4)
        .stderr(contains(format!(
            "cannot serve metrics on {addr}: the address is in use"
        )))
        .stderr(contains("listening on").not());
    drop(taken);
}

/// Whether `stream` is still open with nothing to read: the responder
/// has neither answered nor closed it.
fn still_waiting(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let waiting =
        matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    waiting
}

#[test]
fn connections_that_never_finish_a_request_do_not_hold_up_a_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", PASSWORD)]);
    let mut server = TestServer::start("mio", &users, dir.path(), &["--metrics", "127.0.0.1:0"]);
    let metrics = server.metrics_addr();

    // A slowloris: more half-sent requests than the responder serves at
    // once, each connection opened after the last one is being served.
    let mut idle: Vec<TcpStream> = (0..=MAX_CONNECTIONS)
        .map(|_| {
            let mut stream = TcpStream::connect(metrics).unwrap();
            stream.write_all(b"GET /met").unwrap();
            stream
        })
        .collect();
    // A scrape is answered at once, not after the dawdlers' deadlines.
    let (status, _, body) = http_get(metrics, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("faxnotify_sessions"), "{body}");
    let newest = idle.last_mut().unwrap();
    assert!(
        still_waiting(newest),
        "the scrape waited until the dawdlers before it were closed"
    );
    // Room was made by closing the oldest dawdler.
    let oldest = &mut idle[0];
    oldest.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    match oldest.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest)),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }

    server.stop_cleanly();
}

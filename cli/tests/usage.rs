//! Bad arguments, bad settings and bad files get a clear sentence and a
//! documented non-zero exit status; never a panic or a Debug dump.

mod common;

use std::net::TcpListener;

use common::{RUNTIMES, faxnotify, write_file};
use predicates::prelude::*;
use predicates::str::contains;

/// Neither a panic nor a Rust Debug dump reaches the user.
fn clean() -> impl Predicate<str> {
    contains("panicked")
        .not()
        .and(contains("Os {").not())
        .and(contains("Error {").not())
}

#[test]
fn settings_refuse_bad_values_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("client.toml");
    for (value, expected) in [
        ("range:6010-6000", "is empty"),
        ("fixed:80", "below 1024"),
        ("range:6000", "range:LO-HI"),
        ("fixed:70000", "not a port number"),
        ("sometimes", "not a listen policy"),
    ] {
        faxnotify()
            .args(["settings", "set", "--settings"])
            .arg(&file)
            .args(["--port", value])
            .assert()
            .code(2)
            .stderr(
                contains(expected)
                    .and(contains("nothing was changed"))
                    .and(clean()),
            );
        assert!(!file.exists(), "{value} must not write the file");
    }
    faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(&file)
        .args(["--port", "range:6000-6010", "--server", "fax.example:4580"])
        .assert()
        .success()
        .stdout(contains(
            "running clients keep their settings until they are restarted",
        ));
    faxnotify()
        .args(["settings", "show", "--settings"])
        .arg(&file)
        .assert()
        .success()
        .stdout(
            contains("listen: range:6000-6010 (up to 11 clients per host)")
                .and(contains("server: fax.example:4580")),
        );
    faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("nothing to change"));
}

#[test]
fn the_client_explains_what_is_missing_or_wrong() {
    let dir = tempfile::tempdir().unwrap();
    // No password anywhere (and no terminal to ask on).
    faxnotify()
        .args(["client", "--server", "127.0.0.1:9", "--user", "alice"])
        .assert()
        .code(2)
        .stderr(
            contains("no password")
                .and(contains("--password-file"))
                .and(clean()),
        );
    // A settings file with a misspelt key.
    let bad = write_file(dir.path(), "bad.toml", "[network]\nlisten_port = 6000\n");
    let pw = write_file(dir.path(), "pw", "x");
    faxnotify()
        .args([
            "client",
            "--server",
            "127.0.0.1:9",
            "--user",
            "alice",
            "--password-file",
        ])
        .arg(&pw)
        .arg("--settings")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(
            contains("bad.toml")
                .and(contains("listen_port"))
                .and(clean()),
        );
    // A settings file that does not exist, named explicitly.
    faxnotify()
        .args([
            "client",
            "--server",
            "127.0.0.1:9",
            "--user",
            "alice",
            "--password-file",
        ])
        .arg(&pw)
        .arg("--settings")
        .arg(dir.path().join("nope.toml"))
        .assert()
        .code(2)
        .stderr(
            contains("nope.toml does not exist: create it with `faxnotify settings set --settings")
                .and(contains("os error").not())
                .and(clean()),
        );
    // No server anywhere.
    faxnotify()
        .args(["client", "--user", "alice", "--password-file"])
        .arg(&pw)
        .arg("--settings")
        .arg(write_file(
            dir.path(),
            "ok.toml",
            "[network]\nlisten = \"dynamic\"\n",
        ))
        .assert()
        .code(2)
        .stderr(contains("no server"));
    // A server without a port.
    faxnotify()
        .args([
            "client",
            "--server",
            "fax.example",
            "--user",
            "alice",
            "--password-file",
        ])
        .arg(&pw)
        .assert()
        .code(2)
        .stderr(contains("add the port"));
}

#[test]
fn a_taken_fixed_port_is_a_port_conflict() {
    for runtime in RUNTIMES {
        let held = TcpListener::bind("0.0.0.0:0").expect("a free port");
        let port = held.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let pw = write_file(dir.path(), "pw", "x");
        faxnotify()
            .args([
                "client",
                "--runtime",
                runtime,
                "--server",
                "127.0.0.1:9",
                "--user",
                "a",
            ])
            .arg("--password-file")
            .arg(&pw)
            .args(["--listen", &format!("fixed:{port}")])
            .assert()
            .code(4)
            .stderr(
                contains(format!("callback port {port} is already in use"))
                    .and(contains("only one client per machine"))
                    .and(clean()),
            );
    }
}

#[test]
fn the_server_refuses_bad_settings_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("users.toml");
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(
            contains("does not exist")
                .and(contains("faxnotify user add"))
                .and(clean()),
        );
    let garbage = write_file(dir.path(), "garbage.toml", "this is not toml = = \n");
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&garbage)
        .assert()
        .code(2)
        .stderr(contains("garbage.toml").and(clean()));
    common::add_users(&missing, &[("alice", "pw")]);
    faxnotify()
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--lease",
            "1s",
            "--users",
        ])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(contains("below the protocol minimum"));
    faxnotify()
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--lease",
            "soon",
            "--users",
        ])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(contains("is not a duration"));
    // The cluster log must outlive a resumable session (checked before the
    // bus is reached: no NATS needed).
    let secret = write_file(dir.path(), "cluster.secret", &"k".repeat(32));
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--runtime", "tokio"])
        .args(["--cluster", "nats://127.0.0.1:1", "--cluster-secret"])
        .arg(&secret)
        .args(["--cluster-log-max-age", "4m", "--users"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(
            contains("--cluster-log-max-age 240s: a session may be resumed up to 150s")
                .and(clean()),
        );
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--runtime", "tokio"])
        .args(["--cluster", "nats://127.0.0.1:1", "--cluster-secret"])
        .arg(&secret)
        .args(["--cluster-owner-lease", "2s", "--users"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(contains("--cluster-owner-lease: an owner lease of 2s is too short").and(clean()));
    // The listen address is taken: a port conflict.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    for runtime in RUNTIMES {
        faxnotify()
            .args(["server", "--runtime", runtime, "--listen"])
            .arg(held.local_addr().unwrap().to_string())
            .arg("--users")
            .arg(&missing)
            .assert()
            .code(4)
            .stderr(contains("address is in use").and(clean()));
    }
}

/// The bridge's configuration file: a FIFO in its place must not hang
/// the command, and text that is not UTF-8 is named as such.
#[test]
fn the_hylafax_bridge_refuses_bad_configuration_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("hylafax.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    faxnotify()
        .args(["hylafax", "--config"])
        .arg(&fifo)
        .assert()
        .code(2)
        .stderr(
            contains("hylafax.toml")
                .and(contains("not a regular file"))
                .and(clean()),
        );
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"hfaxd = \"M\xfcller:4559\"\n").unwrap();
    faxnotify()
        .args(["hylafax", "--config"])
        .arg(&latin1)
        .assert()
        .code(2)
        .stderr(
            contains("latin1.toml")
                .and(contains("not UTF-8"))
                .and(clean()),
        );
}

#[test]
fn admin_commands_explain_a_missing_server() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("none.sock");
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&socket)
        .args(["--user", "alice", "message", "hi"])
        .assert()
        .code(1)
        .stderr(contains("no admin socket at").and(clean()));
    faxnotify()
        .args(["sessions", "--admin-socket"])
        .arg(&socket)
        .assert()
        .code(1)
        .stderr(contains("is `faxnotify server --admin-socket"));
    // No recipient given.
    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&socket)
        .args(["message", "hi"])
        .assert()
        .code(2)
        .stderr(contains("--user USER, --session ID or --all"));
}

#[test]
fn usage_errors_exit_2() {
    // A password on the command line is not accepted.
    faxnotify()
        .args(["user", "add", "--users", "u.toml", "alice", "hunter2"])
        .assert()
        .code(2)
        .stderr(contains("unexpected argument"));
    faxnotify()
        .args(["demo", "--runtime", "glommio"])
        .assert()
        .code(2)
        .stderr(contains("invalid value 'glommio'"));
    faxnotify().assert().code(2).stderr(contains("Usage"));
    faxnotify()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Exit status:").and(contains("4  port conflict")));
}

#[test]
fn the_conformance_catalog_lists_cases_and_coverage() {
    faxnotify()
        .args(["conformance", "list", "server"])
        .assert()
        .success()
        .stdout(contains("server/framing/zero-length").and(contains("client/").not()));
    faxnotify()
        .args(["conformance", "list", "--coverage"])
        .assert()
        .success()
        .stdout(contains("F-1").and(contains("D-12")));
    faxnotify()
        .args([
            "conformance",
            "server",
            "127.0.0.1:9",
            "--user",
            "a",
            "--case",
            "server/nope",
        ])
        .args(["--password", "x"])
        .assert()
        .code(2)
        .stderr(contains("server/nope"));
    faxnotify().args(["conformance", "client"]).assert().code(2);
}

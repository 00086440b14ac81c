//! TLS through the binary: `faxnotify tls`, the client settings' trust,
//! and the server's certificate files — every mistake a clear sentence
//! naming the file and a documented exit status.

mod common;

use std::path::{Path, PathBuf};

use common::{Running, Stream, TestServer, add_users, faxnotify, json, write_file};
use predicates::prelude::*;
use predicates::str::contains;

/// Neither a panic nor a Rust Debug dump reaches the user.
fn clean() -> impl Predicate<str> {
    contains("panicked")
        .not()
        .and(contains("Os {").not())
        .and(contains("Error {").not())
}

/// `faxnotify tls self-signed` into `dir`: the fingerprint it printed.
fn self_signed(dir: &Path, name: &str) -> String {
    let out = faxnotify()
        .args(["tls", "self-signed", "--name", name, "--out"])
        .arg(dir)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).expect("utf-8");
    out.lines()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .unwrap_or_else(|| panic!("no fingerprint line in {out}"))
        .to_owned()
}

#[test]
fn self_signed_writes_a_private_key_and_prints_the_fingerprint_to_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fingerprint = self_signed(dir.path(), "fax.example.org");
    assert!(fingerprint.starts_with("sha256:"), "{fingerprint}");
    assert_eq!(fingerprint.len(), "sha256:".len() + 32 * 3 - 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("key.pem"))
            .expect("key.pem")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // `tls fingerprint` reads the same number back from the file.
    faxnotify()
        .args(["tls", "fingerprint"])
        .arg(dir.path().join("cert.pem"))
        .assert()
        .success()
        .stdout(format!("{fingerprint}\n"));
    // It never overwrites a key by accident.
    faxnotify()
        .args(["tls", "self-signed", "--name", "fax.example.org", "--out"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(contains("cert.pem exists: give --force").and(clean()));
    let again = {
        let out = faxnotify()
            .args([
                "tls",
                "self-signed",
                "--force",
                "--name",
                "192.0.2.7",
                "--out",
            ])
            .arg(dir.path())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).expect("utf-8")
    };
    assert!(!again.contains(&fingerprint), "a new certificate: {again}");
}

#[test]
fn self_signed_refuses_a_name_no_certificate_can_carry() {
    let dir = tempfile::tempdir().expect("tempdir");
    faxnotify()
        .args(["tls", "self-signed", "--name", "fax example", "--out"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(contains("--name: \"fax example\" is not a server name").and(clean()));
    assert!(!dir.path().join("key.pem").exists());
}

#[test]
fn fingerprint_of_a_key_file_names_what_it_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    self_signed(dir.path(), "fax.example.org");
    let key = dir.path().join("key.pem");
    faxnotify()
        .args(["tls", "fingerprint"])
        .arg(&key)
        .assert()
        .code(2)
        .stderr(
            contains(format!(
                "{} holds no certificate (found: PRIVATE KEY)",
                key.display()
            ))
            .and(clean()),
        );
}

#[test]
fn settings_take_a_pin_a_ca_file_or_off_and_refuse_anything_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fingerprint = self_signed(dir.path(), "fax.example.org");
    let file = dir.path().join("client.toml");
    let set = |args: &[&str]| {
        let mut cmd = faxnotify();
        cmd.args(["settings", "set", "--settings"])
            .arg(&file)
            .args(args);
        cmd.assert()
    };
    set(&[
        "--server",
        "192.0.2.7:4580",
        "--trust",
        &format!("pin:{fingerprint}"),
    ])
    .success()
    .stdout(contains(format!(
        "tls: on, trusting exactly the certificate {fingerprint}"
    )));
    let before = std::fs::read_to_string(&file).expect("saved");
    for (value, expected) in [
        ("yes", "\"yes\" is not a trust setting"),
        ("pin:sha256:AB:CD", "is not a SHA-256 fingerprint"),
        ("ca:", "\"ca:\" needs the path of a PEM file"),
    ] {
        set(&["--trust", value]).code(2).stderr(
            contains(expected)
                .and(contains("nothing was changed"))
                .and(clean()),
        );
    }
    let key = dir.path().join("key.pem");
    set(&["--trust", &format!("ca:{}", key.display())])
        .code(2)
        .stderr(contains(format!(
            "the CA file {} holds no certificate (found: PRIVATE KEY)",
            key.display()
        )));
    set(&["--tls-server-name", "fax example"])
        .code(2)
        .stderr(contains("is not a server name").and(clean()));
    assert_eq!(std::fs::read_to_string(&file).expect("file"), before);

    faxnotify()
        .args(["settings", "set", "--settings"])
        .arg(&file)
        .args(["--trust", "ca:cert.pem"])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout(contains(format!(
            "tls: on, trusting the CA certificates in {}; the certificate must name 192.0.2.7",
            dir.path().join("cert.pem").display()
        )));
    set(&["--tls-server-name", "fax.example.org"])
        .success()
        .stdout(contains("the certificate must name fax.example.org"));
    set(&["--trust", "off"])
        .success()
        .stdout(contains("tls: off (plain TCP: nothing is encrypted)"));
}

#[test]
fn a_client_with_an_unreadable_ca_file_stops_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pem");
    faxnotify()
        .args([
            "client",
            "--server",
            "127.0.0.1:9",
            "--user",
            "alice",
            "--trust",
        ])
        .arg(format!("ca:{}", missing.display()))
        .env("FAXNOTIFY_PASSWORD", "pw")
        .assert()
        .code(2)
        .stderr(contains(format!("cannot read the CA file {}", missing.display())).and(clean()));
}

/// A users file with one user, for a server to start with.
fn users(dir: &Path) -> PathBuf {
    let file = dir.join("users.toml");
    add_users(&file, &[("alice", "secret-1")]);
    file
}

#[test]
fn the_server_refuses_certificate_files_that_cannot_work_and_names_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    self_signed(dir.path(), "fax.example.org");
    let other = dir.path().join("other");
    self_signed(&other, "fax.example.org");
    let users = users(dir.path());
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let garbage = write_file(dir.path(), "garbage.pem", "hello\n");
    let server = |cert: &Path, key: &Path| {
        let mut cmd = faxnotify();
        cmd.args(["server", "--listen", "127.0.0.1:0", "--users"])
            .arg(&users)
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key);
        cmd.assert()
    };
    for (c, k, expected) in [
        (
            &cert,
            &cert,
            format!(
                "{} holds no private key (found: CERTIFICATE)",
                cert.display()
            ),
        ),
        (
            &key,
            &key,
            format!(
                "{} holds no certificate (found: PRIVATE KEY)",
                key.display()
            ),
        ),
        (
            &cert,
            &other.join("key.pem"),
            format!(
                "{} is not the private key of the certificate in {}",
                other.join("key.pem").display(),
                cert.display()
            ),
        ),
        (
            &garbage,
            &key,
            format!(
                "{} holds no certificate (found: no PEM section)",
                garbage.display()
            ),
        ),
    ] {
        server(c, k).code(2).stderr(contains(expected).and(clean()));
    }
    // Half a TLS configuration is a usage error, never plain TCP by accident.
    faxnotify()
        .args(["server", "--listen", "127.0.0.1:0", "--users"])
        .arg(&users)
        .arg("--tls-cert")
        .arg(&cert)
        .assert()
        .code(2)
        .stderr(contains("--tls-key").and(clean()));
}

/// A certificate about to run out of its dates is served, with a warning
/// at start that says when and what to do: clients will refuse it then,
/// and the operator should not hear of it from them.
#[test]
fn the_server_warns_of_a_certificate_about_to_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    faxnotify()
        .args([
            "tls",
            "self-signed",
            "--name",
            "fax.example.org",
            "--days",
            "3",
            "--out",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let users = users(dir.path());
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let server = TestServer::start(
        "smol",
        &users,
        dir.path(),
        &[
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    let warnings = server.process.lines_with("expires on");
    assert!(
        warnings.iter().any(|l| l.contains(&format!(
            "the TLS certificate {} expires on",
            cert.display()
        )) && l.contains("(within 3 day(s)): renew it")),
        "{}",
        server.process.dump()
    );
}

/// Runs `faxnotify client` for alice against `server` with `trust` (and
/// more arguments); the client must stop on its own.
fn client_with(
    server: std::net::SocketAddr,
    trust: &str,
    more: &[&str],
) -> assert_cmd::assert::Assert {
    faxnotify()
        .args([
            "client",
            "--server",
            &server.to_string(),
            "--user",
            "alice",
            "--trust",
            trust,
        ])
        .args(more)
        .env("FAXNOTIFY_PASSWORD", "secret-1")
        .assert()
}

/// `faxnotify client --json` (on `runtime`) as `user` of `server`, trusting
/// only the certificate pinned by `pin`.
fn pinned_client(
    runtime: &str,
    server: std::net::SocketAddr,
    user: &str,
    password: &Path,
    pin: &str,
) -> Running {
    Running::start(&[
        "client".to_owned(),
        "--runtime".into(),
        runtime.into(),
        "--server".into(),
        server.to_string(),
        "--user".into(),
        user.into(),
        "--password-file".into(),
        password.display().to_string(),
        "--trust".into(),
        format!("pin:{pin}"),
        "--json".into(),
    ])
}

/// A certificate a client cannot trust stops it with exit status 9 and a
/// sentence that says what is wrong — never a retry loop, never plain TCP.
#[test]
fn a_client_that_cannot_trust_the_certificate_exits_9_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fingerprint = self_signed(dir.path(), "fax.example.org");
    let other_dir = dir.path().join("other");
    let other = self_signed(&other_dir, "fax.example.org");
    let users = users(dir.path());
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let server = TestServer::start(
        "mio",
        &users,
        dir.path(),
        &[
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    // A pin of another certificate.
    client_with(server.addr, &format!("pin:{other}"), &[])
        .code(9)
        .stderr(
            contains(format!(
                "certificate fingerprint does not match the pinned one (expected {other}, got {fingerprint})"
            ))
            .and(clean()),
        );
    // A CA that did not sign it.
    client_with(
        server.addr,
        &format!("ca:{}", other_dir.join("cert.pem").display()),
        &["--tls-server-name", "fax.example.org"],
    )
    .code(9)
    .stderr(contains("the server's certificate is not signed by a trusted authority").and(clean()));
    // The right CA (the certificate itself), the wrong name.
    client_with(
        server.addr,
        &format!("ca:{}", cert.display()),
        &["--tls-server-name", "fax.other.org"],
    )
    .code(9)
    .stderr(
        contains("the server's certificate is for fax.example.org, not fax.other.org").and(clean()),
    );
    // "" goes back to the server's host, as `settings set` takes it: here
    // an address the certificate does not carry.
    client_with(
        server.addr,
        &format!("ca:{}", cert.display()),
        &["--tls-server-name", ""],
    )
    .code(9)
    .stderr(
        contains("the server's certificate is for fax.example.org, not 127.0.0.1").and(clean()),
    );
    // The right pin logs in (so the refusals above were the certificate's).
    let password = write_file(dir.path(), "pw", "secret-1\n");
    let mut ok = pinned_client("smol", server.addr, "alice", &password, &fingerprint);
    wait_event(&mut ok, "logged_in");
    // The server logged the refused handshakes with the peer's address [T-9].
    let mut server = server;
    server.process.wait_line(Stream::Err, "a TLS failure", |l| {
        l.contains("TLS failed") && l.contains("peer=127.0.0.1:")
    });
}

#[test]
fn a_tls_client_of_a_plain_server_exits_9_and_never_speaks_plain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fingerprint = self_signed(dir.path(), "fax.example.org");
    let users = users(dir.path());
    let server = TestServer::start("smol", &users, dir.path(), &[]);
    client_with(server.addr, &format!("pin:{fingerprint}"), &[])
        .code(9)
        .stderr(contains("does not speak TLS").and(clean()));
}

/// A client with TLS off against a TLS server waits for a first frame the
/// server never sends, until its own login times out or the server's TLS
/// alert arrives: either way the line says that TLS is off and how to turn
/// it on (not a bare timeout, nor a "frame length 352518912").
fn a_plain_client_of_a_tls_server_is_told_that_tls_is_off(handshake_timeout: &str, said: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    self_signed(dir.path(), "fax.example.org");
    let users = users(dir.path());
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let server = TestServer::start(
        "smol",
        &users,
        dir.path(),
        &[
            "--handshake-timeout",
            handshake_timeout,
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    let password = write_file(dir.path(), "pw", "secret-1\n");
    let mut client = Running::start(&[
        "client".to_owned(),
        "--server".into(),
        server.addr.to_string(),
        "--user".into(),
        "alice".into(),
        "--password-file".into(),
        password.display().to_string(),
        "--trust".into(),
        "off".into(),
        "--listen".into(),
        "dynamic".into(),
    ]);
    client.wait_line(Stream::Out, said, |l| l.contains(said));
    client.wait_line(Stream::Out, "the TLS-off hint", |l| {
        l.contains("TLS is off on this client (trust \"off\")")
            && l.contains("faxnotify settings set --trust")
    });
}

#[test]
fn a_plain_client_of_a_tls_server_that_times_out_first_is_told_that_tls_is_off() {
    // The client's own login timeout (10 s) runs out before the server's.
    a_plain_client_of_a_tls_server_is_told_that_tls_is_off(
        "30s",
        "the login did not complete in time",
    );
}

#[test]
fn a_plain_client_of_a_tls_server_that_alerts_is_told_that_tls_is_off() {
    // The server's timeout runs out first: its TLS alert arrives as bytes
    // that are no FNP/1 frame.
    a_plain_client_of_a_tls_server_is_told_that_tls_is_off("1s", "the server answered in TLS");
}

/// Waits for the client's JSON line with `"event":name`.
fn wait_event(client: &mut Running, name: &str) -> String {
    client.wait_line(Stream::Out, name, |l| {
        json(l).is_some_and(|v| v["event"] == name)
    })
}

/// Replaces a file the way deployment tools do: a new file renamed over it.
fn replace(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).expect("copy");
    std::fs::rename(&tmp, to).expect("rename");
}

/// The running server picks up new certificate files: a new client that
/// pins the new certificate logs in, the old pin is refused, and the
/// session made with the old certificate still gets its notifications.
fn reload_on(runtime: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = dir.path().join("users.toml");
    add_users(&users, &[("alice", "secret-1"), ("bob", "secret-2")]);
    let old = self_signed(&dir.path().join("old"), "localhost");
    let new = self_signed(&dir.path().join("new"), "localhost");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    replace(&dir.path().join("old/cert.pem"), &cert);
    replace(&dir.path().join("old/key.pem"), &key);
    let mut server = TestServer::start(
        runtime,
        &users,
        dir.path(),
        &[
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    let password = write_file(dir.path(), "pw", "secret-1\n");
    let addr = server.addr;
    let client =
        |user: &str, password: &Path, pin: &str| pinned_client(runtime, addr, user, password, pin);
    let mut alice = client("alice", &password, &old);
    wait_event(&mut alice, "logged_in");

    // The key first, then the certificate: the check in between may see a
    // pair that does not belong together and keep the old one; the next
    // check loads the new pair.
    replace(&dir.path().join("new/key.pem"), &key);
    replace(&dir.path().join("new/cert.pem"), &cert);
    server
        .process
        .wait_line(Stream::Err, "\"TLS certificate reloaded\"", |l| {
            l.contains("TLS certificate reloaded")
        });

    let bob_password = write_file(dir.path(), "pw2", "secret-2\n");
    let mut bob = client("bob", &bob_password, &new);
    wait_event(&mut bob, "logged_in");
    client_with(server.addr, &format!("pin:{old}"), &["--runtime", runtime])
        .code(9)
        .stderr(contains(format!("expected {old}, got {new}")).and(clean()));

    faxnotify()
        .args(["notify", "--admin-socket"])
        .arg(&server.admin)
        .args(["--user", "alice", "message", "after the reload"])
        .assert()
        .success();
    let line = wait_event(&mut alice, "notification");
    assert!(line.contains("after the reload"), "{line}");
    assert!(
        !server.process.dump().contains("panicked"),
        "{}",
        server.process.dump()
    );
}

#[test]
fn a_running_mio_server_takes_new_certificate_files() {
    reload_on("mio");
}

#[test]
fn a_running_smol_server_takes_new_certificate_files() {
    reload_on("smol");
}

/// A new certificate that cannot be used keeps the old one, and says so.
#[test]
fn a_bad_new_certificate_keeps_the_old_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let users = users(dir.path());
    let fingerprint = self_signed(dir.path(), "localhost");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let mut server = TestServer::start(
        "smol",
        &users,
        dir.path(),
        &[
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    let garbage = write_file(dir.path(), "garbage.pem", "hello\n");
    replace(&garbage, &cert);
    let line = server
        .process
        .wait_line(Stream::Err, "\"not reloaded\"", |l| {
            l.contains("TLS certificate not reloaded")
        });
    assert!(
        line.contains("keeping the old one")
            && line.contains(&format!("{} holds no certificate", cert.display())),
        "{line}"
    );
    // The old certificate still serves.
    let password = write_file(dir.path(), "pw", "secret-1\n");
    let mut alice = pinned_client("smol", server.addr, "alice", &password, &fingerprint);
    wait_event(&mut alice, "logged_in");
}

/// A directory that cannot be made is named with the reason in words, not
/// Rust's "Not a directory (os error 20)".
#[test]
fn self_signed_says_in_words_why_its_directory_cannot_be_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_file(dir.path(), "a-file", "");
    let out = file.join("tls");
    faxnotify()
        .args(["tls", "self-signed", "--name", "fax.example.org", "--out"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(contains(format!("cannot create {}: not a directory", out.display())).and(clean()))
        .stderr(contains("os error").not());
}

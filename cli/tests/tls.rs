//! TLS through the binary: `faxnotify tls`, the client settings' trust,
//! and the server's certificate files — every mistake a clear sentence
//! naming the file and a documented exit status.

mod common;

use std::path::{Path, PathBuf};

use common::{add_users, faxnotify, write_file};
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

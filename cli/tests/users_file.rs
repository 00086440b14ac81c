//! `faxnotify user`: the users file holds SCRAM credentials and roles, never
//! the password, and only its owner can read it.

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::faxnotify;
use predicates::prelude::*;
use predicates::str::contains;

const PASSWORD: &str = "tr0ub4dor & 3 horses";

#[test]
fn the_users_file_never_holds_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&file)
        .args(["Alice", "--role", "admin", "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n"))
        .assert()
        .success()
        .stdout(contains("created").and(contains("added user \"alice\" (admin)")));

    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        !bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "the password is in the file:\n{text}"
    );
    assert!(!text.contains(&hex::encode(PASSWORD)), "{text}");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "users file mode {mode:o}");

    // SCRAM credentials in hex: 16-byte salt, default iterations, two 32-byte keys.
    let parsed: toml::Table = text.parse().unwrap();
    let alice = &parsed["users"]["alice"];
    assert_eq!(alice["role"].as_str(), Some("admin"));
    assert_eq!(alice["iterations"].as_integer(), Some(4096));
    for (key, len) in [("salt", 32), ("stored_key", 64), ("server_key", 64)] {
        let value = alice[key].as_str().unwrap();
        assert_eq!(value.len(), len, "{key}");
        assert!(value.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }
    assert_eq!(
        parsed["unknown_user_secret"].as_str().map(str::len),
        Some(64)
    );
    // Nothing else is stored.
    let keys: Vec<&String> = alice.as_table().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["iterations", "role", "salt", "server_key", "stored_key"]
    );

    // A second user gets another salt; the secret stays.
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&file)
        .args(["bob", "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n"))
        .assert()
        .success();
    let again: toml::Table = std::fs::read_to_string(&file).unwrap().parse().unwrap();
    assert_ne!(
        again["users"]["bob"]["salt"],
        again["users"]["alice"]["salt"]
    );
    assert_eq!(again["unknown_user_secret"], parsed["unknown_user_secret"]);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    faxnotify()
        .args(["user", "list", "--users"])
        .arg(&file)
        .assert()
        .success()
        .stdout(contains("alice\tadmin").and(contains("bob\tuser")));

    // Adding twice needs --replace; a bad name or an empty password is refused.
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&file)
        .args(["ALICE", "--password-stdin"])
        .write_stdin("other\n")
        .assert()
        .code(2)
        .stderr(contains("already exists").and(contains("--replace")));
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&file)
        .args(["carol smith", "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .code(2)
        .stderr(contains("invalid user name"));
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&file)
        .args(["carol", "--password-stdin"])
        .write_stdin("\n")
        .assert()
        .code(2)
        .stderr(contains("invalid password"));
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&file)
        .args(["carol"])
        .assert()
        .code(2)
        .stderr(contains("--password-stdin"));

    // Remove.
    faxnotify()
        .args(["user", "remove", "--users"])
        .arg(&file)
        .arg("Bob")
        .assert()
        .success()
        .stdout(contains("removed user \"bob\""));
    faxnotify()
        .args(["user", "remove", "--users"])
        .arg(&file)
        .arg("bob")
        .assert()
        .code(2)
        .stderr(contains("no user \"bob\""));
    let left: toml::Table = std::fs::read_to_string(&file).unwrap().parse().unwrap();
    assert!(left["users"].get("bob").is_none());
    assert!(left["users"].get("alice").is_some());
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["users.toml"]);
}

/// A users file with alice, and its secrets (every hex value in it).
fn file_with_secrets(dir: &std::path::Path) -> (std::path::PathBuf, Vec<String>) {
    let file = dir.join("users.toml");
    common::add_users(&file, &[("alice", PASSWORD)]);
    let text = std::fs::read_to_string(&file).unwrap();
    let parsed: toml::Table = text.parse().unwrap();
    let alice = &parsed["users"]["alice"];
    let secrets = vec![
        parsed["unknown_user_secret"].as_str().unwrap().to_owned(),
        alice["server_key"].as_str().unwrap().to_owned(),
        alice["stored_key"].as_str().unwrap().to_owned(),
    ];
    (file, secrets)
}

/// Whether `text` holds any 8 characters of any secret.
fn leaks(text: &str, secrets: &[String]) -> bool {
    secrets.iter().any(|s| {
        s.as_bytes()
            .windows(8)
            .any(|w| text.contains(std::str::from_utf8(w).unwrap()))
    })
}

/// A one-character typo next to a secret: the error names the line and the
/// column, and quotes none of the secrets (the log is more widely read
/// than the 0600 file).
#[test]
fn a_typo_next_to_a_secret_names_the_place_but_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (file, secrets) = file_with_secrets(dir.path());
    let good = std::fs::read_to_string(&file).unwrap();
    let typos = [
        // The closing quote of server_key lost.
        (
            format!("server_key = \"{}\"", secrets[1]),
            format!("server_key = \"{}", secrets[1]),
        ),
        // The opening quote of unknown_user_secret lost.
        (
            format!("unknown_user_secret = \"{}", secrets[0]),
            format!("unknown_user_secret = {}", secrets[0]),
        ),
        // A string where a number belongs, in the secret's place.
        (
            "iterations = 4096".to_owned(),
            format!("iterations = \"{}\"", secrets[2]),
        ),
    ];
    for (from, to) in typos {
        assert!(good.contains(&from), "{from}");
        let bad = good.replace(&from, &to);
        std::fs::write(&file, &bad).unwrap();
        let line = bad.lines().position(|l| l.contains(&to)).unwrap() + 1;
        let out = faxnotify()
            .args(["user", "list", "--users"])
            .arg(&file)
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            stderr.contains(&format!("line {line}, column")),
            "{to}: {stderr}"
        );
        assert!(!leaks(&stderr, &secrets), "a secret in: {stderr}");
        // The server says the same at start-up, without the secret either.
        let out = faxnotify()
            .args(["server", "--listen", "127.0.0.1:0", "--users"])
            .arg(&file)
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.contains(&format!("line {line}, column")), "{stderr}");
        assert!(!leaks(&stderr, &secrets), "a secret in: {stderr}");
    }
}

/// A 100 MB users file is refused before it is read, with a sentence
/// that says why.
#[test]
fn a_huge_users_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    faxnotify()
        .args(["user", "list", "--users"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(contains("larger than 8 MiB"));
}

/// `user add` through a symbolic link writes the link's target and keeps
/// the link.
#[test]
fn user_add_writes_through_a_symlinked_users_file() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("users.toml");
    common::add_users(&real, &[("alice", PASSWORD)]);
    let link = dir.path().join("users.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    common::add_users(&link, &[("bob", PASSWORD)]);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link was replaced by a file"
    );
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(
        text.contains("[users.alice]") && text.contains("[users.bob]"),
        "{text}"
    );
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // No temporary file is left in either directory.
    for d in [dir.path(), real_dir.as_path()] {
        let names: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(names.is_empty(), "{names:?}");
    }
    // A link to nothing is refused with a sentence.
    let dangling = dir.path().join("gone.toml");
    std::os::unix::fs::symlink(dir.path().join("nowhere/users.toml"), &dangling).unwrap();
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&dangling)
        .args(["carol", "--password-stdin"])
        .write_stdin("pw\n")
        .assert()
        .failure()
        .stderr(contains("symbolic link"));
}

#[test]
fn a_password_line_longer_than_any_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    // A stream without a line end (say, a binary piped in by mistake):
    // refused once past the bound, not read into memory to its end.
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&file)
        .args(["dave", "--password-stdin"])
        .write_stdin(vec![b'a'; 200 * 1024])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "the first line of standard input is longer than 64 KiB: not a password",
        ));
    assert!(!file.exists(), "nothing was written");
}

/// A name whose prepared form the profile refuses in turn (U+13A0
/// lower-cases to U+AB70) was added, and the server then refused to load
/// the file at all: every user locked out. It is refused when added.
#[test]
fn a_name_the_file_could_not_load_again_is_refused_when_added() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    faxnotify()
        .args(["user", "add", "--users"])
        .arg(&users)
        .args(["--password-stdin", "\u{13a0}"])
        .write_stdin("correct horse battery\n")
        .assert()
        .code(2)
        .stderr(contains("choose another name"));
    assert!(!users.exists(), "nothing is written for a refused name");
}

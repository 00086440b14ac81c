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

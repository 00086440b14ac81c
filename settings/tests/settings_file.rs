//! The client settings file: parsing, rendering, validation, and loading
//! and saving it safely.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use faxnotify_core::client::{
    ListenAddress, ListenPolicy, NetworkSettings, SettingsError, TlsSettingError, TlsSettings,
    TlsTrust,
};
use faxnotify_settings::{SettingsFile, SettingsFileError};
use proptest::prelude::*;

#[test]
fn the_no_listener_policy_round_trips() {
    let text = SettingsFile::new(None, NetworkSettings::new(ListenPolicy::None)).render();
    assert!(text.contains("listen = \"none\""), "{text}");
    assert_eq!(
        SettingsFile::parse(&text).unwrap().network.listen,
        ListenPolicy::None
    );
}

fn valid_policy() -> impl Strategy<Value = ListenPolicy> {
    prop_oneof![
        Just(ListenPolicy::Dynamic),
        Just(ListenPolicy::None),
        (1024u16..).prop_map(|port| ListenPolicy::Fixed { port }),
        (1024u16.., 0u16..2000).prop_map(|(lo, span)| ListenPolicy::Range {
            lo,
            hi: lo.saturating_add(span)
        }),
    ]
}

proptest! {
    #[test]
    fn settings_file_round_trips(
        policy in valid_policy(),
        server in proptest::option::of("[a-z]{1,10}\\.example:[1-9][0-9]{0,3}"),
        servers in proptest::collection::vec("[a-z]{1,10}\\.example:[1-9][0-9]{0,3}", 0..4),
    ) {
        let mut file = SettingsFile::new(server, NetworkSettings::new(policy));
        // A file names one server or a list, not both.
        if file.server.is_none() {
            file.servers = servers;
        }
        prop_assert_eq!(SettingsFile::parse(&file.render()).unwrap(), file);
    }
}

#[test]
fn settings_file_parses_and_defaults() {
    let f = SettingsFile::parse(
        "server = \"fax.example:4580\"\n[network]\nlisten = \"range:6000-6010\"\n",
    )
    .unwrap();
    assert_eq!(f.server.as_deref(), Some("fax.example:4580"));
    assert_eq!(f.network.listen, ListenPolicy::Range { lo: 6000, hi: 6010 });
    let empty = SettingsFile::parse("").unwrap();
    assert_eq!(empty.server, None);
    assert_eq!(empty.network.listen, ListenPolicy::Dynamic);
    let ipv6 = SettingsFile::parse("server = \"[2001:db8::1]:4580\"").unwrap();
    assert_eq!(ipv6.server.as_deref(), Some("[2001:db8::1]:4580"));
}

#[test]
fn settings_file_refuses_mistakes() {
    // A misspelt key is not silently ignored.
    let err = SettingsFile::parse("[network]\nlisen = \"dynamic\"\n").unwrap_err();
    assert!(matches!(err, SettingsFileError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().contains("lisen"), "{err}");
    let err = SettingsFile::parse("[network]\nlisten = \"range:6010-6000\"\n").unwrap_err();
    assert!(
        matches!(
            &err,
            SettingsFileError::Invalid {
                key: "network.listen",
                source: SettingsError::EmptyRange { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("network.listen"), "{err}");
    let err = SettingsFile::parse("[network]\nlisten = 6003\n").unwrap_err();
    assert!(matches!(err, SettingsFileError::Syntax { .. }), "{err:?}");
    for server in [
        "fax.example",
        "fax.example:0",
        ":4580",
        "fax example:4580",
        "2001:db8::1:4580",
    ] {
        let err = SettingsFile::parse(&format!("server = \"{server}\"")).unwrap_err();
        assert!(
            matches!(err, SettingsFileError::BadServer { .. }),
            "{server}: {err:?}"
        );
    }
    let err = SettingsFile::parse("[network\n").unwrap_err();
    assert!(matches!(err, SettingsFileError::Syntax { .. }), "{err:?}");
    // A text value without its quotes: the line as it should be.
    for (line, fixed) in [
        ("server = 127.0.0.2:4580", "server = \"127.0.0.2:4580\""),
        ("[network]\nlisten = fixed:6100", "listen = \"fixed:6100\""),
        (
            "[tls]\ntrust = ca:/etc/ca.pem",
            "trust = \"ca:/etc/ca.pem\"",
        ),
    ] {
        let err = SettingsFile::parse(line).unwrap_err();
        assert!(
            err.to_string()
                .ends_with(&format!("text goes in double quotes: {fixed}")),
            "{err}"
        );
    }
    // A number where text belongs is a mistake of another kind: no hint.
    let err = SettingsFile::parse("[network]\nlisten = 6003\n").unwrap_err();
    assert!(!err.to_string().contains("double quotes"), "{err}");
}

#[test]
fn rendered_file() {
    let mut file = SettingsFile::new(
        Some("fax.example:4580".into()),
        NetworkSettings::new(ListenPolicy::Range { lo: 6000, hi: 6010 }),
    );
    file.tls = TlsSettings::new(TlsTrust::Pinned(PIN.parse().unwrap()));
    file.tls.server_name = Some("fax.example.org".into());
    let text = file.render();
    assert_eq!(SettingsFile::parse(&text).unwrap(), file);
    insta::assert_snapshot!(text);
}

const PIN: &str = "sha256:00:01:0A:AB:CD:EF:10:20:30:40:50:60:70:80:90:A0:B0:C0:D0:E0:F0:FF:01:02:03:04:05:06:07:08:09:99";

#[test]
fn settings_file_tls_table() {
    let f = SettingsFile::parse(&format!(
        "server = \"192.0.2.7:4580\"\n[tls]\ntrust = \"pin:{PIN}\"\nserver_name = \"fax.example.org\"\n"
    ))
    .unwrap();
    assert_eq!(f.tls.trust, TlsTrust::Pinned(PIN.parse().unwrap()));
    assert_eq!(f.tls.name_for("192.0.2.7:4580"), "fax.example.org");
    // Files written before TLS existed keep meaning plain TCP.
    assert_eq!(SettingsFile::parse("").unwrap().tls.trust, TlsTrust::Off);
    for trust in [
        TlsTrust::Off,
        TlsTrust::System,
        TlsTrust::CaFile("/etc/faxnotify/ca file.pem".into()),
        TlsTrust::Pinned(PIN.parse().unwrap()),
    ] {
        let mut file =
            SettingsFile::new(Some("fax.example:4580".into()), NetworkSettings::default());
        file.tls = TlsSettings::new(trust);
        assert_eq!(SettingsFile::parse(&file.render()).unwrap(), file);
    }
}

#[test]
fn settings_file_refuses_bad_tls_values() {
    let err = SettingsFile::parse("[tls]\ntrust = \"yes\"\n").unwrap_err();
    assert!(
        matches!(
            &err,
            SettingsFileError::BadTls {
                key: "tls.trust",
                source: TlsSettingError::UnknownTrust { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "settings file: tls.trust: \"yes\" is not a trust setting: use \"system\", \
         \"ca:/path/to/ca.pem\", \"pin:sha256:AB:CD:...\" or \"off\""
    );
    let err = SettingsFile::parse("[tls]\ntrust = \"pin:sha256:AB:CD\"\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("settings file: tls.trust: \"sha256:AB:CD\" is not a SHA-256 fingerprint"),
        "{err}"
    );
    let err = SettingsFile::parse("[tls]\nserver_name = \"fax example\"\n").unwrap_err();
    assert!(
        matches!(
            &err,
            SettingsFileError::BadTls {
                key: "tls.server_name",
                ..
            }
        ),
        "{err:?}"
    );
    let err = SettingsFile::parse("[tls]\ntrusted = \"system\"\n").unwrap_err();
    assert!(matches!(err, SettingsFileError::Syntax { .. }), "{err:?}");
    let mut file = SettingsFile::default();
    file.tls.server_name = Some("not a name".into());
    assert!(matches!(
        file.validate(),
        Err(SettingsFileError::BadTls { .. })
    ));
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "faxnotify-settings-file-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn save_and_load() {
    let dir = scratch_dir("save");
    let path = dir.join("client.toml");
    let first = SettingsFile::new(
        None,
        NetworkSettings::new(ListenPolicy::Fixed { port: 6003 }),
    );
    first.save(&path).unwrap();
    assert_eq!(SettingsFile::load(&path).unwrap(), first);
    // Saving again replaces the file whole.
    let second = SettingsFile::new(
        Some("fax.example:4580".into()),
        NetworkSettings::new(ListenPolicy::Dynamic),
    );
    second.save(&path).unwrap();
    assert_eq!(SettingsFile::load(&path).unwrap(), second);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["client.toml"]);
    // Invalid settings are not written.
    let bad = SettingsFile::new(None, NetworkSettings::new(ListenPolicy::Fixed { port: 80 }));
    assert!(matches!(
        bad.save(&path),
        Err(SettingsFileError::Invalid { .. })
    ));
    assert_eq!(SettingsFile::load(&path).unwrap(), second);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_errors_name_the_file() {
    let dir = scratch_dir("load");
    let missing = dir.join("missing.toml");
    let err = SettingsFile::load(&missing).unwrap_err();
    assert!(matches!(err, SettingsFileError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.toml"), "{err}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[network]\nlisten = \"fixed:80\"\n").unwrap();
    let err = SettingsFile::load(&bad).unwrap_err();
    assert!(
        err.to_string().contains("bad.toml") && err.to_string().contains("1024"),
        "{err}"
    );
    let err = SettingsFile::default()
        .save(dir.join("no-such-dir").join("x.toml"))
        .unwrap_err();
    assert!(
        matches!(err, SettingsFileError::NotWritten { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("x.toml"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_listen_address_is_a_setting_of_the_file() {
    let file = SettingsFile::parse("[network]\nlisten_address = \"10.0.0.5\"\n").unwrap();
    assert_eq!(
        file.network.listen_address,
        ListenAddress::Ip("10.0.0.5".parse().unwrap())
    );
    let file = SettingsFile::parse("[network]\nlisten = \"dynamic\"\n").unwrap();
    assert_eq!(file.network.listen_address, ListenAddress::Route);
    let file = SettingsFile::parse("[network]\nlisten_address = \"any\"\n").unwrap();
    assert_eq!(SettingsFile::parse(&file.render()).unwrap(), file);
    let err = SettingsFile::parse("[network]\nlisten_address = \"everywhere\"\n").unwrap_err();
    assert!(
        err.to_string().contains("network.listen_address") && err.to_string().contains("`any`"),
        "{err}"
    );
}

#[test]
fn a_file_too_large_is_not_read() {
    let dir = scratch_dir("large");
    let path = dir.join("client.toml");
    let mut text = String::from("server = \"fax.example:4580\"\n");
    while text.len() as u64 <= faxnotify_settings::MAX_FILE_BYTES {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&path, text).unwrap();
    let err = SettingsFile::load(&path).unwrap_err();
    assert!(matches!(err, SettingsFileError::TooLarge { .. }), "{err:?}");
    assert!(err.to_string().contains("client.toml"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_is_not_a_settings_file() {
    let dir = scratch_dir("dir");
    let err = SettingsFile::load(&dir).unwrap_err();
    assert!(matches!(err, SettingsFileError::NotAFile { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A FIFO in the file's place is refused at once: opening it for reading
/// would otherwise wait for a writer, and the client would hang at start.
#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = scratch_dir("fifo");
    let path = dir.join("client.toml");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let err = SettingsFile::load(&path).unwrap_err();
    assert!(matches!(err, SettingsFileError::NotAFile { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_that_is_not_utf8_is_a_syntax_error() {
    let dir = scratch_dir("utf8");
    let path = dir.join("client.toml");
    std::fs::write(&path, b"server = \"fax\xff\"\n").unwrap();
    let err = SettingsFile::load(&path).unwrap_err();
    assert!(matches!(err, SettingsFileError::Syntax { .. }), "{err:?}");
    assert!(err.to_string().contains("UTF-8"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A settings file that is a symbolic link (e.g. managed by configuration
/// management) keeps being a link: saving replaces its target.
#[cfg(unix)]
#[test]
fn saving_writes_through_a_symbolic_link() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch_dir("link");
    std::fs::create_dir(dir.join("real")).unwrap();
    let target = dir.join("real").join("client.toml");
    SettingsFile::default().save(&target).unwrap();
    let link = dir.join("client.toml");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let file = SettingsFile::new(
        Some("fax.example:4580".into()),
        NetworkSettings::new(ListenPolicy::Fixed { port: 6003 }),
    );
    file.save(&link).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(SettingsFile::load(&target).unwrap(), file);
    // Every client on the host reads it; it holds no secret.
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o644, 0o644, "{mode:o}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn several_servers_are_listed_in_order() {
    let f = SettingsFile::parse(
        "servers = [\"fax1.example:4580\", \"[2001:db8::2]:4580\", \"192.0.2.3:4580\"]\n",
    )
    .unwrap();
    assert_eq!(f.server, None);
    assert_eq!(
        f.all_servers(),
        ["fax1.example:4580", "[2001:db8::2]:4580", "192.0.2.3:4580"]
    );
    // The old key keeps working, as a list of one.
    let one = SettingsFile::parse("server = \"fax.example:4580\"").unwrap();
    assert_eq!(one.all_servers(), ["fax.example:4580"]);
    assert!(one.servers.is_empty());
    assert!(SettingsFile::parse("").unwrap().all_servers().is_empty());
}

#[test]
fn several_servers_round_trip_and_render() {
    let mut file = SettingsFile::new(None, NetworkSettings::new(ListenPolicy::Dynamic));
    file.servers = vec!["fax1.example:4580".into(), "fax2.example:4580".into()];
    let text = file.render();
    assert!(
        text.contains("servers = [\"fax1.example:4580\", \"fax2.example:4580\"]"),
        "{text}"
    );
    assert!(!text.contains("\nserver ="), "{text}");
    assert_eq!(SettingsFile::parse(&text).unwrap(), file);
    insta::assert_snapshot!(text);
}

#[test]
fn server_list_mistakes_are_explained() {
    let err = SettingsFile::parse("server = \"a.example:4580\"\nservers = [\"b.example:4580\"]\n")
        .unwrap_err();
    assert!(
        matches!(err, SettingsFileError::ServerAndServers { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("both server and servers are set: keep one"),
        "{text}"
    );

    let err = SettingsFile::parse("servers = []").unwrap_err();
    assert!(
        matches!(err, SettingsFileError::NoServers { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("servers is empty"), "{err}");

    let err = SettingsFile::parse("servers = [\"a.example:4580\", \"b.example\"]").unwrap_err();
    assert!(
        matches!(
            &err,
            SettingsFileError::BadServerInList { index: 1, value, .. } if value == "b.example"
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("servers: entry 2 (\"b.example\") is not host:port"),
        "{err}"
    );

    // Not a list of strings: the TOML reader says so.
    let err = SettingsFile::parse("servers = \"a.example:4580\"").unwrap_err();
    assert!(matches!(err, SettingsFileError::Syntax { .. }), "{err:?}");

    // Saving checks the same rules.
    let mut file = SettingsFile::new(
        Some("a.example:4580".into()),
        NetworkSettings::new(ListenPolicy::Dynamic),
    );
    file.servers = vec!["b.example:4580".into()];
    assert!(matches!(
        file.validate().unwrap_err(),
        SettingsFileError::ServerAndServers { path: None }
    ));
    file.server = None;
    file.servers.push("b.example".into());
    assert!(matches!(
        file.validate().unwrap_err(),
        SettingsFileError::BadServerInList { index: 1, .. }
    ));
}

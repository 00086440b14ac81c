//! Listen policies, network settings, the settings file and client
//! configuration validation.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faxnotify_core::client::{
    Backoff, Client, ClientConfig, ConfigError, ListenAddress, ListenPolicy, NetworkSettings,
    Output, SettingsError, SettingsFile, SettingsFileError, TlsSettingError, TlsSettings, TlsTrust,
};
use proptest::prelude::*;

fn parse(s: &str) -> Result<ListenPolicy, SettingsError> {
    s.parse()
}

#[test]
fn policy_text_forms() {
    assert_eq!(parse("dynamic"), Ok(ListenPolicy::Dynamic));
    assert_eq!(
        parse(" range:6000-6010 "),
        Ok(ListenPolicy::Range { lo: 6000, hi: 6010 })
    );
    assert_eq!(
        parse("range:6000-6000"),
        Ok(ListenPolicy::Range { lo: 6000, hi: 6000 })
    );
    assert_eq!(parse("fixed:6003"), Ok(ListenPolicy::Fixed { port: 6003 }));
    assert_eq!(
        parse("fixed:65535"),
        Ok(ListenPolicy::Fixed { port: 65535 })
    );
    assert_eq!(
        ListenPolicy::Range { lo: 6000, hi: 6010 }.to_string(),
        "range:6000-6010"
    );
    assert_eq!(ListenPolicy::Fixed { port: 6003 }.to_string(), "fixed:6003");
    assert_eq!(ListenPolicy::Dynamic.to_string(), "dynamic");
}

#[test]
fn the_no_listener_policy() {
    assert_eq!(parse("none"), Ok(ListenPolicy::None));
    assert_eq!(parse(" backchannel "), Ok(ListenPolicy::None));
    assert_eq!(ListenPolicy::None.to_string(), "none");
    assert!(matches!(
        parse("none:6003"),
        Err(SettingsError::Syntax { .. })
    ));
    // Port 0 is advertised with the `dynamic` wire value [C-2]; no limit
    // on instances per host.
    assert_eq!(
        ListenPolicy::None.kind(),
        faxnotify_core::wire::PolicyKind::Dynamic
    );
    assert_eq!(ListenPolicy::None.instances_per_host(), None);
    assert_eq!(ListenPolicy::None.validate(), Ok(()));
    // Through the settings file and back.
    let text = SettingsFile::new(None, NetworkSettings::new(ListenPolicy::None)).render();
    assert!(text.contains("listen = \"none\""), "{text}");
    assert_eq!(
        SettingsFile::parse(&text).unwrap().network.listen,
        ListenPolicy::None
    );
}

#[test]
fn bad_policies_are_refused_with_clear_errors() {
    assert_eq!(
        parse("range:6010-6000"),
        Err(SettingsError::EmptyRange { lo: 6010, hi: 6000 })
    );
    assert_eq!(
        parse("fixed:80"),
        Err(SettingsError::ReservedPort { port: 80 })
    );
    assert_eq!(
        parse("fixed:1023"),
        Err(SettingsError::ReservedPort { port: 1023 })
    );
    assert_eq!(parse("fixed:1024"), Ok(ListenPolicy::Fixed { port: 1024 }));
    assert_eq!(
        parse("range:80-9000"),
        Err(SettingsError::ReservedPort { port: 80 })
    );
    assert_eq!(
        parse("range:0-9000"),
        Err(SettingsError::ReservedPort { port: 0 })
    );
    assert_eq!(parse("fixed:0"), Err(SettingsError::FixedPortZero));
    assert!(matches!(
        parse("fixed:70000"),
        Err(SettingsError::PortOutOfRange { .. })
    ));
    for bad in [
        "",
        "range",
        "range:6000",
        "range:a-b",
        "fixed:",
        "fixed:-1",
        "fixed:+5",
        "static:5",
        "dynamic:5",
        "none:0",
        "Dynamic",
        "range:6000-6010-6020",
    ] {
        assert!(
            matches!(parse(bad), Err(SettingsError::Syntax { .. })),
            "{bad:?} -> {:?}",
            parse(bad)
        );
    }
    let msg = parse("range:6010-6000").unwrap_err().to_string();
    assert!(msg.contains("6010-6000") && msg.contains("empty"), "{msg}");
    let msg = parse("fixed:80").unwrap_err().to_string();
    assert!(msg.contains("1024"), "{msg}");
    let msg = parse("static:5").unwrap_err().to_string();
    assert!(
        msg.contains("`dynamic`, `range:LO-HI`, `fixed:PORT` or `none`"),
        "{msg}"
    );
    // Constructed directly, the same checks apply.
    assert_eq!(
        NetworkSettings::new(ListenPolicy::Range { lo: 7000, hi: 6000 }).validate(),
        Err(SettingsError::EmptyRange { lo: 7000, hi: 6000 })
    );
}

#[test]
fn instances_per_host() {
    assert_eq!(ListenPolicy::Dynamic.instances_per_host(), None);
    assert_eq!(
        ListenPolicy::Range { lo: 6000, hi: 6010 }.instances_per_host(),
        Some(11)
    );
    assert_eq!(
        ListenPolicy::Fixed { port: 6003 }.instances_per_host(),
        Some(1)
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
    fn policy_text_round_trips(policy in valid_policy()) {
        prop_assert_eq!(policy.to_string().parse::<ListenPolicy>(), Ok(policy));
    }

    #[test]
    fn parsing_never_panics(text in "\\PC{0,24}") {
        if let Ok(policy) = text.parse::<ListenPolicy>() {
            prop_assert!(policy.validate().is_ok());
        }
    }

    #[test]
    fn settings_file_round_trips(policy in valid_policy(), server in proptest::option::of("[a-z]{1,10}\\.example:[1-9][0-9]{0,3}")) {
        let file = SettingsFile::new(server, NetworkSettings::new(policy));
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
        "faxnotify-client-settings-{}-{name}",
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
    assert!(matches!(err, SettingsFileError::Io { .. }), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn config() -> ClientConfig {
    ClientConfig::new(
        "192.0.2.1:4580".parse().unwrap(),
        "alice",
        "correct horse",
        NetworkSettings::new(ListenPolicy::Dynamic),
    )
}

fn new_client(config: ClientConfig) -> Result<Client, ConfigError> {
    Client::new(config, [0; 32], Instant::now())
}

#[test]
fn bad_configuration_is_refused_before_anything_starts() {
    let mut c = config();
    c.settings = NetworkSettings::new(ListenPolicy::Range { lo: 6010, hi: 6000 });
    assert_eq!(
        new_client(c).unwrap_err(),
        ConfigError::Settings(SettingsError::EmptyRange { lo: 6010, hi: 6000 })
    );
    let mut c = config();
    c.settings = NetworkSettings::new(ListenPolicy::Fixed { port: 443 });
    assert_eq!(
        new_client(c).unwrap_err(),
        ConfigError::Settings(SettingsError::ReservedPort { port: 443 })
    );
    let mut c = config();
    c.iteration_cap = 4095;
    assert!(matches!(
        new_client(c),
        Err(ConfigError::IterationCapTooLow { cap: 4095, .. })
    ));
    let mut c = config();
    c.callback_handshake_timeout = Duration::ZERO;
    assert!(matches!(
        new_client(c),
        Err(ConfigError::ZeroDuration {
            name: "callback_handshake_timeout"
        })
    ));
    let mut c = config();
    c.reconnect = Backoff::new(Duration::from_secs(60), Duration::from_secs(30), 20);
    assert!(matches!(
        new_client(c),
        Err(ConfigError::BackoffInverted { .. })
    ));
    let mut c = config();
    c.reconnect = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 100);
    assert!(matches!(
        new_client(c),
        Err(ConfigError::JitterTooLarge(100))
    ));
    let mut c = config();
    c.max_pending_callbacks = 0;
    assert!(matches!(new_client(c), Err(ConfigError::ZeroLimit { .. })));
    let mut c = config();
    c.server = SocketAddr::from(([192, 0, 2, 1], 0));
    assert!(matches!(new_client(c), Err(ConfigError::ServerPortZero(_))));
    let mut c = config();
    c.user = "al ice".into();
    assert!(matches!(new_client(c), Err(ConfigError::Credentials(_))));
    let mut c = config();
    c.password = String::new();
    assert!(matches!(new_client(c), Err(ConfigError::Credentials(_))));
    let mut c = config();
    c.user = "a".repeat(4097);
    assert!(matches!(
        new_client(c),
        Err(ConfigError::UserTooLong { len: 4097 })
    ));
}

#[test]
fn config_debug_hides_the_password() {
    let text = format!("{:?}", config());
    assert!(!text.contains("correct horse"), "{text}");
    assert!(text.contains("<redacted>"));
}

/// The address of the first `Listen` for a client of `server` with `address`
/// and the adapter's `local_ip`.
fn first_listen(
    server: &str,
    address: ListenAddress,
    local_ip: Option<&str>,
) -> Result<SocketAddr, ConfigError> {
    let mut settings = NetworkSettings::new(ListenPolicy::Fixed { port: 6003 });
    settings.listen_address = address;
    let mut config = ClientConfig::new(server.parse().unwrap(), "alice", "pw", settings);
    config.local_ip = local_ip.map(|ip| ip.parse().unwrap());
    let mut client = Client::new(config, [0; 32], Instant::now())?;
    match client.poll_output() {
        Some(Output::Listen { addr }) => Ok(addr),
        other => panic!("expected Listen, got {other:?}"),
    }
}

/// The listener binds the address the server is reached from, not every
/// interface, unless the settings say `any` or name an address [C-1].
#[test]
fn the_listener_binds_the_route_address_by_default() {
    let route = ListenAddress::Route;
    let addr = |s: &str| -> SocketAddr { s.parse().unwrap() };
    // The adapter found the route's local address.
    assert_eq!(
        first_listen("192.0.2.1:4580", route, Some("192.0.2.10")),
        Ok(addr("192.0.2.10:6003"))
    );
    assert_eq!(
        first_listen("[2001:db8::1]:4580", route, Some("2001:db8::10")),
        Ok(addr("[2001:db8::10]:6003"))
    );
    // A loopback server needs no route: loopback (127.0.0.1 also for 127.0.0.5).
    assert_eq!(
        first_listen("127.0.0.5:4580", route, None),
        Ok(addr("127.0.0.1:6003"))
    );
    assert_eq!(
        first_listen("[::1]:4580", route, None),
        Ok(addr("[::1]:6003"))
    );
    // An IPv4-mapped server is IPv4.
    assert_eq!(
        first_listen("[::ffff:192.0.2.1]:4580", route, Some("::ffff:192.0.2.10")),
        Ok(addr("192.0.2.10:6003"))
    );
    // No route known: every interface, as before.
    assert_eq!(
        first_listen("192.0.2.1:4580", route, None),
        Ok(addr("0.0.0.0:6003"))
    );
    // `any` and a fixed address override the route.
    assert_eq!(
        first_listen("192.0.2.1:4580", ListenAddress::Any, Some("192.0.2.10")),
        Ok(addr("0.0.0.0:6003"))
    );
    assert_eq!(
        first_listen(
            "192.0.2.1:4580",
            ListenAddress::Ip("198.51.100.7".parse().unwrap()),
            Some("192.0.2.10")
        ),
        Ok(addr("198.51.100.7:6003"))
    );
    // Another family could never be dialled.
    let err = first_listen(
        "192.0.2.1:4580",
        ListenAddress::Ip("2001:db8::7".parse().unwrap()),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::ListenAddressFamily { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("address family"), "{err}");
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

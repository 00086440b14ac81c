//! Listen policies, network settings and client
//! configuration validation.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use faxnotify_core::client::{
    Backoff, Client, ClientConfig, ConfigError, ListenAddress, ListenPolicy, NetworkSettings,
    Output, SettingsError,
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
    c.servers = vec![SocketAddr::from(([192, 0, 2, 1], 0))];
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

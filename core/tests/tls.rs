//! FNP/1 over TLS 1.3 (docs/protocol.md section 12), in memory: a real
//! client core and a real server core joined by the testkit's `Net`, with
//! certificates from rcgen and a relay built on rustls.

#![allow(unreachable_pub)]
// Helpers outside #[test] functions panic on purpose when a script goes wrong.
#![allow(clippy::unwrap_used)]

#[path = "tls/certs.rs"]
mod certs;
#[path = "tls/relay.rs"]
mod relay;

use std::sync::Arc;
use std::time::{Duration, Instant};

use faxnotify_core::client::{
    self, CallbackRejection, Client, ClientConfig, ConfigError, ConnectionKind, ListenPolicy,
    NetworkSettings, StopReason,
};
use faxnotify_core::io::Output;
use faxnotify_core::server::{self, MemoryUserStore, Server, ServerConfig, Target};
use faxnotify_core::tls::pin::Fingerprint;
use faxnotify_core::tls::{
    ClientTls, FixedClock, ServerIdentity, TlsConfigError, TlsFailure, Trust, UnixTime,
};
use faxnotify_core::wire::{Notification, Role};
use faxnotify_testkit::{Endpoint, Middlebox, Net, Path, SERVER_ADDR, Side};

use certs::{Ca, self_signed};

const NAME: &str = "fax.example.org";
/// The tests' wall clock: 2026-06-01, inside every certificate's validity but the expired one's.
fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock(UnixTime::since_unix_epoch(Duration::from_secs(
        1_780_272_000,
    ))))
}

fn server(identity: Option<ServerIdentity>) -> Server {
    let mut users = MemoryUserStore::new();
    users
        .add_password("alice", "correct horse", &[0x5a; 16], 4096, Role::User)
        .unwrap();
    let mut config = ServerConfig::new([9; 32]);
    config.tls = identity;
    config.tls_clock = clock();
    Server::new(config, Box::new(users), [2; 32]).unwrap()
}

fn client(tls: Option<ClientTls>, now: Instant) -> Client {
    let mut config = ClientConfig::new(
        SERVER_ADDR,
        "alice",
        "correct horse",
        NetworkSettings::new(ListenPolicy::Fixed { port: 6000 }),
    );
    config.tls = tls;
    config.tls_clock = clock();
    Client::new(config, [3; 32], now).unwrap()
}

fn roots(ca: &Ca) -> ClientTls {
    ClientTls {
        server_name: NAME.to_owned(),
        trust: Trust::Roots(vec![ca.cert.clone()]),
    }
}

/// A client and a server in memory, every byte written kept for inspection.
fn pair(client: Client, server: Server, now: Instant) -> Net {
    let mut net = Net::pair(client, server, now);
    net.record_wire();
    net
}

fn net(tls: Option<ClientTls>, identity: Option<ServerIdentity>) -> Net {
    let now = Instant::now();
    pair(client(tls, now), server(identity), now)
}

/// Every byte written, by whom, on which connection.
fn wire(net: &Net) -> Vec<(Side, faxnotify_core::ConnId, Vec<u8>)> {
    net.wire.clone().unwrap_or_default()
}

fn logged_in(net: &Net) -> bool {
    net.client()
        .events
        .iter()
        .any(|e| matches!(e, client::Event::LoggedIn { .. }))
}

fn callback_up(net: &Net) -> bool {
    net.client()
        .events
        .iter()
        .any(|e| matches!(e, client::Event::CallbackEstablished { .. }))
}

fn client_tls_failures(net: &Net) -> Vec<(ConnectionKind, TlsFailure)> {
    net.client()
        .events
        .iter()
        .filter_map(|e| match e {
            client::Event::TlsFailed {
                connection, reason, ..
            } => Some((*connection, reason.clone())),
            _ => None,
        })
        .collect()
}

fn server_tls_failures(net: &Net) -> Vec<String> {
    net.server
        .events
        .iter()
        .filter(|e| matches!(e, server::Event::TlsFailed { .. }))
        .map(ToString::to_string)
        .collect()
}

/// Client events as text.
fn client_log(net: &Net) -> Vec<String> {
    net.client()
        .events
        .iter()
        .map(|e| format!("{e:?}"))
        .collect()
}

/// Server events as text (their Display, as an operator reads them).
fn server_log(net: &Net) -> Vec<String> {
    net.server.events.iter().map(ToString::to_string).collect()
}

fn stopped(net: &Net) -> Option<StopReason> {
    net.client().events.iter().find_map(|e| match e {
        client::Event::Stopped { reason } => Some(reason.clone()),
        _ => None,
    })
}

/// Login, callback and a notification, all over TLS; the bytes on the wire
/// are TLS records, never FNP/1 frames.
fn full_run(net: &mut Net) {
    net.run_for(Duration::from_secs(2));
    assert!(logged_in(net), "client events: {:#?}", client_log(net));
    assert!(callback_up(net), "client events: {:#?}", client_log(net));
    let report = net
        .server
        .notify(
            net.now,
            Target::All,
            &Notification::server_message("hello over TLS"),
        )
        .unwrap();
    assert_eq!(report.accepted.len(), 1);
    net.run_for(Duration::from_secs(1));
}

#[test]
fn login_notify_and_callback_over_tls() {
    let ca = Ca::new("Test CA");
    let mut net = net(Some(roots(&ca)), Some(ca.leaf(NAME, false)));
    full_run(&mut net);
    assert_eq!(net.client().notified_seqs(), vec![1]);
    // Nothing went out in plaintext: every write starts with a TLS record
    // (20 change_cipher_spec for middlebox compatibility, 21 alert,
    // 22 handshake, 23 application data; version 3.3, or 3.1 in a ClientHello).
    for (side, conn, data) in &wire(&net) {
        assert!(
            matches!(data.first(), Some(20..=23)) && data.get(1..3) == Some(&[3, 3][..])
                || data.get(..3) == Some(&[22, 3, 1][..]),
            "{side:?} {conn} wrote something that is not a TLS record: {:02x?}",
            &data[..data.len().min(8)]
        );
        assert!(
            !data.windows(14).any(|w| w == b"hello over TLS"),
            "{side:?} sent the notification in clear"
        );
    }
    assert!(server_tls_failures(&net).is_empty());
    assert!(!net.client().unencrypted_remote());
}

#[test]
fn pinned_fingerprint_is_accepted() {
    let identity = self_signed(NAME);
    let pin = faxnotify_core::tls::pin::fingerprint(&identity.chain()[0]);
    let tls = ClientTls {
        server_name: NAME.to_owned(),
        trust: Trust::PinnedSha256(pin),
    };
    let mut net = net(Some(tls), Some(identity));
    full_run(&mut net);
    assert_eq!(net.client().notified_seqs(), vec![1]);
}

#[test]
fn same_seed_same_inputs_same_tls_bytes() {
    let ca = Ca::new("Test CA");
    let identity = ca.leaf(NAME, false);
    let run = || {
        let mut net = net(Some(roots(&ca)), Some(identity.clone()));
        full_run(&mut net);
        wire(&net)
    };
    let first = run();
    assert!(
        first.len() > 6,
        "a TLS login and callback write more than that"
    );
    assert_eq!(first, run(), "two runs with the same seeds differ");
    // And the seed matters: another client seed gives other TLS bytes.
    let ca_net = |seed: [u8; 32]| {
        let now = Instant::now();
        let mut config = ClientConfig::new(
            SERVER_ADDR,
            "alice",
            "correct horse",
            NetworkSettings::new(ListenPolicy::Fixed { port: 6000 }),
        );
        config.tls = Some(roots(&ca));
        config.tls_clock = clock();
        let mut net = pair(
            Client::new(config, seed, now).unwrap(),
            server(Some(identity.clone())),
            now,
        );
        full_run(&mut net);
        wire(&net)
    };
    assert_ne!(first, ca_net([4; 32]));
}

fn expect_client_stop(net: &mut Net, want: &str) {
    net.run_for(Duration::from_secs(2));
    assert!(!logged_in(net));
    let failures = client_tls_failures(net);
    assert_eq!(failures.len(), 1, "client events: {:#?}", client_log(net));
    assert_eq!(failures[0].0, ConnectionKind::Control);
    assert_eq!(failures[0].1.to_string(), want);
    assert!(
        matches!(stopped(net), Some(StopReason::Tls(_))),
        "the client must stop, not retry or fall back: {:#?}",
        client_log(net)
    );
    // The server logs the refused handshake with the peer's address.
    let server = server_tls_failures(net);
    assert_eq!(server.len(), 1, "server events: {:#?}", server_log(net));
    assert!(server[0].contains("peer=192.0.2.10:"), "{}", server[0]);
}

#[test]
fn wrong_name_is_refused() {
    let ca = Ca::new("Test CA");
    let mut net = net(Some(roots(&ca)), Some(ca.leaf("mail.example.org", false)));
    expect_client_stop(
        &mut net,
        "the server's certificate is for mail.example.org, not fax.example.org",
    );
    assert!(
        server_tls_failures(&net)[0]
            .ends_with("the peer refused the TLS handshake (bad_certificate)")
    );
}

#[test]
fn unknown_authority_is_refused() {
    let ca = Ca::new("Test CA");
    let other = Ca::new("Someone else's CA");
    let mut net = net(Some(roots(&ca)), Some(other.leaf(NAME, false)));
    expect_client_stop(
        &mut net,
        "the server's certificate is not signed by a trusted authority",
    );
    assert!(
        server_tls_failures(&net)[0].ends_with("(unknown_ca)"),
        "{:?}",
        server_tls_failures(&net)
    );
}

#[test]
fn expired_certificate_is_refused() {
    let ca = Ca::new("Test CA");
    let mut net = net(Some(roots(&ca)), Some(ca.leaf(NAME, true)));
    expect_client_stop(&mut net, "the certificate expired on 2021-01-01 00:00:00Z");
}

#[test]
fn fingerprint_mismatch_is_refused() {
    let tls = ClientTls {
        server_name: NAME.to_owned(),
        trust: Trust::PinnedSha256([0xab; 32]),
    };
    let identity = self_signed(NAME);
    let got = Fingerprint::of(&identity.chain()[0]);
    let mut net = net(Some(tls), Some(identity));
    expect_client_stop(
        &mut net,
        &format!(
            "certificate fingerprint does not match the pinned one (expected {}, got {got}): \
             the server has a new certificate, or this is not the real server",
            Fingerprint([0xab; 32])
        ),
    );
}

#[test]
fn tls_client_to_plain_server_fails_clearly_on_both_sides() {
    let ca = Ca::new("Test CA");
    let mut net = net(Some(roots(&ca)), None);
    net.run_for(Duration::from_secs(2));
    let failures = client_tls_failures(&net);
    assert_eq!(failures.len(), 1, "{:#?}", client_log(&net));
    assert_eq!(
        failures[0].1.to_string(),
        "the peer does not speak TLS (it sent plain FNP/1)"
    );
    assert!(matches!(stopped(&net), Some(StopReason::Tls(_))));
    // The plain server saw a ClientHello where a frame should be.
    let log = server_log(&net);
    assert!(
        log.iter().any(|l| l.contains("speaks TLS")),
        "server events: {log:#?}"
    );
}

#[test]
fn plain_client_to_tls_server_times_out_clearly_on_both_sides() {
    let ca = Ca::new("Test CA");
    let mut net = net(None, Some(ca.leaf(NAME, false)));
    net.run_for(Duration::from_secs(11));
    assert!(!logged_in(&net));
    // Each waits for the other to speak first; the handshake timeout ends it.
    let server = server_tls_failures(&net);
    assert!(!server.is_empty(), "server events: {:#?}", server_log(&net));
    assert!(
        server[0].contains("sent nothing within the handshake timeout"),
        "{}",
        server[0]
    );
    assert!(
        net.client().events.iter().any(|e| matches!(
            e,
            client::Event::ConnectionLost {
                reason: client::DisconnectReason::HandshakeTimeout,
                ..
            }
        )),
        "{:#?}",
        client_log(&net)
    );
    // And the client knows it runs without TLS to a remote server [T-11].
    assert!(net.client().unencrypted_remote());
}

fn relay_net(on: Path) -> Net {
    let ca = Ca::new("Test CA");
    let identity = ca.leaf(NAME, false);
    // The man in the middle holds another certificate for the same name from
    // a CA the client trusts.
    let (mitm_chain, mitm_key) = ca.leaf_parts(NAME, false);
    let server_roots = vec![ca.cert.clone()];
    let mut net = net(Some(roots(&ca)), Some(identity));
    net.middlebox_for = Some(Box::new(move |path| {
        (path == on).then(|| {
            Box::new(relay::Relay::new(
                mitm_chain.clone(),
                mitm_key.clone_key(),
                &server_roots,
                NAME,
            )) as Box<dyn Middlebox>
        })
    }));
    net
}

#[test]
fn relay_on_control_cannot_log_in() {
    let mut net = relay_net(Path::Control);
    net.run_for(Duration::from_secs(2));
    assert!(!logged_in(&net), "{:#?}", client_log(&net));
    let reason = stopped(&net).expect("the client stops");
    assert!(
        matches!(reason, StopReason::AuthFailedOverTls { .. }),
        "{reason:?}"
    );
    assert!(
        reason.to_string().contains("channel binding failed"),
        "{reason}"
    );
    assert!(
        net.server
            .events
            .iter()
            .any(|e| matches!(e, server::Event::LoginFailed { .. })),
        "{:#?}",
        server_log(&net)
    );
}

#[test]
fn relay_on_callback_is_refused() {
    let mut net = relay_net(Path::Callback);
    net.run_for(Duration::from_secs(2));
    assert!(logged_in(&net), "{:#?}", client_log(&net));
    assert!(!callback_up(&net), "{:#?}", client_log(&net));
    let rejected: Vec<_> = net
        .client()
        .events
        .iter()
        .filter_map(|e| match e {
            client::Event::CallbackRejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert!(
        rejected.contains(&CallbackRejection::ChannelBindingFailed),
        "{:#?}",
        client_log(&net)
    );
    assert_eq!(
        CallbackRejection::ChannelBindingFailed.to_string(),
        "channel binding failed: someone is relaying this connection (or the dialler does not hold the session key)"
    );
}

#[test]
fn stranger_without_tls_on_the_callback_port_is_refused() {
    let ca = Ca::new("Test CA");
    let mut net = net(Some(roots(&ca)), Some(ca.leaf(NAME, false)));
    net.run_for(Duration::from_secs(2));
    assert!(logged_in(&net));
    let now = net.now;
    let client = net.client_mut();
    let stranger = client.accept(now, "198.51.100.7:31337".parse().unwrap());
    // The client speaks first, as TLS client: a ClientHello.
    let first = client.take_transmitted(stranger);
    assert_eq!(first.get(..1), Some(&[22u8][..]), "a TLS handshake record");
    // The stranger answers with a plain FNP/1 CB_HELLO.
    let plain = faxnotify_core::wire::Frame::CbHello(faxnotify_core::wire::CbHello {
        session_id: 1,
        server_nonce: [0; 32],
        proof: [0; 32],
    });
    client.receive_frames(now, stranger, &[plain]);
    let (mut events, mut closed) = (Vec::new(), false);
    for out in client.take_pending() {
        match out {
            Output::Event(e) => events.push(e),
            Output::Close { conn, .. } if conn == stranger => closed = true,
            Output::Transmit { conn, data } if conn == stranger => {
                // Only a TLS alert may go back, never plaintext.
                assert_eq!(data.first(), Some(&21), "{data:02x?}");
            }
            _ => {}
        }
    }
    assert!(closed);
    assert!(
        events.iter().any(|e| matches!(
            e,
            client::Event::TlsFailed { connection: ConnectionKind::Callback, reason, .. }
                if reason.to_string() == "the peer does not speak TLS (it sent plain FNP/1)"
        )),
        "{events:#?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        client::Event::CallbackRejected {
            reason: CallbackRejection::TlsFailed,
            ..
        }
    )));
}

#[test]
fn certificate_reload_applies_to_new_handshakes() {
    let ca = Ca::new("Test CA");
    let mut net = net(Some(roots(&ca)), Some(ca.leaf("old.example.org", false)));
    net.server.set_tls_identity(ca.leaf(NAME, false));
    full_run(&mut net);
    assert_eq!(net.client().notified_seqs(), vec![1]);
}

#[test]
fn plain_fnp_bytes_to_a_tls_server_are_refused_without_plaintext() {
    // Found by the conformance suite (server/tls/plain-fnp-to-tls-port): the
    // SERVER_HELLO queued at accept was sealed into the failed session.
    let ca = Ca::new("Test CA");
    let now = Instant::now();
    let mut server = Endpoint::new(server(Some(ca.leaf(NAME, false))));
    let conn = server.accept(now, "198.51.100.7:40000".parse().unwrap());
    let login = faxnotify_core::wire::Frame::Login(faxnotify_core::wire::Login {
        version: 1,
        user: "alice".into(),
        client_nonce: [1; 32],
        caps: faxnotify_core::wire::Caps::BACKCHANNEL,
        resume_session: 0,
    });
    server.receive_frames(now, conn, &[login]);
    let (mut closed, mut failed) = (false, false);
    for out in server.take_pending() {
        match out {
            Output::Close { conn: c, .. } if c == conn => closed = true,
            Output::Event(server::Event::TlsFailed { reason, .. }) => {
                assert_eq!(
                    reason.to_string(),
                    "the peer does not speak TLS (it sent plain FNP/1)"
                );
                failed = true;
            }
            Output::Transmit { conn: c, data } if c == conn => {
                // At most a TLS alert, never an FNP/1 frame [T-3] [T-9].
                assert_eq!(data.first(), Some(&21), "{data:02x?}");
            }
            _ => {}
        }
    }
    assert!(closed && failed);
}

/// `validate` checks what `Client::new` would refuse of the TLS settings,
/// so that an application checking a configuration early (a settings
/// dialog, a runtime's options) hears of a bad name or unusable roots then.
#[test]
fn validate_refuses_a_bad_server_name_and_unusable_roots() {
    let ca = Ca::new("Test CA");
    let config = |tls: ClientTls| {
        let mut config = ClientConfig::new(
            SERVER_ADDR,
            "alice",
            "correct horse",
            NetworkSettings::new(ListenPolicy::Fixed { port: 6000 }),
        );
        config.tls = Some(tls);
        config.tls_clock = clock();
        config
    };
    assert_eq!(config(roots(&ca)).validate(), Ok(()));

    let mut bad_name = roots(&ca);
    bad_name.server_name = "fax example org".to_owned();
    let err = config(bad_name).validate().unwrap_err();
    assert!(
        matches!(err, ConfigError::Tls(TlsConfigError::BadServerName { ref name }) if name == "fax example org"),
        "{err}"
    );
    assert!(err.to_string().contains("not a valid server name"), "{err}");

    let junk = ClientTls {
        server_name: NAME.to_owned(),
        trust: Trust::Roots(vec![b"not a certificate".to_vec().into()]),
    };
    let err = config(junk).validate().unwrap_err();
    assert!(
        matches!(err, ConfigError::Tls(TlsConfigError::NoUsableRoots { .. })),
        "{err}"
    );
}

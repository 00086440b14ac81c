//! Certificate reload without a restart, on each runtime: a session over
//! TLS is up, the server's identity is replaced, a new client that pins the
//! new certificate logs in, one that pins the old certificate is refused,
//! and the first session still gets its notifications [T-2]: on mio, smol
//! and tokio.

use std::net::SocketAddr;
use std::time::Duration;

use faxnotify_core::client::{self, ClientConfig, ListenPolicy, NetworkSettings, StopReason};
use faxnotify_core::server::{MemoryUserStore, ServerConfig, Target};
use faxnotify_core::tls::pin::fingerprint;
use faxnotify_core::tls::{ClientTls, PrivateKeyDer, ServerIdentity, TlsFailure, Trust};
use faxnotify_core::wire::{Notification, Role};

/// Generous: CI is a loaded two-core machine; waits end when the event comes.
const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse";

/// A new self-signed identity for `localhost` (Ed25519: cheap to make).
fn identity() -> ServerIdentity {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("a key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("parameters")
        .self_signed(&key)
        .expect("a certificate");
    ServerIdentity::new(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("a usable identity")
}

fn pin_of(identity: &ServerIdentity) -> [u8; 32] {
    fingerprint(&identity.chain()[0])
}

fn server_config(identity: Option<ServerIdentity>) -> (ServerConfig, MemoryUserStore) {
    let mut config = ServerConfig::new([3; 32]);
    config.tls = identity;
    let mut users = MemoryUserStore::new();
    for user in ["alice", "bob", "carol"] {
        users
            .add_password(user, PASSWORD, &[0x5a; 16], 4096, Role::User)
            .expect("a user");
    }
    (config, users)
}

fn client_config(server: SocketAddr, user: &str, pin: [u8; 32]) -> ClientConfig {
    let mut config = ClientConfig::new(
        server,
        user,
        PASSWORD,
        NetworkSettings::new(ListenPolicy::Dynamic),
    );
    config.tls = Some(ClientTls {
        server_name: "localhost".to_owned(),
        trust: Trust::PinnedSha256(pin),
    });
    config
}

/// What a client did first that settles the test: logged in, or stopped.
#[derive(Debug)]
enum Outcome {
    LoggedIn,
    Stopped(StopReason),
}

fn outcome(event: client::Event) -> Option<Outcome> {
    match event {
        client::Event::LoggedIn { .. } => Some(Outcome::LoggedIn),
        client::Event::Stopped { reason } => Some(Outcome::Stopped(reason)),
        _ => None,
    }
}

/// The old pin is refused with both fingerprints named.
fn assert_refused_as_mismatch(outcome: &Outcome, old: [u8; 32], new: [u8; 32]) {
    match outcome {
        Outcome::Stopped(StopReason::Tls(TlsFailure::FingerprintMismatch {
            mismatch: Some(mismatch),
        })) => {
            assert_eq!((mismatch.expected.0, mismatch.got.0), (old, new));
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
}

fn message(event: client::Event) -> Option<Notification> {
    match event {
        client::Event::Notification { notification, .. } => Some(notification),
        _ => None,
    }
}

mod mio {
    use faxnotify_mio::{Client, Server, SetTlsIdentityError};

    use super::*;

    fn first<T>(client: &Client, pick: impl Fn(client::Event) -> Option<T>) -> T {
        loop {
            let event = client.events().recv_timeout(WAIT).expect("a client event");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    }

    #[test]
    fn a_replaced_identity_serves_new_clients_and_old_sessions_go_on() {
        let (old, new) = (identity(), identity());
        let (config, users) = server_config(Some(old.clone()));
        let server = Server::builder(config, users)
            .listen("127.0.0.1:0".parse().expect("addr"))
            .start()
            .expect("the server starts");
        let addr = server.local_addr();
        let alice = Client::start(client_config(addr, "alice", pin_of(&old))).expect("alice");
        assert!(matches!(first(&alice, outcome), Outcome::LoggedIn));

        server
            .set_tls_identity(new.clone())
            .expect("the identity is replaced");

        let bob = Client::start(client_config(addr, "bob", pin_of(&new))).expect("bob");
        assert!(matches!(first(&bob, outcome), Outcome::LoggedIn));
        let carol = Client::start(client_config(addr, "carol", pin_of(&old))).expect("carol");
        assert_refused_as_mismatch(&first(&carol, outcome), pin_of(&old), pin_of(&new));

        let report = server
            .notify(
                Target::user("alice").expect("name"),
                &Notification::server_message("still here"),
            )
            .expect("notify");
        assert_eq!(report.accepted.len(), 1, "{report:?}");
        assert_eq!(
            first(&alice, message),
            Notification::server_message("still here")
        );
        server.shutdown().expect("shutdown");
    }

    #[test]
    fn a_plain_server_refuses_a_certificate() {
        let (config, users) = server_config(None);
        let server = Server::builder(config, users)
            .listen("127.0.0.1:0".parse().expect("addr"))
            .start()
            .expect("the server starts");
        assert_eq!(
            server.set_tls_identity(identity()),
            Err(SetTlsIdentityError::PlainServer)
        );
        server.shutdown().expect("shutdown");
    }
}

mod smol {
    use faxnotify_smol::{Client, Server, SetTlsIdentityError};
    use futures_lite::future::block_on;

    use super::*;

    fn first<T>(client: &Client, pick: impl Fn(client::Event) -> Option<T>) -> T {
        block_on(async {
            loop {
                let event = futures_lite::future::or(async { client.next_event().await }, async {
                    async_io::Timer::after(WAIT).await;
                    None
                })
                .await
                .expect("a client event");
                if let Some(found) = pick(event) {
                    return found;
                }
            }
        })
    }

    fn start(config: ClientConfig) -> Client {
        block_on(Client::start(config)).expect("the client starts")
    }

    #[test]
    fn a_replaced_identity_serves_new_clients_and_old_sessions_go_on() {
        let (old, new) = (identity(), identity());
        let (config, users) = server_config(Some(old.clone()));
        let (server, _events) = block_on(Server::bind(
            "127.0.0.1:0".parse().expect("addr"),
            config,
            users,
        ))
        .expect("the server starts");
        let addr = server.local_addr();
        let alice = start(client_config(addr, "alice", pin_of(&old)));
        assert!(matches!(first(&alice, outcome), Outcome::LoggedIn));

        block_on(server.set_tls_identity(new.clone())).expect("the identity is replaced");

        let bob = start(client_config(addr, "bob", pin_of(&new)));
        assert!(matches!(first(&bob, outcome), Outcome::LoggedIn));
        let carol = start(client_config(addr, "carol", pin_of(&old)));
        assert_refused_as_mismatch(&first(&carol, outcome), pin_of(&old), pin_of(&new));

        let report = block_on(server.notify(
            Target::user("alice").expect("name"),
            Notification::server_message("still here"),
        ))
        .expect("notify");
        assert_eq!(report.accepted.len(), 1, "{report:?}");
        assert_eq!(
            first(&alice, message),
            Notification::server_message("still here")
        );
        block_on(server.shutdown());
    }

    #[test]
    fn a_plain_server_refuses_a_certificate() {
        let (config, users) = server_config(None);
        let (server, _events) = block_on(Server::bind(
            "127.0.0.1:0".parse().expect("addr"),
            config,
            users,
        ))
        .expect("the server starts");
        assert_eq!(
            block_on(server.set_tls_identity(identity())),
            Err(SetTlsIdentityError::PlainServer)
        );
        block_on(server.shutdown());
    }
}

mod tokio {
    use faxnotify_tokio::{Client, Server, SetTlsIdentityError};

    use super::*;

    /// Each test runs on a multi-thread runtime of its own, as an
    /// application started by `#[tokio::main]` does.
    fn runtime() -> ::tokio::runtime::Runtime {
        ::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    }

    async fn first<T>(client: &Client, pick: impl Fn(client::Event) -> Option<T>) -> T {
        loop {
            let event = ::tokio::time::timeout(WAIT, client.next_event())
                .await
                .ok()
                .flatten()
                .expect("a client event");
            if let Some(found) = pick(event) {
                return found;
            }
        }
    }

    async fn start(config: ClientConfig) -> Client {
        Client::start(config).await.expect("the client starts")
    }

    #[test]
    fn a_replaced_identity_serves_new_clients_and_old_sessions_go_on() {
        runtime().block_on(async {
            let (old, new) = (identity(), identity());
            let (config, users) = server_config(Some(old.clone()));
            let (server, _events) =
                Server::bind("127.0.0.1:0".parse().expect("addr"), config, users)
                    .await
                    .expect("the server starts");
            let addr = server.local_addr();
            let alice = start(client_config(addr, "alice", pin_of(&old))).await;
            assert!(matches!(first(&alice, outcome).await, Outcome::LoggedIn));

            server
                .set_tls_identity(new.clone())
                .await
                .expect("the identity is replaced");

            let bob = start(client_config(addr, "bob", pin_of(&new))).await;
            assert!(matches!(first(&bob, outcome).await, Outcome::LoggedIn));
            let carol = start(client_config(addr, "carol", pin_of(&old))).await;
            assert_refused_as_mismatch(&first(&carol, outcome).await, pin_of(&old), pin_of(&new));

            let report = server
                .notify(
                    Target::user("alice").expect("name"),
                    Notification::server_message("still here"),
                )
                .await
                .expect("notify");
            assert_eq!(report.accepted.len(), 1, "{report:?}");
            assert_eq!(
                first(&alice, message).await,
                Notification::server_message("still here")
            );
            server.shutdown().await;
        });
    }

    #[test]
    fn a_plain_server_refuses_a_certificate() {
        runtime().block_on(async {
            let (config, users) = server_config(None);
            let (server, _events) =
                Server::bind("127.0.0.1:0".parse().expect("addr"), config, users)
                    .await
                    .expect("the server starts");
            assert_eq!(
                server.set_tls_identity(identity()).await,
                Err(SetTlsIdentityError::PlainServer)
            );
            server.shutdown().await;
        });
    }
}

//! FNP/1 over TLS: a pinned client logs in and gets its notification; the
//! certificate is replaced without a restart, a client pinning the new one
//! logs in and one pinning the old one is refused [T-2]; a plain server
//! refuses a certificate [T-1].

use std::net::SocketAddr;

use faxnotify_core::client::{Event, ListenPolicy, StopReason};
use faxnotify_core::server::Target;
use faxnotify_core::tls::pin::fingerprint;
use faxnotify_core::tls::{ClientTls, PrivateKeyDer, ServerIdentity, TlsFailure, Trust};

use super::Harness;
use super::support::*;
use crate::{Client, SetTlsIdentityError};

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

async fn start_pinned<H: Harness>(
    harness: &H,
    server: SocketAddr,
    user: &str,
    pin: [u8; 32],
) -> Client<H::Rt> {
    let mut config = client_config(server, user, ListenPolicy::Dynamic);
    config.tls = Some(ClientTls {
        server_name: "localhost".to_owned(),
        trust: Trust::PinnedSha256(pin),
    });
    start_client(harness, config).await
}

/// Logged in, or the reason the client stopped.
async fn outcome<R: crate::Runtime>(client: &Client<R>) -> Result<(), StopReason> {
    match expect(client, "login or stop", |e| {
        matches!(e, Event::LoggedIn { .. } | Event::Stopped { .. })
    })
    .await
    {
        Event::Stopped { reason } => Err(reason),
        _ => Ok(()),
    }
}

/// A TLS identity replaced without a restart: sessions go on, clients pinning
/// the new certificate log in, those pinning the old one are refused [T-2].
pub fn a_replaced_identity_serves_new_clients_and_old_sessions_go_on<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (old, new) = (identity(), identity());
        let mut config = server_config();
        config.tls = Some(old.clone());
        let (server, _events) =
            start_server_with(&h, loopback(), config, &["alice", "bob", "carol"]).await;
        let addr = server.local_addr();
        let alice = start_pinned(&h, addr, "alice", pin_of(&old)).await;
        outcome(&alice).await.expect("alice logs in over TLS");

        server
            .set_tls_identity(new.clone())
            .await
            .expect("the identity is replaced");

        let bob = start_pinned(&h, addr, "bob", pin_of(&new)).await;
        outcome(&bob).await.expect("bob logs in with the new pin");
        let carol = start_pinned(&h, addr, "carol", pin_of(&old)).await;
        match outcome(&carol).await {
            Err(StopReason::Tls(TlsFailure::FingerprintMismatch {
                mismatch: Some(mismatch),
            })) => assert_eq!(
                (mismatch.expected.0, mismatch.got.0),
                (pin_of(&old), pin_of(&new))
            ),
            other => panic!("expected a fingerprint mismatch, got {other:?}"),
        }

        let report = server
            .notify(Target::user("alice").expect("name"), message("still here"))
            .await
            .expect("notify");
        assert_eq!(report.accepted.len(), 1, "{report:?}");
        assert_eq!(
            notifications(&alice, 1).await,
            vec![(1, "still here".to_owned())]
        );
        server.shutdown().await;
    });
}

/// A server without TLS refuses a certificate [T-1].
pub fn a_plain_server_refuses_a_certificate<H: Harness>() {
    let h = setup::<H>();
    h.block_on(async {
        let (server, _events) = start_server(&h, loopback(), &[]).await;
        assert_eq!(
            server.set_tls_identity(identity()).await,
            Err(SetTlsIdentityError::PlainServer)
        );
        server.shutdown().await;
    });
}

//! `notify_batch` (one report per notification, delivered in order) and a
//! client with the `none` listen policy (delivery over the backchannel).

mod support;

use faxnotify_core::client::{Event, ListenPolicy};
use faxnotify_core::server::Target;
use faxnotify_core::wire::CallbackState;
use support::*;

#[test]
fn a_batch_gets_one_report_per_notification_and_arrives_in_order() {
    block_on(async {
        let (server, _events) = start_server(loopback(), &["alice"]).await;
        let alice = start_client(client_config(
            server.local_addr(),
            "alice",
            ListenPolicy::Dynamic,
        ))
        .await;
        expect(&alice, "callback", |e| {
            matches!(e, Event::CallbackEstablished { .. })
        })
        .await;
        let reports = server
            .notify_batch(vec![
                (Target::All, message("one")),
                (Target::user("carol").unwrap(), message("nobody")),
                (Target::user("alice").unwrap(), message("two")),
            ])
            .await
            .expect("running");
        let seqs: Vec<Vec<u64>> = reports
            .into_iter()
            .map(|r| {
                r.expect("encodable")
                    .accepted
                    .iter()
                    .map(|a| a.seq)
                    .collect()
            })
            .collect();
        assert_eq!(seqs, vec![vec![1], vec![], vec![2]]);
        assert_eq!(
            notifications(&alice, 2).await,
            vec![(1, "one".to_owned()), (2, "two".to_owned())]
        );
        logout(alice).await;
        server.shutdown().await;
    });
}

#[test]
fn a_client_without_a_listener_gets_its_notifications_over_the_backchannel() {
    block_on(async {
        let (server, _events) = start_server(loopback(), &["alice"]).await;
        let alice = start_client(client_config(
            server.local_addr(),
            "alice",
            ListenPolicy::None,
        ))
        .await;
        assert_eq!(alice.listen_addr().port(), 0, "port 0 is advertised");
        expect(&alice, "backchannel", |e| {
            matches!(
                e,
                Event::CallbackStatus {
                    state: CallbackState::Backchannel,
                    ..
                }
            )
        })
        .await;
        server
            .notify(Target::All, message("over control"))
            .await
            .expect("notify");
        assert_eq!(
            notifications(&alice, 1).await,
            vec![(1, "over control".to_owned())]
        );
        logout(alice).await;
        server.shutdown().await;
    });
}

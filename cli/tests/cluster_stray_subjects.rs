//! A fax engine that publishes on the bus directly under a subject no
//! session reads (the user's name instead of the hex of its prepared form)
//! gets JetStream's acknowledgement all the same: the notification is
//! stored and never delivered. The cluster's sweeper lists the log's
//! subjects and says so, naming the subject that was meant.

mod cluster_support;
mod common;

use cluster_support::{Bed, nats};
use common::Stream;
use faxnotify_cluster::{Bus, BusConfig, ClusterSecret, ServerId, user_token};
use faxnotify_core::wire::{EncodedNotification, Notification};

#[test]
fn notifications_published_where_no_session_reads_are_named_in_a_warning() {
    let Some(nats) = nats("notifications_published_where_no_session_reads_are_named_in_a_warning")
    else {
        return;
    };
    let bed = Bed::new(&[("alice", "correct horse battery")]);
    let secret: [u8; 32] = std::fs::read(&bed.secret)
        .expect("the secret")
        .try_into()
        .expect("32 bytes");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        // The bus makes the log; then the engine publishes under the name.
        Bus::connect(
            BusConfig::new(nats.urls()),
            ServerId(7),
            ClusterSecret::from_bytes(&secret),
        )
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the bus: {err}"));
        let client = async_nats::connect(nats.urls()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let note =
            EncodedNotification::encode(&Notification::server_message("lost")).expect("encodes");
        let mut body = vec![note.kind()];
        body.extend_from_slice(note.payload());
        js.publish("faxnotify.n.alice", body.into())
            .await
            .expect("published")
            .await
            .expect("stored and acknowledged");
    });
    // The first server of the cluster sweeps as it starts.
    let mut server = bed.server("a", &nats, &[]);
    let meant = format!("faxnotify.n.{}", user_token("alice").unwrap());
    let line = server
        .process
        .wait_line(Stream::Err, "the sweeper's warning", |l| {
            l.contains("will never be delivered")
        });
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains(&format!(
            "faxnotify.n.alice (1 message, perhaps meant for {meant})"
        )),
        "{line}"
    );
}

//! Reports on a real 3-node JetStream cluster reach the server that
//! accepted the notification, and only it.

mod common;

use std::time::Duration;

use common::{bus, note, run};
use faxnotify_cluster::{LogSeq, Outcome, Report};

#[test]
fn reports_reach_the_origin_of_the_notification() {
    run(
        "reports_reach_the_origin_of_the_notification",
        3,
        |cluster| async move {
            let origin = bus(&cluster, 0x0a).await;
            let owner = bus(&cluster, 0x0b).await;
            let mut origin_reports = origin.read_reports().await.unwrap();
            let mut owner_reports = owner.read_reports().await.unwrap();

            let seq = origin
                .publish(&origin.publish_id(), "alice", &note(1))
                .await
                .unwrap();
            // The session's owner reads it, delivers it, and reports back to
            // whoever accepted it.
            let mut log = owner.read_user("alice", LogSeq(1)).await.unwrap();
            let entry = log.next(Duration::from_secs(10)).await.unwrap().unwrap();
            let to = entry
                .origin
                .expect("a faxnotify server's notification names its origin");
            assert_eq!(to, origin.origin());
            let delivered = Report {
                log_seq: entry.log_seq,
                index: entry.index,
                session: 0x51,
                session_seq: 1,
                outcome: Outcome::Delivered,
            };
            let undelivered = Report {
                session: 0x52,
                outcome: Outcome::Undelivered {
                    reason: "the session expired before the client acknowledged".into(),
                },
                ..delivered.clone()
            };
            owner.publish_report(to, &delivered).await.unwrap();
            owner.publish_report(to, &undelivered).await.unwrap();
            // A retry (after a lost ack, or by a later owner of the session
            // after a failover) is stored once.
            owner.publish_report(to, &delivered).await.unwrap();

            let wait = Duration::from_secs(10);
            assert_eq!(origin_reports.next(wait).await, Ok(Some(delivered.clone())));
            assert_eq!(origin_reports.next(wait).await, Ok(Some(undelivered)));
            assert_eq!(delivered.log_seq, seq);
            assert_eq!(
                origin_reports.next(Duration::from_millis(300)).await,
                Ok(None)
            );
            // Not the owner's: its subject is its own.
            assert_eq!(
                owner_reports.next(Duration::from_millis(300)).await,
                Ok(None)
            );

            // A server that starts reading later still gets what is kept.
            let mut late = origin.read_reports().await.unwrap();
            assert_eq!(late.next(wait).await, Ok(Some(delivered)));
        },
    );
}

#[test]
fn a_cumulative_acknowledgement_reports_in_one_message_read_one_by_one() {
    run(
        "a_cumulative_acknowledgement_reports",
        3,
        |cluster| async move {
            let origin = bus(&cluster, 0x0c).await;
            let owner = bus(&cluster, 0x0d).await;
            let mut reports = origin.read_reports().await.unwrap();
            let report = |seq: u64| Report {
                log_seq: LogSeq(40),
                index: seq as u16 - 1,
                session: 0x61,
                session_seq: seq,
                outcome: Outcome::Delivered,
            };
            let three: Vec<Report> = (1..=3).map(report).collect();
            let stored = owner
                .publish_reports(origin.origin(), &three)
                .await
                .unwrap();
            // A retry of the same acknowledgement is stored once.
            assert_eq!(
                owner.publish_reports(origin.origin(), &three).await,
                Ok(stored)
            );
            let wait = Duration::from_secs(10);
            for expected in three {
                assert_eq!(reports.next(wait).await, Ok(Some(expected)));
            }
            assert_eq!(reports.next(Duration::from_millis(300)).await, Ok(None));
        },
    );
}

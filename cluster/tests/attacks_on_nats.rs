//! What someone who may publish on the bus but lacks the cluster secret can
//! do, on a real 3-node JetStream cluster: forge or roll back session
//! records, forge reports, put oversized or unknown notifications in the
//! log. Each test says what the servers make of it.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bus, config, connect, note, run};
use faxnotify_cluster::{
    ClusterSecret, LogSeq, Outcome, ReadError, RecordError, Report, ReportError, ServerId,
    SessionError, SessionRecord, user_token,
};

const WAIT: Duration = Duration::from_secs(10);

fn record(session: u64, owner: u64, acked: u64) -> SessionRecord {
    SessionRecord {
        session,
        user: "alice".into(),
        owner: ServerId(owner),
        owner_until_unix_ms: 1_000,
        start_log_seq: 1,
        acked_session_seq: acked,
        acked_log_seq: acked,
        acked_log_index: 0,
        expires_unix_ms: u64::MAX,
    }
}

/// A raw JetStream context: the attacker's.
async fn raw(cluster: &faxnotify_cluster::harness::NatsCluster) -> async_nats::jetstream::Context {
    let client = async_nats::connect(cluster.urls()).await.unwrap();
    async_nats::jetstream::new(client)
}

#[test]
fn a_record_forged_without_the_secret_is_never_a_record() {
    run(
        "a_record_forged_without_the_secret_is_never_a_record",
        3,
        |cluster| async move {
            let server = bus(&cluster, 1).await;
            // The forger runs the bus's own code with a guessed secret and
            // writes a record for a session id a client will log in with.
            let forger = connect(config(&cluster), 9, &ClusterSecret::from_bytes(&[1; 32])).await;
            forger.create_session(&record(0x90, 9, 0)).await.unwrap();
            let refused = Err(SessionError::Record {
                session: 0x90,
                error: RecordError::NotAuthentic,
            });
            // A resume finds no record it could serve (the node answers
            // "unknown session", node/claims.rs), and a new session cannot
            // take the id over: the core picks another one.
            assert_eq!(server.load_session(0x90).await, refused);
            assert_eq!(
                server.create_session(&record(0x90, 1, 0)).await,
                Err(SessionError::Exists { session: 0x90 })
            );
            // It can overwrite a genuine record (revisions are visible on
            // the bus): the session is then left with no record a server
            // would serve — a denial of service, as deleting the bucket
            // would be, never a forged session.
            let genuine = server.create_session(&record(0x91, 1, 0)).await.unwrap();
            let overwritten = forger.update_session(&record(0x91, 9, 0), genuine).await;
            assert!(overwritten.is_ok(), "{overwritten:?}");
            assert_eq!(
                server.load_session(0x91).await,
                Err(SessionError::Record {
                    session: 0x91,
                    error: RecordError::NotAuthentic,
                })
            );
        },
    );
}

#[test]
fn a_replayed_older_revision_opens_but_the_owners_next_write_loses() {
    run(
        "a_replayed_older_revision_opens_but_the_owners_next_write_loses",
        3,
        |cluster| async move {
            let owner = bus(&cluster, 1).await;
            let js = raw(&cluster).await;
            let bucket = js.get_stream("KV_FAXNOTIFY_SESSIONS").await.unwrap();
            let subject = "$KV.FAXNOTIFY_SESSIONS.00000000000000a0";
            let first = owner.create_session(&record(0xa0, 1, 0)).await.unwrap();
            // The attacker keeps the first revision's bytes from the bus...
            let old = bucket
                .get_last_raw_message_by_subject(subject)
                .await
                .unwrap()
                .payload;
            let second = owner
                .update_session(&record(0xa0, 1, 5), first)
                .await
                .unwrap();
            // ... and writes them back later, with no expected revision.
            let replayed = js
                .publish(subject, old)
                .await
                .unwrap()
                .await
                .unwrap()
                .sequence;
            // The seal vouches for the bytes, not their age: the older
            // record loads (acknowledged 0 instead of 5: a takeover would
            // redeliver seqs 1..=5, which the client drops as already
            // seen [B-3]; every server numbers the log alike).
            let (loaded, at) = owner.load_session(0xa0).await.unwrap().unwrap();
            assert_eq!(loaded, record(0xa0, 1, 0));
            assert_eq!(at.0, replayed);
            // The owner's next renewal, from the revision it wrote, loses
            // the compare-and-set: it releases the session rather than
            // serve one whose record changed under it.
            assert_eq!(
                owner.update_session(&record(0xa0, 1, 6), second).await,
                Err(SessionError::Lost { session: 0xa0 })
            );
            assert_eq!(
                owner.update_session(&record(0xa0, 1, 6), first).await,
                Err(SessionError::Lost { session: 0xa0 })
            );
        },
    );
}

#[test]
fn a_forged_report_never_reaches_the_application() {
    run(
        "a_forged_report_never_reaches_the_application",
        3,
        |cluster| async move {
            let origin = bus(&cluster, 0x0a).await;
            let owner = bus(&cluster, 0x0b).await;
            let mut reports = origin.read_reports().await.unwrap();
            let seq = origin
                .publish(&origin.publish_id(), "alice", &note(1))
                .await
                .unwrap();
            let report = |outcome| Report {
                log_seq: seq,
                index: 0,
                session: 0x51,
                session_seq: 1,
                outcome,
            };
            // The origin's id is in every log message it accepted; the
            // attacker runs the bus's code with a guessed secret, and also
            // publishes bytes of its own.
            let forger = connect(config(&cluster), 9, &ClusterSecret::from_bytes(&[1; 32])).await;
            forger
                .publish_report(origin.origin(), &report(Outcome::Delivered))
                .await
                .unwrap();
            // Under the id the genuine report would have had before ids
            // were keyed: it must not have the genuine one dropped as a
            // duplicate.
            let js = raw(&cluster).await;
            let subject = format!("faxnotify.r.{}", origin.origin());
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", "r-0000000000000051-1-d");
            js.publish_with_headers(subject, headers, Bytes::from_static(&[2; 60]))
                .await
                .unwrap()
                .await
                .unwrap();
            // A genuine report meant for the owner, copied onto the
            // origin's subject, is refused too (the MAC covers the origin).
            owner
                .publish_report(owner.origin(), &report(Outcome::Delivered))
                .await
                .unwrap();
            let copied = js
                .get_stream("FAXNOTIFY_REPORTS")
                .await
                .unwrap()
                .get_last_raw_message_by_subject(&format!("faxnotify.r.{}", owner.origin()))
                .await
                .unwrap()
                .payload;
            js.publish(format!("faxnotify.r.{}", origin.origin()), copied)
                .await
                .unwrap()
                .await
                .unwrap();
            for _ in 0..3 {
                match reports.next(WAIT).await {
                    Err(ReportError::Malformed { reason }) => {
                        assert!(
                            reason.contains("not authentic") || reason.contains("shorter than"),
                            "{reason}"
                        );
                    }
                    other => panic!("a forged report read as {other:?}"),
                }
            }
            // The genuine outcome then arrives, unspoilt.
            origin
                .publish_report(origin.origin(), &report(Outcome::Delivered))
                .await
                .unwrap();
            assert_eq!(
                reports.next(WAIT).await,
                Ok(Some(report(Outcome::Delivered)))
            );
        },
    );
}

#[test]
fn an_oversized_log_message_is_skipped_and_an_unknown_kind_passes_through() {
    run(
        "an_oversized_log_message_is_skipped_and_an_unknown_kind_passes_through",
        3,
        |cluster| async move {
            let server = bus(&cluster, 1).await;
            let js = raw(&cluster).await;
            let subject = format!("faxnotify.n.{}", user_token("alice").unwrap());
            let mut oversized = vec![3u8];
            oversized.resize(70_000, b'x');
            let mut seqs = Vec::new();
            for body in [oversized, vec![200, 1, 2, 3]] {
                let ack = js
                    .publish(subject.clone(), body.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                seqs.push(ack.sequence);
            }
            // Messages under the ids the server's next publishes would
            // have had before ids were keyed (on another user's subject:
            // JetStream de-duplicates stream-wide) must not have them
            // dropped as duplicates while acknowledged.
            let mallory = format!("faxnotify.n.{}", user_token("mallory").unwrap());
            for counter in 0..8 {
                let mut headers = async_nats::HeaderMap::new();
                let id = format!("{}-{counter}", server.origin());
                headers.insert("Nats-Msg-Id", id.as_str());
                let body = Bytes::from_static(&[3, 0, 0]);
                js.publish_with_headers(mallory.clone(), headers, body)
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            let after = server
                .publish(&server.publish_id(), "alice", &note(2))
                .await
                .unwrap();

            let mut log = server.read_user("alice", LogSeq(1)).await.unwrap();
            // Over the NOTIFY bound: named, skipped, no seq used.
            match log.next(WAIT).await {
                Err(ReadError::Malformed { log_seq, reason }) => {
                    assert_eq!(log_seq, LogSeq(seqs[0]));
                    assert!(reason.contains("69999 bytes"), "{reason}");
                }
                other => panic!("an oversized message read as {other:?}"),
            }
            // An unknown kind is a notification [N-1]: handed on as is.
            let unknown = log.next(WAIT).await.unwrap().unwrap();
            assert_eq!(unknown.log_seq, LogSeq(seqs[1]));
            assert_eq!(unknown.notification.kind(), 200);
            assert_eq!(unknown.notification.payload()[..], [1, 2, 3]);
            assert_eq!(unknown.origin, None);
            let next = log.next(WAIT).await.unwrap().unwrap();
            assert_eq!((next.log_seq, next.origin), (after, Some(server.origin())));
        },
    );
}

#[test]
fn stream_headers_in_a_log_message_do_not_move_a_reader() {
    run(
        "stream_headers_in_a_log_message_do_not_move_a_reader",
        3,
        |cluster| async move {
            let server = bus(&cluster, 1).await;
            let js = raw(&cluster).await;
            let first = server
                .publish(&server.publish_id(), "alice", &note(1))
                .await
                .unwrap();
            let mut log = server.read_user("alice", LogSeq(1)).await.unwrap();
            assert_eq!(log.next(WAIT).await.unwrap().unwrap().log_seq, first);
            // Caught up; now a message whose own headers claim a far seq
            // (the stream's republish adds the real ones).
            let subject = format!("faxnotify.n.{}", user_token("alice").unwrap());
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Sequence", "1000000");
            headers.insert("Nats-Last-Sequence", "0");
            let forged = js
                .publish_with_headers(subject, headers, Bytes::from_static(&[3, 0, 0]))
                .await
                .unwrap()
                .await
                .unwrap()
                .sequence;
            let genuine = server
                .publish(&server.publish_id(), "alice", &note(2))
                .await
                .unwrap();
            let got = log.next(WAIT).await.unwrap().unwrap();
            assert_eq!(got.log_seq, LogSeq(forged));
            let got = log.next(WAIT).await.unwrap().unwrap();
            assert_eq!(got.log_seq, genuine, "the genuine notification was skipped");
        },
    );
}

#[test]
fn a_message_forged_on_the_tail_neither_arrives_nor_moves_a_reader() {
    run(
        "a_message_forged_on_the_tail_neither_arrives_nor_moves_a_reader",
        3,
        |cluster| async move {
            let server = bus(&cluster, 1).await;
            let attacker = async_nats::connect(cluster.urls()).await.unwrap();
            let first = server
                .publish(&server.publish_id(), "alice", &note(1))
                .await
                .unwrap();
            let mut log = server.read_user("alice", LogSeq(1)).await.unwrap();
            let mut reports = server.read_reports().await.unwrap();
            assert_eq!(log.next(WAIT).await.unwrap().unwrap().log_seq, first);
            assert_eq!(log.next(Duration::from_millis(500)).await, Ok(None));
            // The tails are plain subjects: the attacker claims a far seq
            // there, for the log and for the reports.
            let token = user_token("alice").unwrap();
            for tail in [
                format!("faxnotify.tn.{token}"),
                format!("faxnotify.tr.{}", server.origin()),
            ] {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Sequence", "1000000");
                headers.insert("Nats-Last-Sequence", "0");
                let body = Bytes::from_static(&[3, 0, 0]);
                attacker
                    .publish_with_headers(tail, headers, body)
                    .await
                    .unwrap();
            }
            attacker.flush().await.unwrap();
            assert_eq!(log.next(Duration::from_secs(2)).await, Ok(None));
            assert_eq!(reports.next(Duration::from_secs(2)).await, Ok(None));
            // What is accepted next still arrives.
            let genuine = server
                .publish(&server.publish_id(), "alice", &note(2))
                .await
                .unwrap();
            assert_eq!(log.next(WAIT).await.unwrap().unwrap().log_seq, genuine);
            let report = Report {
                log_seq: genuine,
                index: 0,
                session: 0x51,
                session_seq: 2,
                outcome: Outcome::Delivered,
            };
            server
                .publish_report(server.origin(), &report)
                .await
                .unwrap();
            assert_eq!(reports.next(WAIT).await, Ok(Some(report)));
        },
    );
}

#[test]
fn malformed_log_messages_are_skipped_one_by_one() {
    run(
        "malformed_log_messages_are_skipped_one_by_one",
        3,
        |cluster| async move {
            let server = bus(&cluster, 1).await;
            let js = raw(&cluster).await;
            let subject = format!("faxnotify.n.{}", user_token("alice").unwrap());
            // What a careless or hostile fax engine may publish: empty, a
            // batch header cut short, a batch of none, a count larger than
            // its entries, bytes after the last entry, an entry whose
            // length runs past the end, a batch of 65 535 (one byte too
            // many after them). Each is skipped whole, named by its seq;
            // the genuine notification after them arrives.
            let mut counts_more = vec![0, 0, 3];
            counts_more.extend([3, 0, 1, 9]);
            let mut huge = vec![0, 0xff, 0xff];
            for _ in 0..0xffffu32 {
                huge.extend([3, 0, 0]);
            }
            huge.push(0);
            let bodies: Vec<Vec<u8>> = vec![
                vec![],
                vec![0, 0],
                vec![0, 0, 0],
                counts_more,
                vec![0, 0, 1, 3, 0, 1, 9, 9],
                vec![0, 0, 1, 3, 0xff, 0xff, 1],
                huge,
            ];
            let mut seqs = Vec::new();
            for body in bodies {
                let ack = js
                    .publish(subject.clone(), body.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                seqs.push(ack.sequence);
            }
            let after = server
                .publish(&server.publish_id(), "alice", &note(2))
                .await
                .unwrap();
            let mut log = server.read_user("alice", LogSeq(1)).await.unwrap();
            for seq in seqs {
                match log.next(WAIT).await {
                    Err(ReadError::Malformed { log_seq, reason }) => {
                        assert_eq!(log_seq, LogSeq(seq), "{reason}");
                    }
                    other => panic!("message {seq} read as {other:?}"),
                }
            }
            let next = log.next(WAIT).await.unwrap().unwrap();
            assert_eq!(next.log_seq, after);
        },
    );
}

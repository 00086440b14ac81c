//! The notification log on a real 3-node JetStream cluster: accepted means
//! stored, per-user order, de-duplicated retries, a dead NATS node, and a
//! bus cut off (nothing reported accepted), and batches: one message,
//! read one notification at a time at its position.

mod common;

use std::time::{Duration, Instant};

use async_nats::jetstream::stream::Republish;
use common::{OPERATION, bus, config, connect, note, run, secret};
use faxnotify_cluster::{Bus, BusError, LogEntry, LogPos, LogSeq, PublishId, StrayReport, UserLog};
use faxnotify_core::wire::EncodedNotification;

/// Reads `count` entries of `user` from `from`, failing if they do not come.
async fn read(bus: &Bus, user: &str, from: LogSeq, count: usize) -> Vec<LogEntry> {
    let mut log = bus.read_user(user, from).await.expect("a reader starts");
    let mut entries = Vec::new();
    while entries.len() < count {
        match log.next(Duration::from_secs(10)).await {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => panic!("only {} of {count} notifications arrived", entries.len()),
            Err(err) => panic!("reading failed: {err}"),
        }
    }
    // Nothing more than what was published.
    let extra = log
        .next(Duration::from_millis(300))
        .await
        .expect("reading goes on");
    assert_eq!(extra, None, "an entry beyond the {count} published");
    entries
}

/// Publishes with retries of the same id until accepted (or the deadline),
/// as a server does for an `notify` whose first try's outcome is unknown.
async fn publish_until_accepted(
    bus: &Bus,
    id: &PublishId,
    user: &str,
    n: &EncodedNotification,
) -> LogSeq {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match bus.publish(id, user, n).await {
            Ok(seq) => return seq,
            Err(err) if Instant::now() < deadline => {
                eprintln!("publish {id} not accepted yet: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("publish {id} never accepted: {err}"),
        }
    }
}

#[test]
fn accepted_notifications_are_stored_in_order_per_user_and_retries_stored_once() {
    run(
        "accepted_notifications_are_stored_in_order_per_user",
        3,
        |cluster| async move {
            let a = bus(&cluster, 0xa).await;
            let b = bus(&cluster, 0xb).await;
            let mut alice = Vec::new();
            let mut bob = Vec::new();
            for n in 0..40 {
                let (server, user, sent) = match n % 3 {
                    0 => (&a, "alice", &mut alice),
                    1 => (&b, "Alice", &mut alice), // the same user, another spelling
                    _ => (&b, "bob", &mut bob),
                };
                let seq = server
                    .publish(&server.publish_id(), user, &note(n))
                    .await
                    .unwrap_or_else(|err| panic!("publish {n}: {err}"));
                sent.push((seq, n, server.origin()));
            }
            // The log numbers every accepted notification once, in order.
            let all: Vec<LogSeq> = {
                let mut s: Vec<_> = alice.iter().chain(&bob).map(|(seq, ..)| *seq).collect();
                s.sort();
                s
            };
            assert_eq!(all, (1..=40).map(LogSeq).collect::<Vec<_>>());

            // Each user's reader (on either server) sees exactly that user's
            // notifications, in the order they were accepted.
            let entries = read(&b, "alice", LogSeq(1), alice.len()).await;
            for (entry, (seq, n, origin)) in entries.iter().zip(&alice) {
                assert_eq!(entry.log_seq, *seq);
                assert_eq!(entry.notification, note(*n));
                assert_eq!(entry.origin, Some(*origin));
            }
            let entries = read(&a, "bob", LogSeq(1), bob.len()).await;
            let seqs: Vec<_> = entries.iter().map(|e| e.log_seq).collect();
            assert_eq!(seqs, bob.iter().map(|(s, ..)| *s).collect::<Vec<_>>());
            // From a later seq: only what follows it.
            let later = read(&a, "alice", alice[10].0, alice.len() - 10).await;
            assert_eq!(later[0].log_seq, alice[10].0);

            // A retried publish (same id) is stored once and answers the
            // first publish's seq.
            let id = a.publish_id();
            let first = a.publish(&id, "carol", &note(100)).await.unwrap();
            let again = a.publish(&id, "carol", &note(100)).await.unwrap();
            assert_eq!(first, again);
            assert_eq!(a.log_last_seq().await.unwrap(), first);
            read(&b, "carol", LogSeq(1), 1).await;

            // A fax engine may publish to the log directly (kind + payload).
            let client = async_nats::connect(cluster.urls()).await.unwrap();
            let js = async_nats::jetstream::new(client);
            let n = note(7);
            let mut body = vec![n.kind()];
            body.extend_from_slice(n.payload());
            let subject = format!(
                "faxnotify.n.{}",
                faxnotify_cluster::user_token("dave").unwrap()
            );
            js.publish(subject, body.clone().into())
                .await
                .unwrap()
                .await
                .unwrap();
            let engine = read(&b, "dave", LogSeq(1), 1).await;
            assert_eq!(engine[0].notification, n);
            assert_eq!(engine[0].origin, None);

            // Every subject so far is a user's; one published under the
            // name itself, or with a token too many, is stored and acked
            // all the same, and only the listing finds it.
            assert_eq!(
                a.stray_log_subjects().await.unwrap(),
                StrayReport::default()
            );
            for (subject, copies) in [("faxnotify.n.dave", 2), ("faxnotify.n.dave.x", 1)] {
                for _ in 0..copies {
                    js.publish(subject, body.clone().into())
                        .await
                        .unwrap()
                        .await
                        .unwrap();
                }
            }
            let stray = b.stray_log_subjects().await.unwrap();
            assert_eq!((stray.subjects, stray.messages), (2, 3), "{stray}");
            let dave = format!(
                "faxnotify.n.{}",
                faxnotify_cluster::user_token("dave").unwrap()
            );
            let mut found: Vec<_> = stray
                .examples
                .iter()
                .map(|s| (s.subject.as_str(), s.messages, s.meant.as_deref()))
                .collect();
            found.sort();
            assert_eq!(
                found,
                [
                    ("faxnotify.n.dave", 2, Some(&*dave)),
                    ("faxnotify.n.dave.x", 1, Some(&*dave))
                ]
            );
        },
    );
}

#[test]
fn with_one_nats_node_killed_publishing_and_reading_go_on() {
    run(
        "with_one_nats_node_killed_publishing_and_reading_go_on",
        3,
        |mut cluster| async move {
            let a = bus(&cluster, 1).await;
            let b = bus(&cluster, 2).await;
            // The configuration every server keeps: all three nodes, the
            // one about to die first.
            let configured = config(&cluster);
            let mut reader = b.read_user("alice", LogSeq(1)).await.unwrap();
            let mut accepted = Vec::new();
            for n in 0..20 {
                accepted.push(a.publish(&a.publish_id(), "alice", &note(n)).await.unwrap());
            }
            let mut seen = Vec::new();
            next_entries(&mut reader, &mut seen, 20).await;
            // Node 0: the seed every node routed to, the meta leader when the
            // cluster formed, and both servers' first URL.
            cluster.kill(0);
            for n in 20..40 {
                let id = a.publish_id();
                accepted.push(publish_until_accepted(&a, &id, "alice", &note(n)).await);
            }
            // The reader started before the kill carries on where it was.
            next_entries(&mut reader, &mut seen, 20).await;
            let seqs: Vec<_> = seen.iter().map(|e| e.log_seq).collect();
            assert_eq!(seqs, accepted, "every accepted notification once, in order");
            for (n, entry) in seen.iter().enumerate() {
                assert_eq!(entry.notification, note(n));
            }
            // So does a server connecting now (the dead node its first
            // address), to the two nodes left.
            cluster
                .wait_for_leader(Duration::from_secs(30))
                .unwrap_or_else(|err| panic!("{err}\n{}", cluster.logs()));
            let c = connect(configured, 3, &secret()).await;
            let again = read(&c, "alice", LogSeq(1), 40).await;
            assert_eq!(again, seen);
        },
    );
}

/// Reads `count` more entries from `reader` into `seen`.
async fn next_entries(reader: &mut UserLog, seen: &mut Vec<LogEntry>, count: usize) {
    for _ in 0..count {
        match reader.next(Duration::from_secs(30)).await {
            Ok(Some(entry)) => seen.push(entry),
            Ok(None) => panic!("the reader stalled after {} notifications", seen.len()),
            Err(err) => panic!(
                "the reader failed after {} notifications: {err}",
                seen.len()
            ),
        }
    }
}

#[test]
fn a_bus_cut_off_refuses_notifications_within_its_bound() {
    run(
        "a_bus_cut_off_refuses_notifications_within_its_bound",
        3,
        |mut cluster| async move {
            let a = bus(&cluster, 1).await;
            a.publish(&a.publish_id(), "alice", &note(0)).await.unwrap();
            // Every node stops answering (the client's sockets stay open): the
            // publish must fail once its bound runs out, not wait or succeed.
            for i in 0..3 {
                cluster.pause(i);
            }
            let started = Instant::now();
            let err = a
                .publish(&a.publish_id(), "alice", &note(1))
                .await
                .expect_err("a publish nobody acknowledged was reported accepted");
            assert_bounded(started, &err);
            assert!(
                matches!(
                    err,
                    BusError::TimedOut { .. } | BusError::Unreachable { .. }
                ),
                "{err}"
            );
            // Every node gone: refused just the same, and said plainly.
            for i in 0..3 {
                cluster.kill(i);
            }
            let started = Instant::now();
            let err = a
                .publish(&a.publish_id(), "alice", &note(2))
                .await
                .expect_err("a publish with no NATS server was reported accepted");
            assert_bounded(started, &err);
            assert!(
                err.to_string()
                    .starts_with("the cluster bus is unreachable: no connection to nats://"),
                "{err}"
            );
        },
    );
}

fn assert_bounded(started: Instant, err: &BusError) {
    let took = started.elapsed();
    assert!(
        took <= OPERATION + Duration::from_secs(1),
        "the refusal took {took:?} (bound {OPERATION:?}): {err}"
    );
}

#[test]
fn a_reader_that_caught_up_gets_new_notifications_as_they_are_accepted() {
    run(
        "a_reader_that_caught_up_gets_new_notifications_as_they_are_accepted",
        3,
        |cluster| async move {
            let a = bus(&cluster, 1).await;
            let b = bus(&cluster, 2).await;
            a.publish(&a.publish_id(), "alice", &note(0)).await.unwrap();
            let mut reader = b.read_user("alice", LogSeq(1)).await.unwrap();
            let mut seen = Vec::new();
            next_entries(&mut reader, &mut seen, 1).await;
            assert_eq!(reader.next(Duration::from_millis(200)).await, Ok(None));
            let mut accepted = vec![seen[0].log_seq];
            for n in 1..30 {
                // Other users' notifications interleave in the log.
                a.publish(&a.publish_id(), "bob", &note(n)).await.unwrap();
                accepted.push(a.publish(&a.publish_id(), "alice", &note(n)).await.unwrap());
                next_entries(&mut reader, &mut seen, 1).await;
            }
            let seqs: Vec<_> = seen.iter().map(|e| e.log_seq).collect();
            assert_eq!(seqs, accepted);
        },
    );
}

#[test]
fn a_batch_is_read_one_notification_at_a_time_and_a_read_can_start_inside_it() {
    run(
        "a_batch_is_read_one_notification_at_a_time",
        3,
        |cluster| async move {
            let (a, b) = (bus(&cluster, 0xa).await, bus(&cluster, 0xb).await);
            let notes: Vec<EncodedNotification> = (0..5).map(note).collect();
            let refs: Vec<&EncodedNotification> = notes.iter().collect();
            let first = a.publish(&a.publish_id(), "erin", &note(9)).await.unwrap();
            let id = a.publish_id();
            let batch = a.publish_batch(&id, "erin", &refs).await.unwrap();
            // A retry of the same message is stored once.
            assert_eq!(a.publish_batch(&id, "erin", &refs).await, Ok(batch));
            // A fax engine's malformed batch (count 2, one entry): skipped
            // whole, the next message is read.
            let client = async_nats::connect(cluster.urls()).await.unwrap();
            let js = async_nats::jetstream::new(client);
            let subject = format!(
                "faxnotify.n.{}",
                faxnotify_cluster::user_token("erin").unwrap()
            );
            let bad: &[u8] = b"\x00\x00\x02\x03\x00\x00";
            js.publish(subject, bad.into())
                .await
                .unwrap()
                .await
                .unwrap();
            let after = a.publish(&a.publish_id(), "erin", &note(10)).await.unwrap();

            let mut log = b.read_user("erin", first).await.unwrap();
            let mut seen = Vec::new();
            let mut malformed = 0;
            while seen.len() < 7 {
                match log.next(Duration::from_secs(10)).await {
                    Ok(Some(entry)) => seen.push((entry.position(), entry.notification)),
                    Ok(None) => panic!("only {} of 7 arrived", seen.len()),
                    Err(faxnotify_cluster::ReadError::Malformed { .. }) => malformed += 1,
                    Err(err) => panic!("reading failed: {err}"),
                }
            }
            assert_eq!(malformed, 1, "the malformed batch is named once");
            let pos = |seq, index| LogPos { seq, index };
            let mut expected = vec![(pos(first, 0), note(9))];
            expected.extend((0..5).map(|i| (pos(batch, i as u16), note(i))));
            expected.push((pos(after, 0), note(10)));
            assert_eq!(seen, expected);

            // A session acknowledged up to index 2 resumes at index 3.
            let mut log = b.read_user("erin", pos(batch, 3)).await.unwrap();
            let next = log.next(Duration::from_secs(10)).await.unwrap().unwrap();
            assert_eq!(
                (next.position(), next.notification),
                (pos(batch, 3), note(3))
            );
        },
    );
}

#[test]
fn the_tail_carries_headers_only_and_a_tail_with_payloads_still_serves() {
    run(
        "the_tail_carries_headers_only_and_a_tail_with_payloads_still_serves",
        1,
        |cluster| async move {
            let a = bus(&cluster, 1).await;
            let client = async_nats::connect(cluster.urls()).await.unwrap();
            let mut tail = client.subscribe("faxnotify.tn.>").await.unwrap();
            client.flush().await.unwrap();
            // The server may miss a subscription made a moment before (the
            // readers' poll covers a lost wake-up): publish until one comes.
            let mut published = Vec::new();
            let woke = loop {
                assert!(published.len() < 5, "the tail never woke a reader");
                published.push(a.publish(&a.publish_id(), "alice", &note(1)).await.unwrap());
                let next = futures_lite::StreamExt::next(&mut tail);
                if let Ok(woke) = tokio::time::timeout(OPERATION, next).await {
                    break woke.unwrap();
                }
            };
            // Readers take only the seq from the tail: a payload there would
            // be bytes every server receives and drops.
            assert!(
                woke.payload.is_empty(),
                "{} bytes on the tail",
                woke.payload.len()
            );
            let claimed = woke.headers.as_ref().and_then(|h| h.get("Nats-Sequence"));
            let claimed = claimed.and_then(|v| v.as_str().parse().ok()).map(LogSeq);
            assert!(
                claimed.is_some_and(|seq| published.contains(&seq)),
                "{claimed:?}"
            );

            // A log an earlier version made republishes full payloads
            // (nats-server does not let a stream's republish change):
            // servers use it as it is.
            let js = async_nats::jetstream::new(client);
            let made = js
                .get_stream("FAXNOTIFY_LOG")
                .await
                .unwrap()
                .cached_info()
                .config
                .clone();
            let remade = |change: fn(&mut Republish)| {
                let (js, mut config) = (js.clone(), made.clone());
                change(config.republish.as_mut().unwrap());
                async move {
                    js.delete_stream(&config.name).await.unwrap();
                    js.create_stream(config).await.unwrap();
                }
            };
            remade(|tail| tail.headers_only = false).await;
            let b = bus(&cluster, 2).await;
            let first = a.publish(&a.publish_id(), "alice", &note(2)).await.unwrap();
            let second = a.publish(&a.publish_id(), "alice", &note(3)).await.unwrap();
            let seqs: Vec<_> = read(&b, "alice", first, 2)
                .await
                .iter()
                .map(|e| e.log_seq)
                .collect();
            assert_eq!(seqs, [first, second]);

            // One that republishes elsewhere would leave readers asleep:
            // refused, saying what is wrong with it.
            remade(|tail| tail.destination = "elsewhere.>".into()).await;
            let err = Bus::connect(config(&cluster), faxnotify_cluster::ServerId(3), secret())
                .await
                .expect_err("a log whose tail is elsewhere is refused");
            assert!(
                matches!(err, BusError::Misconfigured { .. })
                    && err.to_string().contains("republishes"),
                "{err}"
            );
        },
    );
}

//! An application handler on the server's loop thread ([`ServerHandler`]):
//! it sees every event of the core once, the events it hands back reach
//! the application's channel once and in order, and what it posts from the
//! loop is delivered in order and accounted like any post.

use std::sync::{Arc, Mutex, MutexGuard};

use faxnotify_core::SessionId;
use faxnotify_core::client::ListenPolicy;
use faxnotify_core::server::{Event, Refused, Target};
use faxnotify_core::wire::{CallbackState, EncodedNotification, Notification};
use faxnotify_mio::{LoopNotifier, NotificationEncoder, ServerHandler};

use super::{assert_delivered, numbered, start_client};
use crate::harness::{ClientSetup, Runtime, ServerProbe, ServerSetup, test_users};

/// Notifications the closed loop sends, one at a time.
const CHAIN: u32 = 20;

/// What a handler saw: every event in the order it came, and the ones it
/// handed back to the application.
#[derive(Debug, Default)]
struct Log {
    all: Vec<Event>,
    passed: Vec<Event>,
}

#[derive(Clone, Debug, Default)]
struct SharedLog(Arc<Mutex<Log>>);

impl SharedLog {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session a callback (or backchannel) delivery path came up for.
fn path_up(event: &Event) -> Option<SessionId> {
    match event {
        Event::CallbackStatus {
            session,
            state: CallbackState::Reachable | CallbackState::Backchannel,
            ..
        } => Some(*session),
        _ => None,
    }
}

/// A handler that calls `act` with each event and the notifier, logs the
/// event, keeps `Delivered` events and hands every other one back.
fn logging_handler(
    log: &SharedLog,
    mut act: impl FnMut(&Event, &mut LoopNotifier<'_>) + Send + 'static,
) -> Box<dyn ServerHandler> {
    let log = log.clone();
    Box::new(move |event: Event, notifier: &mut LoopNotifier<'_>| {
        act(&event, notifier);
        let mut log = log.lock();
        log.all.push(event.clone());
        if matches!(event, Event::Delivered { .. }) {
            return None;
        }
        log.passed.push(event.clone());
        Some(event)
    })
}

fn start(rt: &dyn Runtime, setup: ServerSetup, handler: Box<dyn ServerHandler>) -> ServerProbe {
    let server = rt
        .start_server_with(setup, Some(handler))
        .unwrap_or_else(|e| panic!("{}: the server does not start: {e}", rt.name()));
    ServerProbe::new(server)
}

fn encoded(encoder: &mut NotificationEncoder, text: String) -> EncodedNotification {
    encoder
        .encode(&Notification::server_message(text))
        .expect("a short server message encodes")
}

/// A closed loop at window 1 run by the handler alone: when the session's
/// delivery path is up it posts `chain-1`, and on each `Delivered` the
/// next, up to `chain-20`. The client gets exactly those, in order; the
/// handler sees each seq acknowledged once and every other event once;
/// the application's channel gets exactly the events the handler handed
/// back, in order, and no `Delivered`; the post report counts the
/// handler's posts.
pub fn handler_runs_a_closed_loop(rt: &dyn Runtime) {
    let log = SharedLog::default();
    let mut encoder = NotificationEncoder::new();
    let mut started = false;
    let handler = logging_handler(&log, move |event, notifier| {
        let next = match event {
            _ if !started && path_up(event).is_some() => {
                started = true;
                path_up(event).map(|session| (session, 1))
            }
            Event::Delivered {
                session, last_seq, ..
            } if *last_seq < u64::from(CHAIN) => Some((*session, last_seq + 1)),
            _ => None,
        };
        if let Some((session, n)) = next {
            let text = encoded(&mut encoder, format!("chain-{n}"));
            notifier.post(Target::Session(session), text);
        }
    });
    let mut setup = ServerSetup::new(test_users(&["alice"]));
    setup.config.window = 1;
    let mut server = start(rt, setup, handler);
    let mut client = start_client(
        rt,
        "alice",
        ClientSetup::new(server.addr(), "alice", ListenPolicy::Dynamic),
    );
    client.wait_logged_in();
    client.wait_message(&format!("chain-{CHAIN}"));
    assert_delivered(&client, 1, &numbered("chain", 1..=CHAIN));

    // The last ACK has reached the server once nothing is unacknowledged.
    server.wait_sessions("every notification acknowledged", |s| {
        s.len() == 1 && s[0].queue_depth == 0
    });
    assert!(client.logout(), "{}: logout confirmed", client.name);
    server.wait_for("the session's end", |e| {
        matches!(e, Event::SessionClosed { .. }).then_some(())
    });

    // Everything handed back so far reaches the channel, once, in order.
    let passed = log.lock().passed.len();
    server.wait_events(passed);
    let log = log.lock();
    let got = server.events();
    assert!(
        got.len() <= log.passed.len() && got == &log.passed[..got.len()],
        "{}: the channel's events are not the ones the handler handed back, in order:\n\
         channel {got:#?}\nhanded back {:#?}",
        rt.name(),
        log.passed
    );
    assert!(
        !got.iter().any(|e| matches!(e, Event::Delivered { .. })),
        "a kept event reached the channel"
    );

    // The handler saw each seq acknowledged exactly once, and one opening
    // and one end of the session.
    let mut acked = Vec::new();
    for event in &log.all {
        if let Event::Delivered {
            first_seq,
            last_seq,
            ..
        } = event
        {
            acked.extend(*first_seq..=*last_seq);
        }
    }
    let want: Vec<u64> = (1..=u64::from(CHAIN)).collect();
    assert_eq!(
        acked,
        want,
        "{}: seqs acknowledged, as the handler saw them",
        rt.name()
    );
    let count = |pick: fn(&Event) -> bool| log.all.iter().filter(|e| pick(e)).count();
    assert_eq!(count(|e| matches!(e, Event::SessionOpened { .. })), 1);
    assert_eq!(count(|e| matches!(e, Event::SessionClosed { .. })), 1);

    let report = server.take_post_report();
    assert_eq!(
        (report.posted, report.accepted, report.refused),
        (u64::from(CHAIN), u64::from(CHAIN), 0),
        "{}: {report:?}",
        rt.name()
    );
    drop(log);
    server.shutdown();
}

/// A handler's post beyond a session's queue limit [B-6] is refused, and
/// the refusal is reported as for any post: queue limit 2 at window 1, and
/// three notifications posted at once when the delivery path comes up.
pub fn handler_post_to_a_full_queue_is_refused(rt: &dyn Runtime) {
    let log = SharedLog::default();
    let mut encoder = NotificationEncoder::new();
    let handler = logging_handler(&log, move |event, notifier| {
        if let Some(session) = path_up(event) {
            let batch: Vec<_> = (1..=3)
                .map(|n| {
                    let text = encoded(&mut encoder, format!("full-{n}"));
                    (Target::Session(session), text)
                })
                .collect();
            notifier.post_batch(batch);
        }
    });
    let mut setup = ServerSetup::new(test_users(&["bob"]));
    setup.config.window = 1;
    setup.config.queue_limit = 2;
    let mut server = start(rt, setup, handler);
    let mut client = start_client(
        rt,
        "bob",
        ClientSetup::new(server.addr(), "bob", ListenPolicy::Dynamic),
    );
    // Handed back after the handler posted: the report has the posts.
    let session = server.wait_for("the delivery path", path_up);
    let report = server.take_post_report();
    assert_eq!(
        (report.posted, report.accepted, report.refused),
        (3, 2, 1),
        "{}: {report:?}",
        rt.name()
    );
    assert_eq!(
        report.refusals,
        vec![(session, Refused::QueueFull { limit: 2 })],
        "{}",
        rt.name()
    );
    client.wait_message("full-2");
    assert_delivered(&client, 1, &numbered("full", 1..=2));
    assert!(client.logout(), "{}: logout confirmed", client.name);
    server.shutdown();
}

//! The bridge against the event stream recorded from real HylaFAX 6.0.7
//! (tests/data/hfaxd-6.0.7-stream.txt: a fax from ttyIAX0 to ttyIAX1 that
//! succeeded, ttyIAX1 stopped, a fax that failed, ttyIAX0 flipped busy and
//! ready), with queue listings as hfaxd gave them at those moments.

use faxnotify_core::wire::{DeviceState, JobState, Notification};
use faxnotify_hylafax::{Bridge, Config, Output, Recipients};

const STREAM: &str = include_str!("data/hfaxd-6.0.7-stream.txt");

const CONFIG: &str = r#"
hfaxd = "127.0.0.1:4559"
unrouted = ["frontdesk"]
[route]
"5550001" = ["bob"]
[owners]
root = "alice"
"#;

/// Runs the bridge over `lines`, answering each listing request with
/// `listing(number of lines fed so far)`; returns what it output.
fn run(
    bridge: &mut Bridge,
    lines: &[&str],
    fed_before: usize,
    listing: &dyn Fn(usize) -> String,
) -> Vec<Output> {
    let mut outputs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        bridge.handle_stream(1_796_525_000_000, format!("{line}\r\n").as_bytes());
        drain(bridge, fed_before + i + 1, listing, &mut outputs);
    }
    outputs
}

fn drain(
    bridge: &mut Bridge,
    fed: usize,
    listing: &dyn Fn(usize) -> String,
    outputs: &mut Vec<Output>,
) {
    while let Some(out) = bridge.poll_output() {
        if out == Output::ListQueues {
            bridge.handle_listing(1_796_525_000_000, listing(fed).as_bytes());
        } else {
            outputs.push(out);
        }
    }
}

/// hfaxd's listing (JOBFMT "%j|%a|%o|%P|%T|%Z|%s") after `fed` lines of
/// the recorded stream: job 1 runs until its "send done" (line 24), job 2
/// until its own (line 41).
fn recorded_listing(fed: usize) -> String {
    let mut out = String::new();
    out += if fed < 7 {
        // Before "Preparation finished" the page total is not known.
        "1|R|root| 0:0 | 0:3 |1796525005|\r\n"
    } else if fed < 24 {
        "1|R|root| 0:2 | 0:3 |1796525005|\r\n"
    } else {
        "1|D|root| 2:2 | 1:3 |1796525005|\r\n"
    };
    if fed >= 30 {
        out += if fed < 36 {
            "2|R|root| 0:0 | 0:3 |1796525086|\r\n"
        } else if fed < 41 {
            "2|R|root| 0:2 | 0:3 |1796525086|\r\n"
        } else {
            "2|F|root| 0:2 | 0:3 |1796525086|Unknown problem; too many attempts to dial\r\n"
        };
    }
    out
}

/// One readable line per notification: recipients, then the notification.
fn describe(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Notify { to, notification } => {
                let to = match to {
                    Recipients::All => "all".to_owned(),
                    Recipients::Users(users) => users.join(","),
                };
                Some(format!("{to}: {notification}"))
            }
            _ => None,
        })
        .collect()
}

fn bridge() -> Bridge {
    Bridge::new(Config::from_toml(CONFIG).unwrap().routing)
}

#[test]
fn the_recorded_stream_gives_each_notification_once_in_order() {
    let lines: Vec<&str> = STREAM.lines().collect();
    assert_eq!(lines.len(), 46);
    let mut b = bridge();
    b.handle_connected();
    let mut outputs = Vec::new();
    drain(&mut b, 0, &|_| String::new(), &mut outputs);
    outputs.extend(run(&mut b, &lines, 0, &recorded_listing));
    let warnings: Vec<_> = outputs
        .iter()
        .filter(|o| matches!(o, Output::Warning(_)))
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        describe(&outputs),
        [
            "alice: job 1 queued: page 0/0, attempt 0: \"to 5550001\"",
            "all: device \"ttyIAX0\" busy: \"Assigned to job\"",
            "alice: job 1 dialing: page 0/2, attempt 1: \"dialing 5550001\"",
            "all: device \"ttyIAX1\" busy: \"Marked busy\"",
            "alice: job 1 sending: page 1/2, attempt 1: \"page 1 sent\"",
            "alice: job 1 sending: page 2/2, attempt 1: \"page 2 sent\"",
            "bob: fax received: job 2 from \"5550000\" to \"5550001\", 2 page(s), at 2026-12-06 02:43:24Z",
            "all: device \"ttyIAX0\" up: \"Released by job\"",
            "alice: job 1 completed: page 2/2, attempt 1: \"2 of 2 page(s) sent\"",
            "all: device \"ttyIAX1\" up: \"Marked ready\"",
            "all: device \"ttyIAX1\" down: \"Marked down\"",
            "alice: job 2 queued: page 0/0, attempt 0: \"to 5550009\"",
            "all: device \"ttyIAX0\" busy: \"Assigned to job\"",
            "alice: job 2 dialing: page 0/2, attempt 1: \"dialing 5550009\"",
            "all: device \"ttyIAX0\" up: \"Released by job\"",
            "alice: job 2 failed: page 0/2, attempt 1: \"Unknown problem; too many attempts to dial (0 of 2 page(s) sent)\"",
            "all: device \"ttyIAX0\" busy: \"Marked busy\"",
            "all: device \"ttyIAX0\" up: \"Marked ready\"",
        ]
    );
}

#[test]
fn send_done_after_a_failed_attempt_is_not_an_outcome() {
    let mut b = bridge();
    b.handle_connected();
    let mut outputs = Vec::new();
    drain(&mut b, 0, &|_| String::new(), &mut outputs);
    let lines = [
        "030000 102 JOB 9 (dest 123 pri 127 com ): Ready to send",
        "030001 116 JOB 9 (dest 123 pri 127 com ): SEND FAX: Begin attempt",
        "030010 125 JOB 9 (dest 123 pri 127 com ): SEND FAX: Requeue",
        "030010 126 JOB 9 (dest 123 pri 127 com 000000007): SEND FAX: Job completed successfully",
    ];
    let listing = |fed: usize| {
        if fed < 3 {
            "9|R|carol| 0:1 | 0:3 |0|\r\n"
        } else {
            "9|S|carol| 0:1 | 1:3 |1796526000|Busy signal detected\r\n"
        }
        .to_owned()
    };
    outputs.extend(run(&mut b, &lines, 0, &listing));
    assert_eq!(
        describe(&outputs),
        [
            // No total before the stream says the job is prepared (the
            // listing's would depend on when it was made).
            "carol: job 9 queued: page 0/0, attempt 0: \"to 123\"",
            "carol: job 9 retrying: page 0/1, attempt 1: \"next try at 03:00:00 UTC: Busy signal detected\"",
        ]
    );
}

#[test]
fn after_a_reconnect_outcomes_missed_meanwhile_are_reported_once() {
    let mut b = bridge();
    b.handle_connected();
    let mut outputs = Vec::new();
    // The baseline: job 3 finished before the bridge started.
    let first = |_: usize| "3|D|root|1:1|1:3|0|\r\n4|R|root|0:2|0:3|0|\r\n".to_owned();
    drain(&mut b, 0, &first, &mut outputs);
    outputs.extend(run(
        &mut b,
        &["030000 119 JOB 4 (dest 5 pri 127 com ): SEND FAX: Page 1 sent in 0:00:01"],
        0,
        &first,
    ));
    // hfaxd restarts; meanwhile job 4 failed and job 5 came and went.
    b.handle_disconnected();
    b.handle_connected();
    let after = |_: usize| {
        "3|D|root|1:1|1:3|0|\r\n4|F|root|1:2|3:3|0|No carrier detected\r\n5|D|dave|1:1|1:3|0|\r\n"
            .to_owned()
    };
    drain(&mut b, 0, &after, &mut outputs);
    // A second reconnect reports nothing again.
    b.handle_disconnected();
    b.handle_connected();
    drain(&mut b, 0, &after, &mut outputs);
    assert_eq!(
        describe(&outputs),
        [
            "alice: job 4 sending: page 1/2, attempt 1: \"page 1 sent\"",
            "alice: job 4 failed: page 1/2, attempt 3: \"No carrier detected (1 of 2 page(s) sent)\"",
            "dave: job 5 completed: page 1/1, attempt 1: \"1 of 1 page(s) sent\"",
        ]
    );
}

#[test]
fn a_killed_job_is_cancelled_and_later_events_are_quiet() {
    let mut b = bridge();
    b.handle_connected();
    let mut outputs = Vec::new();
    drain(&mut b, 0, &|_| String::new(), &mut outputs);
    let lines = [
        "030000 102 JOB 8 (dest 77 pri 127 com ): Ready to send",
        "030005 109 JOB 8 (dest 77 pri 127 com ): Killed",
        "030005 104 JOB 8 (dest 77 pri 127 com ): Marked dead",
    ];
    let listing = |fed: usize| {
        if fed < 2 {
            "8|P|root|0:1|0:3|0|\r\n"
        } else {
            "8|F|root|0:1|0:3|0|Job aborted by request\r\n"
        }
        .to_owned()
    };
    outputs.extend(run(&mut b, &lines, 0, &listing));
    assert_eq!(
        describe(&outputs),
        [
            "alice: job 8 queued: page 0/0, attempt 0: \"to 77\"",
            "alice: job 8 cancelled: page 0/1, attempt 0: \"Job aborted by request (removed)\"",
        ]
    );
}

#[test]
fn unrouted_faxes_go_to_the_group_and_hostile_caller_ids_are_escaped() {
    let mut b = bridge();
    let mut outputs = Vec::new();
    let lines = [
        "040000 159 MODEM ttyIAX1: Caller-id information: \"\x1b[2J+1 555\u{202e}\",\"x\",\"<NONE>\",\"5559999\"",
        "040001 133 RECV FAX: Session started (com 000000042), TSI \"evil\" <...>",
        "040020 135 RECV FAX: From evil (com 000000042), 1 pages in 0:00:10, file recvq/fax000000009.tif",
    ];
    outputs.extend(run(&mut b, &lines, 0, &|_| String::new()));
    let [Output::Notify { to, notification }] = outputs.as_slice() else {
        panic!("{outputs:?}");
    };
    assert_eq!(to, &Recipients::Users(vec!["frontdesk".into()]));
    let Notification::FaxReceived(fax) = notification else {
        panic!("{notification}");
    };
    assert_eq!(fax.job, 42);
    assert_eq!(fax.from, "\\u{1b}[2J+1 555\\u{202e}");
    assert_eq!(fax.to, "5559999");
    assert_eq!(fax.pages, 1);
}

/// A route added to the configuration while the bridge runs reaches the
/// next fax: before it, a fax to 5550002 goes to the unrouted group;
/// after it, to the users of its route.
#[test]
fn a_new_routing_applies_to_the_next_fax() {
    let mut b = bridge();
    let fax = |commid: u32| {
        [
            "040000 159 MODEM ttyIAX1: Caller-id information: \"5550000\",\"x\",\"<NONE>\",\"5550002\"".to_owned(),
            format!("040001 133 RECV FAX: Session started (com {commid:09}), TSI \"x\" <...>"),
            format!("040020 135 RECV FAX: From x (com {commid:09}), 1 pages in 0:00:10, file recvq/fax{commid:09}.tif"),
        ]
    };
    let recipients = |outputs: Vec<Output>| -> Vec<String> {
        describe(&outputs)
            .into_iter()
            .map(|line| line.split(':').next().unwrap_or_default().to_owned())
            .collect()
    };
    let lines = fax(1);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(
        recipients(run(&mut b, &lines, 0, &|_| String::new())),
        ["frontdesk"]
    );
    let edited = CONFIG.replace(
        "\"5550001\" = [\"bob\"]\n",
        "\"5550001\" = [\"bob\"]\n\"5550002\" = [\"carol\"]\n",
    );
    b.set_routing(Config::from_toml(&edited).unwrap().routing);
    let lines = fax(2);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(
        recipients(run(&mut b, &lines, 3, &|_| String::new())),
        ["carol"]
    );
}

#[test]
fn modem_states_are_reported_on_change_only() {
    let mut b = bridge();
    let lines = [
        "050000 151 MODEM ttyS0: Marked ready",
        "050001 151 MODEM ttyS0: Marked ready",
        "050002 152 MODEM ttyS0: Marked busy",
        "050003 153 MODEM ttyS0: Modem appears to be wedged",
    ];
    let outputs = run(&mut b, &lines, 0, &|_| String::new());
    let states: Vec<_> = outputs
        .iter()
        .map(|o| match o {
            Output::Notify {
                to: Recipients::All,
                notification: Notification::DeviceStatus(d),
            } => d.state,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        states,
        [DeviceState::Up, DeviceState::Busy, DeviceState::Down]
    );
}

#[test]
fn a_job_missing_from_the_queues_is_a_warning_not_a_guess() {
    let mut b = bridge();
    let outputs = run(
        &mut b,
        &["060000 126 JOB 77 (dest 1 pri 127 com ): SEND FAX: Job completed successfully"],
        0,
        &|_| String::new(),
    );
    assert!(
        matches!(outputs.as_slice(), [Output::Warning(w)] if w.contains("job 77")),
        "{outputs:?}"
    );
    let _ = JobState::Completed;
}

#[test]
fn a_received_fax_leaving_the_receive_queue_is_fax_updated_deleted_for_its_users() {
    use faxnotify_core::wire::FaxChange;
    use faxnotify_hylafax::received::LIST_EVERY_MS;
    let mut b = bridge();
    let now = 1_796_525_000_000;
    let lines = [
        "040000 159 MODEM ttyIAX1: Caller-id information: \"5550000\",\"Modem 0\",\"<NONE>\",\"5550001\"",
        "040001 133 RECV FAX: Session started (com 000000002), TSI \"IAXmodem\" <...>",
        "040020 135 RECV FAX: From IAXmodem (com 000000002), 2 pages in 0:00:18, file recvq/fax000000001.tif",
    ];
    let received = run(&mut b, &lines, 0, &|_| String::new());
    assert_eq!(describe(&received).len(), 1, "{received:?}");
    // Not before its time; then one listing.
    let due = b
        .poll_timeout()
        .expect("a listing is due once a fax is followed");
    assert_eq!(due, now + LIST_EVERY_MS);
    b.handle_timeout(due - 1);
    assert_eq!(b.poll_output(), None);
    b.handle_timeout(due);
    assert_eq!(b.poll_output(), Some(Output::ListReceived));
    b.handle_received_listing(b"fax000000001.tif\r\n");
    assert_eq!(b.poll_output(), None);
    // A listing that fails is asked for again; one without the fax reports it.
    b.handle_timeout(due + LIST_EVERY_MS);
    assert_eq!(b.poll_output(), Some(Output::ListReceived));
    b.handle_received_listing_failed();
    b.handle_timeout(due + 2 * LIST_EVERY_MS);
    assert_eq!(b.poll_output(), Some(Output::ListReceived));
    b.handle_received_listing(b"");
    let Some(Output::Notify { to, notification }) = b.poll_output() else {
        panic!("no notification");
    };
    assert_eq!(to, Recipients::Users(vec!["bob".into()]));
    let Notification::FaxUpdated(update) = notification else {
        panic!("{notification}");
    };
    assert_eq!((update.job, update.change), (2, FaxChange::Deleted));
    assert_eq!(
        (update.by.as_str(), update.comment.as_str()),
        ("HylaFAX", "no longer in the receive queue")
    );
    // Reported once; nothing left to follow.
    assert_eq!(b.poll_output(), None);
    assert_eq!(b.poll_timeout(), None);
}

/// Job 1's listing before and after faxq prepared it, as hfaxd gave them.
const BEFORE_PREPARATION: &str = "1|W|root| 0:0 | 0:3 |1796525005|\r\n";
const AFTER_PREPARATION: &str = "1|R|root| 0:2 | 0:3 |1796525005|\r\n";

/// Feeds `lines` to a bridge in reads of the given sizes, answering its
/// n-th listing (from 0) with [`AFTER_PREPARATION`] when `n >= prepared_at`
/// or when it was asked for after "Preparation finished" (line 7) was read;
/// returns the notifications.
fn feed_in_reads(lines: &[&str], reads: &[usize], prepared_at: usize) -> Vec<String> {
    let mut b = bridge();
    b.handle_connected();
    let mut outputs = Vec::new();
    drain(&mut b, 0, &|_| String::new(), &mut outputs);
    let mut listings = 0;
    let mut fed = 0;
    for &size in reads {
        let read: String = lines[fed..fed + size]
            .iter()
            .map(|l| format!("{l}\r\n"))
            .collect();
        fed += size;
        b.handle_stream(1_796_525_000_000, read.as_bytes());
        while let Some(out) = b.poll_output() {
            if out == Output::ListQueues {
                let listing = if listings >= prepared_at || fed >= 7 {
                    AFTER_PREPARATION
                } else {
                    BEFORE_PREPARATION
                };
                listings += 1;
                b.handle_listing(1_796_525_000_000, listing.as_bytes());
            } else {
                outputs.push(out);
            }
        }
    }
    describe(&outputs)
}

/// Job 1 until its call is placed, as the bridge reports it.
const JOB_1_TO_DIALING: [&str; 3] = [
    "alice: job 1 queued: page 0/0, attempt 0: \"to 5550001\"",
    "all: device \"ttyIAX0\" busy: \"Assigned to job\"",
    "alice: job 1 dialing: page 0/2, attempt 1: \"dialing 5550001\"",
];

#[test]
fn a_listing_made_after_preparation_does_not_give_queued_a_page_total() {
    // Seen in the real lab under load (cli/tests/hylafax_real.rs): hfaxd's
    // "Created" and "Ready to send" came in one read, so both waited for a
    // listing naming the owner: the first was made before faxq prepared the
    // job (no total yet), the second after it ("0:2"), and "queued" said
    // "page 0/2" where other runs said "page 0/0".
    let lines: Vec<&str> = STREAM.lines().take(9).collect();
    assert_eq!(
        feed_in_reads(&lines, &[2, 1, 1, 1, 1, 1, 1, 1], 1),
        JOB_1_TO_DIALING
    );
}

#[test]
fn what_is_reported_does_not_depend_on_reads_or_listing_timing() {
    // Every way hfaxd's lines can be split into reads (each line boundary
    // is a read boundary or not), and every moment preparation can finish
    // relative to the listings asked for before the bridge reads
    // "Preparation finished" (a listing asked for after it is made after
    // it): the same notifications. (With all nine lines in one read,
    // "queued" once said attempt 1: "Begin attempt" was counted as it
    // arrived, while "Ready to send" still waited for its listing.)
    let lines: Vec<&str> = STREAM.lines().take(9).collect();
    for cuts in 0u32..1 << (lines.len() - 1) {
        let mut reads = vec![1];
        for i in 0..lines.len() - 1 {
            if cuts & (1 << i) == 0 {
                *reads.last_mut().unwrap() += 1;
            } else {
                reads.push(1);
            }
        }
        for prepared_at in 0..=lines.len() {
            assert_eq!(
                feed_in_reads(&lines, &reads, prepared_at),
                JOB_1_TO_DIALING,
                "reads {reads:?}, preparation finished before listing {prepared_at}"
            );
        }
    }
}

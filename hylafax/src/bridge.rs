//! The bridge's state machine: hfaxd's event stream and queue listings in,
//! FNP/1 notifications (with their recipients) out. Sans-IO, like the core.
//!
//! Call order:
//!
//! ```text
//! handle_connected(now_ms)            the trigger stream is (re)established
//! handle_stream(now_ms, bytes)        bytes read from the trigger stream
//! handle_listing(now_ms, bytes)       the answer to Output::ListQueues
//! handle_listing_failed()             ... when it could not be made
//! handle_timeout(now_ms)              at poll_timeout() (a receive queue listing is due)
//! handle_received_listing(bytes)      the answer to Output::ListReceived
//! handle_received_listing_failed()    ... when it could not be made
//! handle_disconnected()               the stream is gone (then reconnect)
//! then poll_output() until None after each call
//! ```
//!
//! **Where the facts come from.** The stream says *that* something happened
//! (a page was sent, sending is over, the job is dead); HylaFAX's queue
//! listing says whose job it is, how many pages it has and how it ended
//! (`D` done / `F` failed with its reason). The stream's "send done" (126)
//! follows failed attempts too, so a job's outcome is only ever taken from a
//! listing made *after* the event that asks for it. Events that need a
//! listing wait for it, and every later event waits behind them, so the
//! notifications come out in exactly the stream's order (a listing on
//! loopback takes milliseconds).
//!
//! **Same stream, same notifications.** What a notification says depends
//! only on the events before it, never on how hfaxd's lines were split into
//! reads or on when a listing was made: a job's attempt is counted, and its
//! page total reported, as its events are handled in order. HylaFAX counts
//! the pages when it prepares the job, which races any listing made before
//! the stream says "Preparation finished", so statuses before that (queued)
//! carry page total 0: not yet known.
//!
//! **Reconnects.** hfaxd's stream only carries what happens while it is
//! connected. After every reconnect the bridge lists the queues and reports
//! the outcome of every job that finished while it was away: jobs it was
//! following, and jobs it never saw (not in the first listing's baseline).
//! Each job's outcome is reported once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use faxnotify_core::wire::{
    DeviceState, DeviceStatus, FaxChange, FaxReceived, FaxUpdated, JobState, JobStatus,
    Notification, Text,
};

use crate::config::Routing;
use crate::event::{Event, Subject, codes};
use crate::lines::{Line, LineSplitter};
use crate::queue::{JobRecord, QueueState};
use crate::received::ReceivedFaxes;
use crate::text::{MAX_DETAIL, MAX_PARTY, clean};

/// Jobs followed at once; the oldest finished ones are forgotten first.
pub const MAX_JOBS: usize = 4096;
/// Events held while a listing is awaited.
pub const MAX_PENDING: usize = 4096;
/// Finished job ids remembered (so an outcome is reported once).
pub const MAX_FINISHED: usize = 65_536;
/// Modems followed.
pub const MAX_DEVICES: usize = 256;
/// Receptions in progress followed, and unclaimed caller ids kept.
pub const MAX_RECEPTIONS: usize = 64;

/// Who gets a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recipients {
    /// Every session of these faxnotify users.
    Users(Vec<String>),
    /// Every session.
    All,
}

/// What the bridge asks its runtime to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Queue this notification for these recipients.
    Notify {
        /// The recipients.
        to: Recipients,
        /// The notification.
        notification: Notification,
    },
    /// List HylaFAX's queues (`JOBFMT` [`crate::queue::JOB_FORMAT`], `LIST
    /// sendq`, `LIST doneq`) and pass both listings to
    /// [`Bridge::handle_listing`] (or call [`Bridge::handle_listing_failed`]).
    ListQueues,
    /// List HylaFAX's receive queue (`RCVFMT` [`crate::received::RECV_FORMAT`],
    /// `LIST recvq`) and pass it to [`Bridge::handle_received_listing`] (or
    /// call [`Bridge::handle_received_listing_failed`]).
    ListReceived,
    /// Something an administrator should see in the log (a line that is not
    /// an event, a job that vanished, memory bounds reached).
    Warning(String),
}

/// One job being followed.
#[derive(Debug, Default)]
struct Job {
    /// The faxnotify user it is reported to, once a listing named its owner.
    user: Option<String>,
    pages_total: u16,
    /// Attempts begun (the listing's tries, then one per "Begin attempt").
    attempt: u16,
    dest: String,
    queued_sent: bool,
    final_sent: bool,
    /// The events handled so far say HylaFAX has prepared the job
    /// ("Preparation finished", or any stage of sending): its page total is
    /// reported from then on.
    prepared: bool,
    /// The job as the latest listing showed it.
    record: Option<JobRecord>,
}

/// A reception in progress.
#[derive(Debug, Default, Clone)]
struct Reception {
    caller_id: Vec<String>,
    tsi: String,
    subaddress: String,
}

/// The bridge's state. See the module documentation for the call order.
#[derive(Debug)]
pub struct Bridge {
    routing: Routing,
    splitter: LineSplitter,
    out: VecDeque<Output>,
    jobs: BTreeMap<u64, Job>,
    finished: BTreeSet<u64>,
    /// Set by the first listing: jobs already finished before the bridge
    /// started are never reported.
    baseline_taken: bool,
    devices: BTreeMap<String, DeviceState>,
    caller_ids: VecDeque<Vec<String>>,
    receptions: BTreeMap<u64, Reception>,
    /// Events waiting, each for the listing number it needs (0: none).
    pending: VecDeque<(u64, Event)>,
    /// Listings asked for so far, the number of the latest one received,
    /// and whether one is being made.
    issued: u64,
    done: u64,
    in_flight: bool,
    /// Another listing is wanted once the one being made arrives.
    wanted: bool,
    /// The listing being made follows a (re)connect.
    reconcile_in_flight: bool,
    reconcile_wanted: bool,
    /// Received faxes reported, to notice them leaving the receive queue.
    received: ReceivedFaxes,
}

impl Bridge {
    /// A bridge routing with `routing`.
    pub fn new(routing: Routing) -> Bridge {
        Bridge {
            routing,
            splitter: LineSplitter::new(),
            out: VecDeque::new(),
            jobs: BTreeMap::new(),
            finished: BTreeSet::new(),
            baseline_taken: false,
            devices: BTreeMap::new(),
            caller_ids: VecDeque::new(),
            receptions: BTreeMap::new(),
            pending: VecDeque::new(),
            issued: 0,
            done: 0,
            in_flight: false,
            wanted: false,
            reconcile_in_flight: false,
            reconcile_wanted: false,
            received: ReceivedFaxes::default(),
        }
    }

    /// A new routing (the configuration file was edited): events handled
    /// from now on are routed with it. A job already followed keeps the
    /// user its owner was mapped to, so that its statuses do not move
    /// between users halfway.
    pub fn set_routing(&mut self, routing: Routing) {
        self.routing = routing;
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The trigger stream is (re)established: list the queues to take the
    /// baseline (first time) or to report what finished meanwhile.
    pub fn handle_connected(&mut self) {
        self.splitter = LineSplitter::new();
        self.request_listing(true);
    }

    /// The trigger stream is gone; a partial line is dropped.
    pub fn handle_disconnected(&mut self) {
        self.splitter = LineSplitter::new();
    }

    /// Bytes read from the trigger stream.
    pub fn handle_stream(&mut self, now_ms: u64, data: &[u8]) {
        self.splitter.push(data);
        while let Some(line) = self.splitter.next_line() {
            match line {
                Line::Text(text) if text.is_empty() => {}
                Line::Text(text) => match Event::parse(&text) {
                    Ok(event) => self.handle_event(now_ms, event),
                    Err(e) => self.warn(format!(
                        "ignored a line of hfaxd's event stream ({e}): {}",
                        clean(&text, 200)
                    )),
                },
                Line::Overlong { len } => self.warn(format!(
                    "ignored a {len}-byte line of hfaxd's event stream (over the limit)"
                )),
            }
        }
    }

    /// The queue listings asked for by [`Output::ListQueues`] (`sendq` and
    /// `doneq` one after the other).
    pub fn handle_listing(&mut self, now_ms: u64, data: &[u8]) {
        let mut splitter = LineSplitter::new();
        splitter.push(data);
        splitter.push(b"\n");
        let mut records = BTreeMap::new();
        while let Some(line) = splitter.next_line() {
            let Line::Text(text) = line else { continue };
            if text.is_empty() {
                continue;
            }
            match JobRecord::parse(&text) {
                Ok(record) => {
                    records.insert(record.id, record);
                }
                Err(e) => self.warn(format!(
                    "ignored a line of hfaxd's queue listing ({e}): {}",
                    clean(&text, 200)
                )),
            }
        }
        let reconcile = std::mem::take(&mut self.reconcile_in_flight);
        self.in_flight = false;
        self.done = self.issued;
        if reconcile {
            self.reconcile(&records);
        }
        // Owners, page totals and states of the jobs being followed.
        for (id, job) in &mut self.jobs {
            let Some(record) = records.get(id) else {
                job.record = None;
                continue;
            };
            job.pages_total = job.pages_total.max(record.pages_total);
            if job.user.is_none() {
                job.user = Some(self.routing.user_of_owner(&record.owner));
                job.attempt = job.attempt.max(record.tries);
            }
            job.record = Some(record.clone());
        }
        while let Some((needs, _)) = self.pending.front() {
            if *needs > self.done {
                break;
            }
            if let Some((_, event)) = self.pending.pop_front() {
                self.process(now_ms, event);
            }
        }
        if std::mem::take(&mut self.wanted) {
            let reconcile = std::mem::take(&mut self.reconcile_wanted);
            self.request_listing(reconcile);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next (Unix ms), if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.received.next_listing_ms()
    }

    /// Time passed: asks for the receive queue's listing when it is due.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.received.listing_due(now_ms) {
            self.out.push_back(Output::ListReceived);
        }
    }

    /// The receive queue listing asked for by [`Output::ListReceived`]:
    /// every reported fax it no longer shows is FAX_UPDATED "deleted" for
    /// the users it was reported to, `by` HylaFAX: it does not say who
    /// deleted it.
    pub fn handle_received_listing(&mut self, data: &[u8]) {
        for gone in self.received.handle_listing(data) {
            self.out.push_back(Output::Notify {
                to: Recipients::Users(gone.users),
                notification: Notification::FaxUpdated(FaxUpdated {
                    job: gone.commid,
                    change: FaxChange::Deleted,
                    by: Text::from_static("HylaFAX"),
                    comment: Text::from_static("no longer in the receive queue"),
                }),
            });
        }
    }

    /// The receive queue listing could not be made; it is asked for again when due.
    pub fn handle_received_listing_failed(&mut self) {
        self.received.listing_failed();
    }

    /// The listing could not be made (hfaxd went away): events stay queued
    /// and the next [`handle_connected`](Self::handle_connected) asks again.
    pub fn handle_listing_failed(&mut self) {
        self.in_flight = false;
        self.wanted = false;
        // A failed reconcile is retried with the next connection's.
        self.reconcile_in_flight = false;
        self.reconcile_wanted = false;
    }

    fn request_listing(&mut self, reconcile: bool) {
        if self.in_flight {
            self.wanted = true;
            self.reconcile_wanted |= reconcile;
            return;
        }
        self.in_flight = true;
        self.reconcile_in_flight = reconcile;
        self.issued += 1;
        self.out.push_back(Output::ListQueues);
    }

    fn warn(&mut self, text: String) {
        self.out.push_back(Output::Warning(text));
    }

    /// Queues `event` behind those waiting, or handles it at once.
    fn handle_event(&mut self, now_ms: u64, event: Event) {
        let needs_listing = match &event.subject {
            Subject::Job { id, dest, .. } => {
                let id = *id;
                if self.finished.contains(&id) {
                    return;
                }
                if !self.jobs.contains_key(&id) {
                    if !is_job_progress(event.code) {
                        return;
                    }
                    self.make_room_for_job();
                    self.jobs.insert(id, Job::default());
                }
                let Some(job) = self.jobs.get_mut(&id) else {
                    return;
                };
                if !dest.is_empty() {
                    job.dest = dest.clone();
                }
                // The outcome and the retry time are only correct in a
                // listing made after the event, the page total after
                // preparation; anything needs the owner.
                job.user.is_none()
                    || matches!(
                        event.code,
                        codes::JOB_PREP_END
                            | codes::SEND_REQUEUE
                            | codes::SEND_DONE
                            | codes::JOB_DEAD
                            | codes::JOB_KILL
                    )
            }
            _ => false,
        };
        if needs_listing {
            let needs = self.issued + 1;
            self.request_listing(false);
            self.enqueue(needs, event);
        } else if !self.pending.is_empty() {
            self.enqueue(0, event);
        } else {
            self.process(now_ms, event);
        }
    }

    fn enqueue(&mut self, needs: u64, event: Event) {
        if self.pending.len() >= MAX_PENDING {
            self.warn(format!(
                "more than {MAX_PENDING} events wait for hfaxd's queue listing; \
                 the oldest is dropped"
            ));
            self.pending.pop_front();
        }
        self.pending.push_back((needs, event));
    }

    fn process(&mut self, now_ms: u64, event: Event) {
        match &event.subject {
            Subject::Job { id, .. } => {
                let id = *id;
                let Some(job) = self.jobs.get(&id) else {
                    return;
                };
                if job.user.is_none() {
                    self.warn(format!(
                        "job {id} is not in hfaxd's queues, so its owner is unknown: \
                         its event \"{}\" is not reported",
                        event.text
                    ));
                    return;
                }
                let record = job.record.clone();
                self.job_event_to_notification(id, &event, record.as_ref());
                if self.jobs.get(&id).is_some_and(|j| j.final_sent) {
                    self.jobs.remove(&id);
                }
            }
            Subject::Modem { device } => {
                let device = device.clone();
                self.handle_modem_event(&device, event);
            }
            Subject::Receive { commid } => {
                let commid = *commid;
                self.handle_receive_event(now_ms, commid, event);
            }
            Subject::Other { .. } => {}
        }
    }

    /// Forgets the oldest finished job (or, failing that, the oldest job)
    /// when the table is full.
    fn make_room_for_job(&mut self) {
        if self.jobs.len() < MAX_JOBS {
            return;
        }
        let victim = self
            .jobs
            .iter()
            .find(|(_, j)| j.final_sent)
            .or_else(|| self.jobs.iter().next())
            .map(|(id, _)| *id);
        if let Some(id) = victim {
            self.jobs.remove(&id);
            self.warn(format!(
                "following more than {MAX_JOBS} jobs: job {id} is no longer followed"
            ));
        }
    }

    fn job_event_to_notification(&mut self, id: u64, event: &Event, record: Option<&JobRecord>) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        if job.final_sent {
            return;
        }
        // Counted here, in the stream's order, not as the event arrives: an
        // earlier event still waiting for a listing must not report it.
        if event.code == codes::SEND_BEGIN {
            job.attempt = job.attempt.saturating_add(1);
        }
        job.prepared |= follows_preparation(event.code);
        if matches!(event.code, codes::SEND_CALL | codes::SEND_PAGE) && job.attempt == 0 {
            // Followed from mid-attempt (after a reconnect): the listing's
            // tries count finished attempts, this is the next one.
            job.attempt = record.map_or(1, |r| r.tries.saturating_add(1));
        }
        let (state, page, detail) = match event.code {
            // "Ready to send" names the destination; "Created" does not yet.
            codes::JOB_READY if !job.queued_sent => {
                job.queued_sent = true;
                (JobState::Queued, 0, format!("to {}", job.dest))
            }
            codes::JOB_BLOCKED => (JobState::Blocked, 0, event.text.clone()),
            codes::SEND_CALL => (JobState::Dialing, 0, format!("dialing {}", job.dest)),
            codes::SEND_PAGE => {
                let page = event.page_sent().unwrap_or(0);
                (JobState::Sending, page, format!("page {page} sent"))
            }
            codes::SEND_REQUEUE => {
                let Some(record) = record else { return };
                if record.state.is_final() {
                    // Already over: the outcome event reports it.
                    return;
                }
                let detail = if record.next_try > 0 {
                    format!(
                        "next try at {} UTC: {}",
                        time_of_day(record.next_try),
                        record.status
                    )
                } else {
                    record.status.clone()
                };
                (JobState::Retrying, 0, detail)
            }
            codes::SEND_DONE | codes::JOB_DEAD | codes::JOB_KILL => {
                let Some(record) = record else {
                    let detail = event.text.clone();
                    self.warn(format!(
                        "job {id} is no longer in hfaxd's queues: its outcome is unknown \
                         (the event said \"{detail}\")"
                    ));
                    return;
                };
                if !record.state.is_final() && event.code != codes::JOB_KILL {
                    // A failed attempt that will be retried: 125 says so.
                    return;
                }
                let (state, detail) = outcome_of(record, event.code == codes::JOB_KILL);
                job.final_sent = true;
                let notification = Notification::JobStatus(JobStatus {
                    job: id,
                    state,
                    page: record.pages_sent,
                    pages: record.pages_total.max(job.pages_total),
                    attempt: job.attempt,
                    detail: detail.into(),
                });
                let user = job.user.clone().unwrap_or_default();
                self.finished_insert(id);
                self.out.push_back(Output::Notify {
                    to: Recipients::Users(vec![user]),
                    notification,
                });
                return;
            }
            _ => return,
        };
        // HylaFAX counts the pages as it prepares the job. A listing asked
        // for at an earlier event may have been made after that (it raced
        // the preparation under load), so the total is only reported once
        // the stream has said the job is prepared: until then it is 0, not
        // yet known, whatever the listings' timing.
        let pages = if job.prepared {
            record.map_or(job.pages_total, |r| r.pages_total.max(job.pages_total))
        } else {
            0
        };
        let notification = Notification::JobStatus(JobStatus {
            job: id,
            state,
            page,
            pages,
            attempt: job.attempt,
            detail: clean(detail.as_bytes(), MAX_DETAIL).into(),
        });
        let user = job.user.clone().unwrap_or_default();
        self.out.push_back(Output::Notify {
            to: Recipients::Users(vec![user]),
            notification,
        });
    }

    fn finished_insert(&mut self, id: u64) {
        self.finished.insert(id);
        while self.finished.len() > MAX_FINISHED {
            self.finished.pop_first();
        }
    }

    /// After a (re)connect: the first listing is the baseline; later ones
    /// report the outcome of every job that finished while the stream was
    /// away and that no queued event of ours will report.
    fn reconcile(&mut self, records: &BTreeMap<u64, JobRecord>) {
        if !self.baseline_taken {
            self.baseline_taken = true;
            for (id, record) in records {
                if record.state.is_final() {
                    self.finished_insert(*id);
                }
            }
            return;
        }
        for (id, record) in records {
            if !record.state.is_final() || self.finished.contains(id) {
                continue;
            }
            // A queued event of this job reports it, in order.
            if self
                .pending
                .iter()
                .any(|(_, e)| matches!(e.subject, Subject::Job { id: j, .. } if j == *id))
            {
                continue;
            }
            let job = self.jobs.remove(id).unwrap_or_default();
            let user = job
                .user
                .unwrap_or_else(|| self.routing.user_of_owner(&record.owner));
            let (state, detail) = outcome_of(record, false);
            self.finished_insert(*id);
            self.out.push_back(Output::Notify {
                to: Recipients::Users(vec![user]),
                notification: Notification::JobStatus(JobStatus {
                    job: *id,
                    state,
                    page: record.pages_sent,
                    pages: record.pages_total,
                    attempt: job.attempt.max(record.tries),
                    detail: detail.into(),
                }),
            });
        }
    }

    // ---- modems ----

    fn handle_modem_event(&mut self, device: &str, event: Event) {
        let state = match event.code {
            codes::MODEM_DOWN | codes::MODEM_WEDGED => DeviceState::Down,
            codes::MODEM_READY | codes::MODEM_RELEASE => DeviceState::Up,
            codes::MODEM_BUSY | codes::MODEM_ASSIGN => DeviceState::Busy,
            codes::MODEM_CID => {
                if self.caller_ids.len() >= MAX_RECEPTIONS {
                    self.caller_ids.pop_front();
                }
                self.caller_ids.push_back(event.caller_id());
                return;
            }
            _ => return,
        };
        if self.devices.get(device) == Some(&state) {
            return;
        }
        if !self.devices.contains_key(device) && self.devices.len() >= MAX_DEVICES {
            self.warn(format!(
                "more than {MAX_DEVICES} modems: {device}'s state is not followed"
            ));
            return;
        }
        self.devices.insert(device.to_owned(), state);
        self.out.push_back(Output::Notify {
            to: Recipients::All,
            notification: Notification::DeviceStatus(DeviceStatus {
                device: device.into(),
                state,
                detail: event.text.into(),
            }),
        });
    }

    // ---- receptions ----

    fn handle_receive_event(&mut self, now_ms: u64, commid: Option<u64>, event: Event) {
        let Some(commid) = commid else { return };
        match event.code {
            codes::RECV_START => {
                // The stream does not say which modem answered: the call's
                // caller id is the oldest one not yet claimed.
                let reception = Reception {
                    caller_id: self.caller_ids.pop_front().unwrap_or_default(),
                    tsi: event.tsi().unwrap_or_default(),
                    subaddress: event.subaddress().unwrap_or_default(),
                };
                if self.receptions.len() >= MAX_RECEPTIONS {
                    self.receptions.pop_first();
                }
                self.receptions.insert(commid, reception);
            }
            codes::RECV_DOC => {
                let reception = self.receptions.remove(&commid).unwrap_or_default();
                let value = |index: usize| {
                    index
                        .checked_sub(1)
                        .and_then(|i| reception.caller_id.get(i))
                        .cloned()
                        .unwrap_or_default()
                };
                let did = value(self.routing.callid_did);
                let mut from = value(self.routing.callid_number);
                if from.is_empty() {
                    from = if reception.tsi.is_empty() {
                        event.tsi().unwrap_or_default()
                    } else {
                        reception.tsi.clone()
                    };
                }
                let to = if did.is_empty() {
                    reception.subaddress.clone()
                } else {
                    did.clone()
                };
                let users = self.routing.recipients_of_fax(&did, &reception.subaddress);
                if users.is_empty() {
                    self.warn(format!(
                        "a fax (commid {commid}) to \"{to}\" matches no route and \
                         `unrouted` is empty: nobody is told"
                    ));
                    return;
                }
                if let Some(file) = event.received_file() {
                    self.received.add(now_ms, &file, commid, users.clone());
                }
                self.out.push_back(Output::Notify {
                    to: Recipients::Users(users),
                    notification: Notification::FaxReceived(FaxReceived {
                        job: commid,
                        from: clean(from.as_bytes(), MAX_PARTY).into(),
                        to: clean(to.as_bytes(), MAX_PARTY).into(),
                        pages: event.pages_received().unwrap_or(0),
                        received_at_ms: at_time_of_day(now_ms, event.time.seconds()),
                    }),
                });
            }
            _ => {}
        }
    }
}

/// Codes that start or continue following a job the bridge has not seen
/// (a job's later events are followed whatever their code).
fn is_job_progress(code: u16) -> bool {
    (codes::JOB_CREATE..codes::RECV_BEGIN).contains(&code) && code != codes::JOB_REAP
}

/// Codes HylaFAX posts for a job only once it has prepared the job's
/// documents: "Preparation finished" and every stage of sending.
fn follows_preparation(code: u16) -> bool {
    code == codes::JOB_PREP_END || (codes::SEND_BEGIN..=codes::SEND_DONE).contains(&code)
}

/// A finished job's state and detail, from its listing.
fn outcome_of(record: &JobRecord, killed: bool) -> (JobState, String) {
    let pages = format!(
        "{} of {} page(s) sent",
        record.pages_sent, record.pages_total
    );
    match record.state {
        QueueState::Done => (JobState::Completed, pages),
        _ if killed => (JobState::Cancelled, with_reason("removed", &record.status)),
        _ => (JobState::Failed, with_reason(&pages, &record.status)),
    }
}

/// `reason (what)`, at most [`MAX_DETAIL`] bytes: HylaFAX's reason (its
/// own bound is [`MAX_DETAIL`] too) gives way, so that what happened
/// ("0 of 2 page(s) sent") always fits.
fn with_reason(what: &str, reason: &str) -> String {
    if reason.is_empty() {
        return what.to_owned();
    }
    let room = MAX_DETAIL.saturating_sub(what.len() + " ()".len());
    format!("{} ({what})", clean(reason.as_bytes(), room))
}

/// `HH:MM:SS` of a Unix time.
fn time_of_day(unix_secs: u64) -> String {
    let s = unix_secs % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// The Unix milliseconds of `seconds` past midnight UTC on the day of
/// `now_ms`, or the day before when that would be over an hour ahead
/// (an event just before midnight, handled just after).
fn at_time_of_day(now_ms: u64, seconds: u32) -> u64 {
    const DAY: u64 = 86_400_000;
    let t = now_ms - now_ms % DAY + u64::from(seconds) * 1000;
    if t > now_ms.saturating_add(3_600_000) {
        t.saturating_sub(DAY)
    } else {
        t
    }
}

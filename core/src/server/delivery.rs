//! One session's notification queue: sequence numbers, the window of
//! notifications in flight, cumulative acknowledgement and resending
//! [B-2] [B-4] [B-6] [D-9].
//!
//! The queue holds every notification not yet acknowledged, in seq order;
//! seqs are implicit (`acked + 1 + index`), so an entry is the notification
//! itself: a kind byte and its payload, small ones inline (no shared buffer
//! whose reference count the event loop would drop at every ACK). `sent`
//! marks how far the current path got: on a path change it drops back to
//! `acked` and everything unacknowledged goes out again from the lowest
//! seq.

use std::collections::VecDeque;

use super::events::Undelivered;
use crate::wire::EncodedNotification;

/// A queued notification: its NOTIFY's kind and payload, as the
/// application encoded it (48 bytes, a small payload inline), moved in
/// without a copy of a shared buffer's reference count.
pub(crate) type Queued = EncodedNotification;

/// Why an acknowledgement breaks [B-2].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SeqViolation {
    /// ACK seq or CB_READY last_seq above the highest seq sent.
    AboveSent { seq: u64, max_sent: u64 },
    /// CB_READY last_seq below the highest seq acknowledged when CB_HELLO
    /// was sent [D-14].
    BelowAcked { seq: u64, acked: u64 },
}

impl SeqViolation {
    pub(crate) fn message(&self, what: &str) -> String {
        match self {
            SeqViolation::AboveSent { seq, max_sent } => {
                format!("{what} {seq} is above the highest seq sent ({max_sent})")
            }
            SeqViolation::BelowAcked { seq, acked } => format!(
                "{what} {seq} is below the highest seq acknowledged before CB_HELLO ({acked})"
            ),
        }
    }
}

/// Seqs newly acknowledged: `first..=last`.
pub(crate) type AckedRange = (u64, u64);

#[derive(Debug, Default)]
pub(crate) struct Delivery {
    queue: VecDeque<Queued>,
    /// Highest seq acknowledged (0: none).
    acked: u64,
    /// Highest seq sent on the current path (`acked <= sent <= last_seq`).
    sent: u64,
    /// Highest seq ever sent in this session, on any path: the bound of [B-2].
    max_sent: u64,
    /// Cluster mode [D-17]: the highest seq the client said it had from the
    /// session's previous server, when that is above what this server
    /// holds (`acked` once caught up). Seqs up to it that arrive from the
    /// log are acknowledged on arrival, not sent again.
    claimed: u64,
    /// Cluster mode [D-17]: restored from a record, and no ACK or CB_READY
    /// read since. The first one may exceed what this server sent: it says
    /// what the client had from the previous server.
    unconfirmed_restore: bool,
    /// A notification was queued since the last [`Delivery::release_if_idle`]:
    /// the session is busy, so its queue keeps its buffer.
    busy: bool,
}

/// What became of a notification given with its seq [D-17].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PushAt {
    /// Queued at its seq.
    Queued,
    /// At or below the acknowledged seq: nothing to do.
    AlreadyAcked,
    /// At or below what the client claimed on resume: acknowledged now.
    AckedOnArrival,
    /// The queue is full [B-6].
    Full,
    /// Not the next seq (`expected`): skips ahead.
    Gap { expected: u64 },
    /// Not the next seq (`expected`): already queued.
    Repeat { expected: u64 },
    /// `u64::MAX`, past the last seq a session can have.
    PastEnd,
}

impl Delivery {
    /// The seq of the newest notification (0 before the first).
    pub(crate) fn last_seq(&self) -> u64 {
        self.acked + self.queue.len() as u64
    }

    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }

    /// Notifications held (sent or not), all unacknowledged.
    pub(crate) fn depth(&self) -> usize {
        self.queue.len()
    }

    /// Notifications sent on the current path and not acknowledged.
    pub(crate) fn in_flight(&self) -> u64 {
        self.sent - self.acked
    }

    /// A session restored from the cluster's record [D-17]: everything up
    /// to `acked` was acknowledged on another server; the next seq is
    /// `acked + 1`.
    pub(crate) fn restored(acked: u64) -> Self {
        Self {
            acked,
            sent: acked,
            max_sent: acked,
            claimed: acked,
            unconfirmed_restore: true,
            ..Self::default()
        }
    }

    /// Queues a notification at the seq the shared log gave it [D-17].
    pub(crate) fn push_at(&mut self, seq: u64, notification: Queued, limit: usize) -> PushAt {
        if seq <= self.acked {
            return PushAt::AlreadyAcked;
        }
        if seq == u64::MAX {
            // Never queued, so `last_seq() + 1` below cannot overflow: the
            // newest seq is `u64::MAX` only when it is acknowledged (a
            // session restored there), and then every seq returned above.
            return PushAt::PastEnd;
        }
        let expected = self.last_seq() + 1;
        if seq < expected {
            return PushAt::Repeat { expected };
        }
        if seq > expected {
            return PushAt::Gap { expected };
        }
        if seq <= self.claimed {
            // The queue is empty here: a claim acknowledges all it holds.
            self.acked = seq;
            self.sent = self.sent.max(seq);
            self.max_sent = self.max_sent.max(seq);
            return PushAt::AckedOnArrival;
        }
        match self.push(notification, limit) {
            Some(_) => PushAt::Queued,
            None => PushAt::Full,
        }
    }

    /// Queues a notification and returns its seq, or `None` if `limit`
    /// notifications are already held [B-6].
    // Inlined: the hot notify paths call it once per notification.
    #[inline]
    pub(crate) fn push(&mut self, notification: Queued, limit: usize) -> Option<u64> {
        if self.queue.len() >= limit {
            return None;
        }
        if self.queue.capacity() == 0 {
            // Room for one, not the four a first push reserves: sessions
            // that get one notification at a time (window 1, or a client
            // that acknowledges before the next) never need more, and a
            // burst grows the buffer as usual.
            self.queue.reserve_exact(1);
        }
        self.busy = true;
        self.queue.push_back(notification);
        Some(self.last_seq())
    }

    /// The path changed: resend everything unacknowledged, from the lowest [B-4].
    pub(crate) fn rewind(&mut self) {
        self.sent = self.acked;
    }

    /// Whether a notification waits to be sent and the window has room.
    pub(crate) fn can_send(&self, window: u32) -> bool {
        self.sent < self.last_seq() && self.in_flight() < u64::from(window)
    }

    /// Everything to send now on the current path, as far as the window
    /// has room, marked sent: the first one's seq and the notifications in
    /// seq order, as two slices of the queue (front, then back; either may
    /// be empty); none if nothing waits or the window is full. One call
    /// for the window, so that their NOTIFYs are written back to back.
    // Inlined: once per pump, on the hottest path.
    #[inline]
    pub(crate) fn take_to_send(&mut self, window: u32) -> (u64, [&[Queued]; 2]) {
        let first = self.sent + 1;
        let room = u64::from(window).saturating_sub(self.in_flight());
        let count = (self.last_seq() - self.sent).min(room) as usize;
        // Indices into the queue, which starts at `acked + 1`.
        let start = (self.sent - self.acked) as usize;
        let end = start + count;
        self.sent += count as u64;
        self.max_sent = self.max_sent.max(self.sent);
        if count == 1 {
            // The usual case at window 1 (after each ACK): one index costs
            // less than splitting the deque into its slices.
            return (first, [std::slice::from_ref(&self.queue[start]), &[]]);
        }
        // Plain slices: iterating them costs less than a deque's range.
        let (front, back) = self.queue.as_slices();
        let at = front.len();
        let front = &front[start.min(at)..end.min(at)];
        let back = &back[start.saturating_sub(at)..end.saturating_sub(at)];
        (first, [front, back])
    }

    /// A cumulative ACK. At or below `acked` it is a harmless repeat [D-9].
    pub(crate) fn ack(&mut self, seq: u64) -> Result<Option<AckedRange>, SeqViolation> {
        let bound = self.max_sent.max(self.claimed);
        if seq > bound {
            if !self.unconfirmed_restore {
                return Err(SeqViolation::AboveSent {
                    seq,
                    max_sent: bound,
                });
            }
            // [D-17]: the first acknowledgement after a restore states
            // what the client had from the previous server.
            self.claimed = seq;
        }
        self.unconfirmed_restore = false;
        // Beyond what is held only after a restore's claim.
        let upto = seq.min(self.last_seq());
        if upto <= self.acked {
            return Ok(None);
        }
        let first = self.acked + 1;
        // One at a time: usually one or a few, where a `drain` costs more
        // than the entries.
        for _ in self.acked..upto {
            self.queue.pop_front();
        }
        self.acked = upto;
        // A late ACK [D-1] can cover seqs not yet resent on the new path.
        self.sent = self.sent.max(upto);
        self.max_sent = self.max_sent.max(upto);
        Ok(Some((first, upto)))
    }

    /// CB_READY.last_seq: the client already has everything up to it [B-2]
    /// [B-4]. `floor` is the highest seq acknowledged when CB_HELLO was
    /// sent: below it the client went back, which is a violation; between it
    /// and what was acknowledged since (ACKs that crossed the handshake on
    /// another path) the CB_READY is merely stale and discards nothing more
    /// [D-14].
    pub(crate) fn ready(
        &mut self,
        last_seq: u64,
        floor: u64,
    ) -> Result<Option<AckedRange>, SeqViolation> {
        if last_seq < floor {
            return Err(SeqViolation::BelowAcked {
                seq: last_seq,
                acked: floor,
            });
        }
        self.ack(last_seq)
    }

    /// Gives the queue's buffer back when nothing is held and nothing was
    /// queued since the previous call, which the session's timer makes
    /// about once a lease: a session idle for that long holds no buffer,
    /// and one that is busy keeps it, so a steady flow of notifications
    /// does not allocate and free it over and over.
    pub(crate) fn release_if_idle(&mut self) {
        if !self.busy && self.queue.is_empty() && self.queue.capacity() > 0 {
            self.queue = VecDeque::new();
        }
        self.busy = false;
    }

    /// The capacity of the queue's buffer, in notifications.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// Empties the queue, for reporting when the session ends [C-10]
    /// (an inline payload is copied into a buffer of its own here: the
    /// event is the application's to keep).
    pub(crate) fn take_undelivered(&mut self) -> Vec<Undelivered> {
        // `acked + 1` only for an entry held: `acked` may be `u64::MAX`
        // (a session restored at the end of its seqs) with none [D-17].
        let acked = self.acked;
        let out = self
            .queue
            .drain(..)
            .enumerate()
            .map(|(i, q)| Undelivered {
                seq: acked + 1 + i as u64,
                kind: q.kind(),
                payload: q.payload_bytes(),
            })
            .collect();
        self.sent = self.acked;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A notification of `kind` whose one-byte payload is `n`.
    fn note(kind: u8, n: u8) -> Queued {
        EncodedNotification::from_slice(kind, &[n]).unwrap()
    }

    fn send_all(d: &mut Delivery, window: u32) -> Vec<u64> {
        let (first, [front, back]) = d.take_to_send(window);
        (first..first + (front.len() + back.len()) as u64).collect()
    }

    #[test]
    fn seqs_start_at_one_and_grow_by_one() {
        let mut d = Delivery::default();
        assert_eq!(d.push(note(3, 1), 10), Some(1));
        assert_eq!(d.push(note(3, 2), 10), Some(2));
        assert_eq!(d.last_seq(), 2);
        assert_eq!(send_all(&mut d, 64), vec![1, 2]);
    }

    #[test]
    fn the_window_bounds_what_is_in_flight() {
        let mut d = Delivery::default();
        for i in 0..10 {
            d.push(note(1, i), 100).unwrap();
        }
        assert_eq!(send_all(&mut d, 4), vec![1, 2, 3, 4]);
        assert_eq!(d.in_flight(), 4);
        // A cumulative ACK opens the window by as much as it acknowledges.
        assert_eq!(d.ack(2), Ok(Some((1, 2))));
        assert_eq!(send_all(&mut d, 4), vec![5, 6]);
        assert_eq!(d.in_flight(), 4);
        assert_eq!(d.ack(6), Ok(Some((3, 6))));
        assert_eq!(send_all(&mut d, 4), vec![7, 8, 9, 10]);
        assert_eq!(d.ack(10), Ok(Some((7, 10))));
        assert_eq!(d.depth(), 0);
        assert_eq!(send_all(&mut d, 4), Vec::<u64>::new());
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut d = Delivery::default();
        assert_eq!(d.push(note(1, 0), 2), Some(1));
        assert_eq!(d.push(note(1, 0), 2), Some(2));
        assert_eq!(d.push(note(1, 0), 2), None);
        send_all(&mut d, 64);
        d.ack(1).unwrap();
        assert_eq!(d.push(note(1, 0), 2), Some(3), "an ACK frees room");
    }

    #[test]
    fn acks_above_the_highest_sent_are_violations_repeats_are_not() {
        let mut d = Delivery::default();
        for i in 0..3 {
            d.push(note(1, i), 10).unwrap();
        }
        send_all(&mut d, 2); // 1 and 2 sent, 3 queued
        assert_eq!(
            d.ack(3),
            Err(SeqViolation::AboveSent {
                seq: 3,
                max_sent: 2
            })
        );
        assert_eq!(d.depth(), 3, "a violation discards nothing");
        assert_eq!(d.ack(2), Ok(Some((1, 2))));
        assert_eq!(d.ack(2), Ok(None));
        assert_eq!(d.ack(0), Ok(None));
    }

    #[test]
    fn rewind_resends_from_the_lowest_unacked() {
        let mut d = Delivery::default();
        for i in 0..5 {
            d.push(note(1, i), 10).unwrap();
        }
        assert_eq!(send_all(&mut d, 64), vec![1, 2, 3, 4, 5]);
        d.ack(2).unwrap();
        d.rewind();
        assert_eq!(send_all(&mut d, 64), vec![3, 4, 5]);
    }

    #[test]
    fn ready_discards_what_the_client_has_and_checks_bounds() {
        let mut d = Delivery::default();
        for i in 0..5 {
            d.push(note(1, i), 10).unwrap();
        }
        send_all(&mut d, 64);
        d.ack(2).unwrap();
        assert_eq!(
            d.ready(1, 2),
            Err(SeqViolation::BelowAcked { seq: 1, acked: 2 })
        );
        assert_eq!(
            d.ready(6, 2),
            Err(SeqViolation::AboveSent {
                seq: 6,
                max_sent: 5
            })
        );
        assert_eq!(d.depth(), 3, "a violation discards nothing");
        d.rewind();
        assert_eq!(d.ready(4, 2), Ok(Some((3, 4))));
        assert_eq!(send_all(&mut d, 64), vec![5]);
        assert_eq!(d.ready(5, 4), Ok(Some((5, 5))));
    }

    #[test]
    fn a_stale_ready_discards_nothing_more() {
        // [D-14]: CB_HELLO went out with 2 acknowledged; ACK 4 crossed the
        // handshake on another path, then CB_READY last_seq 3 arrived.
        let mut d = Delivery::default();
        for i in 0..6 {
            d.push(note(1, i), 10).unwrap();
        }
        send_all(&mut d, 64);
        d.ack(2).unwrap();
        d.ack(4).unwrap();
        d.rewind();
        assert_eq!(d.ready(3, 2), Ok(None), "nothing newly acknowledged");
        assert_eq!(d.ready(2, 2), Ok(None), "at the floor it is stale too");
        assert_eq!(d.acked(), 4);
        assert_eq!(send_all(&mut d, 64), vec![5, 6], "resent from above 4");
        assert_eq!(
            d.ready(1, 2),
            Err(SeqViolation::BelowAcked { seq: 1, acked: 2 })
        );
    }

    #[test]
    fn late_ack_beyond_the_new_paths_progress() {
        // [D-1]: seqs 1..=3 went out on the backchannel; the path switched and
        // only seq 1 was resent before the late ACK 3 arrived.
        let mut d = Delivery::default();
        for i in 0..4 {
            d.push(note(1, i), 10).unwrap();
        }
        assert_eq!(send_all(&mut d, 3), vec![1, 2, 3]);
        d.rewind();
        assert_eq!(send_all(&mut d, 1), vec![1]);
        assert_eq!(d.ack(3), Ok(Some((1, 3))));
        assert_eq!(send_all(&mut d, 64), vec![4]);
    }

    #[test]
    fn push_at_takes_only_the_next_seq() {
        let mut d = Delivery::default();
        assert_eq!(d.push_at(2, note(1, 2), 10), PushAt::Gap { expected: 1 });
        assert_eq!(d.push_at(1, note(1, 1), 1), PushAt::Queued);
        assert_eq!(d.push_at(1, note(1, 1), 1), PushAt::Repeat { expected: 2 });
        assert_eq!(d.push_at(2, note(1, 2), 1), PushAt::Full);
        send_all(&mut d, 64);
        d.ack(1).unwrap();
        assert_eq!(d.push_at(1, note(1, 1), 1), PushAt::AlreadyAcked);
        assert_eq!(d.push_at(2, note(1, 2), 1), PushAt::Queued);
    }

    #[test]
    fn a_restored_queue_takes_one_claim_beyond_what_it_sent() {
        // [D-17]: restored at 3; the client had up to 6 from elsewhere.
        let mut d = Delivery::restored(3);
        assert_eq!((d.last_seq(), d.acked()), (3, 3));
        assert_eq!(d.push_at(4, note(1, 4), 10), PushAt::Queued);
        assert_eq!(send_all(&mut d, 64), vec![4]);
        assert_eq!(d.ack(6), Ok(Some((4, 4))));
        assert_eq!(d.push_at(5, note(1, 5), 10), PushAt::AckedOnArrival);
        assert_eq!(d.push_at(6, note(1, 6), 10), PushAt::AckedOnArrival);
        assert_eq!(d.push_at(7, note(1, 7), 10), PushAt::Queued);
        assert_eq!(send_all(&mut d, 64), vec![7]);
        assert_eq!(d.ack(6), Ok(None), "a repeat");
        assert_eq!(
            d.ack(8),
            Err(SeqViolation::AboveSent {
                seq: 8,
                max_sent: 7
            }),
            "only the first acknowledgement may claim"
        );
        assert_eq!(d.ack(7), Ok(Some((7, 7))));
    }

    #[test]
    fn undelivered_lists_every_unacked_seq_in_order() {
        let mut d = Delivery::default();
        for i in 0..4 {
            d.push(note(10 + i, i), 10).unwrap();
        }
        send_all(&mut d, 2);
        d.ack(1).unwrap();
        let u = d.take_undelivered();
        let seqs: Vec<u64> = u.iter().map(|n| n.seq).collect();
        let kinds: Vec<u8> = u.iter().map(|n| n.kind).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
        assert_eq!(kinds, vec![11, 12, 13]);
        assert_eq!(d.depth(), 0);
    }

    #[test]
    fn undelivered_payloads_are_the_queued_bytes_inline_or_shared() {
        let mut d = Delivery::default();
        let long = vec![7; crate::wire::INLINE_PAYLOAD_LEN + 1];
        let shared = bytes::Bytes::from(long.clone());
        d.push(note(3, 1), 10).unwrap();
        d.push(Queued::from_payload(4, shared.clone()).unwrap(), 10)
            .unwrap();
        d.push(Queued::from_slice(5, &long).unwrap(), 10).unwrap();
        let u = d.take_undelivered();
        let got: Vec<(u8, &[u8])> = u.iter().map(|n| (n.kind, &n.payload[..])).collect();
        assert_eq!(got, [(3, &[1][..]), (4, &long[..]), (5, &long[..])]);
        assert_eq!(
            u[1].payload.as_ptr(),
            shared.as_ptr(),
            "a shared payload is handed back, not copied"
        );
    }

    #[test]
    fn one_at_a_time_holds_one_slot_and_an_idle_queue_gives_it_back() {
        let mut d = Delivery::default();
        assert_eq!(d.capacity(), 0, "nothing before the first notification");
        for seq in 1..=3 {
            d.push(note(1, 0), 10).unwrap();
            assert_eq!(send_all(&mut d, 1), vec![seq]);
            d.ack(seq).unwrap();
            assert_eq!(d.capacity(), 1, "one at a time needs one slot");
        }
        // Queued since the last check: busy, so the buffer stays.
        d.release_if_idle();
        assert_eq!(d.capacity(), 1);
        // Nothing queued since: idle, so it goes.
        d.release_if_idle();
        assert_eq!(d.capacity(), 0);
        // A burst grows it as usual; held entries are never released.
        for _ in 0..3 {
            d.push(note(1, 0), 10).unwrap();
        }
        assert!(d.capacity() >= 3);
        d.release_if_idle();
        d.release_if_idle();
        assert_eq!(d.depth(), 3, "nothing held is lost");
        assert_eq!(send_all(&mut d, 64), vec![4, 5, 6]);
    }
}

//! The server's view of one TCP connection: a control connection the
//! client opened, or a callback connection the server dialled.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::cluster::PendingClaim;
use super::delivery::Queued;
use super::login::PendingLogin;
use super::outbox::Outbox;
use crate::auth::SessionKey;
use crate::tls::TlsSession;
use crate::wire::{Decoder, Frame, FrameType, MAX_FRAME_LEN, MAX_PRELOGIN_FRAME_LEN, Nonce};
use crate::{ConnId, SessionId};

/// A NOTIFY's bytes before its payload: length, type, seq, kind, the
/// payload's length.
const NOTIFY_HEADER_LEN: usize = 16;

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) kind: ConnKind,
    pub(crate) decoder: Decoder,
    /// Frames written since the last `Transmit` (coalesced into one).
    pub(crate) out: Vec<u8>,
    /// The time of this connection's live heap entry (see `timers`).
    pub(crate) timer: Option<Instant>,
    /// The TLS session, when the server runs FNP/1 over TLS [T-1]: `out`
    /// then holds plaintext frames, sealed into records when flushed.
    pub(crate) tls: Option<Box<TlsSession>>,
}

#[derive(Debug)]
pub(crate) enum ConnKind {
    Control(Control),
    Callback(Callback),
}

#[derive(Debug)]
pub(crate) struct Control {
    /// The peer, IPv4-mapped addresses turned into IPv4 [C-1].
    pub(crate) peer: SocketAddr,
    pub(crate) phase: ControlPhase,
    /// Until ADVERTISE_OK [C-9]; `None` afterwards.
    pub(crate) handshake_deadline: Option<Instant>,
    /// `handshake_deadline` was moved once already because its timer was
    /// called late (see `deadlines.rs`).
    pub(crate) handshake_rechecked: bool,
    /// NOTIFYs went out on this connection (backchannel), which makes late
    /// ACKs on it legal [D-1].
    pub(crate) carried_backchannel: bool,
}

#[derive(Debug)]
pub(crate) enum ControlPhase {
    /// SERVER_HELLO sent.
    AwaitLogin,
    /// LOGIN_CHALLENGE sent.
    AwaitProof(Box<PendingLogin>),
    /// Cluster mode [D-17]: the proof was valid; waiting for the
    /// application's answer to the claim before LOGIN_OK.
    AwaitClaim(Box<PendingClaim>),
    /// LOGIN_OK sent; only ADVERTISE may follow [C-3].
    AwaitAdvertise(SessionId),
    /// ADVERTISE_OK sent.
    Established(SessionId),
}

impl Control {
    /// The earliest of the handshake deadline [C-9] and a waiting claim's
    /// timeout [D-17].
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            ControlPhase::AwaitClaim(claim) => Some(
                self.handshake_deadline
                    .map_or(claim.deadline, |d| d.min(claim.deadline)),
            ),
            _ => self.handshake_deadline,
        }
    }

    /// The claim this connection's login waits on, if any [D-17].
    pub(crate) fn claim(&self) -> Option<&PendingClaim> {
        match &self.phase {
            ControlPhase::AwaitClaim(claim) => Some(claim),
            _ => None,
        }
    }

    pub(crate) fn session(&self) -> Option<SessionId> {
        match self.phase {
            ControlPhase::AwaitAdvertise(s) | ControlPhase::Established(s) => Some(s),
            ControlPhase::AwaitLogin
            | ControlPhase::AwaitProof(_)
            | ControlPhase::AwaitClaim(_) => None,
        }
    }

    pub(crate) fn is_authenticated(&self) -> bool {
        self.session().is_some()
    }
}

#[derive(Debug)]
pub(crate) struct Callback {
    pub(crate) session: SessionId,
    /// The endpoint dialled: the control peer's IP and the advertised port [C-1].
    pub(crate) endpoint: SocketAddr,
    pub(crate) phase: CallbackPhase,
}

/// A callback's phase, with the times that matter in it: a deadline until
/// it is ready, then when traffic last went each way. Kept apart (one
/// field each), the three times made every connection 24 bytes larger,
/// and the server's boxed `Conn` one allocation class larger.
#[derive(Debug)]
pub(crate) enum CallbackPhase {
    /// `Connect` issued; waiting for `Connected` or `ConnectFailed`.
    Connecting {
        /// The end of the connect phase [B-7].
        deadline: Instant,
    },
    /// Connected; the listener speaks first with CB_CHALLENGE.
    AwaitChallenge {
        /// The end of the handshake [B-7].
        deadline: Instant,
    },
    /// CB_HELLO sent.
    AwaitReady {
        handshake: Box<CallbackHandshake>,
        /// The end of the handshake [B-7].
        deadline: Instant,
    },
    /// CB_READY verified: this is (or was) a delivery path.
    Ready {
        /// When the server last sent something here (keepalive [D-4]).
        last_sent: Instant,
        /// When the client last sent something here (dead callback [D-4]).
        last_received: Instant,
    },
}

/// What the server must remember between CB_HELLO and CB_READY.
#[derive(Debug)]
pub(crate) struct CallbackHandshake {
    pub(crate) client_nonce: Nonce,
    pub(crate) server_nonce: Nonce,
    /// The session key as of CB_HELLO (a resume changes the session's key,
    /// and closes this connection with it).
    pub(crate) key: SessionKey,
    /// The highest seq acknowledged when CB_HELLO was sent: the client had
    /// delivered at least this much before it could send CB_READY [D-14].
    pub(crate) acked_at_hello: u64,
    /// The callback's TLS channel binding [T-7] (`None` on plain TCP).
    pub(crate) binding: Option<crate::auth::ChannelBinding>,
}

impl Callback {
    /// BYE may be sent only after CB_HELLO (spec section 3).
    pub(crate) fn after_hello(&self) -> bool {
        matches!(
            self.phase,
            CallbackPhase::AwaitReady { .. } | CallbackPhase::Ready { .. }
        )
    }

    /// Whether CB_READY was verified.
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self.phase, CallbackPhase::Ready { .. })
    }

    /// The end of the connect or handshake phase [B-7]; `None` once ready.
    pub(crate) fn handshake_deadline(&self) -> Option<Instant> {
        match self.phase {
            CallbackPhase::Connecting { deadline }
            | CallbackPhase::AwaitChallenge { deadline }
            | CallbackPhase::AwaitReady { deadline, .. } => Some(deadline),
            CallbackPhase::Ready { .. } => None,
        }
    }

    /// Something went out here at `now` (only a ready callback keeps count).
    pub(crate) fn sent(&mut self, now: Instant) {
        if let CallbackPhase::Ready { last_sent, .. } = &mut self.phase {
            *last_sent = now;
        }
    }

    /// Something came in here at `now` (only a ready callback keeps count).
    pub(crate) fn received(&mut self, now: Instant) {
        if let CallbackPhase::Ready { last_received, .. } = &mut self.phase {
            *last_received = now;
        }
    }

    /// The earliest time something is due on this connection.
    pub(crate) fn next_deadline(
        &self,
        lease: Duration,
        ping_interval: Duration,
    ) -> Option<Instant> {
        match self.phase {
            CallbackPhase::Ready {
                last_sent,
                last_received,
            } => Some((last_sent + ping_interval).min(last_received + lease)),
            _ => self.handshake_deadline(),
        }
    }
}

impl Conn {
    pub(crate) fn control(peer: SocketAddr, handshake_deadline: Instant) -> Self {
        Self {
            kind: ConnKind::Control(Control {
                peer,
                phase: ControlPhase::AwaitLogin,
                handshake_deadline: Some(handshake_deadline),
                handshake_rechecked: false,
                carried_backchannel: false,
            }),
            decoder: Decoder::new(MAX_PRELOGIN_FRAME_LEN),
            out: Vec::new(),
            timer: None,
            tls: None,
        }
    }

    pub(crate) fn callback(session: SessionId, endpoint: SocketAddr, deadline: Instant) -> Self {
        Self {
            kind: ConnKind::Callback(Callback {
                session,
                endpoint,
                phase: CallbackPhase::Connecting { deadline },
            }),
            decoder: Decoder::new(MAX_FRAME_LEN),
            out: Vec::new(),
            timer: None,
            tls: None,
        }
    }

    /// A callback dial not yet reported connected.
    pub(crate) fn is_connecting(&self) -> bool {
        matches!(
            &self.kind,
            ConnKind::Callback(cb) if matches!(cb.phase, CallbackPhase::Connecting { .. })
        )
    }

    /// The session this connection serves, if any yet.
    pub(crate) fn session(&self) -> Option<SessionId> {
        match &self.kind {
            ConnKind::Control(c) => c.session(),
            ConnKind::Callback(c) => Some(c.session),
        }
    }

    /// The peer's address (for a callback, the endpoint dialled).
    pub(crate) fn peer(&self) -> SocketAddr {
        match &self.kind {
            ConnKind::Control(c) => c.peer,
            ConnKind::Callback(c) => c.endpoint,
        }
    }

    /// The frame length limit in force [F-1]: 4 145 on a control connection
    /// until LOGIN_OK, 65 535 otherwise ([D-12] for callbacks).
    pub(crate) fn frame_limit(&self) -> u32 {
        match &self.kind {
            ConnKind::Control(c) if !c.is_authenticated() => MAX_PRELOGIN_FRAME_LEN,
            _ => MAX_FRAME_LEN,
        }
    }

    /// Announces the connection to the outbox when its buffer is empty
    /// (its bytes leave with that `Flush`), taking a pooled buffer if it
    /// has none.
    fn start_write(&mut self, id: ConnId, outbox: &mut Outbox) {
        if self.out.is_empty() {
            outbox.flush_later(id);
            if self.out.capacity() == 0 {
                self.out = outbox.buffer();
            }
        }
    }

    /// Appends NOTIFYs of consecutive seqs from `first_seq`, back to back:
    /// the same bytes as encoding each `Frame::Notify`, without the general
    /// encoder's checks (each payload was checked to fit when it was
    /// queued) — this is the server's hottest write.
    pub(crate) fn write_notifies(
        &mut self,
        id: ConnId,
        first_seq: u64,
        notifications: &[Queued],
        now: Instant,
        outbox: &mut Outbox,
    ) {
        if notifications.is_empty() {
            return;
        }
        self.start_write(id, outbox);
        // The slice first: the seqs are taken only while notifications
        // remain, so the last seq a session can have does not overflow.
        for (notification, seq) in notifications.iter().zip(first_seq..) {
            let kind = notification.kind();
            let payload = notification.payload();
            debug_assert!(payload.len() <= crate::wire::MAX_PAYLOAD_LEN);
            // Length (type + body), type, seq, kind, the blob's length.
            let mut header = [0u8; NOTIFY_HEADER_LEN];
            header[..4].copy_from_slice(&(12 + payload.len() as u32).to_be_bytes());
            header[4] = FrameType::Notify.to_wire();
            header[5..13].copy_from_slice(&seq.to_be_bytes());
            header[13] = kind;
            header[14..].copy_from_slice(&(payload.len() as u16).to_be_bytes());
            // Exact for the first (a fresh buffer costs one allocation);
            // for the next ones the buffer grows by doubling as needed.
            self.out.reserve(header.len() + payload.len());
            self.out.extend_from_slice(&header);
            self.out.extend_from_slice(payload);
        }
        if let ConnKind::Callback(cb) = &mut self.kind {
            cb.sent(now);
        }
    }

    /// Appends a whole frame to the pending output, announcing the
    /// connection to the outbox when its buffer was empty.
    pub(crate) fn write(
        &mut self,
        id: ConnId,
        frame: &Frame<'_>,
        now: Instant,
        outbox: &mut Outbox,
    ) {
        self.start_write(id, outbox);
        // Reserve the exact size so that a frame costs at most one allocation.
        self.out.reserve(frame.encoded_len());
        if let Err(err) = frame.encode(&mut self.out) {
            // Every frame the server builds is within the protocol's limits
            // (strings are checked or constant, payloads checked by `notify`).
            debug_assert!(false, "server built an unencodable frame: {err}");
            tracing::error!(%id, %err, "server built an unencodable frame; dropped");
        }
        if let ConnKind::Callback(cb) = &mut self.kind {
            cb.sent(now);
        }
    }

    /// What to transmit now: the pending frames, sealed into TLS records
    /// (with any handshake records) on a TLS connection.
    /// The plaintext buffer of a TLS connection goes back to `outbox`'s pool.
    pub(crate) fn take_output(&mut self, outbox: &mut Outbox) -> Vec<u8> {
        let data = std::mem::take(&mut self.out);
        match self.tls.as_mut() {
            None => data,
            Some(tls) => {
                if !data.is_empty() {
                    tls.send(&data);
                }
                outbox.recycle(data);
                tls.take_output()
            }
        }
    }

    /// The channel binding of this connection's TLS session [T-6] (`None`
    /// on plain TCP, or before the handshake completes).
    pub(crate) fn channel_binding(&self) -> Option<crate::auth::ChannelBinding> {
        self.tls.as_ref().and_then(|t| t.channel_binding())
    }

    /// Appends bytes that are already a whole encoded frame.
    pub(crate) fn write_raw(&mut self, id: ConnId, bytes: &[u8], outbox: &mut Outbox) {
        self.start_write(id, outbox);
        self.out.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Notify;
    use bytes::Bytes;

    #[test]
    fn write_notifies_writes_what_the_encoder_writes() {
        let now = Instant::now();
        let id = crate::conn::ConnIdAllocator::default().allocate();
        let peer = SocketAddr::from(([192, 0, 2, 1], 6003));
        let session = SessionId::new(7).unwrap();
        let mut conn = Conn::callback(session, peer, now);
        let mut outbox = Outbox::default();
        conn.write_notifies(id, 1, &[], now, &mut outbox);
        assert!(conn.out.is_empty());
        assert!(outbox.is_empty(), "nothing written, nothing to flush");
        let payloads = [
            Bytes::new(),
            Bytes::from_static(b"x"),
            Bytes::from(vec![0xab; 300]),
        ];
        let first_seq = 0x0102_0304_0506_0708;
        let notifications: Vec<_> = payloads
            .iter()
            // Inline (the first two) and shared (the third) alike.
            .map(|payload| Queued::from_slice(200, payload).unwrap())
            .collect();
        conn.write_notifies(id, first_seq, &notifications, now, &mut outbox);
        let mut expected = Vec::new();
        for (seq, payload) in (first_seq..).zip(&payloads) {
            let frame = Frame::Notify(Notify {
                seq,
                kind: 200,
                payload: payload.as_ref().into(),
            });
            expected.extend(frame.to_vec().unwrap());
        }
        assert_eq!(conn.out, expected);
        assert!(
            !outbox.is_empty(),
            "the connection is announced for flushing"
        );
    }

    /// The server boxes one `Conn` per connection, about two a session
    /// (issue 16): at 176 bytes it takes mimalloc's 192-byte class (232
    /// took the 256-byte one). Both sides matter: the frame decoder
    /// (its failure boxed) and the callback's phase-bound times.
    #[test]
    fn a_connection_fits_the_192_byte_class() {
        assert_eq!(std::mem::size_of::<crate::wire::Decoder>(), 48);
        assert!(std::mem::size_of::<Conn>() <= 176);
    }
}

//! The steps of the server model: what clients, the network, the clock and
//! the server's application do.

/// Which session a resume names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// A new session (resume_session 0).
    New,
    /// The session with this model index (live or ended, this user's or not).
    Session(usize),
    /// An id the server never issued.
    Unknown,
}

/// The port an ADVERTISE names (always with the fixed policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdvPort {
    /// No listener: the backchannel, if negotiated [C-2] [D-7].
    Zero,
    /// A valid port (two of them, so sessions on one address can clash [C-4]).
    Port(u16),
    /// A port below 1024: BAD_PORT [C-2].
    Privileged,
}

/// How a client picks the seq of an ACK or of CB_READY's last_seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqChoice {
    /// The highest seq the server sent (what an honest client has).
    Latest,
    /// The highest acknowledged (a repeat).
    Acked,
    /// Between the acknowledged and the latest.
    Middle,
    /// Zero.
    Zero,
    /// One above the highest sent: a violation [B-2].
    AboveSent,
    /// One below the highest acknowledged: a violation for CB_READY [B-2],
    /// since a `DialOk` completes its handshake in one step, so everything
    /// acknowledged was acknowledged before CB_HELLO [D-14].
    BelowAcked,
}

/// Where an ACK is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOn {
    /// The session's active callback connection.
    Callback,
    /// Its control connection (the backchannel, or a late ACK [D-1]).
    Control,
}

/// Who the application notifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyTo {
    /// Every session.
    All,
    /// Every session of user `n`.
    User(u8),
    /// The session with this model index (maybe ended: refused).
    Session(usize),
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// A client connects from peer `peer` (peer 2 is peer 0's address,
    /// IPv4-mapped).
    Connect { peer: u8 },
    /// The whole login on control connection `conn`: LOGIN, then
    /// LOGIN_PROOF computed from the challenge.
    Login {
        conn: usize,
        user: u8,
        password_ok: bool,
        version_ok: bool,
        backchannel: bool,
        resume: Resume,
    },
    /// ADVERTISE on control connection `conn`.
    Advertise { conn: usize, port: AdvPort },
    /// The session's pending dial connects and its handshake completes
    /// with CB_READY's last_seq chosen by `last_seq`.
    DialOk { session: usize, last_seq: SeqChoice },
    /// The session's pending dial is refused.
    DialFail { session: usize },
    /// The application notifies `count` times.
    Notify { to: NotifyTo, count: u8 },
    /// An ACK.
    Ack {
        session: usize,
        on: AckOn,
        seq: SeqChoice,
    },
    /// A PING on the session's control connection (renews the lease).
    Ping { session: usize },
    /// The session's control connection closes.
    CloseControl { session: usize },
    /// The session's active callback connection closes.
    CloseCallback { session: usize },
    /// LOGOUT on the session's control connection.
    Logout { session: usize },
    /// The application ends the session (maybe one already ended).
    EndSession { session: usize },
    /// Time passes; the server runs its deadlines as a runtime would.
    Advance { ms: u64 },
}

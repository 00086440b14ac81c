//! The steps of the client model: what the server, the network, the clock
//! and the client's application do.

use faxnotify_core::wire::ByeReason;

/// Which session the server grants in a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// A new session (a refused resume, if the client asked for one) [C-6].
    New,
    /// The session the client asked to resume.
    Resumed,
}

/// An ERROR the server answers a LOGIN with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginError {
    /// UNKNOWN_SESSION: the resume is refused [C-6].
    UnknownSession,
    /// LIMIT_EXCEEDED [C-7].
    LimitExceeded,
    /// SHUTTING_DOWN.
    ShuttingDown,
}

/// A CB_HELLO as the server (or an impostor) sends it [B-1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hello {
    /// Proven with the session key.
    Valid,
    /// Naming another session.
    WrongSession,
    /// With a wrong proof.
    BadProof,
}

/// The connection a server frame travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    /// The control connection.
    Control,
    /// Callback connection `n` (model index, in accept order).
    Callback(usize),
}

/// Which seq the first NOTIFY of a run has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstSeq {
    /// The next one.
    Next,
    /// One the client already has (a redelivery after a path change [B-4]).
    Repeat,
    /// One that skips a seq [B-3].
    Gap,
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The pending Listen: bound, or the port is taken.
    Bind { free: bool },
    /// The pending dial of the server connects or fails.
    Dial { ok: bool },
    /// The whole login: SERVER_HELLO .. ADVERTISE_OK, granting a session.
    Login { grant: Grant },
    /// SERVER_HELLO, then an ERROR instead of LOGIN_CHALLENGE.
    LoginRefused { error: LoginError },
    /// CALLBACK_STATUS (0 reachable, 1 unreachable, 2 backchannel).
    Status { state: u8 },
    /// The server connects to the callback listener.
    Accept,
    /// CB_HELLO on a callback connection.
    CbHello { cb: usize, hello: Hello },
    /// `count` NOTIFYs in one read, with consecutive seqs from `first`.
    Notify { on: On, first: FirstSeq, count: u8 },
    /// A PING from the server.
    Ping { on: On },
    /// BYE on the control connection.
    Bye { reason: ByeReason },
    /// The control connection closes.
    CloseControl,
    /// A callback connection closes.
    CloseCallback { cb: usize },
    /// Time passes; the client runs its deadlines as a runtime would.
    Advance { ms: u64 },
    /// The application logs out.
    Logout,
}

//! Numeric codes of FNP/1: frame types, error codes, and the enum fields of frame bodies.

use std::fmt;

/// Declares a `u8`/`u16` wire enum whose unknown values are refused (frame
/// bodies treat an undefined enum value as MALFORMED).
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident : $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $label:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr($repr)]
        pub enum $name {
            $( $(#[$vmeta])* $variant = $value, )+
        }

        impl $name {
            /// Every defined value, in numeric order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )+ ];

            /// The value this enum has on the wire.
            pub const fn to_wire(self) -> $repr {
                self as $repr
            }

            /// The enum for a wire value, or `None` if the protocol does not define it.
            pub const fn from_wire(value: $repr) -> Option<Self> {
                match value {
                    $( $value => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// The name the protocol document uses for this value.
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $label, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

wire_enum! {
    /// The type byte of a frame (spec section 3).
    FrameType: u8 {
        /// Server greeting with its version range and capabilities.
        ServerHello = 0x01 => "SERVER_HELLO",
        /// Client's login request.
        Login = 0x02 => "LOGIN",
        /// Server's SCRAM challenge.
        LoginChallenge = 0x03 => "LOGIN_CHALLENGE",
        /// Client's SCRAM proof.
        LoginProof = 0x04 => "LOGIN_PROOF",
        /// Successful login, signed by the server.
        LoginOk = 0x05 => "LOGIN_OK",
        /// Client's callback port advertisement.
        Advertise = 0x06 => "ADVERTISE",
        /// The callback address the server will dial.
        AdvertiseOk = 0x07 => "ADVERTISE_OK",
        /// A change of the session's delivery path.
        CallbackStatus = 0x08 => "CALLBACK_STATUS",
        /// Keepalive request.
        Ping = 0x10 => "PING",
        /// Keepalive answer.
        Pong = 0x11 => "PONG",
        /// Client ends its session.
        Logout = 0x12 => "LOGOUT",
        /// Server closes a connection, with the reason.
        Bye = 0x13 => "BYE",
        /// Callback listener's opening nonce.
        CbChallenge = 0x20 => "CB_CHALLENGE",
        /// Server's proof on a callback connection.
        CbHello = 0x21 => "CB_HELLO",
        /// Client's proof and last delivered sequence number.
        CbReady = 0x22 => "CB_READY",
        /// One notification.
        Notify = 0x23 => "NOTIFY",
        /// Cumulative acknowledgement.
        Ack = 0x24 => "ACK",
        /// A protocol error; the connection closes after it.
        Error = 0x7f => "ERROR",
    }
}

wire_enum! {
    /// Error codes carried by ERROR frames (spec section 3).
    ErrorCode: u16 {
        /// LOGIN.version outside the server's range [C-8].
        UnsupportedVersion = 1 => "UNSUPPORTED_VERSION",
        /// Login or callback proof failed.
        AuthFailed = 2 => "AUTH_FAILED",
        /// A frame body does not parse [F-2] [F-4].
        Malformed = 3 => "MALFORMED",
        /// A length prefix over the limit [F-1].
        FrameTooLarge = 4 => "FRAME_TOO_LARGE",
        /// An undefined frame type [F-3].
        UnknownFrame = 5 => "UNKNOWN_FRAME",
        /// A known frame in the wrong state, direction or connection [F-3].
        UnexpectedFrame = 6 => "UNEXPECTED_FRAME",
        /// A resume of a session that does not exist for this user [C-6].
        UnknownSession = 7 => "UNKNOWN_SESSION",
        /// A per-user, per-address or failed-login limit [A-5] [C-7].
        LimitExceeded = 8 => "LIMIT_EXCEEDED",
        /// A refused callback port advertisement [C-2].
        BadPort = 9 => "BAD_PORT",
        /// The handshake did not complete in time [C-9] [B-7].
        Timeout = 10 => "TIMEOUT",
        /// The server is shutting down.
        ShuttingDown = 11 => "SHUTTING_DOWN",
    }
}

wire_enum! {
    /// The role of a logged-in user (LOGIN_OK.role).
    Role: u8 {
        /// An ordinary user.
        User = 0 => "user",
        /// An administrator.
        Admin = 1 => "admin",
    }
}

wire_enum! {
    /// How a client chose its callback port (ADVERTISE.policy).
    PolicyKind: u8 {
        /// The OS assigned the port.
        Dynamic = 0 => "dynamic",
        /// The first free port of a range.
        Range = 1 => "range",
        /// Exactly one configured port.
        Fixed = 2 => "fixed",
    }
}

wire_enum! {
    /// The session's delivery path as announced by CALLBACK_STATUS.
    CallbackState: u8 {
        /// Notifications flow over the callback connection.
        Reachable = 0 => "reachable",
        /// The server cannot reach the callback port and has no backchannel.
        Unreachable = 1 => "unreachable",
        /// Notifications flow over the control connection.
        Backchannel = 2 => "backchannel",
    }
}

wire_enum! {
    /// Why the server said BYE.
    ByeReason: u8 {
        /// The client logged out.
        Logout = 0 => "logout",
        /// The lease ran out.
        LeaseExpired = 1 => "lease expired",
        /// Another connection or session took over.
        Replaced = 2 => "replaced",
        /// The server is shutting down.
        Shutdown = 3 => "shutdown",
        /// The server's application ended the session.
        EndedByServer = 4 => "ended by server",
    }
}

/// A capability bit set (SERVER_HELLO.caps, LOGIN.caps, LOGIN_OK.caps).
///
/// Unknown bits are carried but ignored, as the protocol requires.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Caps(u32);

impl Caps {
    /// No capabilities.
    pub const NONE: Caps = Caps(0);
    /// Bit 0: notifications may be delivered over the control connection.
    pub const BACKCHANNEL: Caps = Caps(1);

    /// The capabilities this implementation understands.
    pub const SUPPORTED: Caps = Caps::BACKCHANNEL;

    /// Wraps raw bits.
    pub const fn from_bits(bits: u32) -> Self {
        Caps(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Caps) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits set in both (LOGIN_OK.caps is this of SERVER_HELLO.caps and LOGIN.caps).
    pub const fn intersection(self, other: Caps) -> Caps {
        Caps(self.0 & other.0)
    }
}

impl fmt::Debug for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Caps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)?;
        if self.contains(Caps::BACKCHANNEL) {
            f.write_str("(BACKCHANNEL)")?;
        }
        Ok(())
    }
}

wire_enum! {
    /// The notification kinds this crate knows (NOTIFY.kind, spec section 7).
    /// Other kinds are legal on the wire and reach the application raw [N-1].
    NotificationKind: u8 {
        /// A fax arrived.
        FaxReceived = 1 => "FAX_RECEIVED",
        /// An outgoing job changed state.
        JobStatus = 2 => "JOB_STATUS",
        /// Free text from the server's operator.
        ServerMessage = 3 => "SERVER_MESSAGE",
        /// A modem or line changed state.
        DeviceStatus = 4 => "DEVICE_STATUS",
        /// Someone marked, deleted or commented a received fax.
        FaxUpdated = 5 => "FAX_UPDATED",
    }
}

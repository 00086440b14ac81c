//! Channel binding [T-6]: the RFC 9266 `tls-exporter` value of the TLS
//! connection a login or callback handshake runs in, mixed into its proofs
//! so that they verify only on the connection they were made for.

use std::fmt;

/// 32 bytes of TLS-Exporter("EXPORTER-Channel-Binding", empty context, 32)
/// of one TLS connection [T-6].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ChannelBinding([u8; 32]);

impl ChannelBinding {
    /// Wraps exporter output.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes that enter the proofs.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Not secret, but long: only a prefix is shown.
impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ChannelBinding({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

//! Connection handles shared by the client and server cores.

use std::fmt;

/// An opaque handle for one TCP connection driven by a core.
///
/// Handles are allocated by the core (for dials it asks the adapter to make and
/// for connections the adapter reports as accepted) and are never reused
/// within one core instance, so a stale handle can never reach a newer
/// connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    /// Creates a handle from its raw value. Cores allocate handles themselves;
    /// this exists for adapters and tests that need to store or log them.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw value of the handle.
    pub const fn into_raw(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Allocates [`ConnId`]s in increasing order, never reusing one.
#[derive(Debug, Default, Clone)]
pub(crate) struct ConnIdAllocator {
    next: u64,
}

impl ConnIdAllocator {
    /// Returns a handle that was never returned before.
    pub(crate) fn allocate(&mut self) -> ConnId {
        self.next += 1;
        ConnId(self.next)
    }
}

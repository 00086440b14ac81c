//! What the async raw baselines' servers ([`super::raw_smol`],
//! [`super::raw_tokio`]) share across their connection tasks: the count of
//! acknowledged notifications and the moment the last one was acknowledged.
//! Only the socket types differ between the two runtimes; this part is the
//! same.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::payload::Framer;
use super::sys::{self, CpuSample};

/// What the server's connection tasks share.
pub(crate) struct ServerShared {
    pub(crate) total: u64,
    pub(crate) acked: AtomicU64,
    pub(crate) end_ns: AtomicU64,
    end_cpu: Mutex<Option<CpuSample>>,
    pub(crate) connected: AtomicUsize,
}

impl ServerShared {
    /// Nothing acknowledged yet, out of `total`.
    pub(crate) fn new(total: u64) -> Self {
        ServerShared {
            total,
            acked: AtomicU64::new(0),
            end_ns: AtomicU64::new(0),
            end_cpu: Mutex::new(None),
            connected: AtomicUsize::new(0),
        }
    }

    /// Reads the ACKs in `data` for one connection whose highest ACK so far
    /// is `acked` (updated), counts the newly acknowledged ones, and stamps
    /// the end (time and CPU) when they complete the run.
    pub(crate) fn record_acks(&self, framer: &mut Framer, data: &[u8], acked: &mut u64) {
        let mut newly = 0;
        framer.feed(data, |ack| {
            let mut s = [0u8; 8];
            s.copy_from_slice(&ack[5..13]);
            let seq = u64::from_be_bytes(s);
            newly += seq.saturating_sub(*acked);
            *acked = (*acked).max(seq);
        });
        let before = self.acked.fetch_add(newly, Ordering::AcqRel);
        if before < self.total && before + newly >= self.total {
            self.end_ns.store(sys::monotonic_ns(), Ordering::Release);
            *self
                .end_cpu
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(CpuSample::now());
        }
    }

    /// The CPU sample taken when the last ACK arrived (now, if it never did).
    pub(crate) fn end_cpu(&self) -> CpuSample {
        self.end_cpu
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .unwrap_or_else(CpuSample::now)
    }
}

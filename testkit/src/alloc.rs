//! A global allocator that counts what passes through it: allocations and
//! live bytes for the whole process (the benchmarks' figures), and
//! allocations on one thread during one closure (the tests' assertions,
//! which other test threads must not disturb).
//!
//! Install it in a test or benchmark binary:
//!
//! ```
//! use faxnotify_testkit::alloc::{Counting, allocations_during};
//!
//! #[global_allocator]
//! static ALLOCATOR: Counting = Counting;
//!
//! # fn main() {
//! let mut v: Vec<u8> = Vec::with_capacity(4);
//! assert_eq!(allocations_during(|| v.extend_from_slice(b"four")), 0);
//! assert_eq!(allocations_during(|| v.push(5)), 1); // grows once
//! # }
//! ```
//!
//! This is the only `unsafe` code of the workspace outside the fuzz
//! harnesses: implementing [`GlobalAlloc`] cannot be done without it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Forwards every call to the system allocator and counts it.
#[derive(Debug)]
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialised and without a destructor, so touching them from
    // inside the allocator never allocates and works during thread teardown.
    static WINDOW_OPEN: Cell<bool> = const { Cell::new(false) };
    static WINDOW_COUNT: Cell<u64> = const { Cell::new(0) };
}

/// One allocation (or reallocation) happened on this thread.
fn count_one() {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    if WINDOW_OPEN.try_with(Cell::get).unwrap_or(false) {
        let _ = WINDOW_COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator, with
// the caller's own guarantees; the counters are atomics and const
// thread-locals that never allocate and never influence the allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Bytes currently allocated in the process (as requested, without the
/// system allocator's own overhead). Meaningful only with [`Counting`]
/// installed as the global allocator.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Allocations and reallocations in the process so far.
pub fn allocations() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Runs `f` and returns how many allocations and reallocations it made on
/// this thread (other threads, such as other tests, are not counted).
pub fn allocations_during(f: impl FnOnce()) -> u64 {
    WINDOW_COUNT.with(|c| c.set(0));
    WINDOW_OPEN.with(|c| c.set(true));
    f();
    WINDOW_OPEN.with(|c| c.set(false));
    WINDOW_COUNT.with(Cell::get)
}

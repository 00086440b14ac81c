//! The decoder allocates nothing for fixed-size frames, nor for NOTIFY (whose
//! payload it lends out), once a connection's buffer exists. Counted with a
//! counting global allocator; this test binary has a single test so nothing
//! else allocates concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use faxnotify_core::wire::{CbHello, CbReady, Decoder, Frame, MAX_FRAME_LEN, Notify};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

fn stream() -> Vec<u8> {
    let frames = [
        Frame::Ack { seq: 9 },
        Frame::Ping { nonce: 1 },
        Frame::Pong { nonce: 1 },
        Frame::LoginProof { proof: [1; 32] },
        Frame::CbChallenge {
            client_nonce: [2; 32],
        },
        Frame::CbHello(CbHello {
            session_id: 5,
            server_nonce: [3; 32],
            proof: [4; 32],
        }),
        Frame::CbReady(CbReady {
            last_seq: 3,
            proof: [5; 32],
        }),
        Frame::Notify(Notify {
            seq: 10,
            kind: 3,
            payload: std::borrow::Cow::Owned(vec![7; 64]),
        }),
        Frame::Logout,
    ];
    let mut out = Vec::new();
    for _ in 0..100 {
        for f in &frames {
            f.encode(&mut out).unwrap();
        }
    }
    out
}

fn decode_all(decoder: &mut Decoder, chunks: &[&[u8]]) -> usize {
    let mut n = 0;
    for chunk in chunks {
        let mut input = *chunk;
        while let Some(frame) = decoder.decode(&mut input).unwrap() {
            std::hint::black_box(&frame);
            n += 1;
        }
    }
    n
}

#[test]
fn decoding_fixed_size_frames_and_notify_does_not_allocate() {
    let bytes = stream();
    let mut decoder = Decoder::new(MAX_FRAME_LEN);

    // Whole frames in one input: parsed in place.
    let whole = [bytes.as_slice()];
    let mut n = 0;
    let allocs = allocations_during(|| n = decode_all(&mut decoder, &whole));
    assert_eq!(n, 900);
    assert_eq!(allocs, 0, "whole frames must decode without allocating");

    // Split frames: the reassembly buffer is allocated once, then reused.
    let split: Vec<&[u8]> = bytes.chunks(7).collect();
    decode_all(&mut decoder, &split[..100]); // warm-up: every frame type split once
    let mut n = 0;
    let allocs = allocations_during(|| n = decode_all(&mut decoder, &split[100..]));
    assert!(n > 700, "{n}");
    assert_eq!(allocs, 0, "split frames must reuse the reassembly buffer");
}

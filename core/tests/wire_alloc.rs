//! The decoder allocates nothing for fixed-size frames, nor for NOTIFY (whose
//! payload it lends out), once a connection's buffer exists. Counted with a
//! counting global allocator, on the test's thread only.

use faxnotify_core::wire::{CbHello, CbReady, Decoder, Frame, MAX_FRAME_LEN, Notify};
use faxnotify_testkit::alloc::{Counting, allocations_during};
use faxnotify_testkit::frames::for_each_frame;

#[global_allocator]
static GLOBAL: Counting = Counting;

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

fn decode_all(decoder: &mut Decoder, chunks: &[&[u8]]) -> u64 {
    for_each_frame(decoder, chunks, |frame| {
        std::hint::black_box(frame);
    }) as u64
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

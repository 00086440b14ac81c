//! Encode and decode throughput of a NOTIFY frame with a 64-byte payload.
//!
//! `cargo bench -p faxnotify-core --bench codec`

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faxnotify_core::wire::{Decoder, Frame, MAX_FRAME_LEN, Notify};

const FRAMES: usize = 1_000;

fn notify(seq: u64, payload: &[u8]) -> Frame<'_> {
    Frame::Notify(Notify {
        seq,
        kind: 3,
        payload: Cow::Borrowed(payload),
    })
}

fn encode(c: &mut Criterion) {
    let payload = [0x42u8; 64];
    let mut group = c.benchmark_group("notify_64B");
    group.throughput(Throughput::Elements(FRAMES as u64));
    let mut out = Vec::with_capacity(FRAMES * 80);
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            for seq in 0..FRAMES as u64 {
                notify(seq, &payload).encode(&mut out).unwrap();
            }
            black_box(&out);
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let payload = [0x42u8; 64];
    let mut stream = Vec::new();
    for seq in 0..FRAMES as u64 {
        notify(seq, &payload).encode(&mut stream).unwrap();
    }
    let mut group = c.benchmark_group("notify_64B");
    group.throughput(Throughput::Elements(FRAMES as u64));
    group.bench_function("decode_whole", |b| {
        let mut decoder = Decoder::new(MAX_FRAME_LEN);
        b.iter(|| {
            let mut input = stream.as_slice();
            let mut seqs = 0u64;
            while let Some(frame) = decoder.decode(&mut input).unwrap() {
                if let Frame::Notify(n) = frame {
                    seqs += n.seq;
                }
            }
            black_box(seqs)
        })
    });
    // Reads of 1 500 bytes (one Ethernet MTU): most frames whole, some split.
    group.bench_function("decode_1500B_reads", |b| {
        let mut decoder = Decoder::new(MAX_FRAME_LEN);
        b.iter(|| {
            let mut seqs = 0u64;
            for chunk in stream.chunks(1_500) {
                let mut input = chunk;
                while let Some(frame) = decoder.decode(&mut input).unwrap() {
                    if let Frame::Notify(n) = frame {
                        seqs += n.seq;
                    }
                }
            }
            black_box(seqs)
        })
    });
    group.finish();
}

criterion_group!(benches, encode, decode);
criterion_main!(benches);

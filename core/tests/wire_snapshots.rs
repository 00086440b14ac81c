//! Snapshots of every frame type: the bytes as hex and the decoded form, so a
//! change to the wire format shows up as a reviewable diff.

mod support;

use std::fmt::Write as _;

use faxnotify_core::wire::{Decoder, MAX_FRAME_LEN};
use support::examples;

/// Hex with a space after the 4-byte length and after the type byte.
fn spaced_hex(bytes: &[u8]) -> String {
    format!(
        "{} {} {}",
        hex::encode(&bytes[..4]),
        hex::encode(&bytes[4..5]),
        hex::encode(&bytes[5..])
    )
    .trim_end()
    .to_owned()
}

fn render(frames: &[(&str, faxnotify_core::wire::Frame<'static>)]) -> String {
    let mut out = String::new();
    for (label, frame) in frames {
        let bytes = frame.to_vec().unwrap();
        let mut decoder = Decoder::new(MAX_FRAME_LEN);
        let mut input = bytes.as_slice();
        let decoded = decoder.decode(&mut input).unwrap().unwrap();
        writeln!(out, "{label}").unwrap();
        writeln!(out, "  hex:     {}", spaced_hex(&bytes)).unwrap();
        writeln!(out, "  decoded: {decoded}").unwrap();
    }
    out
}

#[test]
fn every_frame_type() {
    insta::assert_snapshot!(render(&examples::frames()));
}

#[test]
fn worked_example_of_the_design() {
    insta::assert_snapshot!(render(&examples::worked_example()));
}

#[test]
fn every_notification_kind() {
    let mut out = String::new();
    for n in examples::notifications() {
        let payload = n.to_payload().unwrap();
        writeln!(out, "kind {}: {}", n.kind(), hex::encode(&payload)).unwrap();
        writeln!(out, "  decoded: {n}").unwrap();
    }
    insta::assert_snapshot!(out);
}

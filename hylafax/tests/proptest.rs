//! Properties of the bridge over arbitrary input: it never panics, every
//! notification it makes encodes and carries only clean, bounded text, and
//! how the stream is cut into reads does not change what comes out.

use faxnotify_hylafax::text::clean;
use faxnotify_hylafax::{Bridge, Config, Output};
use proptest::prelude::*;

const STREAM: &[u8] = include_bytes!("data/hfaxd-6.0.7-stream.txt");

fn outputs_for(chunks: &[&[u8]]) -> Vec<Output> {
    let routing = Config::from_toml("hfaxd = \"h:1\"\nunrouted = [\"frontdesk\"]")
        .unwrap()
        .routing;
    let mut bridge = Bridge::new(routing);
    bridge.handle_connected();
    let mut out = Vec::new();
    let listing = b"1|D|root|2:2|1:3|0|\r\n2|F|root|0:2|0:3|0|Busy\r\n";
    let answer = |bridge: &mut Bridge, out: &mut Vec<Output>| {
        while let Some(o) = bridge.poll_output() {
            if o == Output::ListQueues {
                bridge.handle_listing(1_796_525_000_000, listing);
            } else {
                out.push(o);
            }
        }
    };
    answer(&mut bridge, &mut out);
    for chunk in chunks {
        bridge.handle_stream(1_796_525_000_000, chunk);
        answer(&mut bridge, &mut out);
    }
    out
}

proptest! {
    #[test]
    fn arbitrary_operations_never_panic_and_notifications_are_clean(
        data in proptest::collection::vec(any::<u8>(), 0..2048)
    ) {
        faxnotify_hylafax::fuzzing::bridge(&data);
    }

    #[test]
    fn arbitrary_lines_in_the_stream_never_break_a_notification(
        lines in proptest::collection::vec(
            prop_oneof![
                Just(b"024302 159 MODEM ttyIAX1: Caller-id information: ".to_vec()),
                Just(b"024252 100 JOB 1 (dest ".to_vec()),
                Just(b"024324 135 RECV FAX: From ".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..300),
            ],
            0..20,
        )
    ) {
        let mut stream = Vec::new();
        for line in &lines {
            stream.extend_from_slice(line);
            stream.extend_from_slice(b"\r\n");
        }
        faxnotify_hylafax::fuzzing::bridge(
            &[&[4u8][..], &u16::try_from(stream.len().min(65535)).unwrap().to_be_bytes(), &stream].concat(),
        );
    }

    #[test]
    fn how_the_stream_is_cut_does_not_matter(cuts in proptest::collection::vec(0..STREAM.len(), 0..12)) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for cut in cuts {
            chunks.push(&STREAM[at..cut]);
            at = cut;
        }
        chunks.push(&STREAM[at..]);
        prop_assert_eq!(outputs_for(&chunks), outputs_for(&[STREAM]));
    }

    #[test]
    fn clean_text_is_bounded_and_has_no_controls(raw in proptest::collection::vec(any::<u8>(), 0..600), max in 0usize..300) {
        let text = clean(&raw, max);
        prop_assert!(text.len() <= max);
        prop_assert!(!text.chars().any(char::is_control));
    }
}

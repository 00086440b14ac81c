//! Property tests of the codec: round trips, segmentation independence, and
//! robustness against arbitrary bytes.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use faxnotify_core::wire::{
    Advertise, ByeReason, CallbackState, CallbackStatus, Caps, CbHello, CbReady, DecodeError,
    Decoder, ErrorCode, ErrorFrame, Frame, Login, LoginChallenge, LoginOk, MAX_FRAME_LEN,
    MAX_PRELOGIN_FRAME_LEN, Notification, Notify, PolicyKind, Role, ServerHello,
};
use proptest::prelude::*;
use proptest::sample::select;

fn text(max: usize) -> impl Strategy<Value = Cow<'static, str>> {
    prop_oneof![
        // Mostly short, sometimes long; any Unicode.
        4 => proptest::collection::vec(any::<char>(), 0..24)
            .prop_map(|c| c.into_iter().collect::<String>()),
        1 => proptest::collection::vec(any::<char>(), 0..max / 4)
            .prop_map(|c| c.into_iter().collect::<String>()),
    ]
    .prop_map(move |mut s: String| {
        while s.len() > max {
            s.pop();
        }
        Cow::Owned(s)
    })
}

fn nonce() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn frame() -> impl Strategy<Value = Frame<'static>> {
    prop_oneof![
        (any::<u16>(), any::<u16>(), any::<u32>(), text(4096)).prop_map(|(a, b, c, n)| {
            Frame::ServerHello(ServerHello {
                version_min: a,
                version_max: b,
                caps: Caps::from_bits(c),
                server_name: n,
            })
        }),
        (
            any::<u16>(),
            text(4096),
            nonce(),
            any::<u32>(),
            any::<u64>()
        )
            .prop_map(|(v, user, n, c, r)| Frame::Login(Login {
                version: v,
                user,
                client_nonce: n,
                caps: Caps::from_bits(c),
                resume_session: r,
            })),
        (
            nonce(),
            proptest::collection::vec(any::<u8>(), 16..=64),
            any::<u32>()
        )
            .prop_map(|(n, salt, it)| Frame::LoginChallenge(LoginChallenge {
                server_nonce: n,
                salt: Cow::Owned(salt),
                iterations: it,
            })),
        nonce().prop_map(|proof| Frame::LoginProof { proof }),
        (
            any::<u64>(),
            select(Role::ALL),
            any::<u32>(),
            any::<u32>(),
            nonce()
        )
            .prop_map(|(s, role, l, c, sig)| Frame::LoginOk(LoginOk {
                session_id: s,
                role,
                lease_ms: l,
                caps: Caps::from_bits(c),
                server_signature: sig,
            })),
        (
            any::<u16>(),
            select(PolicyKind::ALL),
            any::<u16>(),
            any::<u16>()
        )
            .prop_map(
                |(port, policy, range_lo, range_hi)| Frame::Advertise(Advertise {
                    port,
                    policy,
                    range_lo,
                    range_hi,
                })
            ),
        addr().prop_map(|callback| Frame::AdvertiseOk { callback }),
        (select(CallbackState::ALL), text(4096)).prop_map(|(state, detail)| {
            Frame::CallbackStatus(CallbackStatus { state, detail })
        }),
        any::<u64>().prop_map(|nonce| Frame::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Frame::Pong { nonce }),
        Just(Frame::Logout),
        select(ByeReason::ALL).prop_map(|reason| Frame::Bye { reason }),
        nonce().prop_map(|client_nonce| Frame::CbChallenge { client_nonce }),
        (any::<u64>(), nonce(), nonce()).prop_map(|(session_id, server_nonce, proof)| {
            Frame::CbHello(CbHello {
                session_id,
                server_nonce,
                proof,
            })
        }),
        (any::<u64>(), nonce())
            .prop_map(|(last_seq, proof)| Frame::CbReady(CbReady { last_seq, proof })),
        (
            any::<u64>(),
            any::<u8>(),
            prop_oneof![
                8 => proptest::collection::vec(any::<u8>(), 0..128),
                1 => proptest::collection::vec(any::<u8>(), 0..=65_523),
            ]
        )
            .prop_map(|(seq, kind, payload)| Frame::Notify(Notify {
                seq,
                kind,
                payload: Cow::Owned(payload),
            })),
        any::<u64>().prop_map(|seq| Frame::Ack { seq }),
        (select(ErrorCode::ALL), text(4096))
            .prop_map(|(code, message)| Frame::Error(ErrorFrame { code, message })),
    ]
}

fn encode_all(frames: &[Frame<'static>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        f.encode(&mut out).expect("generated frames are valid");
    }
    out
}

/// Decodes `chunks` in order with one decoder, collecting owned frames.
fn decode_chunks<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Frame<'static>>, DecodeError> {
    let mut decoder = Decoder::new(MAX_FRAME_LEN);
    let mut frames = Vec::new();
    for chunk in chunks {
        let mut input = chunk;
        while let Some(frame) = decoder.decode(&mut input)? {
            frames.push(frame.into_owned());
        }
        assert!(
            input.is_empty(),
            "decode consumes its input once it returns None"
        );
    }
    assert!(
        decoder.is_idle(),
        "no partial frame left after whole frames"
    );
    Ok(frames)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_is_identity(f in frame()) {
        let bytes = f.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), f.encoded_len());
        let decoded = decode_chunks([bytes.as_slice()]).unwrap();
        prop_assert_eq!(decoded, vec![f]);
    }

    #[test]
    fn splitting_a_stream_anywhere_gives_the_same_frames(
        frames in proptest::collection::vec(frame(), 1..6),
        split_seed in any::<u64>(),
    ) {
        let bytes = encode_all(&frames);
        // Every split point of the stream into two chunks, for short streams;
        // a spread of points for long ones.
        let step = (bytes.len() / 257).max(1);
        let offset = (split_seed as usize) % step;
        let mut at = offset;
        while at <= bytes.len() {
            let (a, b) = bytes.split_at(at);
            prop_assert_eq!(decode_chunks([a, b]).unwrap(), frames.clone());
            at += step;
        }
    }

    #[test]
    fn one_byte_at_a_time_gives_the_same_frames(frames in proptest::collection::vec(frame(), 1..4)) {
        let bytes = encode_all(&frames);
        prop_assert_eq!(decode_chunks(bytes.chunks(1)).unwrap(), frames);
    }

    #[test]
    fn random_chunking_gives_the_same_frames(
        frames in proptest::collection::vec(frame(), 1..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..16),
    ) {
        let bytes = encode_all(&frames);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        let chunks: Vec<&[u8]> = points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
        prop_assert_eq!(decode_chunks(chunks).unwrap(), frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_overbuffer(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        chunk in 1usize..64,
        prelogin in any::<bool>(),
    ) {
        let limit = if prelogin { MAX_PRELOGIN_FRAME_LEN } else { MAX_FRAME_LEN };
        let mut decoder = Decoder::new(limit);
        'outer: for piece in bytes.chunks(chunk) {
            let mut input = piece;
            loop {
                match decoder.decode(&mut input) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(err) => {
                        // The error is sticky: the decoder stays spent.
                        prop_assert_eq!(decoder.decode(&mut &b"\0\0\0\x01\x12"[..]), Err(err));
                        break 'outer;
                    }
                }
                prop_assert!(decoder.buffered() <= 4 + limit as usize);
            }
            prop_assert!(decoder.buffered() <= 4 + limit as usize);
        }
    }

    #[test]
    fn arbitrary_frame_bodies_never_panic(ty in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(frame) = Frame::parse(ty, &body) {
            // Whatever parses re-encodes to exactly the same bytes (canonical form).
            let mut out = Vec::new();
            frame.encode_body(&mut out).unwrap();
            prop_assert_eq!(out, body);
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic(kind in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        let n = Notification::decode(kind, &payload);
        prop_assert_eq!(n.kind(), kind);
        // Raw notifications keep the bytes; parsed ones re-encode to a prefix
        // of the payload (trailing bytes are ignored).
        let encoded = n.to_payload().unwrap();
        if n.is_raw() {
            prop_assert_eq!(&encoded[..], &payload[..]);
        } else {
            prop_assert!(payload.starts_with(&encoded));
        }
    }
}

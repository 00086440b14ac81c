//! One test per decoding error, naming the error and the ERROR code it maps to.

use faxnotify_core::wire::{
    DecodeError, Decoder, EncodeError, ErrorCode, Frame, FrameType, JobState, MAX_FRAME_LEN,
    MAX_PRELOGIN_FRAME_LEN, Notification, NotificationKind, PayloadError,
};

/// Decodes `bytes` and returns the error it must produce.
fn decode_err(limit: u32, bytes: &[u8]) -> DecodeError {
    let mut decoder = Decoder::new(limit);
    let mut input = bytes;
    match decoder.decode(&mut input) {
        Ok(Some(f)) => panic!("unexpected frame {f}"),
        Ok(None) => panic!("no error; {} bytes buffered", decoder.buffered()),
        Err(err) => err,
    }
}

/// A frame with the given type and body and a correct length prefix.
fn raw(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(ty);
    out.extend_from_slice(body);
    out
}

#[test]
fn length_over_65535_is_frame_too_large_from_the_header_alone() {
    // Only the four length bytes: the error comes before any body arrives [F-1].
    let err = decode_err(MAX_FRAME_LEN, &65_536u32.to_be_bytes());
    assert_eq!(
        err,
        DecodeError::FrameTooLarge {
            length: 65_536,
            limit: 65_535
        }
    );
    assert_eq!(err.code(), ErrorCode::FrameTooLarge);
    let err = decode_err(MAX_FRAME_LEN, &u32::MAX.to_be_bytes());
    assert!(matches!(
        err,
        DecodeError::FrameTooLarge {
            length: u32::MAX,
            ..
        }
    ));
}

#[test]
fn length_over_4145_before_login_is_frame_too_large() {
    let err = decode_err(MAX_PRELOGIN_FRAME_LEN, &4_146u32.to_be_bytes());
    assert_eq!(
        err,
        DecodeError::FrameTooLarge {
            length: 4_146,
            limit: 4_145
        }
    );
    // 4 145 itself is allowed: the decoder waits for the body.
    let mut decoder = Decoder::new(MAX_PRELOGIN_FRAME_LEN);
    let header = 4_145u32.to_be_bytes();
    let mut input = &header[..];
    assert_eq!(decoder.decode(&mut input), Ok(None));
}

#[test]
fn raising_the_limit_after_login_applies_to_the_next_header() {
    let mut decoder = Decoder::new(MAX_PRELOGIN_FRAME_LEN);
    decoder.set_max_frame_len(MAX_FRAME_LEN);
    let header = 60_000u32.to_be_bytes();
    let mut input = &header[..];
    assert_eq!(decoder.decode(&mut input), Ok(None));
    assert_eq!(decoder.max_frame_len(), MAX_FRAME_LEN);
}

#[test]
fn oversized_body_is_never_buffered() {
    let mut decoder = Decoder::new(MAX_PRELOGIN_FRAME_LEN);
    let mut stream = 100_000u32.to_be_bytes().to_vec();
    stream.extend(std::iter::repeat_n(0u8, 10_000));
    let mut input = stream.as_slice();
    assert!(decoder.decode(&mut input).is_err());
    assert_eq!(decoder.buffered(), 0);
    // The body bytes were not taken from the input.
    assert_eq!(input.len(), 10_000);
}

#[test]
fn length_zero_is_malformed() {
    let err = decode_err(MAX_FRAME_LEN, &[0, 0, 0, 0]);
    assert_eq!(err, DecodeError::EmptyFrame);
    assert_eq!(err.code(), ErrorCode::Malformed);
}

#[test]
fn unknown_type_is_unknown_frame() {
    for ty in [0x00u8, 0x09, 0x0f, 0x14, 0x25, 0x7e, 0x80, 0xff] {
        let err = decode_err(MAX_FRAME_LEN, &raw(ty, &[]));
        assert_eq!(err, DecodeError::UnknownFrameType(ty));
        assert_eq!(err.code(), ErrorCode::UnknownFrame);
    }
}

#[test]
fn truncated_body_is_malformed_naming_the_field() {
    // ACK needs 8 bytes of seq; give 7.
    let err = decode_err(MAX_FRAME_LEN, &raw(0x24, &[0; 7]));
    assert_eq!(
        err,
        DecodeError::Truncated {
            frame: FrameType::Ack,
            field: "seq"
        }
    );
    assert_eq!(err.code(), ErrorCode::Malformed);
    // A str whose length runs past the body.
    let err = decode_err(MAX_FRAME_LEN, &raw(0x08, &[0, 0, 9, b'a']));
    assert_eq!(
        err,
        DecodeError::Truncated {
            frame: FrameType::CallbackStatus,
            field: "detail"
        }
    );
}

#[test]
fn trailing_bytes_are_malformed() {
    let err = decode_err(MAX_FRAME_LEN, &raw(0x12, &[0]));
    assert_eq!(
        err,
        DecodeError::TrailingBytes {
            frame: FrameType::Logout,
            extra: 1
        }
    );
    let err = decode_err(MAX_FRAME_LEN, &raw(0x24, &[0; 10]));
    assert_eq!(
        err,
        DecodeError::TrailingBytes {
            frame: FrameType::Ack,
            extra: 2
        }
    );
    assert_eq!(err.code(), ErrorCode::Malformed);
}

#[test]
fn invalid_utf8_is_malformed() {
    let err = decode_err(MAX_FRAME_LEN, &raw(0x7f, &[0, 3, 0, 2, 0xc3, 0x28]));
    assert_eq!(
        err,
        DecodeError::InvalidUtf8 {
            frame: FrameType::Error,
            field: "message"
        }
    );
    assert_eq!(err.code(), ErrorCode::Malformed);
}

#[test]
fn string_over_4096_bytes_is_malformed() {
    let mut body = vec![0u8]; // CALLBACK_STATUS state reachable
    body.extend_from_slice(&4_097u16.to_be_bytes());
    body.extend(std::iter::repeat_n(b'a', 4_097));
    let err = decode_err(MAX_FRAME_LEN, &raw(0x08, &body));
    assert_eq!(
        err,
        DecodeError::StringTooLong {
            frame: FrameType::CallbackStatus,
            field: "detail",
            len: 4_097
        }
    );
    assert_eq!(err.code(), ErrorCode::Malformed);
}

#[test]
fn bad_address_family_is_malformed() {
    let err = decode_err(MAX_FRAME_LEN, &raw(0x07, &[5, 127, 0, 0, 1, 0, 80]));
    assert_eq!(
        err,
        DecodeError::BadAddressFamily {
            frame: FrameType::AdvertiseOk,
            field: "callback",
            family: 5
        }
    );
    assert_eq!(err.code(), ErrorCode::Malformed);
}

#[test]
fn undefined_enum_values_in_frame_bodies_are_malformed() {
    let mut login_ok = vec![0u8; 8]; // session id
    login_ok.push(2); // role 2 is undefined
    login_ok.extend_from_slice(&[0; 4 + 4 + 32]);
    let cases: [(Vec<u8>, FrameType, &str, u32); 6] = [
        (raw(0x05, &login_ok), FrameType::LoginOk, "role", 2),
        (
            raw(0x06, &[0x17, 0x73, 3, 0, 0, 0, 0]),
            FrameType::Advertise,
            "policy",
            3,
        ),
        (raw(0x08, &[3, 0, 0]), FrameType::CallbackStatus, "state", 3),
        (raw(0x13, &[5]), FrameType::Bye, "reason", 5),
        (raw(0x7f, &[0, 0, 0, 0]), FrameType::Error, "code", 0),
        (raw(0x7f, &[0, 12, 0, 0]), FrameType::Error, "code", 12),
    ];
    for (bytes, frame, field, value) in cases {
        let err = decode_err(MAX_FRAME_LEN, &bytes);
        assert_eq!(
            err,
            DecodeError::BadEnumValue {
                frame,
                field,
                value
            }
        );
        assert_eq!(err.code(), ErrorCode::Malformed);
    }
}

#[test]
fn salt_outside_16_to_64_bytes_is_malformed() {
    for len in [0usize, 15, 65, 200] {
        let mut body = vec![0u8; 32];
        body.extend_from_slice(&(len as u16).to_be_bytes());
        body.extend(std::iter::repeat_n(0x5a, len));
        body.extend_from_slice(&4096u32.to_be_bytes());
        let err = decode_err(MAX_FRAME_LEN, &raw(0x03, &body));
        assert_eq!(err, DecodeError::BadSaltLength { len });
        assert_eq!(err.code(), ErrorCode::Malformed);
    }
}

#[test]
fn errors_are_sticky() {
    let mut decoder = Decoder::new(MAX_FRAME_LEN);
    let bad = [0u8, 0, 0, 0];
    let mut input = &bad[..];
    let err = decoder.decode(&mut input).unwrap_err();
    let good = Frame::Ack { seq: 1 }.to_vec().unwrap();
    let mut input = good.as_slice();
    assert_eq!(decoder.decode(&mut input), Err(err));
}

#[test]
fn unknown_notification_kind_comes_out_raw() {
    let n = Notification::decode(200, b"\x01\x02\x03");
    assert_eq!(
        n,
        Notification::Unknown {
            kind: 200,
            payload: bytes::Bytes::from_static(b"\x01\x02\x03")
        }
    );
    assert!(n.is_raw());
}

#[test]
fn unparseable_known_kind_comes_out_raw_and_flagged() {
    // SERVER_MESSAGE whose text length runs past the payload.
    let n = Notification::decode(3, &[0, 10, b'h', b'i']);
    assert_eq!(
        n,
        Notification::Malformed {
            kind: NotificationKind::ServerMessage,
            payload: bytes::Bytes::from_static(&[0, 10, b'h', b'i']),
            error: PayloadError::Truncated { field: "text" },
        }
    );
    let n = Notification::decode(3, &[0, 2, 0xff, 0xfe]);
    assert!(matches!(
        n,
        Notification::Malformed {
            error: PayloadError::InvalidUtf8 { field: "text" },
            ..
        }
    ));
}

#[test]
fn extra_payload_bytes_are_ignored() {
    let mut payload = Notification::server_message("hi")
        .to_payload()
        .unwrap()
        .to_vec();
    payload.extend_from_slice(b"future fields");
    assert_eq!(
        Notification::decode(3, &payload),
        Notification::server_message("hi")
    );
}

#[test]
fn unknown_enum_values_in_payloads_pass_through() {
    // JOB_STATUS with state 99.
    let mut payload = 7u64.to_be_bytes().to_vec();
    payload.push(99);
    payload.extend_from_slice(&[0, 1, 0, 2, 0, 1, 0, 0]);
    match Notification::decode(2, &payload) {
        Notification::JobStatus(js) => {
            assert_eq!(js.state, JobState::Other(99));
            assert_eq!(js.state.to_wire(), 99);
        }
        other => panic!("expected JOB_STATUS, got {other:?}"),
    }
}

#[test]
fn encoder_refuses_what_the_decoder_would_refuse() {
    let long = "x".repeat(4_097);
    assert_eq!(
        Frame::error(ErrorCode::Malformed, long.as_str()).to_vec(),
        Err(EncodeError::StringTooLong {
            field: "message",
            len: 4_097
        })
    );
    assert_eq!(
        Notification::server_message(long.clone()).to_payload(),
        Err(EncodeError::StringTooLong {
            field: "text",
            len: 4_097
        })
    );
    let big = Notification::Unknown {
        kind: 9,
        payload: bytes::Bytes::from(vec![0u8; 65_524]),
    };
    assert_eq!(
        big.to_payload(),
        Err(EncodeError::PayloadTooLarge { len: 65_524 })
    );
    // Nothing is written on error.
    let mut out = Vec::new();
    assert!(
        Frame::error(ErrorCode::Malformed, long.as_str())
            .encode(&mut out)
            .is_err()
    );
    assert!(out.is_empty());
}

#[test]
fn largest_frames_fit_exactly() {
    let max = Frame::Notify(faxnotify_core::wire::Notify {
        seq: 1,
        kind: 9,
        payload: std::borrow::Cow::Owned(vec![0u8; 65_523]),
    });
    assert_eq!(max.encoded_len(), 4 + 65_535);
    assert!(max.to_vec().is_ok());
    let login = Frame::Login(faxnotify_core::wire::Login {
        version: 1,
        user: "u".repeat(4_096).into(),
        client_nonce: [0; 32],
        caps: faxnotify_core::wire::Caps::NONE,
        resume_session: 0,
    });
    assert_eq!(
        login.encoded_len() - 4,
        MAX_PRELOGIN_FRAME_LEN as usize,
        "the pre-login limit is the largest LOGIN"
    );
}

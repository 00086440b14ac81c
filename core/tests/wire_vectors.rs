//! The Rust codec and crypto against the independent reference computation
//! (scripts/fnp1_vectors.py, Python hashlib/hmac) stored in vectors/fnp1.json.

mod support;

use faxnotify_core::auth::{cb_hello_proof, cb_ready_proof};
use faxnotify_core::wire::{Decoder, Frame, MAX_FRAME_LEN, Notification};
use serde_json::Value;
use support::examples;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/fnp1.json")).expect("fnp1.json parses")
}

fn hex_field(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing"))
        .to_owned()
}

fn decode_one(bytes: &[u8]) -> Frame<'static> {
    let mut decoder = Decoder::new(MAX_FRAME_LEN);
    let mut input = bytes;
    let frame = decoder
        .decode(&mut input)
        .expect("decodes")
        .expect("one whole frame")
        .into_owned();
    assert!(input.is_empty(), "exactly one frame");
    frame
}

#[test]
fn authentication_vectors_match_the_reference() {
    let v = vectors();
    let auth = &v["auth"];
    let ours = examples::auth_values();
    let checks: [(&str, String); 10] = [
        (
            "client_key",
            hex::encode(ours.secrets.client_key.as_bytes()),
        ),
        (
            "stored_key",
            hex::encode(ours.secrets.stored_key.as_bytes()),
        ),
        (
            "server_key",
            hex::encode(ours.secrets.server_key.as_bytes()),
        ),
        ("auth_message", hex::encode(ours.auth_message.as_bytes())),
        ("proof", hex::encode(ours.proof)),
        (
            "server_signature",
            hex::encode(ours.login_ok.server_signature),
        ),
        ("session_key", hex::encode(ours.session_key.as_bytes())),
        (
            "cb_hello_proof",
            hex::encode(cb_hello_proof(
                &ours.session_key,
                &examples::CB_CLIENT_NONCE,
                &examples::CB_SERVER_NONCE,
                examples::SESSION_ID,
            )),
        ),
        (
            "cb_ready_proof",
            hex::encode(cb_ready_proof(
                &ours.session_key,
                &examples::CB_CLIENT_NONCE,
                &examples::CB_SERVER_NONCE,
                examples::SESSION_ID,
                5,
            )),
        ),
        (
            "salted_password",
            hex::encode(
                faxnotify_core::auth::SaltedPassword::derive(examples::PASSWORD, &[0x5a; 16], 4096)
                    .as_bytes(),
            ),
        ),
    ];
    for (name, ours) in checks {
        assert_eq!(ours, hex_field(auth, name), "{name}");
    }
}

/// Section 12 [T-6] [T-7]: the login and callback proofs bound to given
/// TLS exporter values, against the reference.
#[test]
fn tls_channel_binding_vectors_match_the_reference() {
    use faxnotify_core::auth::{
        AuthMessage, ChannelBinding, cb_hello_proof_bound, cb_ready_proof_bound, client_proof,
        server_signature, session_key,
    };
    let v = vectors();
    let tls = &v["tls"];
    let exporter = |key: &str| {
        let bytes: [u8; 32] = hex::decode(hex_field(tls, key))
            .unwrap()
            .try_into()
            .unwrap();
        ChannelBinding::from_bytes(bytes)
    };
    let (control, callback) = (exporter("exporter_control"), exporter("exporter_callback"));
    let ours = examples::auth_values();
    let auth = AuthMessage::from_bodies(ours.auth_message.as_bytes(), &[], &[]).bind(&control);
    let key = session_key(&ours.secrets.client_key, &auth);
    let checks = [
        ("auth_message", hex::encode(auth.as_bytes())),
        ("proof", hex::encode(client_proof(&ours.secrets, &auth))),
        (
            "server_signature",
            hex::encode(server_signature(
                &ours.secrets.server_key,
                &auth,
                &ours.login_ok,
            )),
        ),
        ("session_key", hex::encode(key.as_bytes())),
        (
            "cb_hello_proof",
            hex::encode(cb_hello_proof_bound(
                &key,
                &examples::CB_CLIENT_NONCE,
                &examples::CB_SERVER_NONCE,
                examples::SESSION_ID,
                Some(&callback),
            )),
        ),
        (
            "cb_ready_proof",
            hex::encode(cb_ready_proof_bound(
                &key,
                &examples::CB_CLIENT_NONCE,
                &examples::CB_SERVER_NONCE,
                examples::SESSION_ID,
                5,
                Some(&callback),
            )),
        ),
    ];
    for (name, ours) in checks {
        assert_eq!(ours, hex_field(tls, name), "tls.{name}");
    }
    // Without a binding the callback proofs are the plain ones [B-1].
    assert_eq!(
        cb_hello_proof_bound(&key, &[1; 32], &[2; 32], 3, None),
        cb_hello_proof(&key, &[1; 32], &[2; 32], 3)
    );
}

#[test]
fn every_example_frame_encodes_to_the_reference_bytes_and_back() {
    let v = vectors();
    let reference = v["frames"].as_array().unwrap();
    let ours = examples::frames();
    assert_eq!(ours.len(), reference.len(), "one entry per reference frame");
    for ((name, frame), r) in ours.iter().zip(reference) {
        assert_eq!(
            *name,
            r["name"].as_str().unwrap(),
            "same order as fnp1.json"
        );
        let expected = hex_field(r, "hex");
        assert_eq!(
            hex::encode(frame.to_vec().unwrap()),
            expected,
            "{name} encodes"
        );
        assert_eq!(
            frame.encoded_len() * 2,
            expected.len(),
            "{name} encoded_len"
        );
        let bytes = hex::decode(&expected).unwrap();
        assert_eq!(&decode_one(&bytes), frame, "{name} decodes");
    }
}

#[test]
fn all_eighteen_frame_types_are_covered() {
    let mut types: Vec<u8> = examples::frames()
        .iter()
        .map(|(_, f)| f.frame_type().to_wire())
        .collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), 18);
    assert_eq!(
        types.len(),
        faxnotify_core::wire::FrameType::ALL.len(),
        "every defined frame type has an example"
    );
}

#[test]
fn notification_payloads_match_the_reference() {
    let v = vectors();
    let reference = v["notifications"].as_array().unwrap();
    let ours = examples::notifications();
    assert_eq!(ours.len(), reference.len());
    for (n, r) in ours.iter().zip(reference) {
        assert_eq!(u64::from(n.kind()), r["kind"].as_u64().unwrap());
        let expected = hex_field(r, "payload");
        assert_eq!(hex::encode(n.to_payload().unwrap()), expected, "{n}");
        assert_eq!(n.payload_len() * 2, expected.len());
        let decoded = Notification::decode(n.kind(), &hex::decode(&expected).unwrap());
        assert_eq!(&decoded, n);
    }
}

#[test]
fn worked_example_matches_the_reference_and_the_design_bytes() {
    let v = vectors();
    let reference = v["worked_example"].as_array().unwrap();
    let ours = examples::worked_example();
    assert_eq!(ours.len(), reference.len());
    for ((dir, frame), r) in ours.iter().zip(reference) {
        let expected = hex_field(r, "hex");
        assert_eq!(hex::encode(frame.to_vec().unwrap()), expected, "{frame}");
        assert_eq!(
            dir.replace("->", "→"),
            r["direction"].as_str().unwrap().replace("->", "→")
        );
    }
    // The literal bytes printed in the design's section 9.
    let notify = hex::encode(ours[3].1.to_vec().unwrap());
    assert_eq!(
        notify,
        "0000001123000000000000000103000500036869 21".replace(' ', "")
    );
    let ack = hex::encode(ours[4].1.to_vec().unwrap());
    assert_eq!(ack, "000000092400000000000000 01".replace(' ', ""));
    let lengths: Vec<u32> = ours
        .iter()
        .map(|(_, f)| f.encoded_len() as u32 - 4)
        .collect();
    assert_eq!(lengths, [0x21, 0x49, 0x29, 0x11, 0x09]);
}
